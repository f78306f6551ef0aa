"""Bulk admission: `admit --all --customers ROSTER` admits every applicant whose customer number is in
the roster, in one transaction, and lists the applicants it left as they were."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from kss_panel.services import members
from support import Builder, Register, assert_failure, customer, person

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TODAY = "2026-06-15"
APPLICANTS = 300
NOT_CUSTOMERS = (7, 150, 299)  # applicants whose customer number the roster lacks


def populate(b: Builder) -> None:
    """300 applicants (1..300), one member admitted earlier (301) and one rejected applicant (302)."""
    people = {n: person(n, given=()) for n in range(1, APPLICANTS + 1)}
    b.ids.update(zip(people, members.enrol_many(b.session, people.values(), b.now), strict=True))  # one transaction: quick
    b.records.update(people)
    b.member(301, date(2026, 1, 1), date(2026, 1, 2))
    b.rejected(302, date(2026, 1, 1), date(2026, 1, 3))


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register({}, NOW, populate=populate, purger=True)


def roster(reg: Register) -> str:
    customers = [n for n in range(1, 303) if n not in NOT_CUSTOMERS] + [999_001, 999_002]  # and people who never applied
    return str(reg.roster(*customers))


def statuses(reg: Register) -> dict[int, tuple[str, str | None]]:
    rows = {member_id: (status, admitted) for member_id, status, admitted in reg.sql("SELECT member_id, status, admitted_at FROM members")}
    return {name: rows[member_id] for name, member_id in reg.ids.items()}


def test_three_hundred_applicants_in_one_command(reg: Register) -> None:
    before = statuses(reg)
    result = reg.run("admit", "--all", "--customers", roster(reg))
    assert result.exit_code == 0, result.stderr
    left = sorted(reg.ids[n] for n in NOT_CUSTOMERS)  # all applied the same day: by member id
    assert result.stdout.splitlines() == [
        "admitted 297 applicants", "3 applicants not in the roster, not admitted:", *(f"  {member_id}" for member_id in left)]
    after = statuses(reg)
    assert {n for n in range(1, APPLICANTS + 1) if after[n] == ("member", TODAY)} == set(range(1, APPLICANTS + 1)) - set(NOT_CUSTOMERS)
    assert all(after[n] == ("applicant", None) for n in NOT_CUSTOMERS)
    assert (after[301], after[302]) == (before[301], before[302])  # a member and a rejected applicant are no applicants


def test_every_admission_is_audited_and_the_run_once_more(reg: Register) -> None:
    count = reg.count("audit")
    reg.json("admit", "--all", "--customers", roster(reg))
    entries = reg.audit()[count:]
    admits = [e for e in entries if e["action"] == "admit"]
    assert len(admits) == 297 and all(e["fields"] == ["customer_number"] for e in admits)
    assert {e["member_id"] for e in admits} == {reg.ids[n] for n in range(1, APPLICANTS + 1) if n not in NOT_CUSTOMERS}
    assert entries[-1] == {"action": "admit-all", "member_id": None, "fields": ["customer_number"],
                           "detail": {"admitted": 297, "not_in_roster": 3}}
    assert reg.json("audit", "verify")["entries"] == count + 298


def test_json_names_both_groups(reg: Register) -> None:
    data = reg.json("admit", "--all", "--customers", roster(reg))
    assert set(data) == {"admitted", "not_in_roster"}
    assert (len(data["admitted"]), data["not_in_roster"]) == (297, sorted(reg.ids[n] for n in NOT_CUSTOMERS))
    assert reg.json("admit", "--all", "--customers", roster(reg)) == {"admitted": [], "not_in_roster": data["not_in_roster"]}


def test_it_is_one_transaction(reg: Register) -> None:
    """While another writer holds the lock, nothing is admitted, not even in part (exit 8)."""
    before = reg.tables()
    blocker = sqlite3.connect(reg.db)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        result = reg.run("admit", "--all", "--customers", roster(reg), env={"KSS_PANEL_BUSY_TIMEOUT": "0"})
    finally:
        blocker.rollback()
        blocker.close()
    assert_failure(result, 8)
    assert reg.tables() == before


def test_an_empty_roster_admits_no_one_and_says_so(reg: Register) -> None:
    result = reg.run("admit", "--all", "--customers", str(reg.roster()), "--json")
    data = json.loads(result.stdout)["data"]
    assert (result.exit_code, data["admitted"], len(data["not_in_roster"])) == (0, [], APPLICANTS)
    assert reg.count("members") == APPLICANTS + 2 and statuses(reg)[1] == ("applicant", None)


@pytest.mark.parametrize("args", [("M", "--all"), ()])
def test_one_applicant_or_all_of_them(reg: Register, args: tuple[str, ...]) -> None:
    before = reg.tables()
    result = reg.run("admit", *(reg.ids[1] if a == "M" else a for a in args), "--customers", roster(reg))
    assert_failure(result, 5, "name one applicant, or --all", ["  MEMBER|--all: give exactly one"])
    assert reg.tables() == before


def test_a_purger_cannot_admit(reg: Register) -> None:
    before = reg.tables()
    assert_failure(reg.run("admit", "--all", "--customers", roster(reg), key="cron"), 3, "the purger slot 'cron' may not admit members")
    assert reg.tables() == before


def test_a_bad_roster_changes_nothing(reg: Register) -> None:
    before = reg.tables()
    bad = reg.roster(text=f"customer_number\n{customer(1)}\n12ab\n", name="bad.csv")
    assert_failure(reg.run("admit", "--all", "--customers", str(bad)), 5, f"invalid roster {bad}", ["  line 3: customer_number: must be 6 to 10 digits"])
    assert_failure(reg.run("admit", "--all", "--customers", str(reg.dir / "missing.csv")), 4)
    assert reg.tables() == before
