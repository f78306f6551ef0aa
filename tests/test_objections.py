"""Consent and the two objections of Art. 21, and what each stops.

- Art. 7: giving and withdrawing the same consent at once is not a consent change (exit 5).
- Art. 21(2)-(3): an objection to direct marketing withdraws every direct-marketing consent,
  stops only direct-marketing purposes, blocks giving such a consent while it stands (exit 9),
  and the member may withdraw it.
- Art. 21(1): an objection to processing based on legitimate interests keeps the member out of
  the purposes with that legal basis (panel communication, market research) until lifted.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from kss_panel.receipts import current_versions
from support import CONSENTS, Builder, Register, assert_failure, consents, person

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TODAY = "2026-06-15"
ALL = ("email_marketing", "sms_marketing", "marketing_competitions")  # KSS Energia's own direct-marketing consents
NONE_GIVEN = {name: False for name in CONSENTS}


def admit_everyone(b: Builder) -> None:
    b.admit("plain", "marketing", "processing", "both")
    b.object("marketing")
    b.object("processing", marketing=False, processing=True)
    b.object("both", processing=True)


@pytest.fixture
def panel(make_register: Callable[..., Register]) -> Register:
    """Four admitted members who gave every consent: 'plain' has no objection, 'marketing' objects to direct
    marketing (Art. 21(2)), 'processing' to processing on legitimate interests (21(1)), 'both' to both."""
    people = {name: person(n, given=ALL) for n, name in enumerate(("plain", "marketing", "processing", "both"), start=1)}
    return make_register(people, NOW, populate=admit_everyone)


def disclosed(reg: Register, recipient: str, purpose: str) -> set[str]:
    """Names of the members in a fresh disclosure file."""
    result, out = reg.disclose(recipient, purpose)
    assert result.exit_code == 0, result.stderr
    with open(out, encoding="utf-8", newline="") as handle:
        return {reg.names[row["member_id"]] for row in csv.DictReader(handle)}


def shown(reg: Register, name: str) -> dict[str, Any]:
    return dict(reg.json("show", reg.ids[name]))


# --- Art. 7: a consent change that contradicts itself ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "problems"),
    [
        (("--give", "sms_marketing", "--withdraw", "sms_marketing"), ["  --give/--withdraw: sms_marketing cannot be both given and withdrawn"]),
        (("--give", "sms_marketing", "--give", "email_marketing", "--withdraw", "email_marketing", "--withdraw", "sms_marketing"),
         ["  --give/--withdraw: email_marketing cannot be both given and withdrawn",
          "  --give/--withdraw: sms_marketing cannot be both given and withdrawn"]),
        (("--object", "--withdraw-objection"), ["  --object/--withdraw-objection: an objection cannot be made and lifted at once"]),
        (("--object-processing", "--lift-processing-objection"),
         ["  --object-processing/--lift-processing-objection: an objection cannot be made and lifted at once"]),
        (("--object", "--give", "email_marketing"),
         ["  --object/--give: email_marketing is a direct-marketing consent, which the objection withdraws"]),
    ],
)
def test_a_change_that_contradicts_itself_is_invalid_and_changes_nothing(panel: Register, args: tuple[str, ...], problems: list[str]) -> None:
    before = panel.tables()
    assert_failure(panel.run("consent", panel.ids["plain"], *args), 5, "invalid consent change", problems)
    assert panel.tables() == before


def test_nothing_to_change_is_invalid(panel: Register) -> None:
    assert_failure(panel.run("consent", panel.ids["plain"]), 5, "nothing to change",
                   ["  --give/--withdraw: name a consent to give or withdraw, or an objection"])


# --- Art. 21(2): the objection to direct marketing ---------------------------------------------------------------


def test_an_objection_to_direct_marketing_stops_only_direct_marketing(panel: Register) -> None:
    assert disclosed(panel, "direct-marketing", "marketing") == {"plain", "processing"}
    assert disclosed(panel, "direct-marketing", "competitions") == {"plain", "processing"}
    assert disclosed(panel, "sms-gateway", "marketing") == {"plain", "processing"}
    # Panel communication and market research rest on legitimate interests: the 21(2) objector still hears them.
    assert disclosed(panel, "panel-mailer", "communication") == {"plain", "marketing"}
    assert disclosed(panel, "panel-mailer", "market_research") == {"plain", "marketing"}


def test_a_direct_marketing_consent_is_refused_while_the_objection_stands(panel: Register) -> None:
    before = panel.tables()
    result = panel.run("consent", panel.ids["marketing"], "--give", "email_marketing", "--give", "sms_marketing")
    assert_failure(
        result, 9,
        f"{panel.ids['marketing']} objects to direct marketing (since {TODAY}): email_marketing, sms_marketing cannot be given while"
        " the objection stands",
    )
    assert result.stderr.splitlines()[1] == (
        f"kss-panel: hint: if the member withdraws the objection: kss-panel consent {panel.ids['marketing']} --withdraw-objection"
        " --give email_marketing --give sms_marketing"
    )
    assert panel.tables() == before


def test_the_member_may_withdraw_the_objection_and_consent_again(panel: Register) -> None:
    data = panel.json("consent", panel.ids["marketing"], "--withdraw-objection", "--give", "email_marketing")
    assert data == {"member_id": panel.ids["marketing"], "consents": {**NONE_GIVEN, "email_marketing": True},
                    "objected_at": None, "processing_objected_at": None,
                    "receipt": {"at": "2026-06-15T12:00:00+00:00", "channel": "officer", "slot": "desk", "withdrawn": {},
                                "given": {"email_marketing": current_versions(panel.policies.register)["email_marketing"]},
                                "objections": {"direct-marketing": "lift"}}}
    entry = panel.audit()[-1]
    assert (entry["action"], entry["fields"]) == ("object-withdraw", ["consents.email_marketing"])
    assert entry["detail"] == {"given": ["email_marketing"], "withdrawn": [], "objections": {"direct-marketing": "lift"}}
    assert "marketing" in disclosed(panel, "direct-marketing", "marketing")
    assert "marketing" not in disclosed(panel, "sms-gateway", "marketing")  # sms_marketing was not given again


def test_withdrawing_an_objection_that_was_never_made_is_invalid(panel: Register) -> None:
    before = panel.tables()
    assert_failure(panel.run("consent", panel.ids["plain"], "--withdraw-objection"), 5,
                   f"{panel.ids['plain']} has not objected to direct marketing", ["  --withdraw-objection: there is no such objection to lift"])
    assert panel.tables() == before


def test_objecting_again_keeps_the_day_of_the_first_objection(panel: Register, clock: Any) -> None:
    clock.now = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    panel.json("consent", panel.ids["marketing"], "--object")
    assert shown(panel, "marketing")["objected_at"] == TODAY


# --- Art. 21(1): the objection to processing based on legitimate interests ----------------------------------------


def test_an_objection_to_processing_stops_legitimate_interest_purposes_only(panel: Register) -> None:
    data = panel.json("consent", panel.ids["plain"], "--object-processing")
    assert (data["consents"], data["objected_at"], data["processing_objected_at"]) == (consents(*ALL), None, TODAY)
    entry = panel.audit()[-1]
    assert (entry["action"], entry["fields"], entry["detail"]) == (
        "object-processing", [], {"given": [], "withdrawn": [], "objections": {"legitimate-interests": "object"}})
    assert "plain" not in disclosed(panel, "panel-mailer", "communication")
    assert "plain" not in disclosed(panel, "panel-mailer", "market_research")
    assert "plain" in disclosed(panel, "direct-marketing", "marketing")  # consent-based: the member's consent decides


def test_lifting_the_objection_to_processing(panel: Register) -> None:
    data = panel.json("consent", panel.ids["processing"], "--lift-processing-objection")
    assert data["processing_objected_at"] is None
    assert panel.audit()[-1]["action"] == "object-processing-lift"
    assert "processing" in disclosed(panel, "panel-mailer", "communication")
    assert_failure(panel.run("consent", panel.ids["processing"], "--lift-processing-objection"), 5,
                   f"{panel.ids['processing']} has not objected to processing based on legitimate interests")


def test_an_objection_to_processing_does_not_block_consent(panel: Register) -> None:
    panel.json("consent", panel.ids["processing"], "--withdraw", "email_marketing")
    assert panel.json("consent", panel.ids["processing"], "--give", "email_marketing")["consents"]["email_marketing"] is True


def test_disclosure_counts_say_how_many_objections_kept_members_out(panel: Register) -> None:
    data = panel.json("export", "disclosure", "panel-mailer", "--purpose", "communication", "--dry-run")
    assert (data["members"], data["disclosed"], data["objected"]) == (4, 2, 2)
    result = panel.run("export", "disclosure", "direct-marketing", "--purpose", "marketing", "--dry-run")
    assert result.stdout == ("would disclose 2 of 4 members to direct-marketing for marketing"
                             " (excluded: 0 restricted, 2 objected, 0 without consent)\n")


# --- show, list --objected, the access export ---------------------------------------------------------------------


def test_show_names_both_objections(panel: Register) -> None:
    data = shown(panel, "both")
    assert (data["objected_at"], data["processing_objected_at"]) == (TODAY, TODAY)
    human = panel.run("show", panel.ids["both"]).stdout
    assert f"to direct marketing since {TODAY} (Art. 21)" in human
    assert f"to processing based on legitimate interests since {TODAY} (Art. 21)" in human
    assert "objects" not in panel.run("show", panel.ids["plain"]).stdout


def test_list_objected_keeps_members_with_either_objection(panel: Register) -> None:
    assert {panel.names[row["member_id"]] for row in panel.json("list", "--objected")} == {"marketing", "processing", "both"}
    human = panel.run("list", "--objected").stdout
    assert human.startswith("3 members\n")
    assert human.count("objection 21(2)") == 2 and human.count("objection 21(1)") == 2
    assert panel.ids["plain"] not in human


def test_the_access_export_shows_both_objections(panel: Register) -> None:
    export = panel.json("export", "access", panel.ids["both"])
    assert export["objections"] == [
        {"objection": "direct-marketing", "article": "21(2)", "since": TODAY},
        {"objection": "legitimate-interests", "article": "21(1)", "since": TODAY},
    ]
    assert (export["member"]["objected_at"], export["member"]["processing_objected_at"]) == (TODAY, TODAY)
    assert panel.json("export", "access", panel.ids["plain"])["objections"] == []


def test_the_printable_report_shows_both_objections_in_the_members_language(panel: Register) -> None:
    out = panel.dir / "exports"
    panel.json("export", "access", panel.ids["both"], "--out", str(out))
    [html] = [path.read_text(encoding="utf-8") for path in out.glob("*.html")]
    assert "Suoramarkkinointi kielletty" in html
    assert "Vastustanut oikeutettuun etuun perustuvaa käsittelyä" in html
