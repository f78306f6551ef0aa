"""Erasure (Art. 17): `erase` crypto-shreds a member and deletes every row, so
nothing about them is left in the register file, its journal or the lookups;
the id goes to the `erasures` table and the ledger file `<db>.erasures`;
`--suppress` keeps only keyed hashes to flag a person who applies again.

The command line runs at a fixed instant (the ``clock`` fixture pins the CLI's clock to NOW).
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from kss_panel.services import disclosure, intake, lifecycle
from support import NOW, Register, assert_failure, canaries, found, record
from support import BROR as SUPPORT_BROR
from support import ILMA as SUPPORT_ILMA

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # noon UTC: the same day in Helsinki
TODAY = "2026-06-15"
SUPPRESSION_WARNING = "kss-panel: warning: this applicant matches a person who objected and was erased (suppression list)"

ILMA = record(SUPPORT_ILMA, attitudes={"environment": 2, "price_sensitivity": 3})
# Here Bror consents to email marketing too (so both are disclosed) and gave no demographics.
BROR = record(SUPPORT_BROR, consents__email_marketing=True)
del BROR["demographics"]


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register({"ilma": ILMA, "bror": BROR}, NOW)


def hits(blobs: Mapping[Any, bytes], needles: Sequence[str | bytes]) -> list[tuple[str, Any]]:
    """(file, needle) for every needle found in every blob (a file's bytes by its path or name)."""
    return [(str(path), needle) for path, blob in blobs.items() for needle in found(blob, needles)]


# --- nothing left behind ------------------------------------------------------------------------------------


def test_erase_leaves_no_value_or_ciphertext_in_the_file_or_journal(reg: Register) -> None:
    ilma, bror = reg.ids["ilma"], reg.ids["bror"]
    with reg.session() as session:  # a disclosure-log row, so that table is covered too
        for name, data in (("ilma", ILMA), ("bror", BROR)):
            lifecycle.admit(session, reg.ids[name], [data["customer_number"]], NOW)
        disclosure.disclose(session, "direct-marketing", "marketing", NOW, out=reg.dir / "mailing.csv")
    ilma_secrets, bror_secrets = reg.sealed(ilma), reg.sealed(bror)
    # The search works: before the erase, the sealed data of both is in the file.
    assert len(hits(reg.raw_files(), ilma_secrets)) == len(ilma_secrets)

    result = reg.run("erase", ilma, "--reason", "request")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"erased {ilma} (7 sections, 1 disclosure record)\nto notify (Art. 19): direct-marketing (kss-panel notify list)\n"

    raw = reg.raw_files()
    assert hits(raw, canaries(ILMA)) == []
    assert hits(raw, ilma_secrets) == []
    # Bror is untouched: his ciphertext is still where the search finds it, and he still shows.
    assert len(hits(raw, bror_secrets)) == len(bror_secrets)
    for table in ("members", "lookups", "disclosures"):
        assert reg.sql(f"SELECT count(*) FROM {table} WHERE member_id = ?", (ilma,)) == [(0,)]
    assert reg.sql("SELECT count(*) FROM disclosures WHERE member_id = ?", (bror,)) == [(1,)]


def test_other_members_values_are_still_there_after_an_erase(reg: Register) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request").exit_code == 0
    shown = reg.json("show", reg.ids["bror"])
    text = json.dumps(shown, ensure_ascii=False).encode("utf-8")
    assert found(text, canaries(BROR, national=False)) == canaries(BROR, national=False)
    assert shown["contact"] == BROR["contact"]
    assert reg.json("find", "--email", "bror.zetterqvist@example.fi")["member_id"] == reg.ids["bror"]


@pytest.mark.parametrize(
    "args",
    [
        ("find", "--email", "ilmatar.kanervisto@example.fi"),
        ("find", "--phone", "+358401112345"),
        ("find", "--phone", "040 111 2345"),
        ("find", "--customer-number", "71234567"),
        ("show", "ILMA"),
        ("show", "ILMA", "--json"),
        ("export", "access", "ILMA"),
        ("erase", "ILMA", "--reason", "request"),
    ],
)
def test_no_lookup_finds_an_erased_member(reg: Register, args: tuple[str, ...]) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request").exit_code == 0
    result = reg.run(*(reg.ids["ilma"] if a == "ILMA" else a for a in args))
    assert result.exit_code == 4, (result.stdout, result.stderr)
    assert result.stderr.startswith("kss-panel: error: ")
    assert found(result.output, canaries(ILMA)) == []


def test_list_no_longer_shows_an_erased_member(reg: Register) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "conditions-not-met").exit_code == 0
    assert [row["member_id"] for row in reg.json("list")] == [reg.ids["bror"]]


# --- what is recorded ---------------------------------------------------------------------------------------


def test_erased_id_goes_to_the_erasures_table_and_the_ledger_file(reg: Register) -> None:
    ilma = reg.ids["ilma"]
    assert not reg.ledger.exists()
    assert reg.run("erase", ilma, "--reason", "request").exit_code == 0
    assert reg.sql("SELECT member_id, erased_at, reason, rule FROM erasures") == [(ilma, TODAY, "request", None)]
    assert reg.ledger.read_text(encoding="ascii").splitlines() == [f"{TODAY} {ilma} request"]
    assert stat.S_IMODE(reg.ledger.stat().st_mode) == 0o600
    assert reg.run("erase", reg.ids["bror"], "--reason", "conditions-not-met").exit_code == 0
    assert reg.ledger.read_text(encoding="ascii").splitlines() == [
        f"{TODAY} {ilma} request",
        f"{TODAY} {reg.ids['bror']} conditions-not-met",
    ]
    ledger = reg.ledger.read_bytes()
    assert hits({"ledger": ledger}, canaries(ILMA) + canaries(BROR)) == []


def test_erase_audit_entry_has_no_personal_value(reg: Register) -> None:
    ilma = reg.ids["ilma"]
    before = len(reg.audit())
    result = reg.run("erase", ilma, "--reason", "request", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert data == {
        "member_id": ilma,
        "sections": sorted(["customer_number", "contact", "demographics", "electricity", "hobbies", "attitudes", "consents"]),
        "disclosures": 0,
        "erased": True,
        "suppressed": False,
        "notify": [],
    }
    entries = reg.audit()
    assert len(entries) == before + 1
    assert entries[-1] == {"action": "erase", "member_id": ilma, "fields": [], "detail": {"reason": "request"}}
    assert hits({"audit": repr(reg.sql("SELECT * FROM audit")).encode()}, canaries(ILMA)) == []
    assert hits({"audit": json.dumps(reg.audit_log(), ensure_ascii=False).encode()}, canaries(ILMA)) == []
    # audit log --member still answers for the erased id (ids are not personal values), and verifies
    assert [e["action"] for e in reg.json("audit", "log", "--member", ilma)][-1] == "erase"
    assert reg.run("audit", "verify").exit_code == 0


# --- dry run and refusals -----------------------------------------------------------------------------------


def test_dry_run_changes_nothing(reg: Register) -> None:
    ilma = reg.ids["ilma"]
    before = reg.tables()
    result = reg.run("erase", ilma, "--reason", "request", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"would erase {ilma} (7 sections, 0 disclosure records)\n"
    data = reg.json("erase", ilma, "--reason", "request", "--dry-run", "--suppress")
    assert data["erased"] is False
    assert reg.tables() == before
    assert not reg.ledger.exists()
    assert reg.json("show", ilma)["contact"] == ILMA["contact"]


@pytest.mark.parametrize("reason", ["retention", "because", "", "REQUEST"])
def test_erase_reason_must_be_request_or_conditions_not_met(reg: Register, reason: str) -> None:
    before = reg.tables()
    assert_failure(reg.run("erase", reg.ids["ilma"], "--reason", reason), 5)
    assert reg.tables() == before
    assert not reg.ledger.exists()


def test_erase_needs_a_reason(reg: Register) -> None:
    before = reg.tables()
    result = reg.run("erase", reg.ids["ilma"])
    assert result.exit_code == 2
    assert reg.tables() == before


def test_erase_an_unknown_member_is_not_found(reg: Register) -> None:
    before = reg.tables()
    assert_failure(reg.run("erase", "Mnosuchmember00000", "--reason", "request"), 4)
    assert reg.tables() == before
    assert not reg.ledger.exists()


# --- suppression --------------------------------------------------------------------------------------------


def reapplication(**contact: str) -> dict[str, Any]:
    """A new application by the same person: new customer number, maybe the same email or phone."""
    return {
        "customer_number": "71234999",
        "contact": {"first_name": "Ilmatarvika", "last_name": "Uusinimi", "email": "uusi.osoite@example.fi", "language": "fi", **contact},
    }


def enrol(reg: Register, data: dict[str, Any]) -> Result:
    return reg.run("enrol", "--file", "-", "--json", input=json.dumps(data))


@pytest.mark.parametrize(
    "contact",
    [
        {"email": "ilmatar.kanervisto@example.fi"},
        {"email": "ILMATAR.Kanervisto@example.fi"},
        {"phone": "+358401112345"},
        {"phone": "040 111 2345"},
    ],
)
def test_suppressed_person_who_applies_again_is_flagged(reg: Register, contact: dict[str, str]) -> None:
    result = reg.run("erase", reg.ids["ilma"], "--reason", "request", "--suppress", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"]["suppressed"] is True
    assert reg.audit()[-1]["detail"] == {"reason": "request", "rule": "suppress"}

    again = enrol(reg, reapplication(**contact))
    assert again.exit_code == 0, again.stderr  # flagged, not refused
    data = json.loads(again.stdout)["data"]
    assert data["suppression_match"] is True
    assert SUPPRESSION_WARNING in again.stderr.splitlines()
    assert reg.audit()[-1] == {"action": "enrol", "member_id": data["member_id"], "fields": reg.audit()[-1]["fields"],
                               "detail": {"suppression_match": True}}
    assert reg.json("show", data["member_id"])["suppression_match"] == 1


@pytest.mark.parametrize("workers", [0, 1], ids=["here", "worker-process"])
def test_an_import_flags_a_suppressed_person_and_the_trail_commits_to_the_flagged_row(reg: Register, tmp_path: Path, workers: int) -> None:
    """The worker digests each row as unflagged; a row flagged here is digested again (audit verify checks it)."""
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request", "--suppress").exit_code == 0
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(reapplication(phone="+358401112345")) + "\n" + json.dumps({**reapplication(), "customer_number": "71235000",
                    "contact": {**reapplication()["contact"], "email": "toinen@example.fi"}}) + "\n", encoding="utf-8")
    with reg.session() as session:
        counts = intake.import_file(session, str(rows), NOW, workers=workers)
    assert counts["imported"] == 2 and counts["flagged"] == 1
    assert reg.sql("SELECT count(*) FROM members WHERE suppression_match = 1") == [(1,)]
    assert reg.run("audit", "verify").exit_code == 0


def test_suppression_keeps_hashes_only(reg: Register) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request", "--suppress").exit_code == 0
    # Two keyed digests (email and phone), 16 bytes each: no kind, no value.
    assert sorted(len(digest) for digest, _since in reg.sql("SELECT digest, since FROM suppressions")) == [16, 16]
    assert hits(reg.raw_files(), canaries(ILMA)) == []
    # the customer number is not kept: the same customer may apply again unflagged by it
    again = enrol(reg, {**reapplication(), "customer_number": "71234567"})
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["data"]["suppression_match"] is False


def test_without_suppress_a_reapplication_is_not_flagged(reg: Register) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request").exit_code == 0
    assert reg.sql("SELECT count(*) FROM suppressions") == [(0,)]
    again = enrol(reg, reapplication(email="ilmatar.kanervisto@example.fi", phone="+358401112345"))
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["data"]["suppression_match"] is False
    assert again.stderr == ""


def test_an_unrelated_applicant_is_not_flagged_after_a_suppressed_erase(reg: Register) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request", "--suppress").exit_code == 0
    fresh = enrol(reg, reapplication(email="someone.else@example.fi", phone="+358409998877"))
    assert fresh.exit_code == 0, fresh.stderr
    assert json.loads(fresh.stdout)["data"]["suppression_match"] is False
    assert SUPPRESSION_WARNING not in fresh.stderr


def test_erased_persons_email_is_free_to_enrol_again(reg: Register) -> None:
    """Lookups are gone with the member: the same email is no longer a duplicate."""
    duplicate = enrol(reg, reapplication(email="ilmatar.kanervisto@example.fi"))
    assert duplicate.exit_code == 5
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request").exit_code == 0
    assert enrol(reg, reapplication(email="ilmatar.kanervisto@example.fi")).exit_code == 0
