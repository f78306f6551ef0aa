"""Consents (Art. 7(3)), objection to direct marketing (Art. 21) and restriction
of processing (Art. 18), and how each takes effect in disclosures and purges.

The command line runs at a fixed instant (the ``clock`` fixture pins the CLI's clock to NOW).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from kss_panel.services import lifecycle
from kss_panel.policy import Policies
from kss_panel.receipts import current_versions
from support import CONSENTS, Builder, Register, assert_failure, person
from support import consents as given

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # noon UTC: the same day in Helsinki
TODAY = "2026-06-15"
FAR_FUTURE = date(2100, 1, 1)
GROUNDS = ("accuracy-contested", "unlawful-processing", "legal-claims", "objection-pending")
ALL_GIVEN = given(*CONSENTS)
NONE_GIVEN = given()
# The consents whose purpose is direct marketing (marketing and competitions), of KSS Energia, the group and partners.
MARKETING = ["email_marketing", "group_competitions", "group_marketing", "marketing_competitions", "partner_competitions", "partner_marketing", "sms_marketing"]


def last(reg: Register, action: str) -> dict[str, Any]:
    """The latest audit entry of this action."""
    return [entry for entry in reg.audit() if entry["action"] == action][-1]


def mailing(reg: Register) -> set[str]:
    """Member ids in a fresh `export disclosure direct-marketing --purpose marketing` CSV."""
    result, out = reg.disclose("direct-marketing", "marketing")
    assert result.exit_code == 0, result.stderr
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {row["member_id"] for row in rows}


def consents(reg: Register, name: str) -> dict[str, bool]:
    return dict(reg.json("show", reg.ids[name])["consents"])


def admit_the_panel(b: Builder) -> None:
    """Everyone but the applicant admitted (as `admit --customers` does, tested below)."""
    b.admit("c1", "c2", "c3", "c4", "c5", "refuser")


PANEL = {
    **{f"c{n}": person(n, given=ALL_GIVEN) for n in range(1, 6)},
    "refuser": person(6, given=set(ALL_GIVEN) - {"email_marketing"}),
    "applicant": person(7, given=ALL_GIVEN),
}


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    """'yes' gave every consent, 'no' none; both applicants."""
    return make_register({"yes": person(1, given=ALL_GIVEN), "no": person(2, given=())}, NOW)


@pytest.fixture
def panel(make_register: Callable[..., Register]) -> Register:
    """Five admitted members who all consent to email marketing, one who does not, one applicant who does."""
    return make_register(PANEL, NOW, populate=admit_the_panel)


# --- consent ------------------------------------------------------------------------------------------------


def test_give_and_withdraw_change_the_consents(reg: Register) -> None:
    data = reg.json("consent", reg.ids["no"], "--give", "email_marketing", "--give", "sms_marketing")
    versions = current_versions(reg.policies.register)
    assert data == {
        "member_id": reg.ids["no"], "consents": {**NONE_GIVEN, "email_marketing": True, "sms_marketing": True},
        "objected_at": None, "processing_objected_at": None,
        "receipt": {"at": "2026-06-15T12:00:00+00:00", "channel": "officer", "slot": "desk", "withdrawn": {}, "objections": {},
                    "given": {"email_marketing": versions["email_marketing"], "sms_marketing": versions["sms_marketing"]}},
    }
    assert consents(reg, "no") == {**NONE_GIVEN, "email_marketing": True, "sms_marketing": True}

    reg.json("consent", reg.ids["no"], "--withdraw", "sms_marketing")
    assert consents(reg, "no") == {**NONE_GIVEN, "email_marketing": True}
    assert consents(reg, "yes") == ALL_GIVEN  # only the named member

    entry = last(reg, "consent")
    assert entry["member_id"] == reg.ids["no"]
    assert entry["fields"] == ["consents.sms_marketing"]
    assert entry["detail"] == {"given": [], "withdrawn": ["sms_marketing"]}


def test_withdrawing_does_not_set_objected_at(reg: Register) -> None:
    reg.json("consent", reg.ids["yes"], "--withdraw", "email_marketing")
    shown = reg.json("show", reg.ids["yes"])
    assert shown["objected_at"] is None
    assert shown["updated_at"] == TODAY


@pytest.mark.parametrize(
    "args",
    [
        ("--give", "newsletter"),
        ("--withdraw", "EMAIL_MARKETING"),
        ("--give", "email_marketing", "--withdraw", "telepathy"),
        (),
    ],
)
def test_unknown_consent_or_no_change_is_invalid(reg: Register, args: tuple[str, ...]) -> None:
    before = reg.tables()
    assert_failure(reg.run("consent", reg.ids["no"], *args), 5)
    assert reg.tables() == before


def test_consent_of_an_unknown_member_is_not_found(reg: Register) -> None:
    before = reg.tables()
    assert_failure(reg.run("consent", "Mnosuchmember00000", "--give", "email_marketing"), 4)
    assert reg.tables() == before


def test_direct_marketing_consents_of_the_shipped_policy(policies: Policies) -> None:
    register = policies.register
    marketing = {name for name, c in register.consents.items() if register.purposes[c.purpose].direct_marketing}
    assert marketing == set(MARKETING)


def test_object_withdraws_every_marketing_consent_and_sets_objected_at(reg: Register) -> None:
    others = given(*(name for name in CONSENTS if name not in MARKETING))  # communication and market research: not direct marketing
    assert others != NONE_GIVEN
    data = reg.json("consent", reg.ids["yes"], "--object")
    assert data["consents"] == others
    shown = reg.json("show", reg.ids["yes"])
    assert shown["consents"] == others
    assert shown["objected_at"] == TODAY
    entry = last(reg, "object")
    assert entry["member_id"] == reg.ids["yes"]
    assert entry["detail"]["withdrawn"] == MARKETING
    assert reg.json("show", reg.ids["no"])["objected_at"] is None


def test_object_without_any_consent_still_records_the_objection(reg: Register) -> None:
    reg.json("consent", reg.ids["no"], "--object")
    shown = reg.json("show", reg.ids["no"])
    assert shown["objected_at"] == TODAY
    assert shown["consents"] == NONE_GIVEN


# --- consent and objection in disclosures -------------------------------------------------------------------


def test_only_consenting_admitted_members_are_disclosed(panel: Register) -> None:
    assert mailing(panel) == {panel.ids[f"c{n}"] for n in range(1, 6)}  # not the refuser, not the applicant


def test_members_admitted_with_the_roster_are_disclosed(reg: Register) -> None:
    assert mailing(reg) == set()  # applicants are never disclosed
    reg.admit("yes", "no")
    shown = reg.json("show", reg.ids["yes"])
    assert (shown["status"], shown["admitted_at"]) == ("member", TODAY)
    assert mailing(reg) == {reg.ids["yes"]}
    reg.json("consent", reg.ids["no"], "--give", "email_marketing")
    reg.json("consent", reg.ids["yes"], "--object")
    assert mailing(reg) == {reg.ids["no"]}


def test_withdrawn_consent_takes_effect_in_disclosures(panel: Register) -> None:
    panel.json("consent", panel.ids["c1"], "--withdraw", "email_marketing")
    disclosed = mailing(panel)
    assert panel.ids["c1"] not in disclosed
    assert panel.ids["c2"] in disclosed
    panel.json("consent", panel.ids["c1"], "--give", "email_marketing")
    assert panel.ids["c1"] in mailing(panel)


def test_excluded_members_never_appear_in_the_disclosure_output(panel: Register) -> None:
    panel.json("consent", panel.ids["c1"], "--withdraw", "email_marketing")
    panel.json("restrict", panel.ids["c2"], "--reason", "accuracy-contested")
    panel.json("consent", panel.ids["c3"], "--object")
    out = panel.dir / "mailing.json"
    data = panel.json("export", "disclosure", "direct-marketing", "--purpose", "marketing", "--out", str(out), "--format", "json")
    assert (data["members"], data["disclosed"], data["restricted"], data["objected"], data["no_consent"]) == (6, 2, 1, 1, 2)
    text = out.read_text(encoding="utf-8")
    disclosed = {row["member_id"] for row in json.loads(text)}
    assert disclosed == {panel.ids["c4"], panel.ids["c5"]}
    for excluded, n in {"c1": 1, "c2": 2, "c3": 3, "refuser": 6, "applicant": 7}.items():
        assert panel.ids[excluded] not in text
        assert f"aino.{n}@example.fi" not in text
    assert "aino.4@example.fi" in text and "aino.5@example.fi" in text
    # the disclosure log holds only the disclosed members
    logged = {member_id for (member_id,) in panel.sql("SELECT member_id FROM disclosures")}
    assert logged == disclosed


def test_an_objector_cannot_give_consent_again_and_is_not_disclosed(panel: Register) -> None:
    panel.json("consent", panel.ids["c1"], "--object")
    assert_failure(panel.run("consent", panel.ids["c1"], "--give", "email_marketing"), 9)
    assert consents(panel, "c1")["email_marketing"] is False
    assert panel.ids["c1"] not in mailing(panel)


# --- restriction --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ground", GROUNDS)
def test_restrict_on_each_ground_shows_in_show_json(reg: Register, ground: str) -> None:
    data = reg.json("restrict", reg.ids["yes"], "--reason", ground)
    assert (data["restricted_at"], data["restriction_reason"]) == (TODAY, ground)
    shown = reg.json("show", reg.ids["yes"])
    assert (shown["restricted_at"], shown["restriction_reason"]) == (TODAY, ground)
    assert reg.json("show", reg.ids["no"])["restricted_at"] is None
    entry = last(reg, "restrict")
    assert (entry["member_id"], entry["fields"], entry["detail"]) == (reg.ids["yes"], [], {"reason": ground})


@pytest.mark.parametrize("ground", ["because", "accuracy", "objection", "ACCURACY-CONTESTED", ""])
def test_restrict_outside_the_art_18_grounds_is_invalid(reg: Register, ground: str) -> None:
    before = reg.tables()
    assert_failure(reg.run("restrict", reg.ids["yes"], "--reason", ground), 5)
    assert reg.tables() == before


@pytest.mark.parametrize("args", [(), ("--reason", "legal-claims", "--lift")])
def test_restrict_needs_exactly_one_of_reason_and_lift(reg: Register, args: tuple[str, ...]) -> None:
    before = reg.tables()
    assert_failure(reg.run("restrict", reg.ids["yes"], *args), 5)
    assert reg.tables() == before


def test_lifting_when_not_restricted_is_invalid(reg: Register) -> None:
    before = reg.tables()
    assert_failure(reg.run("restrict", reg.ids["yes"], "--lift"), 5)
    assert reg.tables() == before


def test_restrict_an_unknown_member_is_not_found(reg: Register) -> None:
    assert_failure(reg.run("restrict", "Mnosuchmember00000", "--reason", "legal-claims"), 4)


def test_lift_clears_the_restriction(reg: Register) -> None:
    reg.json("restrict", reg.ids["yes"], "--reason", "unlawful-processing")
    data = reg.json("restrict", reg.ids["yes"], "--lift")
    assert (data["restricted_at"], data["restriction_reason"]) == (None, None)
    shown = reg.json("show", reg.ids["yes"])
    assert (shown["restricted_at"], shown["restriction_reason"]) == (None, None)
    assert last(reg, "restrict-lift")["member_id"] == reg.ids["yes"]


def test_restricted_member_is_not_disclosed_until_lifted(panel: Register) -> None:
    panel.json("restrict", panel.ids["c1"], "--reason", "accuracy-contested")
    assert panel.ids["c1"] not in mailing(panel)
    panel.json("restrict", panel.ids["c1"], "--lift")
    assert panel.ids["c1"] in mailing(panel)


def test_restricted_member_is_held_by_purge(panel: Register) -> None:
    panel.json("restrict", panel.ids["c1"], "--reason", "legal-claims")
    with panel.session() as session:
        plan = lifecycle.plan_purge(session, FAR_FUTURE)
    due = {member_id for ids in plan.due.values() for member_id in ids}
    assert panel.ids["c1"] not in due
    assert panel.ids["c2"] in plan.due["inactive-member"]  # the same kind of member, unrestricted, is due
    assert panel.ids["applicant"] in plan.due["applicant-not-admitted"]

    panel.json("restrict", panel.ids["c1"], "--lift")
    with panel.session() as session:
        plan = lifecycle.plan_purge(session, FAR_FUTURE)
    assert panel.ids["c1"] in plan.due["inactive-member"]


def test_restricted_member_survives_purge_apply(panel: Register) -> None:
    panel.json("restrict", panel.ids["c1"], "--reason", "legal-claims")
    later = datetime(2099, 6, 15, 12, 0, tzinfo=UTC)
    with panel.session() as session:
        plan = lifecycle.purge(session, later, expect=6)  # all but the restricted member, confirmed past the guard
    assert plan.total_held == 1 and panel.ids["c1"] in plan.held["inactive-member"]
    assert panel.json("show", panel.ids["c1"])["restriction_reason"] == "legal-claims"
    assert panel.run("show", panel.ids["c2"]).exit_code == 4  # erased on schedule


def test_access_export_says_retention_is_held_while_restricted(panel: Register) -> None:
    panel.json("restrict", panel.ids["c1"], "--reason", "accuracy-contested")
    export = panel.json("export", "access", panel.ids["c1"])
    assert export["retention"]["held_by_restriction"] is True
    assert export["member"]["restriction_reason"] == "accuracy-contested"
