"""show, find and list: the record shape, normalised lookups, names only when asked, all audited."""

from __future__ import annotations

import json

import pytest

from kss_panel.record import flatten
from support import AINO, CATEGORIES, VEIKKO, Register, assert_clean_failure, record

PLAIN = {"member_id", "status", "applied_at", "admitted_at", "rejected_at", "last_activity_at", "updated_at"}
CONSENT_VIEW = {"consent_history", "outdated_consents"}


# --- show ---------------------------------------------------------------------------------------------------


def test_show_json_is_the_record_plus_id_status_and_dates(populated: Register) -> None:
    member_id = populated.ids["aino"]
    shown = populated.json("show", member_id)
    assert {name: shown[name] for name in CATEGORIES} == AINO
    assert PLAIN <= set(shown)
    assert shown["member_id"] == member_id
    assert shown["status"] == "applicant"
    assert (shown["applied_at"], shown["updated_at"]) == ("2025-06-15", "2025-06-15")
    assert shown["admitted_at"] is None and shown["rejected_at"] is None and shown["last_activity_at"] is None
    # Everything beside the record, the member's surveys and their consent history is a plain column: a status, a date or nothing.
    assert shown["surveys"] == []
    assert all(value is None or isinstance(value, str) for key, value in shown.items() if key not in {*CATEGORIES, "surveys", *CONSENT_VIEW})
    assert [key for key in shown if key in CATEGORIES] == list(CATEGORIES)  # policy order


def test_show_partial_record_has_only_its_categories(populated: Register) -> None:
    shown = populated.json("show", populated.ids["veikko"])
    assert {name: shown[name] for name in CATEGORIES if name in shown} == VEIKKO
    assert "electricity" not in shown and "attitudes" not in shown


def test_show_human_output_names_the_categories(populated: Register) -> None:
    result = populated.run("show", populated.ids["aino"])
    assert result.exit_code == 0, result.stderr
    for text in ("Contact details", "Demographics", "Household electricity use", "Leisure hobbies", "Consents",
                 "Mäkelä", "aino@example.fi", "+358401234567", "fishing, sauna", populated.ids["aino"]):
        assert text in result.stdout
    assert result.stderr == ""


def test_show_prints_markup_in_hobbies_as_itself(reg: Register) -> None:
    member_id = reg.enrol(record(AINO, hobbies=["[bold red]loud[/bold red]", "<script>alert(1)</script>"]))
    result = reg.run("show", member_id)
    assert result.exit_code == 0, result.stderr
    assert "[bold red]loud[/bold red], <script>alert(1)</script>" in result.stdout
    assert "\x1b[" not in result.stdout


def test_show_is_audited_with_the_fields_read(populated: Register) -> None:
    member_id = populated.ids["aino"]
    populated.json("show", member_id)
    entry = populated.audit_log()[-1]
    assert (entry["action"], entry["actor"], entry["member_id"]) == ("show", "desk", member_id)
    assert entry["fields"] == sorted([*flatten(AINO), "consent_receipts"])  # Aino gave consents when she enrolled


def test_show_unknown_member_is_not_found(populated: Register) -> None:
    count = populated.count("audit")
    result = populated.run("show", "Maaaaaaaaaaaaaaaa")
    assert_clean_failure(result, 4)
    assert result.stderr.splitlines() == ["kss-panel: error: no member 'Maaaaaaaaaaaaaaaa'"]
    assert populated.count("audit") == count


# --- find ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--email", "aino@example.fi"),
        ("--email", "AINO@Example.FI"),
        ("--phone", "+358401234567"),
        ("--phone", "040 1234567"),
        ("--phone", "040-123 45 67"),
        ("--phone", "00358401234567"),
        ("--customer-number", "12345678"),
        ("--customer-number", " 12345678 "),
    ],
)
def test_find_by_normalised_lookup(populated: Register, option: str, value: str) -> None:
    found = populated.json("find", option, value)
    assert found["member_id"] == populated.ids["aino"]
    assert found["status"] == "applicant"
    assert not set(found) & set(CATEGORIES)  # find decrypts no one


def test_find_human_output_and_audit(populated: Register) -> None:
    result = populated.run("find", "--phone", "050 111 2223")
    assert result.exit_code == 0, result.stderr
    assert populated.ids["veikko"] in result.stdout
    entry = populated.audit_log()[-1]
    assert (entry["action"], entry["member_id"], entry["fields"]) == ("find", populated.ids["veikko"], ["phone"])


@pytest.mark.parametrize(
    ("option", "value", "kind"),
    [
        ("--email", "nobody@example.fi", "email"),
        ("--phone", "+358409999999", "phone"),
        ("--customer-number", "99999999", "customer number"),
    ],
)
def test_find_miss_is_not_found(populated: Register, option: str, value: str, kind: str) -> None:
    count = populated.count("audit")
    result = populated.run("find", option, value)
    assert_clean_failure(result, 4)
    assert result.stderr.splitlines() == [f"kss-panel: error: no member with that {kind}"]
    assert value not in result.output
    assert populated.count("audit") == count


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--email", "not-an-email", ["kss-panel: error: invalid email", "  --email: is not a valid email address"]),
        ("--phone", "12", ["kss-panel: error: invalid phone", "  --phone: is not a valid phone number"]),
        ("--customer-number", "12a45", ["kss-panel: error: invalid customer number", "  --customer-number: must be 6 to 10 digits"]),
    ],
)
def test_find_invalid_value_is_invalid_input(populated: Register, option: str, value: str, expected: list[str]) -> None:
    result = populated.run("find", option, value)
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == expected


@pytest.mark.parametrize("args", [(), ("--email", "aino@example.fi", "--customer-number", "12345678")])
def test_find_needs_exactly_one_lookup(populated: Register, args: tuple[str, ...]) -> None:
    result = populated.run("find", *args)
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == [
        "kss-panel: error: give exactly one lookup",
        "  --email|--phone|--customer-number: exactly one is required",
    ]


# --- list ---------------------------------------------------------------------------------------------------


def test_list_shows_ids_status_and_dates_but_no_names(populated: Register) -> None:
    count = populated.count("audit")
    rows = populated.json("list")
    assert sorted(row["member_id"] for row in rows) == sorted(populated.ids.values())
    for row in rows:
        assert PLAIN <= set(row)
        assert not {"first_name", "last_name"} & set(row)
        assert not set(row) & set(CATEGORIES)
    human = populated.run("list")
    assert human.exit_code == 0, human.stderr
    assert "2 members" in human.stdout
    for member_id in populated.ids.values():
        assert member_id in human.stdout
    assert "Aino" not in human.stdout and "Veikko" not in human.stdout
    assert populated.count("audit") == count  # a plain list reads nothing personal


def test_list_by_status(populated: Register) -> None:
    assert len(populated.json("list", "--status", "applicant")) == 2
    assert populated.json("list", "--status", "member") == []
    assert populated.json("list", "--status", "rejected") == []


def test_list_rejects_an_unknown_status(populated: Register) -> None:
    result = populated.run("list", "--status", "vip")
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines()[0] == "kss-panel: error: invalid status"
    assert result.stderr.splitlines()[1].startswith("  --status: must be one of applicant, member, rejected")


def test_list_names_decrypts_names_and_is_audited(populated: Register) -> None:
    rows = populated.json("list", "--names")
    names = {row["member_id"]: (row["first_name"], row["last_name"]) for row in rows}
    assert names == {populated.ids["aino"]: ("Aino", "Mäkelä"), populated.ids["veikko"]: ("Veikko", "Virtanen")}
    entry = populated.audit_log()[-1]
    assert entry["action"] == "list-names"
    assert entry["member_id"] is None
    assert entry["fields"] == ["contact.first_name", "contact.last_name"]
    assert entry["detail"] == {"members": 2}

    human = populated.run("list", "--names")
    assert human.exit_code == 0, human.stderr
    for text in ("Aino Mäkelä", "Veikko Virtanen", "name"):
        assert text in human.stdout


def test_list_empty_register(reg: Register) -> None:
    assert reg.json("list") == []
    result = reg.run("list")
    assert result.exit_code == 0
    assert "0 members" in result.stdout


def test_list_names_output_is_one_json_document(populated: Register) -> None:
    result = populated.run("list", "--names", "--json")
    document = json.loads(result.stdout)
    assert document["command"] == "list"
