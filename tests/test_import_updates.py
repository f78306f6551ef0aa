"""import --updates: self-service changes applied as rectifications.

Each row names a member by member_id or contact.email and carries the changed
fields; an empty CSV cell means "no change". Every changed member gets its own
audit entry (action "update", detail source self-service, the changed paths).
A row naming no known member is reported by line, never guessed. All or
nothing by default; --skip-invalid applies the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support import CATEGORIES, VEIKKO, Register, assert_rejected, problem_lines, record
from support import AINO as SUPPORT_AINO

AINO = record(SUPPORT_AINO, attitudes={"environment": 4, "price_sensitivity": 5})
EERO: dict[str, Any] = {
    "customer_number": "55554444",
    "contact": {"first_name": "Eero", "last_name": "Nieminen", "email": "eero@example.fi", "language": "fi"},
    "hobbies": ["kuoro"],
}
UPDATE_HEADER = [
    "member_id", "contact.email", "contact.phone", "contact.street_address", "contact.postal_code", "contact.city",
    "demographics.household_size", "electricity.has_solar_panels", "hobbies", "consents.sms_marketing",
]


def shown_record(reg: Register, name: str) -> dict[str, Any]:
    """The record of member ``name`` as `show --json` gives it, without the plain columns."""
    shown = reg.json("show", reg.ids[name])
    return {key: shown[key] for key in CATEGORIES if key in shown}


@pytest.fixture
def panel(make_register: Callable[..., Register]) -> Register:
    """Members aino, veikko and eero, enrolled at NOW."""
    return make_register({"aino": AINO, "veikko": VEIKKO, "eero": EERO})


def self_service_entries(entries: list[dict[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for entry in entries:
        if entry["action"] == "update":
            assert entry["detail"] == {"source": "self-service"}, entry
            assert entry["actor"] == "desk"
            assert entry["member_id"] not in found, "one entry per changed member"
            found[entry["member_id"]] = entry["fields"]
    return found


# --- applying changes ---------------------------------------------------------------------------------------


def test_rows_by_member_id_or_email_are_applied_each_with_its_own_audit_entry(panel: Register) -> None:
    audit_before = len(panel.audit_log())
    path = panel.csv([
        # by member id: a move to another town
        {"member_id": panel.ids["aino"], "contact.city": "Kuusankoski", "contact.postal_code": "45700",
         "contact.street_address": "Kymenlaaksonkatu 1"},
        # by email, written in another case: a new phone, solar panels and a consent
        {"contact.email": "Veikko.Virtanen@EXAMPLE.fi", "contact.phone": "050 999 8887",
         "electricity.has_solar_panels": "true", "consents.sms_marketing": "false"},
        # by member id, every value the same as now: nothing changes
        {"member_id": panel.ids["eero"], "contact.email": "eero@example.fi", "hobbies": "kuoro"},
    ], UPDATE_HEADER)
    result = panel.run("import", "--updates", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "2 members updated, 1 unchanged, 0 rows invalid\n"
    assert result.stderr == ""

    assert shown_record(panel, "aino") == record(
        AINO, contact__city="Kuusankoski", contact__postal_code="45700", contact__street_address="Kymenlaaksonkatu 1"
    )
    assert shown_record(panel, "veikko") == record(
        VEIKKO,
        contact__phone="+358509998887",
        electricity={"has_solar_panels": True},
        consents={"email_marketing": False, "sms_marketing": False, "partner_disclosure": False},
    )
    assert shown_record(panel, "eero") == {**EERO, "consents": {"email_marketing": False, "sms_marketing": False, "partner_disclosure": False}}

    entries = panel.audit_log()[audit_before:]
    assert self_service_entries(entries) == {
        panel.ids["aino"]: ["contact.city", "contact.postal_code", "contact.street_address"],
        panel.ids["veikko"]: ["consents.sms_marketing", "contact.phone", "electricity.has_solar_panels"],
    }
    summary = [e for e in entries if e["action"] == "import-updates"]
    assert len(summary) == 1 and summary[0]["detail"] == {"updated": 2, "unchanged": 1, "invalid": 0}
    text = json.dumps(entries, ensure_ascii=False)
    for value in ("Kuusankoski", "45700", "Kymenlaakso", "9998887", "veikko.virtanen"):
        assert value not in text  # the audit trail names fields, never values


def test_rectified_lookups_follow_the_change(panel: Register) -> None:
    path = panel.csv([
        {"member_id": panel.ids["veikko"], "contact.phone": "+358509998887"},
        {"member_id": panel.ids["aino"], "contact.email": "aino.makela@example.fi"},  # a member id row may change the email
    ], UPDATE_HEADER)
    result = panel.run("import", "--updates", str(path))
    assert result.exit_code == 0, result.stderr
    assert panel.json("find", "--phone", "050 999 8887")["member_id"] == panel.ids["veikko"]
    assert panel.run("find", "--phone", "+358501112223").exit_code == 4
    assert panel.json("find", "--email", "aino.makela@example.fi")["member_id"] == panel.ids["aino"]
    assert panel.run("find", "--email", "aino@example.fi").exit_code == 4


def test_empty_cells_mean_no_change(panel: Register) -> None:
    audit_before = len(panel.audit_log())
    path = panel.csv([
        {"member_id": panel.ids["aino"]},  # every cell empty
        {"member_id": panel.ids["veikko"], "contact.city": "Hamina"},  # one cell filled
    ], UPDATE_HEADER)
    result = panel.run("import", "--updates", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "1 members updated, 1 unchanged, 0 rows invalid\n"
    assert shown_record(panel, "aino") == AINO  # phone, hobbies, consents ... all kept
    assert shown_record(panel, "veikko") == record(VEIKKO, contact__city="Hamina")
    assert self_service_entries(panel.audit_log()[audit_before:]) == {panel.ids["veikko"]: ["contact.city"]}


def test_list_and_boolean_cells_replace_the_value(panel: Register) -> None:
    path = panel.csv([{"member_id": panel.ids["aino"], "hobbies": "sauna;marjastus", "electricity.has_solar_panels": "yes",
                             "demographics.household_size": "4"}], UPDATE_HEADER)
    assert panel.run("import", "--updates", str(path)).exit_code == 0
    record = shown_record(panel, "aino")
    assert record["hobbies"] == ["sauna", "marjastus"]
    assert record["electricity"]["has_solar_panels"] is True
    assert record["demographics"]["household_size"] == 4


def test_json_lines_updates(panel: Register) -> None:
    lines = [
        {"member_id": panel.ids["aino"], "contact": {"city": "Hamina", "postal_code": "49400"}},
        {"contact": {"email": "eero@example.fi", "street_address": "Keskikatu 2"}, "attitudes": {"environment": 5}},
    ]
    path = panel.file("\n".join(json.dumps(line) for line in lines) + "\n", ".jsonl")
    audit_before = len(panel.audit_log())
    result = panel.run("import", "--updates", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"] == {"rows": 2, "updated": 2, "unchanged": 0, "invalid": 0}
    assert shown_record(panel, "aino")["contact"]["city"] == "Hamina"
    assert shown_record(panel, "eero")["contact"]["street_address"] == "Keskikatu 2"
    assert self_service_entries(panel.audit_log()[audit_before:]) == {
        panel.ids["aino"]: ["contact.city", "contact.postal_code"],
        panel.ids["eero"]: ["attitudes.environment", "contact.street_address"],
    }


# --- unknown members and invalid rows ---------------------------------------------------------------------------


def unknown_member_file(panel: Register) -> Path:
    return panel.csv([
        {"member_id": panel.ids["aino"], "contact.city": "Hamina"},  # line 2: fine
        {"member_id": "Mzzzzzzzzzzzzzzzz", "contact.city": "Canarycityone"},  # line 3: no such member
        {"contact.email": "canary.stranger@example.fi", "contact.city": "Canarycitytwo"},  # line 4: no member has this email
        {"member_id": panel.ids["veikko"], "contact.postal_code": "Canarypostal"},  # line 5: invalid value
        {"contact.city": "Canarycitythree"},  # line 6: names no member at all
        {"member_id": panel.ids["eero"], "contact.phone": "+358401234567"},  # line 7: aino's phone
    ], UPDATE_HEADER)


EXPECTED = [
    "line 3: member_id: no such member",
    "line 4: contact.email: no member has this email",
    "line 5: contact.postal_code: must be five digits",
    "line 6: member_id: give member_id or contact.email",
]
CANARIES = ("Canarycity", "canary.stranger", "Canarypostal", "Mzzzzzzzzzzzzzzzz", "Hamina", "1234567")


def test_unknown_members_are_reported_by_line_and_nothing_changes(panel: Register) -> None:
    path = unknown_member_file(panel)
    before = panel.tables()
    result = panel.run("import", "--updates", str(path))
    assert_rejected(result, panel, before)
    lines = problem_lines(result.stderr)
    assert lines[:4] == EXPECTED
    assert len(lines) == 5 and re.match(r"^line 7: (contact\.)?phone: is already in the register", lines[4]), lines
    assert "kss-panel: error: 5 of 6 updates are invalid: nothing was changed" in result.stderr
    for canary in CANARIES:
        assert canary.lower() not in result.output.lower(), canary
    assert shown_record(panel, "aino") == AINO  # the valid row on line 2 was not applied either


def test_skip_invalid_applies_the_rest(panel: Register) -> None:
    path = unknown_member_file(panel)
    audit_before = len(panel.audit_log())
    result = panel.run("import", "--updates", str(path), "--skip-invalid")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "1 members updated, 0 unchanged, 5 rows invalid\n"
    assert problem_lines(result.stderr)[:4] == EXPECTED
    entries = panel.audit_log()[audit_before:]
    assert shown_record(panel, "aino") == record(AINO, contact__city="Hamina")
    assert shown_record(panel, "veikko") == VEIKKO
    assert "phone" not in shown_record(panel, "eero")["contact"]  # the duplicate phone was not taken
    assert self_service_entries(entries) == {panel.ids["aino"]: ["contact.city"]}
    assert entries[-1]["action"] == "import-updates"
    assert entries[-1]["detail"] == {"updated": 1, "unchanged": 0, "invalid": 5}
    for canary in CANARIES[:4]:
        assert canary.lower() not in result.output.lower(), canary


def test_an_unknown_member_is_not_guessed_from_other_fields(panel: Register) -> None:
    # The email is unknown; the phone and customer number are aino's. The row must not be applied to her.
    path = panel.csv(
        [{"contact.email": "someone.else@example.fi", "contact.phone": "+358401234567", "contact.city": "Hamina"}], UPDATE_HEADER)
    before = panel.tables()
    result = panel.run("import", "--updates", str(path))
    assert_rejected(result, panel, before)
    assert problem_lines(result.stderr) == ["line 2: contact.email: no member has this email"]


def test_a_member_id_with_no_member_is_not_matched_by_email(panel: Register) -> None:
    path = panel.csv([{"member_id": "Mzzzzzzzzzzzzzzzz", "contact.email": "aino@example.fi", "contact.city": "Hamina"}], UPDATE_HEADER)
    before = panel.tables()
    result = panel.run("import", "--updates", str(path))
    assert_rejected(result, panel, before)
    assert problem_lines(result.stderr) == ["line 2: member_id: no such member"]


def test_applied_at_cannot_be_changed_by_an_update(panel: Register) -> None:
    before = panel.tables()
    csv_result = panel.run("import", "--updates", str(panel.csv([{"member_id": panel.ids["aino"]}], ["member_id", "applied_at"])))
    assert_rejected(csv_result, panel, before)
    assert problem_lines(csv_result.stderr) == ["line 1: column 2: is not a field path of the register (like contact.email)"]
    jsonl = panel.file(json.dumps({"member_id": panel.ids["aino"], "applied_at": "2020-01-01"}) + "\n", ".jsonl")
    json_result = panel.run("import", "--updates", str(jsonl))
    assert_rejected(json_result, panel, before)
    assert problem_lines(json_result.stderr) == ["line 1: applied_at: cannot be changed by an update"]


def test_an_updates_file_with_only_a_header_holds_no_records(panel: Register) -> None:
    before = panel.tables()
    result = panel.run("import", "--updates", str(panel.csv([], UPDATE_HEADER)))
    assert_rejected(result, panel, before)
    assert "holds no records" in result.stderr


def test_updates_file_with_an_unknown_column(panel: Register) -> None:
    before = panel.tables()
    path = panel.file(f"member_id,contact.nickname\n{panel.ids['aino']},Ainoliini\n")
    result = panel.run("import", "--updates", str(path))
    assert_rejected(result, panel, before)
    assert problem_lines(result.stderr) == ["line 1: column 2: is not a field path of the register (like contact.email)"]
    assert "Ainoliini" not in result.output


def test_two_rows_for_one_member_apply_in_order(panel: Register) -> None:
    path = panel.csv([
        {"member_id": panel.ids["aino"], "contact.city": "Hamina"},
        {"contact.email": "aino@example.fi", "contact.city": "Kotka", "contact.postal_code": "48100"},
    ], UPDATE_HEADER)
    audit_before = len(panel.audit_log())
    result = panel.run("import", "--updates", str(path))
    assert result.exit_code == 0, result.stderr
    assert shown_record(panel, "aino")["contact"] == {**AINO["contact"], "city": "Kotka", "postal_code": "48100"}
    updates = [e for e in panel.audit_log()[audit_before:] if e["action"] == "update"]
    assert [e["fields"] for e in updates] == [["contact.city"], ["contact.city", "contact.postal_code"]]
