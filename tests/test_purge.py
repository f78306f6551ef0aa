"""The nightly purge: retention rules at their boundary dates, erasure that
leaves nothing recoverable, the least-privileged purger key, a concurrent
writer, and a crash in the middle of an apply.

Time is fixed: services get ``now`` and the command line runs with
the CLI's clock pinned to NOW (noon UTC, the same day in Helsinki).
"""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from kss_panel.services import lifecycle, members, trail
from kss_panel.errors import Busy, PartlyDone
from kss_panel.policy import Period, Policies, RetentionPolicy
from kss_panel.policy_schema import validate
from kss_panel.retention import due_and_held, due_members, period_end
from support import Builder, Register, assert_failure, canaries, canary_person, noon

D = date(2026, 6, 15)  # the purge day
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
RULES = ("applicant-not-admitted", "rejected-applicant", "conditions-not-met", "inactive-member")
BUILT = noon(date(2019, 1, 1))  # when the registers below were made
Due = dict[str, list[tuple[str, date]]]  # member name -> the (rule, first day due) pairs of every rule that will fire for it


def days(n: int) -> timedelta:
    return timedelta(days=n)


# --- registers whose members are canary_person(n), each step at its own day ---------------------------------------


def populate_boundaries(b: Builder) -> Due:
    """For every rule, members first due the day before D, on D and the day after; and members never due near D."""
    due: Due = {}
    for k in (-1, 0, 1):
        day = D + days(k)
        b.applicant(f"applicant{k:+d}", day - days(90))
        due[f"applicant{k:+d}"] = [("applicant-not-admitted", day)]
        b.rejected(f"rejected{k:+d}", day - days(60), day - days(30))
        due[f"rejected{k:+d}"] = [("rejected-applicant", day)]
        b.member(f"active{k:+d}", date(2024, 1, 10), date(2024, 1, 11), activity=date(2024, 6, 15) + days(k))
        due[f"active{k:+d}"] = [("inactive-member", day)]
        b.member(f"silent{k:+d}", date(2024, 1, 10), date(2024, 6, 15) + days(k))  # no activity: admitted_at counts
        due[f"silent{k:+d}"] = [("inactive-member", day)]
        b.member(f"ineligible{k:+d}", D - days(200), D - days(199))
        due[f"ineligible{k:+d}"] = [("conditions-not-met", day)]
    # Ineligible and inactive at once: the first rule in policy order names the erasure.
    b.member("ineligible-and-inactive", date(2023, 1, 2), date(2023, 1, 3))
    due["ineligible-and-inactive"] = [("conditions-not-met", D - days(1)), ("inactive-member", date(2025, 1, 3))]
    # Never due near D.
    b.applicant("recent-applicant", D - days(30))
    b.member("old-but-active", date(2020, 1, 2), date(2020, 3, 1), activity=D - days(100))
    b.member("recent-member", D - days(120), D - days(100))
    b.rejected("recently-rejected", D - days(20), D - days(5))
    b.member("back-in-roster", D - days(200), D - days(199))
    b.applicant("restricted-applicant", D - days(200))
    b.restrict("restricted-applicant", at=noon(D - days(10)))
    b.member("restricted-inactive", date(2019, 1, 2), date(2019, 2, 1))
    b.restrict("restricted-inactive", at=noon(D - days(10)))
    # Eligibility checks 31, 30 and 29 days before D set ineligible_at = the first day a member is missing;
    # the conditions-not-met rule's 30 days of grace make them due on D-1, D and D+1.
    b.eligibility(noon(D - days(31)), excluding=("ineligible-1", "ineligible-and-inactive", "back-in-roster"))
    b.eligibility(noon(D - days(30)), excluding=("ineligible-1", "ineligible-and-inactive", "ineligible+0"))
    b.eligibility(noon(D - days(29)), excluding=("ineligible-1", "ineligible-and-inactive", "ineligible+0", "ineligible+1"))
    return due


def populate_cli(b: Builder) -> Due:
    """Five members due on D, three kept."""
    for n in (1, 2, 3):
        b.applicant(f"old-applicant-{n}", D - days(100 + n))
    b.rejected("old-rejected", D - days(60), D - days(40))
    b.member("inactive", date(2024, 1, 2), date(2024, 1, 3), activity=date(2024, 3, 1))
    b.applicant("new-applicant", D - days(10))
    b.member("active", D - days(300), D - days(290), activity=D - days(20))
    b.rejected("new-rejected", D - days(10), D - days(3))
    return {
        "old-applicant-1": [("applicant-not-admitted", D - days(11))],
        "old-applicant-2": [("applicant-not-admitted", D - days(12))],
        "old-applicant-3": [("applicant-not-admitted", D - days(13))],
        "old-rejected": [("rejected-applicant", D - days(10))],
        "inactive": [("inactive-member", date(2026, 3, 1))],
        "new-applicant": [("applicant-not-admitted", D + days(80))],
        "active": [("inactive-member", date(2028, 5, 26))],
        "new-rejected": [("rejected-applicant", D + days(27))],
    }


def populate_month_end(b: Builder) -> Due:
    b.member("leap-activity", date(2024, 1, 2), date(2024, 1, 3), activity=date(2024, 2, 29))
    b.member("leap-admitted", date(2024, 1, 2), date(2024, 2, 29))
    b.member("jan-31", date(2023, 12, 1), date(2024, 1, 31))
    b.member("mar-1", date(2024, 1, 2), date(2024, 1, 3), activity=date(2024, 3, 1))
    return {
        "leap-activity": [("inactive-member", date(2026, 2, 28))],
        "leap-admitted": [("inactive-member", date(2026, 2, 28))],
        "jan-31": [("inactive-member", date(2026, 1, 31))],
        "mar-1": [("inactive-member", date(2026, 3, 1))],
    }


# These registers are small, and many of their members are due at once: their policies let one run erase
# them all, so the tests see the rules at work (the blast-radius guard has tests of its own, test_guards.py).


@pytest.fixture
def boundaries(make_register: Callable[..., Register]) -> Register:
    return make_register({}, BUILT, populate=populate_boundaries, purger=True).unguarded()


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register({}, BUILT, populate=populate_cli, purger=True).unguarded()


@pytest.fixture
def month_end(make_register: Callable[..., Register]) -> Register:
    return make_register({}, BUILT, populate=populate_month_end, purger=True)


def due_ids(reg: Register, as_of: date = D) -> dict[str, set[str]]:
    """Each rule's members on ``as_of``: a member goes to the first rule, in policy order, that fires."""
    out: dict[str, set[str]] = {rule: set() for rule in RULES}
    for name, firing in reg.facts.items():
        fired = [rule for rule, first in firing if first <= as_of]
        if fired:
            out[min(fired, key=RULES.index)].add(reg.ids[name])
    return out


def all_due(reg: Register, as_of: date = D) -> set[str]:
    return set().union(*due_ids(reg, as_of).values())


def all_canaries(reg: Register) -> dict[str, list[str]]:
    return {name: canaries(data) for name, data in reg.records.items()}


def plan_sets(plan: lifecycle.PurgePlan) -> dict[str, set[str]]:
    for ids in plan.due.values():
        assert len(ids) == len(set(ids))
    return {rule: set(ids) for rule, ids in plan.due.items()}


# --- the rules, pure ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "start", "expected"),
    [
        ({"days": 90}, date(2026, 3, 17), date(2026, 6, 15)),
        ({"days": 30}, date(2026, 5, 16), date(2026, 6, 15)),
        ({"days": 0}, date(2026, 6, 15), date(2026, 6, 15)),
        ({"days": 1}, date(2024, 2, 28), date(2024, 2, 29)),
        ({"months": 24}, date(2024, 6, 15), date(2026, 6, 15)),
        ({"months": 24}, date(2024, 2, 29), date(2026, 2, 28)),
        ({"months": 48}, date(2024, 2, 29), date(2028, 2, 29)),
        ({"months": 12}, date(2023, 2, 28), date(2024, 2, 28)),
        ({"months": 1}, date(2024, 1, 31), date(2024, 2, 29)),
        ({"months": 1}, date(2023, 1, 31), date(2023, 2, 28)),
        ({"months": 1}, date(2026, 3, 31), date(2026, 4, 30)),
        ({"months": 1}, date(2025, 12, 15), date(2026, 1, 15)),
        ({"months": 13}, date(2025, 12, 31), date(2027, 1, 31)),
        ({"months": 24}, date(2024, 12, 31), date(2026, 12, 31)),
        ({"months": 0}, date(2024, 2, 29), date(2024, 2, 29)),
    ],
)
def test_period_after(period: dict[str, int], start: date, expected: date) -> None:
    assert period_end(Period(**period), start) == expected


def test_period_needs_exactly_one_unit() -> None:
    with pytest.raises(ValueError):
        Period()
    with pytest.raises(ValueError):
        Period(days=1, months=1)


def _row(status: str, **columns: str | None) -> dict[str, Any]:
    base = {
        "member_id": "M" + status, "status": status, "applied_at": "2026-01-01", "admitted_at": None, "rejected_at": None,
        "last_activity_at": None, "ineligible_at": None, "restricted_at": None,
    }
    return {**base, **columns}


def test_due_members_boundaries(policies: Policies) -> None:
    retention = policies.retention
    rows = {
        "applicant": _row("applicant", applied_at="2026-03-17"),
        "rejected": _row("rejected", rejected_at="2026-05-16"),
        "ineligible": _row("member", admitted_at="2026-01-02", ineligible_at="2026-05-16"),  # + 30 days of grace
        "active": _row("member", admitted_at="2020-01-02", last_activity_at="2024-06-15"),
        "silent": _row("member", admitted_at="2024-06-15"),
        "leap": _row("member", admitted_at="2020-01-02", last_activity_at="2024-02-29"),
    }
    for name, row in rows.items():
        row["member_id"] = name
    names = lambda as_of: {rule: [r["member_id"] for r in found] for rule, found in due_members(retention, rows.values(), as_of).items()}  # noqa: E731
    assert names(date(2026, 2, 27)) == {rule: [] for rule in RULES}
    assert names(date(2026, 2, 28)) == {**{rule: [] for rule in RULES}, "inactive-member": ["leap"]}
    assert names(date(2026, 6, 14)) == {**{rule: [] for rule in RULES}, "inactive-member": ["leap"]}
    expected_on_the_day = {
        "applicant-not-admitted": ["applicant"],
        "rejected-applicant": ["rejected"],
        "conditions-not-met": ["ineligible"],
        "inactive-member": ["active", "silent", "leap"],
    }
    assert names(date(2026, 6, 15)) == expected_on_the_day
    assert names(date(2026, 6, 16)) == expected_on_the_day


def test_due_members_first_rule_wins_and_restriction_holds(policies: Policies) -> None:
    both = _row("member", admitted_at="2020-01-02", ineligible_at="2026-05-01")
    held = _row("applicant", applied_at="2020-01-02", restricted_at="2026-06-01")
    held["member_id"] = "held"
    due = due_members(policies.retention, [both, held], D)
    assert [r["member_id"] for r in due["conditions-not-met"]] == ["Mmember"]
    assert due["inactive-member"] == [] and due["applicant-not-admitted"] == []
    due, on_hold = due_and_held(policies.retention, [both, held], D)
    assert [r["member_id"] for r in on_hold["applicant-not-admitted"]] == ["held"]
    assert sum(map(len, on_hold.values())) == 1
    assert validate(RetentionPolicy, {**policies.documents["retention.yaml"], "restricted": "ignore"}) == (
        None, [(("restricted",), "restricted: must be 'hold': a restriction (GDPR Art. 18) means the data must be kept, so purges hold")]
    )


def test_due_members_without_a_clock_date_is_never_due(policies: Policies) -> None:
    rejected_without_date = _row("rejected")
    member_without_dates = _row("member")
    assert due_members(policies.retention, [rejected_without_date, member_without_dates], date(2100, 1, 1)) == {rule: [] for rule in RULES}


# --- the rules on a register, at their boundary dates ----------------------------------------------------------


@pytest.mark.parametrize("offset", [-2, -1, 0, 1, 2])
def test_plan_picks_exactly_the_due_members(boundaries: Register, offset: int) -> None:
    as_of = D + days(offset)
    with boundaries.session(key="cron") as session:
        plan = lifecycle.plan_purge(session, as_of)
    assert plan.as_of == as_of
    assert list(plan.due) == list(RULES)
    assert plan_sets(plan) == due_ids(boundaries, as_of)
    assert plan.total == len(all_due(boundaries, as_of))


def test_boundary_register_columns(boundaries: Register) -> None:
    """The builder set the clocks it meant to (guards the boundary test itself)."""
    rows = {m: (a, ad, r, la, ie, rs) for m, a, ad, r, la, ie, rs in boundaries.sql(
        "SELECT member_id, applied_at, admitted_at, rejected_at, last_activity_at, ineligible_at, restricted_at FROM members")}
    ids = boundaries.ids
    assert rows[ids["applicant+0"]][0] == "2026-03-17"
    assert rows[ids["rejected+0"]][2] == "2026-05-16"
    assert rows[ids["active-1"]][3] == "2024-06-14"
    assert rows[ids["silent+1"]][1] == "2024-06-16" and rows[ids["silent+1"]][3] is None
    assert [rows[ids[f"ineligible{k:+d}"]][4] for k in (-1, 0, 1)] == ["2026-05-15", "2026-05-16", "2026-05-17"]
    assert rows[ids["back-in-roster"]][4] is None
    assert rows[ids["restricted-inactive"]][5] == "2026-06-05"


def test_restricted_members_are_held_and_counted(boundaries: Register) -> None:
    with boundaries.session(key="cron") as session:
        plan = lifecycle.plan_purge(session, D)
    assert plan_sets(plan) == due_ids(boundaries, D)
    assert plan.held == {**{rule: [] for rule in RULES}, "applicant-not-admitted": [boundaries.ids["restricted-applicant"]],
                         "inactive-member": [boundaries.ids["restricted-inactive"]]}
    assert (plan.total_held, plan.members) == (2, len(boundaries.ids))


def test_a_policy_cannot_let_purges_ignore_a_restriction(boundaries: Register) -> None:
    directory = boundaries.dir / "policies"
    path = directory / "retention.yaml"
    path.write_text(path.read_text().replace("restricted: hold", "restricted: ignore"))
    result = boundaries.run("purge", "--apply", key="cron")
    assert_failure(result, 6, f"invalid policy in {directory}")
    line = next(n for n, text in enumerate((directory / "retention.yaml").read_text().splitlines(), 1) if text == "restricted: ignore")
    assert result.stderr.splitlines()[1] == (
        f"  {directory / 'retention.yaml'}:{line}: restricted: must be 'hold': a restriction (GDPR Art. 18) means the data must be kept,"
        " so purges hold"
    )


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2026, 1, 30), set()),
        (date(2026, 1, 31), {"jan-31"}),
        (date(2026, 2, 27), {"jan-31"}),
        (date(2026, 2, 28), {"jan-31", "leap-activity", "leap-admitted"}),
        (date(2026, 3, 1), {"jan-31", "leap-activity", "leap-admitted", "mar-1"}),
    ],
)
def test_month_end(month_end: Register, as_of: date, expected: set[str]) -> None:
    with month_end.session(key="cron") as session:
        plan = lifecycle.plan_purge(session, as_of)
    assert plan_sets(plan) == {**{rule: set() for rule in RULES}, "inactive-member": {month_end.ids[n] for n in expected}}


def test_services_purge_erases_exactly_the_due_members(boundaries: Register) -> None:
    everyone = boundaries.member_ids()
    due = due_ids(boundaries, D)
    seen = len(boundaries.audit("actor"))
    with boundaries.session(key="cron") as session:
        plan = lifecycle.purge(session, NOW)
    assert plan_sets(plan) == due
    erased = all_due(boundaries, D)
    assert boundaries.member_ids() == everyone - erased
    rule_of = {m: rule for rule, ids in due.items() for m in ids}
    assert boundaries.erasures() == {m: ("2026-06-15", "retention", rule_of[m]) for m in erased}
    new = boundaries.audit("actor")[seen:]
    erase_entries = [e for e in new if e["action"] == "erase"]
    assert sorted(e["member_id"] for e in erase_entries) == sorted(erased)
    for entry in erase_entries:
        assert entry["actor"] == "cron"
        assert entry["fields"] == []
        assert entry["detail"] == {"reason": "retention", "rule": rule_of[entry["member_id"]]}
    [summary] = [e for e in new if e["action"] == "purge"]
    assert summary["member_id"] is None and summary["actor"] == "cron"
    assert summary["detail"] == {"erased": len(erased), "rules": {rule: len(ids) for rule, ids in due.items() if ids}}
    assert len(new) == len(erased) + 1
    with boundaries.session(key="cron") as session:
        assert lifecycle.plan_purge(session, D).total == 0
        trail.audit_verify(session)


def member_reads(statements: list[str]) -> list[str]:
    """The statements that read members' whole rows."""
    return [s for s in statements if re.match(r"SELECT (m\.\*.* FROM members m |\* FROM members )", s)]


def test_a_purge_reads_each_due_member_once(boundaries: Register) -> None:
    """The plan reads the members some rule could make due in one pass, checking each due one against the trail as
    it goes; while no other connection commits, the batches erase them as the plan found them, reading none again."""
    statements: list[str] = []
    with boundaries.session(key="cron") as session:
        session.store.conn.set_trace_callback(statements.append)
        plan = lifecycle.purge(session, NOW, batch=2)
        session.store.conn.set_trace_callback(None)
    assert plan.total > 2  # several batches
    assert len(member_reads(statements)) == 1
    assert not [s for s in statements if "FROM audit WHERE seq IN" in s]  # no second look-up of the rows' states


def test_a_purge_deletes_in_key_order(boundaries: Register) -> None:
    """The erased members' lookup rows, member rows and erasure rows are visited in their keys' order, so each page of
    a table or index is written once however many members a batch erases (not once per member)."""
    statements: list[str] = []
    with boundaries.session(key="cron") as session:
        session.store.conn.set_trace_callback(statements.append)
        plan = lifecycle.purge(session, NOW)
        session.store.conn.set_trace_callback(None)
    digests = [s.split("digest = ")[1].split(" ")[0] for s in statements if s.startswith("DELETE FROM lookups")]
    erasures = [s.split("VALUES ('")[1].split("'")[0] for s in statements if s.startswith("INSERT OR REPLACE INTO erasures")]
    deleted = [re.findall(r"'(M[^']*)'", s) for s in statements if s.startswith("DELETE FROM members")]
    assert len(digests) > 3 * plan.total // 2 and digests == sorted(digests)
    assert len(erasures) == plan.total and erasures == sorted(erasures)
    assert [member_id for chunk in deleted for member_id in chunk] == sorted(erasures)


# --- the command line -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["desk", "cron"])
def test_dry_run_lists_ids_never_names(reg: Register, who: str) -> None:
    before = reg.tables()
    result = reg.run("purge", key=who)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "dry run for 2026-06-15: 5 members due (applicant-not-admitted 3, rejected-applicant 1, inactive-member 1)"
    assert "applicant-not-admitted: 3 (applicant, applied_at + 90 days)" in lines
    assert "rejected-applicant: 1 (rejected, rejected_at + 30 days)" in lines
    assert "conditions-not-met: 0 (member, ineligible_at + 30 days)" in lines
    assert "inactive-member: 1 (member, last_activity_at + 24 months)" in lines
    assert {line.strip() for line in lines if line.startswith("  ")} == all_due(reg)
    for strings in all_canaries(reg).values():
        for canary in strings:
            assert canary not in result.output
    assert reg.tables() == before  # a dry run writes nothing


def test_dry_run_json_shape(reg: Register) -> None:
    result = reg.run("purge", "--json", key="cron")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"kss_panel", "command", "ok", "data"}
    assert (document["kss_panel"], document["command"], document["ok"]) == (1, "purge", True)
    data = document["data"]
    assert set(data) == {"as_of", "applied", "total", "held", "members", "rules", "records"}
    assert (data["as_of"], data["applied"], data["total"], data["held"], data["members"]) == ("2026-06-15", False, 5, 0, 8)
    # The register was made in 2021: its first entries are past the trail's 60 months on 2026-06-15.
    assert data["records"] == {"closed_requests": 0, "disclosure_log": 0, "suppressions": 0, "notifications": 0, "breaches": 0, "survey_invitations": 0, "competition_winners": 0,
                               "audit_trail": 3}
    assert [rule["name"] for rule in data["rules"]] == list(RULES)
    due = due_ids(reg)
    for rule in data["rules"]:
        assert set(rule) == {"name", "count", "member_ids", "held", "held_ids"}
        assert rule["count"] == len(rule["member_ids"])
        assert set(rule["member_ids"]) == due[rule["name"]]
        assert (rule["held"], rule["held_ids"]) == (0, [])


def test_dry_run_as_of_another_day(reg: Register) -> None:
    for as_of, total in (("2026-02-28", 0), ("2026-03-01", 1), ("2026-06-04", 4), ("2026-06-05", 5), ("2026-09-03", 7), ("2030-01-01", 8)):
        result = reg.run("purge", "--as-of", as_of, "--json", key="cron")
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)["data"]
        assert (data["as_of"], data["applied"], data["total"]) == (as_of, False, total)
        assert {m for rule in data["rules"] for m in rule["member_ids"]} == all_due(reg, date.fromisoformat(as_of))


def test_as_of_with_apply_is_invalid(reg: Register) -> None:
    before = reg.tables()
    result = reg.run("purge", "--apply", "--as-of", "2026-06-15", key="cron")
    assert_failure(result, 5, "--as-of is for planning", ["  --as-of: is allowed only in dry runs, not with --apply"])
    assert reg.tables() == before


def test_as_of_must_be_a_date(reg: Register) -> None:
    result = reg.run("purge", "--as-of", "15.6.2026", key="cron")
    assert_failure(result, 5, "invalid date", ["  --as-of: must be a date as YYYY-MM-DD"])


def test_apply_erases_the_due_members_beyond_recovery(reg: Register) -> None:
    due = all_due(reg)
    due_names = {name for name, member_id in reg.ids.items() if member_id in due}
    kept = {name: member_id for name, member_id in reg.ids.items() if member_id not in due}
    assert len(due_names) == 5 and len(kept) == 3
    material = {member_id: reg.sealed(member_id) for member_id in reg.ids.values()}
    before = reg.raw()
    assert all(len(pieces) >= 5 for pieces in material.values())
    assert [m for m, pieces in material.items() for piece in pieces if piece not in before] == []  # the search can find what is there
    seen = max(e["seq"] for e in reg.audit("seq"))

    result = reg.run("purge", "--apply", key="cron")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "purged 5 members (applicant-not-admitted 3, rejected-applicant 1, inactive-member 1)\n"
        "pruned 3 audit trail entries past their retention period, up to a signed checkpoint\n"
    )
    assert result.stderr == ""

    # Nothing of an erased member is left in the file or beside it: no canary, no ciphertext, no lookup hash.
    raw = {path.name: content for path, content in reg.raw_files().items()}
    assert set(raw) <= {"register.db", "register.db.erasures"}  # no journal or WAL left behind
    blob = b"".join(raw.values())
    assert [(name, c) for name, strings in all_canaries(reg).items() for c in strings if blob.count(c.encode())] == []
    assert [m for m in due for piece in material[m] if blob.count(piece)] == []
    assert [m for m in kept.values() for piece in material[m] if piece not in blob] == []

    # Their rows are gone, their ids are in the ledger, each has an erase entry; one summary.
    for table in ("members", "lookups"):
        assert {r[0] for r in reg.sql(f"SELECT member_id FROM {table}")} == set(kept.values()), table
    rule_of = {m: rule for rule, ids in due_ids(reg).items() for m in ids}
    assert reg.erasures() == {m: ("2026-06-15", "retention", rule_of[m]) for m in due}
    if "register.db.erasures" in raw:  # the ledger beside the register holds ids only
        assert stat.S_IMODE((reg.dir / "register.db.erasures").stat().st_mode) == 0o600
        ledger = raw["register.db.erasures"].decode("ascii")
        assert all(member_id in ledger for member_id in due)
        assert not any(member_id in ledger for member_id in kept.values())
    new = [e for e in reg.audit("actor", "seq") if e["seq"] > seen]
    assert sorted((e["action"], e["member_id"]) for e in new if e["action"] == "erase") == sorted(("erase", m) for m in due)
    # One summary; then the trail's oldest entries are pruned up to a checkpoint.
    assert [e["action"] for e in new if e["action"] != "erase"] == ["purge", "checkpoint"]
    [summary] = [e for e in new if e["action"] == "purge"]
    assert summary["detail"] == {"erased": 5, "rules": {"applicant-not-admitted": 3, "rejected-applicant": 1, "inactive-member": 1}}
    assert {e["actor"] for e in new} == {"cron"}
    assert all(e["fields"] == [] for e in new)

    # The others are intact and readable.
    for name, member_id in kept.items():
        shown = reg.run("show", member_id, "--json")
        assert shown.exit_code == 0, shown.stderr
        record = json.loads(shown.stdout)["data"]
        assert record["contact"]["first_name"] == reg.records[name]["contact"]["first_name"]
        assert record["hobbies"] == reg.records[name]["hobbies"]  # the canary and the markup
    for member_id in due:
        assert_failure(reg.run("show", member_id), 4, f"no member {member_id!r}")
    assert reg.run("audit", "verify", key="cron").exit_code == 0


def test_apply_json(reg: Register) -> None:
    result = reg.run("purge", "--apply", "--json", key="cron")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert (data["applied"], data["total"]) == (True, 5)
    assert {m for rule in data["rules"] for m in rule["member_ids"]} == all_due(reg)


def test_second_apply_does_nothing(reg: Register) -> None:
    assert reg.run("purge", "--apply", "--quiet", key="cron").exit_code == 0
    before = reg.tables()
    result = reg.run("purge", "--apply", "--quiet", key="cron")
    assert result.exit_code == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    assert reg.tables() == before  # no new audit entry, nothing else
    result = reg.run("purge", "--apply", key="cron")
    assert (result.exit_code, result.stdout) == (0, "purged 0 members\n")
    result = reg.run("purge", "--quiet", key="cron")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert reg.tables() == before


def test_quiet_still_reports_work_done(reg: Register) -> None:
    result = reg.run("purge", "--apply", "--quiet", key="cron")
    assert result.exit_code == 0
    assert result.stdout.startswith("purged 5 members")


# --- the purger key -------------------------------------------------------------------------------------------


def test_officer_add_purger_key_file_runs_the_purge(reg: Register) -> None:
    new_key = reg.dir / "nightly.key"
    result = reg.cli("officer", "add", "nightly", "--role", "purger", "--key-file", str(new_key), "--unlock-key-file", str(reg.keys["desk"]))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(new_key.stat().st_mode) == 0o600
    reg.keys["nightly"] = new_key
    assert reg.run("purge", "--apply", "--quiet", key="nightly").exit_code == 0
    assert reg.member_ids().isdisjoint(all_due(reg))
    assert {e["actor"] for e in reg.audit("actor") if e["action"] in ("erase", "purge")} == {"nightly"}
    with reg.session(key="nightly") as session:
        assert session.role == "purger"
        assert session.keys.data is None and session.keys.lookup == ()


def _denied_commands(reg: Register) -> dict[str, list[str]]:
    member_id = reg.ids["new-applicant"]
    roster = reg.roster(*(data["customer_number"] for data in reg.records.values()))
    activity = reg.file(f"member_id,date\n{reg.ids['active']},2026-06-01\n")
    applicant = reg.file(json.dumps(canary_person(99)), ".json")
    return {
        "show": ["show", member_id],
        "list-names": ["list", "--names"],
        "enrol": ["enrol", "--file", str(applicant)],
        "admit": ["admit", member_id, "--customers", str(roster)],
        "reject": ["reject", member_id, "--reason", "not-a-customer"],
        "eligibility": ["eligibility", "--customers", str(roster)],
        "eligibility-remove": ["eligibility", "--customers", str(roster), "--remove"],
        "activity-import": ["activity", "import", str(activity)],
        "update": ["update", member_id, "--set", "contact.city=Kotka"],
        "find": ["find", "--email", reg.records["new-applicant"]["contact"]["email"]],
        "officer-remove": ["officer", "remove", "desk"],
    }


@pytest.mark.parametrize(
    "command",
    ["show", "list-names", "enrol", "admit", "reject", "eligibility", "eligibility-remove", "activity-import", "update", "find", "officer-remove"],
)
def test_purger_may_not_touch_personal_data(reg: Register, command: str) -> None:
    args = _denied_commands(reg)[command]
    before = reg.tables()
    result = reg.run(*args, key="cron")
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stderr.startswith("kss-panel: error: the purger slot 'cron' may not "), result.stderr
    assert result.stdout == ""
    for strings in all_canaries(reg).values():
        assert not any(canary in result.output for canary in strings)
    assert reg.tables() == before


def test_purger_may_not_add_officers(reg: Register) -> None:
    before = reg.tables()
    new_key = reg.dir / "sneaky.key"
    result = reg.cli("officer", "add", "sneaky", "--role", "officer", "--key-file", str(new_key), "--unlock-key-file", str(reg.keys["cron"]))
    assert result.exit_code == 3, result.stderr
    assert not new_key.exists()
    assert reg.tables() == before


def test_purger_may_verify_the_audit_trail(reg: Register) -> None:
    assert reg.run("audit", "verify", key="cron").exit_code == 0
    assert reg.run("audit", "head", key="cron").exit_code == 0


# --- a concurrent writer --------------------------------------------------------------------------------------


def test_a_concurrent_writer_and_a_purge_both_succeed(reg: Register) -> None:
    holder = sqlite3.connect(reg.db, isolation_level=None, timeout=30, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE meta SET value = ? WHERE key = 'unlock_seconds'", ("0.25",))
    blocked = threading.Event()
    outcome: dict[str, Any] = {}

    def nightly() -> None:
        try:
            with reg.session(key="cron") as session:  # the default busy timeout
                session.store.conn.set_trace_callback(lambda sql: blocked.set() if sql.lstrip().upper().startswith("BEGIN IMMEDIATE") else None)
                outcome["plan"] = lifecycle.purge(session, NOW)
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=nightly)
    thread.start()
    try:
        assert blocked.wait(timeout=25), outcome
        # The purge has asked for the write lock, which the other writer holds: it cannot have finished.
        assert outcome == {} and thread.is_alive()
    finally:
        holder.execute("COMMIT")
        holder.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    assert outcome["plan"].total == 5
    assert reg.member_ids() == set(reg.ids.values()) - all_due(reg)
    assert reg.sql("SELECT value FROM meta WHERE key = 'unlock_seconds'") == [("0.25",)]
    with reg.session(key="cron") as session:
        trail.audit_verify(session)


def test_busy_register_past_the_timeout_exits_8_and_changes_nothing(reg: Register) -> None:
    before = reg.tables()
    holder = sqlite3.connect(reg.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = reg.run("purge", "--apply", key="cron", env={"KSS_PANEL_BUSY_TIMEOUT": "0"})
        assert_failure(result, 8, "the register is busy: another command held it past the busy timeout")
        assert "kss-panel: hint: try again, or raise KSS_PANEL_BUSY_TIMEOUT" in result.stderr.splitlines()
        roster = reg.roster(reg.records["new-applicant"]["customer_number"])
        result = reg.run("admit", reg.ids["new-applicant"], "--customers", str(roster), env={"KSS_PANEL_BUSY_TIMEOUT": "0"})
        assert result.exit_code == 8, result.stderr
        with reg.session(key="cron", busy_timeout=0) as session, pytest.raises(Busy):
            lifecycle.purge(session, NOW)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert reg.tables() == before


def test_purge_summary_counts_only_members_erased(reg: Register) -> None:
    """An officer records activity between the purge's plan and its apply: that member is kept, and not counted."""
    rescued = reg.ids["inactive"]
    seen = len(reg.audit("actor"))
    with reg.session(key="cron") as session:
        plan = lifecycle.plan_purge(session, D)
        with reg.session() as officer:
            lifecycle.record_activity(officer, [(2, rescued, D - days(1))], NOW)
        lifecycle.purge(session, NOW, plan=plan)
    assert rescued in reg.member_ids()
    assert rescued not in reg.erasures()
    new = reg.audit("actor")[seen:]
    erased = [e["member_id"] for e in new if e["action"] == "erase"]
    assert len(erased) == 4
    [summary] = [e for e in new if e["action"] == "purge"]
    assert summary["detail"] == {"erased": 4, "rules": {"applicant-not-admitted": 3, "rejected-applicant": 1}}


# --- a crash in the middle of an apply ------------------------------------------------------------------------


def test_crash_mid_apply_leaves_a_consistent_register(reg: Register) -> None:
    with reg.session(key="cron") as session:
        plan = lifecycle.plan_purge(session, D)
    order = [member_id for ids in plan.due.values() for member_id in ids]
    assert len(order) == 5
    erased_so_far = []

    def crash_at_the_fourth(member_id: str) -> None:
        if len(erased_so_far) == 3:  # the second erase of the second batch
            raise RuntimeError("simulated crash")
        erased_so_far.append(member_id)

    seen = len(reg.audit("actor"))
    with reg.session(key="cron") as session, pytest.raises(PartlyDone) as stopped:
        lifecycle.purge(session, NOW, batch=2, on_erased=crash_at_the_fourth)
    # The failure says what had committed before it: the first batch, two members.
    assert str(stopped.value.cause) == "simulated crash"
    assert stopped.value.done == "2 members had been erased before the failure and stay erased; the next purge erases the rest"

    # The first batch committed whole; the second rolled back whole (its first erase included).
    erased, untouched = set(order[:2]), set(order[2:])
    assert set(reg.erasures()) == erased
    for table in ("members", "lookups"):
        present = {r[0] for r in reg.sql(f"SELECT member_id FROM {table}")}
        assert present.isdisjoint(erased), table
        assert untouched <= present, table
    new = reg.audit("actor")[seen:]
    assert sorted(e["member_id"] for e in new if e["action"] == "erase") == sorted(erased)
    assert "purge" not in [e["action"] for e in new]
    ledger = reg.dir / "register.db.erasures"
    if ledger.exists():  # the ledger beside the register never names a rolled-back erase
        assert {line.split()[1] for line in ledger.read_text().splitlines()} == erased
    with reg.session() as officer:
        trail.audit_verify(officer)
        for member_id in untouched | {reg.ids["active"]}:
            record = members.show(officer, member_id, NOW)
            assert record["contact"]["first_name"].startswith("Canary")

    # The next run finishes the job.
    with reg.session(key="cron") as session:
        again = lifecycle.purge(session, NOW)
        assert set().union(*map(set, again.due.values())) == untouched
        assert lifecycle.plan_purge(session, D).total == 0
        trail.audit_verify(session)
    assert set(reg.erasures()) == set(order)
    assert reg.member_ids() == set(reg.ids.values()) - set(order)
    assert [e["action"] for e in reg.audit("actor")[seen:]].count("purge") == 1
