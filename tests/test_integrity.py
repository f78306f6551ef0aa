"""The trail commits to the register's state: a row changed by hand is refused, naming the member.

Every entry that changes a member records a digest of the member's stored row
(status, dates, flags, the box); every change of the slot table, a digest of
the table. ``audit verify`` checks every row against the trail, and every
command refuses to act on a member (or unlock with a slot) whose row is not
the one the trail last committed to: exit 7, and nothing written.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from kss_panel.errors import IntegrityError
from kss_panel.services import lifecycle
from support import AINO, VEIKKO, Register, assert_clean_failure

POPULATED = {"aino": AINO, "veikko": VEIKKO}
LATER = datetime(2027, 9, 1, 12, 0, tzinfo=UTC)


def changed(member_id: str) -> str:
    return f"kss-panel: error: the row of {member_id} does not match the audit trail: it was changed by hand since its last entry"


def refused(reg: Register, *args: str, key: str = "desk") -> str:
    before = reg.tables()
    result = reg.run(*args, key=key)
    assert_clean_failure(result, 7)
    assert reg.tables() == before
    return result.stderr.splitlines()[0]


def last_state(reg: Register, member_id: str) -> int:
    """The entry that last committed to a member's row."""
    return int(reg.sql("SELECT max(seq) FROM audit WHERE member_id = ? AND state IS NOT NULL", [member_id])[0][0])


def verify_names(reg: Register, line: str) -> None:
    result = reg.cli("audit", "verify")
    assert_clean_failure(result, 7)
    assert result.stderr.splitlines() == [line]


@pytest.fixture
def admitted(make_register: Callable[..., Register]) -> Register:
    """Aino and Veikko, both admitted; a purger slot 'cron' too."""
    reg = make_register(POPULATED, purger=True)
    for name in ("aino", "veikko"):
        assert reg.run("admit", reg.ids[name], "--customers", str(reg.roster(AINO["customer_number"], VEIKKO["customer_number"]))).exit_code == 0
    return reg


@pytest.mark.parametrize(
    ("column", "value"),
    [("status", "rejected"), ("applied_at", "2019-01-01"), ("admitted_at", None), ("restricted_at", "2025-06-01"),
     ("objected_at", "2025-06-01"), ("last_activity_at", "2025-06-02"), ("suppression_match", 1), ("ineligible_at", "2025-06-01")],
)
def test_a_hand_edited_status_date_or_flag_is_refused(admitted: Register, column: str, value: Any) -> None:
    aino = admitted.ids["aino"]
    entry = last_state(admitted, aino)
    admitted.sql(f"UPDATE members SET {column} = ? WHERE member_id = ?", [value, aino])
    for args in (("show", aino), ("export", "access", aino), ("update", aino, "--set", "contact.city=Hamina"),
                 ("consent", aino, "--give", "sms_marketing"), ("restrict", aino, "--reason", "legal-claims"),
                 ("erase", aino, "--reason", "request")):
        assert refused(admitted, *args) == changed(aino), args
    verify_names(admitted, f"kss-panel: error: the row of {aino} does not match its last audit entry {entry}: it was changed by hand")
    assert admitted.run("show", admitted.ids["veikko"]).exit_code == 0  # the others are untouched


def test_a_lifted_restriction_or_objection_cannot_be_faked(admitted: Register) -> None:
    aino, veikko = admitted.ids["aino"], admitted.ids["veikko"]
    assert admitted.run("restrict", aino, "--reason", "legal-claims").exit_code == 0
    assert admitted.run("consent", veikko, "--object").exit_code == 0
    admitted.sql("UPDATE members SET restricted_at = NULL, restriction_reason = NULL WHERE member_id = ?", [aino])
    admitted.sql("UPDATE members SET objected_at = NULL WHERE member_id = ?", [veikko])
    out = admitted.dir / "mailing.csv"
    assert refused(admitted, "export", "disclosure", "direct-marketing", "--purpose", "marketing", "--out", str(out)) in (changed(aino), changed(veikko))
    assert not out.exists()


def test_a_member_added_by_hand_is_never_disclosed(admitted: Register) -> None:
    """A disclosure checks every admitted member's row as it reads it: a forged one, restricted or not, is named
    and nothing is written (no file, no log entry)."""
    forged = "M" + "c" * 16
    admitted.sql("INSERT INTO members (member_id, status, applied_at, admitted_at, updated_at, wrapped_dek, box) "
                 "SELECT ?, status, applied_at, admitted_at, updated_at, wrapped_dek, box FROM members WHERE member_id = ?", [forged, admitted.ids["veikko"]])
    out = admitted.dir / "mailing.csv"
    line = f"kss-panel: error: member {forged} has no entry in the audit trail: the row was added by hand"
    assert refused(admitted, "export", "disclosure", "panel-mailer", "--purpose", "communication", "--out", str(out)) == line
    admitted.sql("UPDATE members SET restricted_at = '2025-06-01' WHERE member_id = ?", [forged])
    assert refused(admitted, "export", "disclosure", "panel-mailer", "--purpose", "communication", "--dry-run") == line
    assert not out.exists()


def test_a_hand_edit_cannot_make_tonights_purge_erase_someone(admitted: Register) -> None:
    aino = admitted.ids["aino"]
    admitted.sql("UPDATE members SET status = 'applicant', applied_at = '2019-01-01' WHERE member_id = ?", [aino])
    for args in (("purge",), ("purge", "--apply", "--quiet")):
        assert refused(admitted, *args, key="cron") == changed(aino)
    assert admitted.member(aino) is not None


def test_a_member_added_by_hand_is_never_purged(admitted: Register) -> None:
    """The purge checks its batch of due members in a few queries: a forged due row among them is named."""
    forged = "M" + "b" * 16
    admitted.sql("INSERT INTO members (member_id, status, applied_at, updated_at, wrapped_dek, box) "
                 "SELECT ?, 'applicant', '2019-01-01', updated_at, wrapped_dek, box FROM members WHERE member_id = ?", [forged, admitted.ids["aino"]])
    line = f"kss-panel: error: member {forged} has no entry in the audit trail: the row was added by hand"
    for args in (("purge",), ("purge", "--apply", "--quiet")):
        assert refused(admitted, *args, key="cron") == line


def test_a_planned_member_deleted_by_hand_stops_the_purge(admitted: Register) -> None:
    aino = admitted.ids["aino"]
    admitted.sql("UPDATE members SET status = 'applicant', applied_at = '2019-01-01' WHERE member_id = ?", [aino])
    with admitted.session(key="cron") as session:
        plan = lifecycle.PurgePlan(LATER.date(), {"applicant-not-admitted": [aino]}, members=2)
        for table in ("lookups", "members"):
            admitted.sql(f"DELETE FROM {table} WHERE member_id = ?", [aino])
        before = admitted.tables()
        with pytest.raises(IntegrityError) as refused_:
            lifecycle.purge(session, LATER, plan=plan, expect=1)
    assert refused_.value.message == f"member {aino} was deleted by hand: the audit trail has it, and it was never erased"
    assert admitted.tables() == before


def test_rows_a_plan_checked_are_checked_again_once_another_connection_commits(make_register: Callable[..., Register]) -> None:
    """A purge checks its due members when it plans; its batches erase them as the plan found them while no other
    connection has committed since, and check each again once one has: a row changed by hand in between is refused."""
    reg = make_register(POPULATED, purger=True)  # two applicants, due when not admitted in 90 days
    aino, veikko = reg.ids["aino"], reg.ids["veikko"]
    with reg.session(key="cron") as session:
        plan = lifecycle.plan_purge(session, LATER.date())
        assert sorted(plan.due["applicant-not-admitted"]) == sorted([aino, veikko])
        reg.sql("UPDATE members SET applied_at = '2019-01-01' WHERE member_id = ?", [veikko])  # another connection
        before = reg.tables()
        with pytest.raises(IntegrityError) as refused_:
            lifecycle.purge(session, LATER, plan=plan, expect=2)
        assert refused_.value.message == changed(veikko).removeprefix("kss-panel: error: ")
        assert reg.tables() == before
        reg.sql("UPDATE members SET applied_at = ? WHERE member_id = ?", [reg.member(aino)["applied_at"], veikko])  # undone
        plan = lifecycle.plan_purge(session, LATER.date())
        done = lifecycle.purge(session, LATER, plan=plan, expect=2, batch=1)
    assert sorted(done.due["applicant-not-admitted"]) == sorted([aino, veikko])
    assert reg.member_ids() == set() and reg.sql("SELECT count(*) FROM lookups") == [(0,)]
    assert reg.cli("audit", "verify").exit_code == 0


def test_a_hand_edited_member_is_never_committed_anew(admitted: Register) -> None:
    """A command that changes many members (an eligibility check) refuses a tampered one rather than sign its row."""
    veikko = admitted.ids["veikko"]
    admitted.sql("UPDATE members SET admitted_at = '2020-01-01' WHERE member_id = ?", [veikko])
    roster = admitted.roster(AINO["customer_number"])  # veikko missing: his row would change
    assert refused(admitted, "eligibility", "--customers", str(roster), "--apply") == changed(veikko)
    assert refused(admitted, "key", "rotate").startswith(f"kss-panel: error: the row of {veikko} does not match its last audit entry")


def test_a_deleted_box_is_refused(admitted: Register) -> None:
    aino = admitted.ids["aino"]
    admitted.sql("UPDATE members SET box = NULL WHERE member_id = ?", [aino])
    assert refused(admitted, "show", aino) == changed(aino)


def test_a_box_replayed_from_an_older_copy_is_refused(admitted: Register) -> None:
    """The consents box from before an objection opens under the member's key; the trail refuses it."""
    veikko = admitted.ids["veikko"]
    [(before,)] = admitted.sql("SELECT box FROM members WHERE member_id = ?", [veikko])
    assert admitted.run("consent", veikko, "--object").exit_code == 0
    admitted.sql("UPDATE members SET box = ?, objected_at = NULL WHERE member_id = ?", [before, veikko])
    assert refused(admitted, "show", veikko) == changed(veikko)
    assert refused(admitted, "export", "access", veikko) == changed(veikko)
    out = admitted.dir / "mailing.csv"
    assert refused(admitted, "export", "disclosure", "direct-marketing", "--purpose", "marketing", "--out", str(out)) == changed(veikko)
    assert not out.exists()


def test_a_member_deleted_by_hand_is_named(admitted: Register) -> None:
    aino = admitted.ids["aino"]
    entry = last_state(admitted, aino)
    for table in ("lookups", "members"):
        admitted.sql(f"DELETE FROM {table} WHERE member_id = ?", [aino])
    line = f"kss-panel: error: member {aino} was deleted by hand: the audit trail has it, and it was never erased"
    assert refused(admitted, "show", aino) == line
    verify_names(admitted, f"kss-panel: error: member {aino} was deleted by hand: its last audit entry is {entry} and it was never erased")


def test_a_member_added_by_hand_is_named(admitted: Register) -> None:
    aino = admitted.ids["aino"]
    forged = "M" + "a" * 16
    admitted.sql("INSERT INTO members (member_id, status, applied_at, updated_at, wrapped_dek, box) "
                 "SELECT ?, status, applied_at, updated_at, wrapped_dek, box FROM members WHERE member_id = ?", [forged, aino])
    assert refused(admitted, "show", forged) == f"kss-panel: error: member {forged} has no entry in the audit trail: the row was added by hand"
    verify_names(admitted, f"kss-panel: error: member {forged} has no entry in the audit trail: the row was added by hand")


def test_an_erased_member_is_not_found_not_tampered(admitted: Register) -> None:
    aino = admitted.ids["aino"]
    assert admitted.run("erase", aino, "--reason", "request").exit_code == 0
    assert_clean_failure(admitted.run("show", aino), 4)
    assert admitted.cli("audit", "verify").exit_code == 0


def test_an_old_slot_row_copied_back_is_refused(admitted: Register) -> None:
    """A removed officer puts their slot row back from an older copy of the file: nothing opens."""
    old = admitted.dir / "old.db"
    shutil.copy(admitted.db, old)
    assert admitted.run_as_aino("officer", "remove", "desk").exit_code == 0
    conn = sqlite3.connect(admitted.db)
    with conn:
        conn.execute("ATTACH ? AS old", (str(old),))
        conn.execute("INSERT INTO slots SELECT * FROM old.slots WHERE name = 'desk'")
    conn.close()
    [(seq,)] = admitted.sql("SELECT max(seq) FROM audit WHERE action = 'officer-remove'")
    line = f"kss-panel: error: key slot 'desk' was removed in audit entry {seq} but is in the file again"
    for result in (admitted.run("show", admitted.ids["aino"]), admitted.run_as_aino("list"), admitted.run("list", key="cron")):
        assert_clean_failure(result, 7)
        assert result.stderr.splitlines() == [line]
    verify_names(admitted, line)


def test_an_old_version_of_a_current_slot_is_refused(admitted: Register) -> None:
    """After a passphrase change, the slot row with the old passphrase's box copied back."""
    [(kdf, secrets)] = admitted.sql("SELECT kdf, secrets FROM slots WHERE name = 'aino'")
    changed_pass = admitted.cli("officer", "passwd", "--officer", "aino",
                                env={"KSS_PANEL_PASSPHRASE": "correct horse battery staple", "KSS_PANEL_NEW_PASSPHRASE": "a brand new passphrase"})
    assert changed_pass.exit_code == 0, changed_pass.stderr
    admitted.sql("UPDATE slots SET kdf = ?, secrets = ? WHERE name = 'aino'", [kdf, secrets])
    result = admitted.run_as_aino("list")  # the old passphrase
    assert_clean_failure(result, 7)
    assert result.stderr.splitlines()[0].startswith("kss-panel: error: the key slot table does not match audit entry")


def test_legitimate_work_keeps_the_file_and_trail_in_step(admitted: Register) -> None:
    aino, veikko = admitted.ids["aino"], admitted.ids["veikko"]
    roster = admitted.roster(AINO["customer_number"])
    steps = [
        ("update", aino, "--set", "contact.city=Hamina"), ("consent", aino, "--give", "sms_marketing"),
        ("restrict", aino, "--reason", "legal-claims"), ("restrict", aino, "--lift"), ("eligibility", "--customers", str(roster)),
        ("activity", "import", str(admitted.file(f"member_id,date\n{aino},2025-06-10\n"))), ("consent", veikko, "--object"),
        ("key", "rotate"), ("erase", veikko, "--reason", "request"),
    ]
    for args in steps:
        result = admitted.run(*args)
        assert result.exit_code == 0, (args, result.stderr)
        verified = admitted.cli("audit", "verify")
        assert verified.exit_code == 0, (args, verified.stderr)
    assert admitted.run("show", aino).exit_code == 0
