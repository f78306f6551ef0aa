"""Consent receipts (GDPR Art. 7(1)): every consent given or withdrawn, and every objection, is a receipt of
when, through which channel, by which slot and under which version of the wording; none without a change.

- enrol, import, consent, update and import --updates record their own channel;
- the version is a hash of the consent's text in register.yaml: editing the text makes the consents given
  before show as given under wording since changed, and list --consent-outdated finds those members;
- receipts are personal data: sealed with the member (a box of their own, bound to them, re-sealed by key
  rotation), shown by show and the access export, never in plain or in the audit trail.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from kss_panel.policy_schema import dump
from kss_panel.receipts import current_versions, wording_version
from support import CONSENTS, Register, assert_failure, canaries, person, record

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
AT = "2026-06-15T12:00:00+00:00"
OLD_TEXT = "      en: I consent to KSS Energia Oy sending me marketing about its products and services by email. I may withdraw my consent at any time.\n"
NEW_TEXT = OLD_TEXT.replace("by email.", "by email, at most twice a month.")


def history(reg: Register, member_id: str) -> list[dict[str, Any]]:
    return list(reg.json("show", member_id)["consent_history"])


def receipts_box(reg: Register, member_id: str) -> bytes | None:
    return reg.sql("SELECT receipts FROM members WHERE member_id = ?", (member_id,))[0][0]


def version(reg: Register, name: str) -> str:
    return current_versions(reg.policies.register)[name]


def line(reg: Register, event: str, consent: str, channel: str, *, at: str = AT, slot: str = "desk", wording: str = "current") -> dict[str, Any]:
    return {"at": at, "channel": channel, "slot": slot, "event": event, "consent": consent, "objection": None,
            "version": version(reg, consent), "wording": wording}


# --- a receipt per change -------------------------------------------------------------------------------------------------


def test_enrolment_records_a_receipt_of_the_consents_given(reg: Register) -> None:
    member = reg.enrol(person(1, given=("email_marketing", "sms_marketing")))
    assert history(reg, member) == [line(reg, "given", "email_marketing", "enrol"), line(reg, "given", "sms_marketing", "enrol")]
    assert reg.json("show", member)["outdated_consents"] == {}


def test_enrolment_with_no_consent_records_no_receipt(reg: Register) -> None:
    member = reg.enrol(person(1, given=()))
    assert history(reg, member) == []
    assert receipts_box(reg, member) is None  # no box at all: nothing to demonstrate


def test_an_import_of_applications_records_the_import_channel(reg: Register) -> None:
    path = reg.csv([{"customer_number": "30000001", "contact.first_name": "Eero", "contact.last_name": "Nieminen",
                     "contact.email": "eero@example.fi", "contact.language": "fi", "consents.sms_marketing": "yes"},
                    {"customer_number": "30000002", "contact.first_name": "Ella", "contact.last_name": "Nieminen",
                     "contact.email": "ella@example.fi", "contact.language": "fi", "consents.sms_marketing": "no"}],
                   ["customer_number", "contact.first_name", "contact.last_name", "contact.email", "contact.language", "consents.sms_marketing"])
    assert reg.run("import", path).exit_code == 0
    found = {reg.json("find", "--email", email)["member_id"]: email for email in ("eero@example.fi", "ella@example.fi")}
    lines = {email: history(reg, member) for member, email in found.items()}
    assert lines == {"eero@example.fi": [line(reg, "given", "sms_marketing", "import")], "ella@example.fi": []}
    # Every wording the import recorded under is kept, with its text.
    kept = dict(((consent, version), json.loads(text)) for consent, version, text in reg.sql("SELECT consent, version, text FROM consent_wordings"))
    assert kept[("sms_marketing", version(reg, "sms_marketing"))] == dump(reg.policies.register.consents["sms_marketing"].text)


def test_consent_gives_and_withdraws_with_a_receipt_each_and_none_without_a_change(reg: Register) -> None:
    member = reg.enrol(person(1, given=("email_marketing",)))
    result = reg.run("consent", member, "--give", "sms_marketing", "--withdraw", "email_marketing")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "receipt 2026-06-15 15:00 (Finnish time) by desk via officer: given sms_marketing; withdrawn email_marketing"
    box = receipts_box(reg, member)

    # Giving what is held (under the current wording) and withdrawing what is not: no change, no receipt.
    again = reg.run("consent", member, "--give", "sms_marketing", "--withdraw", "email_marketing")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "no receipt: nothing changed"
    assert receipts_box(reg, member) == box
    assert reg.json("consent", member, "--give", "sms_marketing")["receipt"] is None
    assert history(reg, member) == [
        line(reg, "given", "email_marketing", "enrol"),
        line(reg, "withdrawn", "email_marketing", "officer"),
        line(reg, "given", "sms_marketing", "officer"),
    ]


def test_objections_are_consent_events(reg: Register) -> None:
    member = reg.enrol(person(1, given=("email_marketing", "marketing_competitions")))
    reg.json("consent", member, "--object")
    reg.json("consent", member, "--object-processing")
    reg.json("consent", member, "--withdraw-objection", "--give", "email_marketing")
    reg.json("consent", member, "--object-processing")  # already made: no change, no receipt
    events = [(x["event"], x["consent"] or x["objection"], x["channel"]) for x in history(reg, member)]
    assert events == [
        ("given", "email_marketing", "enrol"), ("given", "marketing_competitions", "enrol"),
        # The objection to direct marketing withdraws both direct-marketing consents in the same receipt.
        ("objected", "direct-marketing", "officer"), ("withdrawn", "email_marketing", "officer"), ("withdrawn", "marketing_competitions", "officer"),
        ("objected", "legitimate-interests", "officer"),
        ("objection-lifted", "direct-marketing", "officer"), ("given", "email_marketing", "officer"),
    ]


def test_a_rectification_of_consents_is_received_and_of_other_fields_is_not(reg: Register) -> None:
    member = reg.enrol(person(1, given=()))
    assert reg.json("update", member, "--set", "consents.partner_marketing=yes")["changed"] == ["consents.partner_marketing"]
    box = receipts_box(reg, member)
    assert reg.json("update", member, "--set", "contact.city=Kotka")["changed"] == ["contact.city"]
    assert receipts_box(reg, member) == box
    assert history(reg, member) == [line(reg, "given", "partner_marketing", "officer")]


def test_self_service_changes_record_the_self_service_channel(reg: Register) -> None:
    member = reg.enrol(person(1, given=("sms_marketing",)))
    path = reg.csv([{"member_id": member, "consents.sms_marketing": "no"}], ["member_id", "consents.sms_marketing"])
    assert reg.run("import", path, "--updates").exit_code == 0
    assert history(reg, member)[-1] == line(reg, "withdrawn", "sms_marketing", "self-service")


def test_receipts_are_audited_by_field_name_and_never_hold_a_value_in_the_trail(reg: Register) -> None:
    data = person(1, given=("email_marketing",))
    member = reg.enrol(data)
    reg.json("show", member)
    shown = reg.audit()[-1]
    assert shown["action"] == "show" and "consent_receipts" in shown["fields"]
    trail = json.dumps(reg.audit_log(), ensure_ascii=False)
    assert version(reg, "email_marketing") not in trail
    assert [text for text in canaries(data) if text in trail] == []


# --- the wording changes: consents given before it show as such ---------------------------------------------------------


def test_editing_a_consents_text_makes_consents_given_before_outdated(reg: Register) -> None:
    before = reg.enrol(person(1, given=("email_marketing", "sms_marketing")))
    without = reg.enrol(person(2, given=("sms_marketing",)))
    old = version(reg, "email_marketing")
    reg.edit_policies("register.yaml", OLD_TEXT, NEW_TEXT)
    assert version(reg, "email_marketing") != old
    after = reg.enrol(person(3, given=("email_marketing",)))

    shown = reg.json("show", before)
    assert shown["outdated_consents"] == {"email_marketing": old}
    assert [x["wording"] for x in shown["consent_history"]] == ["changed", "current"]  # sms_marketing's text did not change
    listed = reg.json("list", "--consent-outdated", "email_marketing")
    assert [(row["member_id"], row["given_version"], row["given_at"], row["current_version"]) for row in listed] == [
        (before, old, AT, version(reg, "email_marketing"))]
    assert without != after and reg.json("list", "--consent-outdated", "sms_marketing") == []

    human = reg.run("show", before)
    assert f"email_marketing was given under wording {old}; the wording has changed since: ask again" in human.stdout


@pytest.mark.parametrize("how", ["consent", "update"])
def test_a_re_consent_under_the_new_wording_is_a_receipt_and_clears_the_mark(reg: Register, how: str) -> None:
    member = reg.enrol(person(1, given=("email_marketing",)))
    reg.edit_policies("register.yaml", OLD_TEXT, NEW_TEXT)
    if how == "consent":
        assert reg.json("consent", member, "--give", "email_marketing")["receipt"]["given"] == {"email_marketing": version(reg, "email_marketing")}
    else:
        assert reg.json("update", member, "--set", "consents.email_marketing=true")["changed"] == ["consents.email_marketing"]
    assert history(reg, member)[-1] == line(reg, "given", "email_marketing", "officer")
    assert reg.json("list", "--consent-outdated", "email_marketing") == []
    # Under the current wording now: the same again is no change.
    assert reg.json("consent", member, "--give", "email_marketing")["receipt"] is None
    entry = reg.audit()[-1]
    assert entry["fields"] == []


def test_the_re_consent_list_filters_and_names_and_is_one_audited_read(reg: Register) -> None:
    members = [reg.enrol(person(n, given=("email_marketing",))) for n in (1, 2)]
    reg.run("restrict", members[1], "--reason", "legal-claims")
    reg.edit_policies("register.yaml", OLD_TEXT, NEW_TEXT)
    assert [row["member_id"] for row in reg.json("list", "--consent-outdated", "email_marketing", "--restricted")] == [members[1]]
    named = reg.json("list", "--consent-outdated", "email_marketing", "--names")
    assert [(row["first_name"], row["last_name"]) for row in named] == [("Aino", "Mäkelä"), ("Aino", "Mäkelä")]
    entry = reg.audit()[-1]
    assert (entry["action"], entry["member_id"], entry["detail"]) == ("list-consent-outdated", None, {"consent": "email_marketing", "members": 2})
    assert entry["fields"] == ["consents.email_marketing", "consent_receipts", "contact.first_name", "contact.last_name"]
    human = reg.run("list", "--consent-outdated", "email_marketing", env={"COLUMNS": "80"})
    assert human.stdout.splitlines()[0] == f"2 members holding email_marketing under wording changed since (now {version(reg, 'email_marketing')})"


def test_an_unknown_consent_is_invalid_input_and_nothing_is_written(reg: Register) -> None:
    reg.enrol(person(1))
    before = reg.tables()
    result = reg.run("list", "--consent-outdated", "newsletter")
    assert_failure(result, 5, "invalid consent", [f"  --consent-outdated: must be one of {', '.join(CONSENTS)}"])
    assert reg.tables() == before


# --- sealed with the member -------------------------------------------------------------------------------------------------


def test_receipts_are_sealed_and_bound_to_their_member(reg: Register) -> None:
    first, second = reg.enrol(person(1, given=("email_marketing",))), reg.enrol(person(2, given=("sms_marketing",)))
    box = receipts_box(reg, first)
    assert box is not None and box[:1] == b"\x02"  # a sealed box of format 2 (docs/crypto.md §3)
    for plain in (b"email_marketing", b"enrol", version(reg, "email_marketing").encode()):
        assert plain not in box
    # Copied to another member (and that member's row committed anew by hand is refused too): it opens nothing.
    reg.sql("UPDATE members SET receipts = ? WHERE member_id = ?", (box, second))
    assert_failure(reg.run("show", second), 7)


def test_key_rotation_seals_the_receipts_again(reg: Register) -> None:
    member = reg.enrol(person(1, given=("email_marketing",)))
    lines, box = history(reg, member), receipts_box(reg, member)
    assert reg.run("key", "rotate").exit_code == 0
    assert receipts_box(reg, member) != box
    assert history(reg, member) == lines


def test_a_wording_edited_by_hand_in_the_register_is_an_integrity_failure(reg: Register) -> None:
    member = reg.enrol(person(1, given=("email_marketing",)))
    reg.sql("UPDATE consent_wordings SET text = replace(text, 'by email', 'by post')")
    assert_failure(reg.run("export", "access", member), 7)


def test_the_access_export_shows_the_history_and_the_wording_in_the_members_language(reg: Register) -> None:
    member = reg.enrol(record(person(1, given=("email_marketing",)), contact__language="sv"))
    old = version(reg, "email_marketing")
    reg.edit_policies("register.yaml", OLD_TEXT, NEW_TEXT)
    export = reg.json("export", "access", member)
    kept = json.loads(reg.sql("SELECT text FROM consent_wordings WHERE consent = 'email_marketing'")[0][0])
    assert wording_version(kept) == old  # the register kept the text the member agreed to
    assert export["outdated_consents"] == {"email_marketing": old}
    assert export["consent_history"] == [{**line(reg, "given", "email_marketing", "enrol", wording="changed"), "version": old}]
    sv = reg.policies.register.consents["email_marketing"].text.sv
    assert export["consent_wordings"] == [{"consent": "email_marketing", "version": old, "title": "KSS Energias marknadsföring per e-post", "text": sv}]
    out = reg.dir / "access"
    assert reg.run("export", "access", member, "--out", out).exit_code == 0
    html = next(out.glob("*.html")).read_text(encoding="utf-8")
    assert "Din samtyckeshistorik" in html and "på ansökningsblanketten" in html and sv in html
    assert "Formuleringen av samtycket har ändrats efter att du gav det" in html


def test_a_rectification_cannot_give_a_direct_marketing_consent_while_the_member_objects(reg: Register) -> None:
    """Art. 21(3), as consent --give refuses it: an officer's update is refused (exit 9), a self-service row is invalid."""
    member = reg.enrol(person(1, given=("email_marketing",)))
    reg.json("consent", member, "--object")
    before = reg.tables()
    result = reg.run("update", member, "--set", "consents.email_marketing=true", "--set", "contact.city=Kotka")
    assert_failure(result, 9, f"{member} objects to direct marketing (since 2026-06-15): email_marketing cannot be given while the objection stands")
    path = reg.csv([{"member_id": member, "consents.sms_marketing": "yes"}], ["member_id", "consents.sms_marketing"])
    assert_failure(reg.run("import", path, "--updates"), 5, "1 of 1 update is invalid: nothing was changed",
                   ["  line 2: consents.sms_marketing: cannot be given while the member objects to direct marketing"])
    assert reg.tables() == before
    # A consent that is not for direct marketing may be given as before.
    assert reg.json("update", member, "--set", "consents.partner_communication=true")["changed"] == ["consents.partner_communication"]
