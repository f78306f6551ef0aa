"""Format 2 on a register made by format 1 (tests/fixtures/v1, written by the format-1 code itself).

Migration 0004_format_2 converts what needs no key when any command opens the
file; a purger may go on purging; the first officer to unlock finishes the
upgrade (one box per member, key pairs for every slot, the trail's anchor);
each other slot takes its own key pair at its owner's next unlock; rotation
waits for them all. Nothing is lost on the way: members, requests,
disclosures, erasures, suppressions, and the old trail, now under signature.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kss_panel import crypto, keyslots, packing
from kss_panel.cli import app
from kss_panel.migrations import SCHEMA_VERSION
from kss_panel.policy_files import load_policies
from kss_panel.services.session import unlock
from kss_panel.vault import receipts_context, record_context
from support import CANARY, CANARY_STRINGS, ILMA, PASSPHRASE, POLICIES_DIR, Clock, assert_clean_failure

FIXTURE = Path(__file__).parent / "fixtures" / "v1"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text())
CANARY_ID, VEIKKO_ID = MANIFEST["members"]["canary"], MANIFEST["members"]["veikko"]
ILMA_ID = MANIFEST["erased"]["ilma"]
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


class Old:
    """A copy of the format-1 register, its ledger and key files, driven through the command line."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        for name in ("register.db", "register.db.erasures", "desk.key", "cron.key"):
            shutil.copy(FIXTURE / name, directory / name)
            os.chmod(directory / name, 0o600)
        self.dir, self.db, self.clock = directory, directory / "register.db", clock

    def cli(self, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        argv = ["--db", str(self.db), "--policies", str(POLICIES_DIR), *args]
        return CliRunner().invoke(app, argv, env=env or {}, input=input, obj=self.clock)

    def as_key(self, name: str, *args: str, input: str | None = None) -> Result:
        return self.cli(*args, "--key-file", str(self.dir / f"{name}.key"), input=input)

    def as_officer(self, name: str, *args: str) -> Result:
        return self.cli(*args, "--officer", name, env={"KSS_PANEL_PASSPHRASE": MANIFEST["officers"][name]})

    def json(self, result: Result) -> Any:
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return json.loads(result.stdout)["data"]

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            with conn:
                return conn.execute(statement, params).fetchall()
        finally:
            conn.close()

    def slots(self) -> dict[str, tuple[bool, bool]]:
        """Slot name -> (has its own key pair, still has its format-1 box)."""
        return {name: (secrets is not None, legacy is not None) for name, secrets, legacy in self.sql("SELECT name, secrets, legacy FROM slots")}

    def raw(self) -> bytes:
        return b"".join(path.read_bytes() for path in self.dir.glob("register.db*") if path.is_file())


@pytest.fixture
def old(tmp_path: Path, clock: Clock) -> Old:
    clock.now = NOW
    return Old(tmp_path, clock)


def test_the_fixture_is_a_format_1_register() -> None:
    conn = sqlite3.connect(f"file:{FIXTURE / 'register.db'}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM sections").fetchone()[0] > 0
    finally:
        conn.close()


def test_opening_migrates_what_needs_no_key(old: Old) -> None:
    assert old.as_key("cron", "officer", "list").exit_code == 0
    assert old.sql("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert old.sql("SELECT value FROM meta WHERE key = 'keys_version'") == [("1",)]
    assert {len(d) for (d,) in old.sql("SELECT digest FROM lookups")} == {16}
    assert [len(d) for (d,) in old.sql("SELECT digest FROM suppressions")] == [16, 16]
    assert old.sql("SELECT count(*) FROM audit WHERE mac IS NULL") == [(0,)]  # the old entries keep their MAC
    assert old.slots() == {name: (False, True) for name in ("aino", "cron", "desk", "veikko")}
    assert old.sql("SELECT count(*) FROM sections") != [(0,)]  # the records wait for an officer's key
    raw = old.raw().lower()
    assert [c for c in CANARY_STRINGS if c.lower().encode() in raw] == []


def test_the_upgrade_adds_the_indexes_and_keeps_the_files_pages(old: Old) -> None:
    """Commands find a member's last committed row through one index, and walk members in the order they are
    listed through another; the page size of a file, fixed when it was made, stays (a new register has 8 KiB
    pages: test_init)."""
    assert old.as_key("cron", "officer", "list").exit_code == 0
    assert old.sql("SELECT name, sql FROM sqlite_master WHERE name IN ('audit_state', 'members_listed') ORDER BY name") == [
        ("audit_state", "CREATE INDEX audit_state ON audit (substr(member_id, 1, 9)) WHERE state IS NOT NULL"),
        ("members_listed", "CREATE INDEX members_listed ON members ((CASE status WHEN 'applicant' THEN 0 WHEN 'member' THEN 1"
                           " WHEN 'rejected' THEN 2 ELSE 3 END), CAST(julianday(applied_at) - 2451545 AS INTEGER))"),
    ]
    assert old.sql("PRAGMA page_size") == [(4096,)]
    listed = old.json(old.as_key("cron", "list", "--json"))
    assert [row["status"] for row in listed] == sorted(row["status"] for row in listed)


def test_verifying_a_register_not_yet_upgraded_needs_a_key(old: Old) -> None:
    result = old.cli("audit", "verify")
    assert_clean_failure(result, 3)
    assert result.stderr.splitlines()[0] == (
        "kss-panel: error: this register's trail is still format 1: verifying it needs a key until an officer unlocks it once"
    )
    verified = old.json(old.as_key("cron", "audit", "verify", "--json"))
    assert verified["entries"] == 14
    # The format-1 head token printed before the upgrade of the software still verifies.
    [(mac,)] = sqlite3.connect(FIXTURE / "register.db").execute("SELECT mac FROM audit WHERE seq = 14").fetchall()
    assert old.as_key("cron", "audit", "verify", "--head", f"14-{mac}").exit_code == 0


def test_a_purger_purges_before_any_officer_has_unlocked(old: Old) -> None:
    old.clock.now = datetime(2027, 7, 1, 12, 0, tzinfo=UTC)  # the canary member, never active, is due (24 months)
    result = old.as_key("cron", "purge", "--apply")
    assert result.exit_code == 0, result.stderr
    assert old.sql("SELECT member_id FROM members") == [(VEIKKO_ID,)]  # veikko is restricted: held
    assert old.sql("SELECT value FROM meta WHERE key = 'keys_version'") == [("1",)]
    # The purger's entries are chained with format 1's MAC; the upgrade checks them and signs over them.
    assert old.as_key("desk", "officer", "list").exit_code == 0
    assert old.sql("SELECT value FROM meta WHERE key = 'keys_version'") == [("2",)]
    assert old.cli("audit", "verify").exit_code == 0


def test_an_officers_unlock_upgrades_the_register(old: Old) -> None:
    shown = old.json(old.as_key("desk", "show", CANARY_ID, "--json"))
    assert shown["contact"] == CANARY["contact"] and shown["hobbies"] == CANARY["hobbies"]
    assert old.sql("SELECT value FROM meta WHERE key = 'keys_version'") == [("2",)]
    assert old.sql("SELECT name FROM sqlite_master WHERE name = 'sections'") == []
    assert old.sql("SELECT count(*) FROM members WHERE box IS NULL") == [(0,)]
    assert old.slots() == {"desk": (True, False), "aino": (True, True), "cron": (True, True), "veikko": (True, True)}
    log = old.json(old.as_key("desk", "audit", "log", "--json"))
    upgrade = next(e for e in log if e["action"] == "format-upgrade")
    assert upgrade["seq"] == 15 and upgrade["actor"] == "desk"
    assert set(upgrade["detail"]["slots"]) == {"aino", "cron", "desk", "veikko"}
    assert sorted(e["member_id"] for e in log if e["action"] == "state") == sorted([CANARY_ID, VEIKKO_ID])
    # From now on the file alone verifies: no key, no passphrase.
    verified = old.cli("audit", "verify")
    assert verified.exit_code == 0, verified.stderr
    raw = old.raw().lower()
    assert [c for c in CANARY_STRINGS if c.lower().encode() in raw] == []


def test_everything_the_register_held_survives(old: Old) -> None:
    assert old.as_key("desk", "officer", "list").exit_code == 0
    requests = old.json(old.as_key("desk", "request", "list", "--json"))
    assert [(r["id"], r["member_id"], r["type"]) for r in requests] == [(MANIFEST["request"], CANARY_ID, "access")]
    export = old.json(old.as_key("desk", "export", "access", VEIKKO_ID, "--json"))
    assert [d["recipient"] for d in export["disclosures"]] == ["direct-marketing"]
    assert export["member"]["restricted_at"] is not None
    assert old.json(old.as_key("desk", "find", "--email", CANARY["contact"]["email"], "--json"))["member_id"] == CANARY_ID
    assert old.json(old.as_key("desk", "find", "--customer-number", CANARY["customer_number"], "--json"))["member_id"] == CANARY_ID
    # Ilma was erased with --suppress: she stays erased, and applying again she is flagged.
    assert old.as_key("desk", "show", ILMA_ID).exit_code == 4
    again = old.json(old.as_key("desk", "enrol", "--file", "-", "--json", input=json.dumps({**ILMA, "customer_number": "71239999"})))
    assert again["suppression_match"] is True


def test_each_slot_upgrades_at_its_owners_unlock_and_rotation_waits_for_all(old: Old) -> None:
    assert old.as_key("desk", "officer", "list").exit_code == 0
    refused = old.as_key("desk", "key", "rotate")
    assert_clean_failure(refused, 9)
    assert refused.stderr.splitlines() == [
        "kss-panel: error: key slot 'aino' is still of format 1: rotation would leave it the old keys",
        "kss-panel: hint: aino, cron, veikko must unlock once first (any command), or be removed",
    ]
    for opened in (old.as_officer("aino", "officer", "list"), old.as_officer("veikko", "list"), old.as_key("cron", "list")):
        assert opened.exit_code == 0, opened.stderr
    assert old.slots() == {name: (True, False) for name in ("aino", "cron", "desk", "veikko")}
    log = old.json(old.as_key("desk", "audit", "log", "--json"))
    assert sorted(e["actor"] for e in log if e["action"] == "slot-upgrade") == ["aino", "cron", "veikko"]
    rotated = old.json(old.as_key("desk", "key", "rotate", "--json"))
    assert rotated["members"] == 2
    for result in (old.as_officer("aino", "show", CANARY_ID, "--json"), old.as_officer("veikko", "show", CANARY_ID, "--json")):
        assert old.json(result)["contact"] == CANARY["contact"]
    assert old.cli("audit", "verify").exit_code == 0
    # The same passphrases still open their slots: only the key pairs and KDF salts are new.
    assert old.as_officer("aino", "officer", "list").exit_code == 0


def test_a_format_1_trail_edited_before_the_upgrade_is_refused_and_nothing_upgrades(old: Old) -> None:
    conn = sqlite3.connect(old.db)
    with conn:
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 5")
    conn.close()
    result = old.as_key("desk", "show", CANARY_ID)
    assert_clean_failure(result, 7)
    assert result.stderr.splitlines() == ["kss-panel: error: audit entry 5 does not verify: it was edited, deleted or reordered"]
    assert old.sql("SELECT value FROM meta WHERE key = 'keys_version'") == [("1",)]
    assert old.slots() == {name: (False, True) for name in ("aino", "cron", "desk", "veikko")}


def test_a_wrong_passphrase_on_a_format_1_slot_is_exit_3(old: Old) -> None:
    result = old.cli("list", "--officer", "aino", env={"KSS_PANEL_PASSPHRASE": PASSPHRASE + "x"})
    assert_clean_failure(result, 3)
    assert old.sql("SELECT value FROM meta WHERE key = 'keys_version'") == [("1",)]


def test_a_consent_the_policy_retired_goes_with_the_next_rectification(old: Old) -> None:
    """The format-1 records hold `partner_disclosure`, a consent the policy has since split into one per purpose.
    Reading still shows what is stored; a rectification drops the retired field and audits it as changed."""
    shown = old.json(old.as_key("desk", "show", CANARY_ID, "--json"))
    assert "partner_disclosure" in shown["consents"]
    changed = old.json(old.as_key("desk", "update", CANARY_ID, "--set", "contact.city=Kouvola", "--json"))["changed"]
    # The consents the policy added since are recorded as not given (false) at the same time.
    assert {"consents.partner_disclosure", "contact.city"} <= set(changed)
    assert all(path.startswith("consents.") for path in set(changed) - {"contact.city"})
    shown = old.json(old.as_key("desk", "show", CANARY_ID, "--json"))
    assert "partner_disclosure" not in shown["consents"] and shown["contact"]["city"] == "Kouvola"


def test_the_survey_tables_are_there_after_the_upgrade_and_work(old: Old) -> None:
    assert old.as_key("cron", "officer", "list").exit_code == 0  # the migration, which needs no key
    tables = {name for (name,) in old.sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"surveys", "survey_samples", "survey_invitations", "draws", "draw_entries"} <= tables
    assert old.as_key("desk", "survey", "create", "first-survey", "--title", "After the upgrade").exit_code == 0
    sampled = old.json(old.as_key("desk", "survey", "sample", "first-survey", "--size", "1", "--apply", "--out", str(old.dir / "inv.csv"), "--json"))
    # veikko is restricted: the canary, admitted, is the one member who may be invited.
    assert (sampled["invited"], sampled["excluded"]["restricted"]) == (1, 1)
    assert old.sql("SELECT member_id FROM survey_invitations") == [(CANARY_ID,)]


def test_the_upgrade_adds_the_accountability_tables_and_what_came_before_receipts_shows_as_such(old: Old) -> None:
    """Consent receipts, notifications and breaches arrive with format 2: a format-1 register gains their tables
    and columns, its consents given before receipts were kept are listed for re-consent, and its disclosure log
    owes notifications as any other."""
    assert old.as_key("desk", "officer", "list").exit_code == 0
    tables = {name for (name,) in old.sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"consent_wordings", "notifications", "breaches", "breach_members"} <= tables
    assert "receipts" in {column for (_, column, *_) in old.sql("PRAGMA table_info(members)")}
    assert old.sql("SELECT count(*) FROM members WHERE receipts IS NOT NULL") == [(0,)]
    shown = old.json(old.as_key("desk", "show", CANARY_ID, "--json"))
    assert shown["consent_history"] == [] and shown["outdated_consents"] == {"sms_marketing": None}
    listed = old.json(old.as_key("desk", "list", "--consent-outdated", "sms_marketing", "--json"))
    assert sorted((row["member_id"], row["given_version"]) for row in listed) == sorted([(CANARY_ID, None), (VEIKKO_ID, None)])
    # Veikko's disclosure to direct-marketing, logged by format 1, owes that recipient a notification of his erasure.
    assert old.as_key("desk", "restrict", VEIKKO_ID, "--lift").exit_code == 0
    assert old.json(old.as_key("desk", "erase", VEIKKO_ID, "--reason", "request", "--json"))["notify"] == ["direct-marketing"]
    pending = old.json(old.as_key("desk", "notify", "list", "--json"))
    assert [(n["member_id"], n["recipient"], n["event"]) for n in pending] == [(VEIKKO_ID, "direct-marketing", "erased")]
    assert old.cli("audit", "verify").exit_code == 0


def test_the_upgrade_seals_each_record_packed(old: Old) -> None:
    """Format 1 kept a record as one box per category; the upgrade seals it as one box, packed with dictionary 1
    (docs/crypto.md §4.1), and a consent given afterwards starts receipts packed with dictionary 2."""
    shown = old.json(old.as_key("desk", "show", CANARY_ID, "--json"))
    assert old.json(old.as_key("desk", "consent", CANARY_ID, "--give", "email_marketing", "--json"))
    secret = crypto.parse_key_file((old.dir / "desk.key").read_text())
    with unlock(old.db, load_policies(POLICIES_DIR), keyslots.Credentials(key_secret=secret), now=NOW) as session:
        for member_id in (CANARY_ID, VEIKKO_ID):
            row = session.store.member(member_id)
            assert row is not None
            record = crypto.open_sealed(session.vault.dek(row), row["box"], record_context(session.register_id, member_id))
            assert record[0] == packing.RECORD
        canary = session.store.member(CANARY_ID)
        assert canary is not None
        receipts = crypto.open_sealed(session.vault.dek(canary), canary["receipts"], receipts_context(session.register_id, CANARY_ID))
        assert receipts[0] == packing.RECEIPTS
    assert json.loads(packing.unpack(record))["customer_number"] == old.json(old.as_key("desk", "show", VEIKKO_ID, "--json"))["customer_number"]
    assert shown["contact"] == CANARY["contact"]
