"""enrol: one application in, validated, sealed, audited; duplicates refused; nothing half-written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings

import pytest

from kss_panel.services import members
from kss_panel.services.session import Session
from kss_panel.errors import InvalidInput
from kss_panel.record import flatten
from support import AINO, CATEGORIES, NOW, POLICIES_DIR, VEIKKO, Register, assert_clean_failure, consents, record

MEMBER_ID = re.compile(r"^M[a-z2-7]{16}$")


def test_enrol_from_stdin_prints_the_member_id(reg: Register) -> None:
    result = reg.run("enrol", "--file", "-", input=json.dumps(AINO))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    member_id = result.stdout.strip()
    assert result.stdout == member_id + "\n"
    assert MEMBER_ID.match(member_id)
    assert reg.count("members") == 1
    shown = reg.json("show", member_id)
    assert {name: shown[name] for name in CATEGORIES} == AINO
    assert shown["status"] == "applicant"


def test_enrol_from_a_file(reg: Register) -> None:
    path = reg.dir / "applicant.json"
    path.write_text(json.dumps(VEIKKO, ensure_ascii=False), encoding="utf-8")
    result = reg.run("enrol", "--file", str(path))
    assert result.exit_code == 0, result.stderr
    assert MEMBER_ID.match(result.stdout.strip())


def test_enrol_with_applied_at_keeps_that_date(reg: Register) -> None:
    member_id = reg.enrol(record(AINO, applied_at="2024-05-01"))
    shown = reg.json("show", member_id)
    assert shown["applied_at"] == "2024-05-01"
    assert "applied_at" not in {k for k in shown if k in CATEGORIES}
    listed = {row["member_id"]: row for row in reg.json("list")}
    assert listed[member_id]["applied_at"] == "2024-05-01"


def test_enrol_without_applied_at_uses_the_day_of_enrolment(session: Session) -> None:
    member_id = members.enrol(session, record(AINO, customer_number="11112222", contact__email="x@example.fi", contact__phone=None), NOW)["member_id"]
    assert members.show(session, member_id, NOW)["applied_at"] == "2025-06-15"


def test_enrol_normalises_lookup_fields(reg: Register) -> None:
    member_id = reg.enrol(record(AINO, contact__email="Aino.Makela@EXAMPLE.fi", contact__phone="040 123 4567", customer_number=" 12345678 "))
    contact = reg.json("show", member_id)["contact"]
    assert contact["email"] == "aino.makela@example.fi"
    assert contact["phone"] == "+358401234567"
    assert reg.json("show", member_id)["customer_number"] == "12345678"


def test_enrol_minimal_record_defaults_consents_to_false(reg: Register) -> None:
    minimal = {
        "customer_number": "123456",
        "contact": {"first_name": "Ilmari", "last_name": "O'Connor-Häkkinen", "email": "i@example.fi", "language": "en"},
    }
    shown = reg.json("show", reg.enrol(minimal))
    assert shown["contact"] == minimal["contact"]
    assert shown["consents"] == consents()
    assert "demographics" not in shown and "hobbies" not in shown


def test_enrol_json_result(reg: Register) -> None:
    data = reg.json("enrol", "--file", "-", input=json.dumps(AINO))
    assert MEMBER_ID.match(data["member_id"])


def test_enrol_is_audited_with_field_names_only(reg: Register) -> None:
    member_id = reg.enrol(AINO)
    entries = reg.json("audit", "log", "--member", member_id)
    [enrol] = entries
    assert (enrol["action"], enrol["actor"], enrol["member_id"]) == ("enrol", "desk", member_id)
    assert enrol["fields"] == sorted(flatten(AINO))


@pytest.mark.parametrize(
    ("changes", "kinds"),
    [
        ({"contact__email": "AINO@Example.FI"}, ["contact.email"]),
        ({"contact__phone": "040 1234567"}, ["contact.phone"]),
        ({"contact__phone": "+358 40 123 4567"}, ["contact.phone"]),
        ({"customer_number": "12345678"}, ["customer_number"]),
    ],
    ids=["email-other-case", "phone-national-format", "phone-spaced", "customer-number"],
)
def test_enrol_refuses_duplicates(populated: Register, changes: dict[str, str], kinds: list[str]) -> None:
    fresh = record(VEIKKO, customer_number="55556666", contact__email="someone.else@example.fi", contact__phone="+358457778889")
    duplicate = record(fresh, **changes)
    before, digest = populated.tables(), populated.digest()
    result = populated.run("enrol", "--file", "-", input=json.dumps(duplicate))
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == ["kss-panel: error: duplicate of a registered member"] + [
        f"  {kind}: is already in the register" for kind in kinds
    ]
    assert result.stdout == ""
    assert populated.tables() == before
    assert populated.digest() == digest


def test_enrol_lists_every_duplicate(populated: Register) -> None:
    before = populated.tables()
    result = populated.run("enrol", "--file", "-", input=json.dumps(AINO))
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == [
        "kss-panel: error: duplicate of a registered member",
        "  contact.email: is already in the register",
        "  contact.phone: is already in the register",
        "  customer_number: is already in the register",
    ]
    assert populated.tables() == before


def test_customer_number_in_other_digits_is_still_a_duplicate(populated: Register) -> None:
    """Fullwidth digits are \\d to Python's re; they must not slip past duplicate detection."""
    before = populated.tables()
    fullwidth = "".join(chr(ord(c) - ord("0") + ord("０")) for c in AINO["customer_number"])
    sneaky = record(VEIKKO, customer_number=fullwidth, contact__email="new@example.fi", contact__phone="+358457778889")
    result = populated.run("enrol", "--file", "-", input=json.dumps(sneaky))
    assert_clean_failure(result, 5)
    assert populated.tables() == before


def test_enrol_many_service_is_all_or_nothing(session: Session, populated: Register) -> None:
    before = populated.tables()
    fresh = record(VEIKKO, customer_number="55556666", contact__email="n@example.fi", contact__phone="+358457778889")
    with pytest.raises(InvalidInput):
        members.enrol_many(session, [fresh, AINO], NOW)
    assert populated.tables() == before


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", ["kss-panel: error: invalid input", "  --file: not valid JSON (line 1, column 1: Expecting value)"]),
        (b"{not json", ["kss-panel: error: invalid input", "  --file: not valid JSON (line 1, column 2: Expecting property name enclosed in double quotes)"]),
        (b"\xff\xfe\x00", ["kss-panel: error: invalid input", "  --file: is not UTF-8 text"]),
        (b"[1, 2]", ["kss-panel: error: invalid record", "  (record): must be a JSON object"]),
        (b'"Aino"', ["kss-panel: error: invalid record", "  (record): must be a JSON object"]),
    ],
    ids=["empty", "broken", "not-utf8", "array", "string"],
)
def test_enrol_rejects_input_that_is_not_a_record(reg: Register, payload: bytes, expected: list[str]) -> None:
    before = reg.tables()
    result = reg.run("enrol", "--file", "-", input=payload)
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == expected
    assert reg.tables() == before


def test_enrol_missing_input_file_is_not_found(reg: Register) -> None:
    missing = reg.dir / "nope.json"
    result = reg.run("enrol", "--file", str(missing))
    assert_clean_failure(result, 4)
    assert result.stderr.splitlines() == [f"kss-panel: error: input file not found: {missing}"]


def test_enrol_rejects_oversized_input(reg: Register) -> None:
    result = reg.run("enrol", "--file", "-", input=b" " * 1_000_001)
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == ["kss-panel: error: input too large", "  --file: must be at most 1000000 bytes"]


def test_enrol_with_applied_at_warns_nothing(session: Session) -> None:
    """A warning would reach stderr beside the member id (and echo the date)."""
    fresh = record(VEIKKO, customer_number="55556666", contact__email="n@example.fi", contact__phone=None, applied_at="2024-05-01")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        member_id = members.enrol(session, fresh, NOW)["member_id"]
    assert members.show(session, member_id, NOW)["applied_at"] == "2024-05-01"


def test_enrol_in_a_real_process_prints_only_the_member_id(reg: Register) -> None:
    command = [sys.executable, "-c", "from kss_panel.cli import main; main()"]
    argv = ["--db", str(reg.db), "--policies", str(POLICIES_DIR), "enrol", "--file", "-", "--key-file", str(reg.key_file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSS_PANEL_")}
    done = subprocess.run(
        command + argv, input=json.dumps(record(AINO, applied_at="2024-05-01")).encode(), capture_output=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert MEMBER_ID.match(done.stdout.decode().strip())
    assert done.stderr == b""
