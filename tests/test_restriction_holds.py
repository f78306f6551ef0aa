"""A restriction holds against erasure (GDPR Art. 18): the data must be kept until it is lifted.

erase refuses a restricted member (exit 9, naming the ground); eligibility --remove
and purge skip restricted members and say so, in words and in the JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from kss_panel.services import lifecycle
from support import Builder, Register, assert_failure, noon

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def populate(b: Builder) -> None:
    """Members 1-4 admitted in 2024 with no activity since (inactive-member: due 2026-01-10);
    applicant 5 applied in 2025 (due); member 2 restricted for legal claims."""
    for n in (1, 2, 3, 4):
        b.member(n, date(2024, 1, 5), date(2024, 1, 10))
    b.applicant(5, date(2025, 1, 1))
    b.restrict(2, "legal-claims", at=noon(date(2026, 5, 2)))


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register({}, noon(date(2024, 1, 1)), populate=populate, purger=True).unguarded()


def test_erase_of_a_restricted_member_is_refused_naming_the_ground(reg: Register) -> None:
    held = reg.ids[2]
    request = reg.open_request("erasure", 2)["id"]
    before = reg.tables()
    for extra in ((), ("--dry-run",), ("--request", str(request)), ("--suppress",)):
        result = reg.run("erase", held, "--reason", "request", *extra)
        assert_failure(result, 9, f"{held} is restricted (GDPR Art. 18, legal-claims): the data must be kept, so it is not erased")
        assert result.stderr.splitlines()[1:] == [
            f"kss-panel: hint: lift the restriction first if its ground no longer applies: kss-panel restrict {held} --lift"
        ]
    assert reg.tables() == before  # no erasure, no request closed, no audit entry
    assert not reg.ledger.exists()


def test_once_the_restriction_is_lifted_the_member_can_be_erased(reg: Register) -> None:
    held = reg.ids[2]
    assert reg.run("restrict", held, "--lift").exit_code == 0
    result = reg.run("erase", held, "--reason", "request")
    assert result.exit_code == 0, result.stderr
    assert held not in reg.member_ids() and held in reg.erasures()


def test_purge_holds_restricted_members_and_says_so(reg: Register) -> None:
    held = reg.ids[2]
    dry = reg.run("purge", key="cron")
    assert dry.exit_code == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0] == (
        "dry run for 2026-06-15: 4 members due (applicant-not-admitted 1, inactive-member 3); 1 held by a restriction (Art. 18)"
    )
    assert "inactive-member: 3 (member, last_activity_at + 24 months), 1 held" in lines
    assert f"  {held} (held: restricted)" in lines
    data = reg.json("purge", "--apply", key="cron")
    assert (data["total"], data["held"]) == (4, 1)
    [inactive] = [rule for rule in data["rules"] if rule["name"] == "inactive-member"]
    assert (inactive["count"], inactive["held"], inactive["held_ids"]) == (3, 1, [held])
    assert reg.member_ids() == {held}
    assert held not in reg.erasures()
    reg.json("show", held)  # still whole


def test_purge_apply_summary_counts_the_held(reg: Register) -> None:
    result = reg.run("purge", "--apply", "--quiet", key="cron")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "purged 4 members (applicant-not-admitted 1, inactive-member 3); 1 held by a restriction (Art. 18)\n"


def test_a_member_restricted_after_the_plan_is_kept(reg: Register) -> None:
    """The purge checks each member again inside its transaction: a restriction in between holds."""
    late = reg.ids[3]
    with reg.session(key="cron") as cron:
        plan = lifecycle.plan_purge(cron, date(2026, 6, 15))
        assert late in plan.due["inactive-member"]
        assert reg.run("restrict", late, "--reason", "accuracy-contested").exit_code == 0
        done = lifecycle.purge(cron, NOW, plan=plan)
    assert late not in done.due["inactive-member"]
    assert late in reg.member_ids()


def test_eligibility_remove_keeps_restricted_members_and_says_so(reg: Register) -> None:
    held = reg.ids[2]
    roster = str(reg.roster(*(reg.records[n]["customer_number"] for n in (1, 3))))
    result = reg.run("eligibility", "--customers", roster, "--remove")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "erased and recorded",
        "4 members admitted, 2 customer numbers in the roster:",
        "  2 still eligible",
        "  2 newly ineligible",
        "  0 cleared: back in the roster",
        "  0 already marked",
        "  1 ineligible but restricted (Art. 18): kept",
        "  1 erased",
        f"{reg.ids[4]}  erased",
        f"{held}  ineligible, restricted: kept",
    ]
    assert reg.member_ids() == {reg.ids[n] for n in (1, 2, 3, 5)}
    assert reg.member(held)["ineligible_at"] == "2026-06-15"  # type: ignore[index]  # marked, not erased


def test_eligibility_json_lists_the_held(reg: Register) -> None:
    roster = str(reg.roster(*(reg.records[n]["customer_number"] for n in (1, 3))))
    dry = reg.json("eligibility", "--customers", roster)
    assert (dry["held"], dry["erasable"], dry["erased"]) == ([reg.ids[2]], 1, [])
    done = reg.json("eligibility", "--customers", roster, "--remove")
    assert (done["held"], done["erased"]) == ([reg.ids[2]], [reg.ids[4]])
