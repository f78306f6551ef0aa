"""Erasure (Art. 17): `erase` crypto-shreds a member and deletes every row, so
nothing about them is left in the register file, its journal or the lookups;
the id goes to the `erasures` table and the ledger file `<db>.erasures`;
`--suppress` keeps only keyed hashes to flag a person who applies again.

The command line runs at a fixed instant (``cli._now`` is pinned to NOW).
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kss_panel import cli, crypto, services
from kss_panel.cli import app
from kss_panel.policy import Policies, load_policies

POLICIES_DIR = Path(__file__).resolve().parents[1] / "policies"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # noon UTC: the same day in Helsinki
TODAY = "2026-06-15"
FAST_KDF = crypto.KdfParams(salt=b"s" * 16, memory_kib=64, iterations=1, lanes=1)
PASSPHRASE = "correct horse battery"
runner = CliRunner()
SUPPRESSION_WARNING = "kss-panel: warning: this applicant matches a person who objected and was erased (suppression list)"

ILMA: dict[str, Any] = {
    "customer_number": "71234567",
    "contact": {
        "first_name": "Ilmatarvika",
        "last_name": "Kanervistöläinen",
        "email": "ilmatar.kanervisto@example.fi",
        "phone": "+358401112345",
        "street_address": "Kanarialinnuntie 17 B",
        "postal_code": "45610",
        "city": "Qwertyvaara",
        "language": "fi",
    },
    "demographics": {"birth_year": 1979, "gender": "female", "household_size": 4, "dwelling_type": "farm"},
    "electricity": {"annual_consumption_kwh": 23456, "heating": "geothermal", "has_solar_panels": True, "has_electric_vehicle": False},
    "hobbies": ["sammalkeräily", "avantouinti"],
    "attitudes": {"environment": 2, "price_sensitivity": 3},
    "consents": {"email_marketing": True, "sms_marketing": False, "partner_disclosure": True},
}
BROR: dict[str, Any] = {
    "customer_number": "82345678",
    "contact": {
        "first_name": "Brorgunnar",
        "last_name": "Zetterqvistsson",
        "email": "bror.zetterqvist@example.fi",
        "phone": "+358502223456",
        "street_address": "Fyrmästargränd 9",
        "postal_code": "10600",
        "city": "Ekenässkär",
        "language": "sv",
    },
    "hobbies": ["segelflygning"],
    "consents": {"email_marketing": True, "sms_marketing": True, "partner_disclosure": False},
}


def canaries(data: dict[str, Any], *, national: bool = True) -> list[bytes]:
    """UTF-8 bytes of every free-text value, the customer number and the phone
    (also in national form). Enumerations and five-digit postal codes are left
    out: two letters or five digits turn up by chance in any binary file."""
    contact = data["contact"]
    texts = [contact[k] for k in ("first_name", "last_name", "email", "street_address", "city") if k in contact]
    texts += [data["customer_number"], *data.get("hobbies", [])]
    if "phone" in contact:
        texts += [contact["phone"], *(["0" + contact["phone"][4:]] if national else [])]
    return [text.encode("utf-8") for text in texts]


_POLICIES: dict[Path, Policies] = {}


def cached_policies(directory: Path) -> Policies:
    """load_policies, parsed once per directory: the same policies, without
    re-reading the YAML on every command (that is most of a command's time)."""
    key = Path(directory).resolve()
    if key not in _POLICIES:
        _POLICIES[key] = load_policies(directory)
    return _POLICIES[key]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KSS_PANEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(cli, "_now", lambda: NOW)
    monkeypatch.setattr(cli, "load_policies", cached_policies)


@pytest.fixture(scope="module")
def policies() -> Policies:
    return load_policies(POLICIES_DIR)


@dataclass
class Reg:
    dir: Path
    db: Path
    key_file: Path
    policies: Policies
    ids: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, input: str | None = None) -> Result:
        argv = ["--db", str(self.db), "--policies", str(POLICIES_DIR), *args, "--key-file", str(self.key_file)]
        return runner.invoke(app, argv, input=input, env={})

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return json.loads(result.stdout)["data"]

    def session(self) -> services.Session:
        secret = crypto.parse_key_file(self.key_file.read_text())
        return services.unlock(self.db, self.policies, services.Credentials(key_secret=secret))

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        conn = sqlite3.connect(self.db)
        try:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            return {n: conn.execute(f'SELECT * FROM "{n}" ORDER BY rowid').fetchall() for n in names}
        finally:
            conn.close()

    def raw_files(self) -> dict[str, bytes]:
        """The register file and any journal or WAL beside it, as bytes."""
        paths = [self.db, *self.dir.glob(self.db.name + "-journal"), *self.dir.glob(self.db.name + "-wal")]
        return {path.name: path.read_bytes() for path in paths if path.exists()}

    def secrets_of(self, member_id: str) -> list[bytes]:
        """What a forensic tool could carve: sealed boxes, the wrapped data key, lookup hashes."""
        boxes = [row[0] for row in self.rows("SELECT box FROM sections WHERE member_id = ?", (member_id,))]
        dek = [row[0] for row in self.rows("SELECT wrapped_dek FROM members WHERE member_id = ?", (member_id,))]
        digests = [row[0].encode() for row in self.rows("SELECT digest FROM lookups WHERE member_id = ?", (member_id,))]
        assert boxes and dek and digests
        return [*boxes, *dek, *digests]

    def audit(self) -> list[dict[str, Any]]:
        rows = self.rows("SELECT action, member_id, fields, detail FROM audit ORDER BY seq")
        return [{"action": a, "member_id": m, "fields": json.loads(f), "detail": json.loads(d)} for a, m, f, d in rows]

    @property
    def ledger(self) -> Path:
        return self.db.with_name(self.db.name + ".erasures")


def make_register(directory: Path, policies: Policies, members: dict[str, dict[str, Any]]) -> Reg:
    db = directory / "register.db"
    key_text = crypto.new_key_file_text()
    key_file = directory / "desk.key"
    key_file.write_text(key_text)
    with services.init_register(db, policies, "aino", PASSPHRASE, FAST_KDF, NOW) as session:
        services.add_officer(session, "desk", "officer", NOW, key_secret=crypto.parse_key_file(key_text))
        ids = {name: services.enrol(session, data, NOW) for name, data in members.items()}
    return Reg(directory, db, key_file, policies, ids)


@pytest.fixture
def reg(tmp_path: Path, policies: Policies) -> Reg:
    return make_register(tmp_path, policies, {"ilma": ILMA, "bror": BROR})


def hits(blobs: dict[str, bytes], needles: list[bytes]) -> list[tuple[str, bytes]]:
    return [(name, needle) for name, blob in blobs.items() for needle in needles if needle in blob]


def assert_failure(result: Result, code: int) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr.startswith("kss-panel: error: "), result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


# --- nothing left behind ------------------------------------------------------------------------------------


def test_erase_leaves_no_value_or_ciphertext_in_the_file_or_journal(reg: Reg) -> None:
    ilma, bror = reg.ids["ilma"], reg.ids["bror"]
    with reg.session() as session:  # a disclosure-log row, so that table is covered too
        for name, data in (("ilma", ILMA), ("bror", BROR)):
            services.admit(session, reg.ids[name], [data["customer_number"]], NOW)
        services.disclosure_export(session, "direct-marketing", "marketing", NOW, write_row=lambda row: None)
    ilma_secrets, bror_secrets = reg.secrets_of(ilma), reg.secrets_of(bror)
    # The search works: before the erase, the sealed data of both is in the file.
    assert len(hits(reg.raw_files(), ilma_secrets)) == len(ilma_secrets)

    result = reg.run("erase", ilma, "--reason", "request")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"erased {ilma} (7 sections, 1 disclosure records)\n"

    raw = reg.raw_files()
    assert hits(raw, canaries(ILMA)) == []
    assert hits(raw, ilma_secrets) == []
    # Bror is untouched: his ciphertext is still where the search finds it, and he still shows.
    assert len(hits(raw, bror_secrets)) == len(bror_secrets)
    for table in ("members", "sections", "lookups", "disclosures"):
        assert reg.rows(f"SELECT count(*) FROM {table} WHERE member_id = ?", (ilma,)) == [(0,)]
    assert reg.rows("SELECT count(*) FROM disclosures WHERE member_id = ?", (bror,)) == [(1,)]


def test_other_members_values_are_still_there_after_an_erase(reg: Reg) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request").exit_code == 0
    shown = reg.json("show", reg.ids["bror"])
    text = json.dumps(shown, ensure_ascii=False).encode("utf-8")
    assert [c for c in canaries(BROR, national=False) if c in text] == canaries(BROR, national=False)
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
def test_no_lookup_finds_an_erased_member(reg: Reg, args: tuple[str, ...]) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request").exit_code == 0
    result = reg.run(*(reg.ids["ilma"] if a == "ILMA" else a for a in args))
    assert result.exit_code == 4, (result.stdout, result.stderr)
    assert result.stderr.startswith("kss-panel: error: ")
    assert [c for c in canaries(ILMA) if c in result.output.encode("utf-8")] == []


def test_list_no_longer_shows_an_erased_member(reg: Reg) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "conditions-not-met").exit_code == 0
    assert [row["member_id"] for row in reg.json("list")] == [reg.ids["bror"]]


# --- what is recorded ---------------------------------------------------------------------------------------


def test_erased_id_goes_to_the_erasures_table_and_the_ledger_file(reg: Reg) -> None:
    ilma = reg.ids["ilma"]
    assert not reg.ledger.exists()
    assert reg.run("erase", ilma, "--reason", "request").exit_code == 0
    assert reg.rows("SELECT member_id, erased_at, reason, rule FROM erasures") == [(ilma, TODAY, "request", None)]
    assert reg.ledger.read_text(encoding="ascii").splitlines() == [f"{TODAY} {ilma} request"]
    assert stat.S_IMODE(reg.ledger.stat().st_mode) == 0o600
    assert reg.run("erase", reg.ids["bror"], "--reason", "conditions-not-met").exit_code == 0
    assert reg.ledger.read_text(encoding="ascii").splitlines() == [
        f"{TODAY} {ilma} request",
        f"{TODAY} {reg.ids['bror']} conditions-not-met",
    ]
    ledger = reg.ledger.read_bytes()
    assert hits({"ledger": ledger}, canaries(ILMA) + canaries(BROR)) == []


def test_erase_audit_entry_has_no_personal_value(reg: Reg) -> None:
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
    }
    entries = reg.audit()
    assert len(entries) == before + 1
    assert entries[-1] == {"action": "erase", "member_id": ilma, "fields": [], "detail": {"reason": "request"}}
    assert hits({"audit": json.dumps(reg.rows("SELECT * FROM audit"), ensure_ascii=False).encode()}, canaries(ILMA)) == []
    # audit log --member still answers for the erased id (ids are not personal values), and verifies
    assert [e["action"] for e in reg.json("audit", "log", "--member", ilma)][-1] == "erase"
    assert reg.run("audit", "verify").exit_code == 0


# --- dry run and refusals -----------------------------------------------------------------------------------


def test_dry_run_changes_nothing(reg: Reg) -> None:
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
def test_erase_reason_must_be_request_or_conditions_not_met(reg: Reg, reason: str) -> None:
    before = reg.tables()
    assert_failure(reg.run("erase", reg.ids["ilma"], "--reason", reason), 5)
    assert reg.tables() == before
    assert not reg.ledger.exists()


def test_erase_needs_a_reason(reg: Reg) -> None:
    before = reg.tables()
    result = reg.run("erase", reg.ids["ilma"])
    assert result.exit_code == 2
    assert reg.tables() == before


def test_erase_an_unknown_member_is_not_found(reg: Reg) -> None:
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


def enrol(reg: Reg, data: dict[str, Any]) -> Result:
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
def test_suppressed_person_who_applies_again_is_flagged(reg: Reg, contact: dict[str, str]) -> None:
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


def test_suppression_keeps_hashes_only(reg: Reg) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request", "--suppress").exit_code == 0
    assert sorted(kind for kind, _digest, _since in reg.rows("SELECT kind, digest, since FROM suppressions")) == ["email", "phone"]
    assert hits(reg.raw_files(), canaries(ILMA)) == []
    # the customer number is not kept: the same customer may apply again unflagged by it
    again = enrol(reg, {**reapplication(), "customer_number": "71234567"})
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["data"]["suppression_match"] is False


def test_without_suppress_a_reapplication_is_not_flagged(reg: Reg) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request").exit_code == 0
    assert reg.rows("SELECT count(*) FROM suppressions") == [(0,)]
    again = enrol(reg, reapplication(email="ilmatar.kanervisto@example.fi", phone="+358401112345"))
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["data"]["suppression_match"] is False
    assert again.stderr == ""


def test_an_unrelated_applicant_is_not_flagged_after_a_suppressed_erase(reg: Reg) -> None:
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request", "--suppress").exit_code == 0
    fresh = enrol(reg, reapplication(email="someone.else@example.fi", phone="+358409998877"))
    assert fresh.exit_code == 0, fresh.stderr
    assert json.loads(fresh.stdout)["data"]["suppression_match"] is False
    assert SUPPRESSION_WARNING not in fresh.stderr


def test_erased_persons_email_is_free_to_enrol_again(reg: Reg) -> None:
    """Lookups are gone with the member: the same email is no longer a duplicate."""
    duplicate = enrol(reg, reapplication(email="ilmatar.kanervisto@example.fi"))
    assert duplicate.exit_code == 5
    assert reg.run("erase", reg.ids["ilma"], "--reason", "request").exit_code == 0
    assert enrol(reg, reapplication(email="ilmatar.kanervisto@example.fi")).exit_code == 0
