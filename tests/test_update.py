"""update: --set and --file merge patches, validated like enrol, changed field paths audited."""

from __future__ import annotations

import json

import pytest

from support import AINO, Register, assert_clean_failure


@pytest.fixture
def aino(populated: Register) -> str:
    return populated.ids["aino"]


def test_update_set_one_field(populated: Register, aino: str) -> None:
    result = populated.run("update", aino, "--set", "contact.city=Hamina")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"updated {aino}: contact.city\n"
    entry = populated.audit_log()[-1]
    assert (entry["action"], entry["actor"], entry["member_id"], entry["fields"]) == ("update", "desk", aino, ["contact.city"])
    shown = populated.json("show", aino)
    assert shown["contact"] == {**AINO["contact"], "city": "Hamina"}
    assert "Hamina" not in json.dumps(entry)


def test_update_set_coerces_to_the_field_types(populated: Register, aino: str) -> None:
    data = populated.json(
        "update", aino,
        "--set", "demographics.household_size=5",
        "--set", "electricity.has_solar_panels=yes",
        "--set", "hobbies=kalastus; sauna ;marjastus",
        "--set", "attitudes.local_energy=1",
        "--set", "consents.sms_marketing=true",
    )
    assert data == {
        "member_id": aino,
        "changed": [
            "attitudes.local_energy", "consents.sms_marketing", "demographics.household_size",
            "electricity.has_solar_panels", "hobbies",
        ],
        "notify": [],
    }
    shown = populated.json("show", aino)
    assert shown["demographics"]["household_size"] == 5
    assert shown["electricity"]["has_solar_panels"] is True
    assert shown["hobbies"] == ["kalastus", "sauna", "marjastus"]
    assert shown["attitudes"]["local_energy"] == 1
    assert shown["consents"]["sms_marketing"] is True


def test_update_set_empty_value_removes_an_optional_field_and_its_lookup(populated: Register, aino: str) -> None:
    data = populated.json("update", aino, "--set", "contact.phone=")
    assert data["changed"] == ["contact.phone"]
    assert "phone" not in populated.json("show", aino)["contact"]
    assert_clean_failure(populated.run("find", "--phone", "+358401234567"), 4)


def test_update_file_merge_patch_null_removes(populated: Register, aino: str) -> None:
    patch = {"contact": {"phone": None, "city": "Hamina"}, "hobbies": None, "attitudes": {"environment": 1}}
    path = populated.dir / "patch.json"
    path.write_text(json.dumps(patch))
    result = populated.run("update", aino, "--file", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"updated {aino}: attitudes.environment, contact.city, contact.phone, hobbies\n"
    shown = populated.json("show", aino)
    assert "hobbies" not in shown
    assert shown["contact"] == {k: v for k, v in {**AINO["contact"], "city": "Hamina"}.items() if k != "phone"}
    assert shown["attitudes"] == {**AINO["attitudes"], "environment": 1}
    assert shown["demographics"] == AINO["demographics"]
    entry = [e for e in populated.json("audit", "log") if e["action"] == "update"][-1]
    assert entry["fields"] == ["attitudes.environment", "contact.city", "contact.phone", "hobbies"]


def test_update_file_from_stdin_removes_a_whole_category(populated: Register, aino: str) -> None:
    data = populated.json("update", aino, "--file", "-", input=json.dumps({"demographics": None}))
    assert data["changed"] == [f"demographics.{field}" for field in sorted(AINO["demographics"])]
    assert "demographics" not in populated.json("show", aino)


def test_update_email_moves_the_lookup(populated: Register, aino: str) -> None:
    populated.json("update", aino, "--set", "contact.email=Aino.Uusi@Example.fi")
    assert populated.json("show", aino)["contact"]["email"] == "aino.uusi@example.fi"
    assert populated.json("find", "--email", "AINO.UUSI@example.fi")["member_id"] == aino
    assert_clean_failure(populated.run("find", "--email", "aino@example.fi"), 4)


def test_update_with_nothing_changed_writes_nothing(populated: Register, aino: str) -> None:
    before = populated.tables()
    result = populated.run("update", aino, "--set", "contact.city=Kouvola")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{aino}: nothing changed\n"
    assert populated.tables() == before


@pytest.mark.parametrize(
    ("args", "input", "expected"),
    [
        (("--set", "contact.email=VEIKKO.VIRTANEN@example.fi"), None,
         ["kss-panel: error: duplicate of a registered member", "  contact.email: is already in the register"]),
        (("--set", "contact.phone=050 111 2223"), None,
         ["kss-panel: error: duplicate of a registered member", "  contact.phone: is already in the register"]),
        (("--set", "customer_number=87654321"), None,
         ["kss-panel: error: duplicate of a registered member", "  customer_number: is already in the register"]),
        (("--set", "contact.email="), None, ["kss-panel: error: invalid record", "  contact.email: is required"]),
        (("--file", "-"), '{"contact": {"first_name": null}}', ["kss-panel: error: invalid record", "  contact.first_name: is required"]),
        (("--set", "contact.postal_code=451"), None, ["kss-panel: error: invalid record", "  contact.postal_code: must be five digits"]),
        (("--set", "demographics.household_size=lots"), None,
         ["kss-panel: error: invalid record", "  demographics.household_size: input should be a valid integer"]),
        (("--set", "contact.nickname=Ainoska"), None, ["kss-panel: error: invalid --set", "  contact.nickname: is not a field of the register"]),
        (("--set", "contact.city"), None, ["kss-panel: error: invalid --set", "  --set: must be FIELD=VALUE"]),
        (("--file", "-"), '{"applied_at": "2020-01-01"}', ["kss-panel: error: invalid patch", "  applied_at: cannot be changed by an update"]),
        (("--file", "-"), "{}", ["kss-panel: error: empty patch", "  (patch): must be a JSON object with at least one field"]),
        (("--file", "-"), "[]", ["kss-panel: error: empty patch", "  (patch): must be a JSON object with at least one field"]),
        (("--file", "-"), '{"contact": {"language": "de"}, "hobbies": "sauna"}',
         ["kss-panel: error: invalid record", "  contact.language: input should be 'fi', 'sv' or 'en'", "  hobbies: input should be a valid list"]),
        ((), None, ["kss-panel: error: give --file or --set", "  --file|--set: exactly one of them is required"]),
        (("--file", "-", "--set", "contact.city=Hamina"), "{}",
         ["kss-panel: error: give --file or --set", "  --file|--set: exactly one of them is required"]),
    ],
    ids=[
        "duplicate-email", "duplicate-phone", "duplicate-customer-number", "required-removed-by-set",
        "required-removed-by-null", "bad-postal-code", "bad-integer", "unknown-field", "no-equals", "applied-at",
        "empty-patch", "array-patch", "two-problems", "neither", "both",
    ],
)
def test_update_invalid_writes_nothing(populated: Register, aino: str, args: tuple[str, ...], input: str | None, expected: list[str]) -> None:
    before, digest = populated.tables(), populated.digest()
    result = populated.run("update", aino, *args, input=input)
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == expected
    assert result.stdout == ""
    assert populated.tables() == before
    assert populated.digest() == digest


def test_update_unknown_member_is_not_found(populated: Register) -> None:
    result = populated.run("update", "Mbbbbbbbbbbbbbbbb", "--set", "contact.city=Hamina")
    assert_clean_failure(result, 4)
    assert result.stderr.splitlines() == ["kss-panel: error: no member 'Mbbbbbbbbbbbbbbbb'"]
