"""Blast-radius guards: one mistaken roster or a runaway retention rule never erases the panel.

eligibility is a dry run unless --apply or --remove, and both refuse (exit 9,
nothing written) a roster with no rows, a roster that matches no admitted
member, and one that would touch more admitted members at once than
guards.eligibility allows; purge --apply refuses a run over guards.purge with
one line for cron. --expect N, the exact count a dry run showed, confirms.

The register: 60 admitted members (person n has customer number customer(n))
and 10 applicants who applied 90 to 99 days before the purge day, so the
shipped guards (5 %, at least 3) allow 3 at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kss_panel.errors import Refused
from kss_panel.policy import Guard
from kss_panel.retention import check_blast_radius
from support import Builder, Clock, Register, assert_failure, customer, noon

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
D = date(2026, 6, 15)
ADMITTED = range(1, 61)
STALE = range(61, 71)  # applicants due on D (applicant-not-admitted: applied_at + 90 days)
LIMIT = "more than the 5% the retention policy allows"


def populate(b: Builder) -> None:
    for n in ADMITTED:
        b.member(n, date(2026, 1, 5), date(2026, 1, 10))
    for n in STALE:
        b.applicant(n, D - timedelta(days=90 + n - 61))


@pytest.fixture
def panel(make_register: Callable[..., Register]) -> Register:
    return make_register({}, noon(date(2026, 1, 1)), populate=populate, purger=True)


def roster_without(panel: Register, *missing: int) -> str:
    return str(panel.roster(*(n for n in ADMITTED if n not in missing)))


def marked(panel: Register) -> set[str]:
    return {row[0] for row in panel.sql("SELECT member_id FROM members WHERE ineligible_at IS NOT NULL")}


def ids(panel: Register, names: range | tuple[int, ...]) -> set[str]:
    return {panel.ids[n] for n in names}


# --- eligibility ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["customer_number\n", "customer_number\n\n   \n", "\ufeffcustomer_number\r\n"])
@pytest.mark.parametrize("flags", [(), ("--apply",), ("--remove",), ("--remove", "--expect", "60")])
def test_a_roster_with_no_rows_is_refused(panel: Register, text: str, flags: tuple[str, ...]) -> None:
    before = panel.tables()
    result = panel.run("eligibility", "--customers", str(panel.roster(text=text)), *flags)
    assert_failure(result, 9, "the roster lists no customer numbers: nothing was changed")
    assert result.stderr.splitlines()[1:] == [
        "kss-panel: hint: an empty export would make every member ineligible; export the customer roster again"
    ]
    assert panel.tables() == before


def test_a_roster_that_matches_no_member_is_refused_unless_confirmed(panel: Register) -> None:
    before = panel.tables()
    stranger = str(panel.roster(customer(1000), customer(1001)))
    dry = panel.json("eligibility", "--customers", stranger)
    assert (dry["still_eligible"], len(dry["newly_ineligible"]), dry["applied"]) == (0, 60, False)
    for flag in ("--apply", "--remove"):
        result = panel.run("eligibility", "--customers", stranger, flag)
        assert_failure(result, 9, "the roster matches none of the 60 admitted members: nothing was changed")
        assert result.stderr.splitlines()[1:] == [
            "kss-panel: hint: is it the customer roster, with the customer numbers in its customer_number column?",
            f"kss-panel: hint: if no member is a customer any more, confirm with {flag} --expect 60",
        ]
    assert panel.tables() == before
    done = panel.json("eligibility", "--customers", stranger, "--apply", "--expect", "60")
    assert (done["applied"], len(done["newly_ineligible"])) == (True, 60)
    assert marked(panel) == ids(panel, ADMITTED)


def test_over_the_share_the_dry_run_says_what_to_confirm(panel: Register) -> None:
    before = panel.tables()
    result = panel.run("eligibility", "--customers", roster_without(panel, 57, 58, 59, 60))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:8] == [
        "dry run: nothing was changed",
        "60 members admitted, 56 customer numbers in the roster:",
        "  56 still eligible",
        "   4 newly ineligible",
        "   0 cleared: back in the roster",
        "   0 already marked",
        "--apply would mark 4 members (over the 3 allowed at once: add --expect 4)",
        "--remove would erase 4 members (over the 3 allowed at once: add --expect 4)",
    ]
    assert all(len(line) <= 80 for line in lines)
    assert set(lines[8:]) == {f"{panel.ids[n]}  newly ineligible" for n in (57, 58, 59, 60)}
    assert panel.tables() == before


def test_over_the_share_apply_and_remove_are_refused(panel: Register) -> None:
    before = panel.tables()
    roster = roster_without(panel, 57, 58, 59, 60)
    result = panel.run("eligibility", "--customers", roster, "--apply")
    assert_failure(result, 9, f"--apply would mark 4 of 60 admitted members ineligible (6.7%), {LIMIT} at once: nothing was changed;"
                              " if the roster is right, confirm with --apply --expect 4")
    assert len(result.stderr.splitlines()) == 1
    result = panel.run("eligibility", "--customers", roster, "--remove")
    assert_failure(result, 9, f"--remove would erase 4 of 60 admitted members (6.7%), {LIMIT} at once: nothing was changed;"
                              " if the roster is right, confirm with --remove --expect 4")
    as_json = json.loads(panel.run("eligibility", "--customers", roster, "--remove", "--json").stdout)
    assert as_json["error"]["code"] == 9 and as_json["error"]["type"] == "refused" and "changed" not in as_json["error"]
    assert panel.tables() == before


@pytest.mark.parametrize("wrong", ["3", "5", "0"])
def test_an_expect_that_is_not_the_count_is_refused(panel: Register, wrong: str) -> None:
    before = panel.tables()
    roster = roster_without(panel, 57, 58, 59, 60)
    result = panel.run("eligibility", "--customers", roster, "--apply", "--expect", wrong)
    assert_failure(result, 9, f"--apply would mark 4 members, not the {wrong} confirmed with --expect: nothing was changed;"
                              " a dry run shows the count now")
    # Even under the share: the officer confirmed another outcome than the one the roster gives.
    result = panel.run("eligibility", "--customers", roster_without(panel, 60), "--remove", "--expect", wrong)
    assert_failure(result, 9, f"--remove would erase 1 member, not the {wrong} confirmed with --expect: nothing was changed;"
                              " a dry run shows the count now")
    assert panel.tables() == before


def test_the_exact_count_confirms(panel: Register) -> None:
    roster = roster_without(panel, 57, 58, 59, 60)
    done = panel.json("eligibility", "--customers", roster, "--remove", "--expect", "4")
    assert (done["applied"], done["removed"], sorted(done["erased"])) == (True, True, sorted(ids(panel, (57, 58, 59, 60))))
    assert set(panel.erasures()) == ids(panel, (57, 58, 59, 60))
    assert panel.member_ids() == ids(panel, ADMITTED) - ids(panel, (57, 58, 59, 60)) | ids(panel, STALE)


def test_within_the_share_no_confirmation_is_needed(panel: Register) -> None:
    result = panel.run("eligibility", "--customers", roster_without(panel, 58, 59, 60), "--apply")
    assert result.exit_code == 0, result.stderr
    assert marked(panel) == ids(panel, (58, 59, 60))
    # Already marked members are not counted again: one more is within the share.
    result = panel.run("eligibility", "--customers", roster_without(panel, 57, 58, 59, 60), "--apply")
    assert result.exit_code == 0, result.stderr
    assert "   3 already marked" in result.stdout.splitlines()
    assert marked(panel) == ids(panel, (57, 58, 59, 60))


def test_expect_needs_apply_or_remove(panel: Register) -> None:
    before = panel.tables()
    result = panel.run("eligibility", "--customers", roster_without(panel, 60), "--expect", "1")
    assert_failure(result, 5, "--expect confirms a change", ["  --expect: needs --apply or --remove: a dry run changes nothing"])
    assert panel.tables() == before


def test_a_corrected_roster_clears_the_mark_before_the_grace_period_ends(panel: Register, clock: Clock) -> None:
    """conditions-not-met waits 30 days: a corrected roster within them saves the member."""
    panel.json("eligibility", "--customers", roster_without(panel, 59, 60), "--apply")
    clock.now = NOW + timedelta(days=29)
    due = panel.json("purge", key="cron")
    assert [r["count"] for r in due["rules"] if r["name"] == "conditions-not-met"] == [0]
    clock.now = NOW + timedelta(days=10)
    assert panel.json("eligibility", "--customers", roster_without(panel, 60), "--apply")["cleared"] == [panel.ids[59]]
    clock.now = NOW + timedelta(days=30)
    [rule] = [r for r in panel.json("purge", key="cron")["rules"] if r["name"] == "conditions-not-met"]
    assert rule["member_ids"] == [panel.ids[60]]


# --- purge ----------------------------------------------------------------------------------------------------------


def test_a_purge_over_the_share_erases_no_one_and_tells_cron_in_one_line(panel: Register) -> None:
    before = panel.tables()
    for quiet in ((), ("--quiet",)):
        result = panel.run("purge", "--apply", *quiet, key="cron")
        assert result.exit_code == 9, result.stderr
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            f"kss-panel: error: the purge would erase 10 of 70 members (14.3%), {LIMIT} in one run: nothing was erased;"
            " if that is right, confirm with kss-panel purge --apply --expect 10"
        ]
    document = json.loads(panel.run("purge", "--apply", "--json", key="cron").stdout)
    assert (document["ok"], document["error"]["code"], document["error"]["type"]) == (False, 9, "refused")
    assert panel.tables() == before


def test_the_officer_confirms_and_the_next_nights_run_as_before(panel: Register, clock: Clock) -> None:
    assert panel.json("purge", key="cron")["total"] == 10  # the dry run the officer reads
    result = panel.run("purge", "--apply", "--expect", "10")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "purged 10 members (applicant-not-admitted 10)\n"
    assert panel.member_ids() == ids(panel, ADMITTED)
    clock.now = NOW + timedelta(days=1)
    result = panel.run("purge", "--apply", "--quiet", key="cron")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_a_purge_within_the_share_needs_no_confirmation(panel: Register, clock: Clock) -> None:
    clock.now = noon(D - timedelta(days=8))  # only the two who applied first are due
    result = panel.run("purge", "--apply", "--quiet", key="cron")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "purged 2 members (applicant-not-admitted 2)\n"
    assert panel.member_ids() == ids(panel, ADMITTED) | ids(panel, STALE) - ids(panel, (69, 70))


def test_a_purge_expect_that_is_not_the_count_is_refused(panel: Register) -> None:
    before = panel.tables()
    result = panel.run("purge", "--apply", "--expect", "9", key="cron")
    assert result.exit_code == 9
    assert result.stderr.splitlines() == [
        "kss-panel: error: the purge would erase 10 members, not the 9 confirmed with --expect: nothing was erased;"
        " a dry run (kss-panel purge) shows the count now"
    ]
    result = panel.run("purge", "--expect", "10", key="cron")
    assert_failure(result, 5, "--expect confirms a purge", ["  --expect: needs --apply: a dry run changes nothing"])
    assert panel.tables() == before


# --- the guard policy -----------------------------------------------------------------------------------------------


PURGE_GUARD = "  purge:\n    max_percent: 5\n    always_allowed: 3\n"


@pytest.mark.parametrize(
    ("new", "at", "problem"),
    [
        ("  purge:\n    max_percent: 150\n", "max_percent: 150", "guards.purge.max_percent: Input should be less than or equal to 100"),
        ("  purge:\n    max_percent: '5%'\n", "max_percent: '5%'", "guards.purge.max_percent: Input should be a valid number"),
        ("  purge:\n    always_allowed: -1\n", "always_allowed: -1", "guards.purge.always_allowed: Input should be greater than or equal to 0"),
        ("  purge:\n    always_allowed: 2.5\n", "always_allowed: 2.5", "guards.purge.always_allowed: Input should be a valid integer"),
        ("  purge:\n    always_allow: 3\n", "always_allow: 3", "guards.purge.always_allow: unknown key (expected one of: max_percent, always_allowed)"),
        ("  purges:\n    max_percent: 5\n", "purges:", "guards.purges: unknown key (expected one of: eligibility, purge)"),
    ],
)
def test_the_guard_keys_are_validated_strictly(panel: Register, new: str, at: str, problem: str) -> None:
    directory = panel.edit_policies("retention.yaml", PURGE_GUARD, new, check=False)
    path = directory / "retention.yaml"
    result = panel.run("purge", "--apply", key="cron")
    assert_failure(result, 6, f"invalid policy in {directory}")
    [line] = [n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip() == at]
    assert result.stderr.splitlines()[1:] == [f"  {path}:{line}: {problem}"]


@given(
    count=st.integers(0, 10_000), base=st.integers(0, 10_000),
    percent=st.floats(0, 100, allow_nan=False), always=st.integers(0, 1_000), expect=st.none() | st.integers(0, 10_000),
)
def test_the_guard_refuses_exactly_what_it_should(count: int, base: int, percent: float, always: int, expect: int | None) -> None:
    guard = Guard(max_percent=percent, always_allowed=always)
    refused = expect != count if expect is not None else count > always and count > base * percent / 100
    try:
        check_blast_radius(guard, count, base, expect, too_many="over {count} {base} {percent} {limit}", mismatch="{count} {expect}")
    except Refused:
        assert refused
    else:
        assert not refused
