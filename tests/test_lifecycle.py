"""Lifecycle: admit against the customer roster, reject for a listed reason,
the eligibility check, and survey activity import.

The command line runs at a fixed instant (the ``clock`` fixture pins the CLI's clock), so every
date written is known; services are called with the same ``now``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from kss_panel.services import lifecycle, members
from kss_panel import model
from kss_panel.policy import Policies
from support import Register, assert_failure, customer, person

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # noon UTC: the same day in Helsinki
TODAY = "2026-06-15"


def entries(reg: Register) -> list[tuple[str, str | None, dict[str, Any]]]:
    """The audit trail as (action, member_id, detail), oldest first."""
    return [(e["action"], e["member_id"], e["detail"]) for e in reg.audit()]


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    """Applicants 1-4 (person(n)), enrolled on 2026-06-01; officer 'desk' unlocks with a key file."""
    return make_register({n: {**person(n), "applied_at": "2026-06-01"} for n in range(1, 5)}, NOW)


# --- admit ----------------------------------------------------------------------------------------------------


def test_admit_an_applicant_in_the_roster(reg: Register) -> None:
    member_id = reg.ids[1]
    result = reg.run("admit", member_id, "--customers", str(reg.roster(1, 2)))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"admitted {member_id}\n"
    row = reg.member(member_id)
    assert row is not None
    assert (row["status"], row["admitted_at"], row["updated_at"]) == ("member", TODAY, TODAY)
    assert entries(reg)[-1] == ("admit", member_id, {})
    assert reg.status(reg.ids[2]) == "applicant"  # only the named applicant


def test_admit_json(reg: Register) -> None:
    result = reg.run("admit", reg.ids[1], "--customers", str(reg.roster(1)), "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["kss_panel"], document["command"], document["ok"]) == (1, "admit", True)
    assert document["data"]["member_id"] == reg.ids[1]
    assert document["data"]["status"] == "member"
    assert document["data"]["admitted_at"] == TODAY


def test_admit_refused_when_the_customer_number_is_not_in_the_roster(reg: Register) -> None:
    member_id = reg.ids[1]
    before = reg.tables()
    result = reg.run("admit", member_id, "--customers", str(reg.roster(2, 3)))
    assert_failure(result, 9, f"{member_id} is not a KSS Energia customer: the customer number is not in the roster")
    assert reg.status(member_id) == "applicant"
    assert reg.tables() == before  # audit count unchanged, nothing else either


def test_admit_with_an_empty_roster_is_refused(reg: Register) -> None:
    before = reg.tables()
    result = reg.run("admit", reg.ids[1], "--customers", str(reg.roster()))
    assert result.exit_code == 9, result.stderr
    assert reg.tables() == before


def test_admit_a_non_applicant_is_invalid(reg: Register) -> None:
    roster = reg.roster(1, 2)
    assert reg.run("admit", reg.ids[1], "--customers", str(roster)).exit_code == 0
    assert reg.run("reject", reg.ids[2], "--reason", "incomplete-application").exit_code == 0
    before = reg.tables()
    assert_failure(
        reg.run("admit", reg.ids[1], "--customers", str(roster)), 5, f"cannot admit {reg.ids[1]}", ["  status: is member, not applicant"]
    )
    assert_failure(
        reg.run("admit", reg.ids[2], "--customers", str(roster)), 5, f"cannot admit {reg.ids[2]}", ["  status: is rejected, not applicant"]
    )
    assert reg.tables() == before


def test_admit_an_unknown_member_is_not_found(reg: Register) -> None:
    result = reg.run("admit", "Mnosuchmember", "--customers", str(reg.roster(1)))
    assert_failure(result, 4, "no member 'Mnosuchmember'")


def test_roster_with_semicolons_and_a_bom(reg: Register) -> None:
    text = "\ufeffname;customer_number;segment\r\nX;" + customer(1) + ";home\r\nY; " + customer(3) + " ;farm\r\n"
    roster = reg.roster(text=text)
    assert roster.read_bytes().startswith(b"\xef\xbb\xbf")
    assert reg.run("admit", reg.ids[1], "--customers", str(roster)).exit_code == 0
    assert reg.run("admit", reg.ids[3], "--customers", str(roster)).exit_code == 0
    assert (reg.status(reg.ids[1]), reg.status(reg.ids[3])) == ("member", "member")
    assert reg.run("admit", reg.ids[2], "--customers", str(roster)).exit_code == 9


def test_roster_without_customer_number_column_is_invalid(reg: Register) -> None:
    roster = reg.roster(text="asiakasnumero\n" + customer(1) + "\n")
    before = reg.tables()
    result = reg.run("admit", reg.ids[1], "--customers", str(roster))
    assert_failure(result, 5, f"{roster} lacks a required column", ["  line 1: no column 'customer_number'"])
    assert reg.tables() == before


def test_roster_with_an_invalid_customer_number_names_the_line(reg: Register) -> None:
    roster = reg.roster(text=f"customer_number\n{customer(1)}\n12ab\n")
    result = reg.run("admit", reg.ids[1], "--customers", str(roster))
    assert_failure(result, 5, f"invalid roster {roster}", ["  line 3: customer_number: must be 6 to 10 digits"])
    assert "12ab" not in result.stderr
    assert reg.status(reg.ids[1]) == "applicant"


def test_missing_roster_is_not_found(reg: Register) -> None:
    result = reg.run("admit", reg.ids[1], "--customers", str(reg.dir / "nope.csv"))
    assert result.exit_code == 4, result.stderr


# --- reject ---------------------------------------------------------------------------------------------------


def test_reject_for_a_listed_reason(reg: Register) -> None:
    member_id = reg.ids[1]
    result = reg.run("reject", member_id, "--reason", "not-a-customer")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"rejected {member_id} (not-a-customer)\n"
    row = reg.member(member_id)
    assert row is not None
    assert (row["status"], row["rejected_at"], row["admitted_at"], row["rejection_reason"]) == ("rejected", TODAY, None, "not-a-customer")
    assert entries(reg)[-1] == ("reject", member_id, {"reason": "not-a-customer"})
    assert reg.json("show", member_id)["rejection_reason"] == "not-a-customer"
    assert "rejection reason  not-a-customer" in reg.run("show", member_id).stdout


def test_reject_for_a_reason_not_in_the_policy(reg: Register, policies: Policies) -> None:
    before = reg.tables()
    result = reg.run("reject", reg.ids[1], "--reason", "too-grumpy")
    reasons = ", ".join(policies.register.rejection_reasons)
    assert_failure(result, 5, "invalid rejection reason", [f"  --reason: must be one of {reasons}"])
    assert reg.status(reg.ids[1]) == "applicant"
    assert reg.tables() == before


def test_reject_a_non_applicant_is_invalid(reg: Register) -> None:
    assert reg.run("reject", reg.ids[1], "--reason", "not-a-customer").exit_code == 0
    before = reg.tables()
    result = reg.run("reject", reg.ids[1], "--reason", "not-a-customer")
    assert_failure(result, 5, f"cannot reject {reg.ids[1]}", ["  status: is rejected, not applicant"])
    assert reg.tables() == before


# --- eligibility ----------------------------------------------------------------------------------------------


def _admit_all(reg: Register) -> None:
    roster = list(reg.ids)
    with reg.session() as session:
        for n in (1, 2, 3):
            lifecycle.admit(session, reg.ids[n], [customer(k) for k in roster], NOW)


def test_eligibility_is_a_dry_run_by_default(reg: Register) -> None:
    _admit_all(reg)  # 1-3 are members, 4 stays an applicant
    before = reg.tables()
    result = reg.run("eligibility", "--customers", str(reg.roster(1, 3)))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "dry run: nothing was changed",
        "3 members admitted, 2 customer numbers in the roster:",
        "  2 still eligible",
        "  1 newly ineligible",
        "  0 cleared: back in the roster",
        "  0 already marked",
        "--apply would mark 1 member (within the 3 allowed at once)",
        "--remove would erase 1 member (within the 3 allowed at once)",
        f"{reg.ids[2]}  newly ineligible",
    ]
    assert reg.tables() == before


def test_eligibility_apply_records_the_first_day_found(reg: Register) -> None:
    _admit_all(reg)
    result = reg.run("eligibility", "--customers", str(reg.roster(1, 3)), "--apply")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["recorded", "3 members admitted, 2 customer numbers in the roster:"]
    assert reg.member(reg.ids[2])["ineligible_at"] == TODAY  # type: ignore[index]
    assert reg.member(reg.ids[1])["ineligible_at"] is None  # type: ignore[index]
    assert reg.member(reg.ids[4])["ineligible_at"] is None  # type: ignore[index]  # applicants are not checked
    assert reg.status(reg.ids[2]) == "member"
    assert entries(reg)[-1] == (
        "eligibility-check", None, {"members": 3, "newly_ineligible": 1, "cleared": 0, "already_marked": 0},
    )


def test_eligibility_json_and_first_date_kept(reg: Register) -> None:
    _admit_all(reg)
    result = reg.run("eligibility", "--customers", str(reg.roster(1)), "--apply", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["data"] == {
        "applied": True, "removed": False, "admitted": 3, "roster": 1, "still_eligible": 1,
        "newly_ineligible": sorted([reg.ids[2], reg.ids[3]]), "cleared": [],
        "already_marked": [], "held": [], "erasable": 2, "erased": [], "allowed": 3,
    }
    later = datetime(2026, 7, 1, 12, tzinfo=UTC)
    with reg.session() as session:
        again = lifecycle.eligibility(session, [customer(1)], later, apply=True)
        assert (again["newly_ineligible"], set(again["already_marked"])) == ([], {reg.ids[2], reg.ids[3]})
        assert reg.member(reg.ids[2])["ineligible_at"] == TODAY  # type: ignore[index]  # the first day found, not the latest
        # Back in the roster: the date is cleared.
        back = lifecycle.eligibility(session, [customer(1), customer(2)], later, apply=True)
        assert (back["cleared"], back["already_marked"]) == ([reg.ids[2]], [reg.ids[3]])
    assert reg.member(reg.ids[2])["ineligible_at"] is None  # type: ignore[index]
    assert reg.member(reg.ids[3])["ineligible_at"] == TODAY  # type: ignore[index]


def test_eligibility_remove_erases_them(reg: Register) -> None:
    _admit_all(reg)
    gone = reg.ids[2]
    result = reg.run("eligibility", "--customers", str(reg.roster(1, 3)), "--remove")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["erased and recorded", "3 members admitted, 2 customer numbers in the roster:"]
    assert result.stdout.splitlines()[-2:] == ["  1 erased", f"{gone}  erased"]
    assert reg.member(gone) is None
    assert reg.sql("SELECT count(*) FROM lookups WHERE member_id = ?", (gone,)) == [(0,)]
    assert reg.sql("SELECT member_id, erased_at, reason, rule FROM erasures") == [(gone, TODAY, "conditions-not-met", None)]
    assert ("erase", gone, {"reason": "conditions-not-met"}) in entries(reg)
    for n in (1, 3, 4):
        assert reg.member(reg.ids[n]) is not None
    with reg.session() as session:
        assert members.show(session, reg.ids[1], NOW)["contact"]["email"] == "aino.1@example.fi"


def test_eligibility_with_everyone_in_the_roster(reg: Register) -> None:
    _admit_all(reg)
    result = reg.run("eligibility", "--customers", str(reg.roster(1, 2, 3)), "--remove")
    assert result.exit_code == 0, result.stderr
    assert "  0 erased" in result.stdout.splitlines()
    assert reg.sql("SELECT count(*) FROM erasures") == [(0,)]


# --- activity import ------------------------------------------------------------------------------------------


def activity_file(reg: Register, rows: list[tuple[str, str]], name: str = "activity.csv") -> Path:
    path = reg.dir / name
    path.write_text("member_id,date\n" + "".join(f"{m},{d}\n" for m, d in rows), encoding="utf-8")
    return path


def test_activity_import_keeps_the_latest_date(reg: Register) -> None:
    a, b = reg.ids[1], reg.ids[2]
    path = activity_file(reg, [(a, "2026-03-01"), (a, "2026-05-20"), (b, "2026-01-10"), (a, "2026-04-01")])
    result = reg.run("activity", "import", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "activity of 2 members read, 2 updated\n"
    assert reg.member(a)["last_activity_at"] == "2026-05-20"  # type: ignore[index]
    assert reg.member(b)["last_activity_at"] == "2026-01-10"  # type: ignore[index]
    assert entries(reg)[-1] == ("activity-import", None, {"rows": 2, "changed": 2})

    # An older date never moves the clock back; a newer one moves it on.
    older = activity_file(reg, [(a, "2025-12-31"), (b, "2026-06-15")], "older.csv")
    result = reg.run("activity", "import", str(older), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"] == {"members": 2, "updated": 1}
    assert reg.member(a)["last_activity_at"] == "2026-05-20"  # type: ignore[index]
    assert reg.member(b)["last_activity_at"] == TODAY  # type: ignore[index]


def test_activity_import_with_semicolons_and_bom(reg: Register) -> None:
    path = reg.dir / "activity.csv"
    path.write_text(f"\ufeffdate;member_id\r\n2026-02-02;{reg.ids[3]}\r\n", encoding="utf-8")
    assert reg.run("activity", "import", str(path)).exit_code == 0
    assert reg.member(reg.ids[3])["last_activity_at"] == "2026-02-02"  # type: ignore[index]


def test_activity_import_unknown_member_writes_nothing(reg: Register) -> None:
    path = activity_file(reg, [(reg.ids[1], "2026-05-01"), ("Mnosuchmember", "2026-05-02"), (reg.ids[2], "2026-05-03")])
    before = reg.tables()
    result = reg.run("activity", "import", str(path))
    assert_failure(result, 5, "invalid activity file", ["  line 3: member_id: no such member"])
    assert reg.tables() == before


def test_activity_import_future_date_writes_nothing(reg: Register) -> None:
    path = activity_file(reg, [(reg.ids[1], "2026-06-16"), (reg.ids[2], "2026-06-15")])
    before = reg.tables()
    result = reg.run("activity", "import", str(path))
    assert_failure(result, 5, "invalid activity file", ["  line 2: date: must not be in the future"])
    assert reg.tables() == before


def test_activity_import_malformed_date_names_the_line(reg: Register) -> None:
    path = activity_file(reg, [(reg.ids[1], "2026-05-01"), (reg.ids[2], "15.5.2026")])
    before = reg.tables()
    result = reg.run("activity", "import", str(path))
    assert_failure(result, 5, f"invalid activity file {path}", ["  line 3: date: must be a date as YYYY-MM-DD"])
    assert reg.tables() == before


def test_activity_import_lists_every_problem(reg: Register) -> None:
    path = activity_file(reg, [("Mnope", "2026-05-01"), (reg.ids[1], "2027-01-01"), (reg.ids[2], "2026-05-01")])
    result = reg.run("activity", "import", str(path))
    assert_failure(result, 5, "invalid activity file", ["  line 2: member_id: no such member", "  line 3: date: must not be in the future"])


def test_record_activity_service_uses_the_register_day(reg: Register) -> None:
    # 22:30 UTC on 15 June is already 16 June in Helsinki: a date of 16 June is not in the future.
    late = datetime(2026, 6, 15, 22, 30, tzinfo=UTC)
    assert model.local_date(late) == date(2026, 6, 16)
    with reg.session() as session:
        assert lifecycle.record_activity(session, [(2, reg.ids[1], date(2026, 6, 16))], late) == {"members": 1, "updated": 1}
    assert reg.member(reg.ids[1])["last_activity_at"] == "2026-06-16"  # type: ignore[index]
