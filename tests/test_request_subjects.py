"""Art. 12(3) deadlines and whom a request is about.

An extension is made once, within the first month; a request may be about a
person who is not in the register (never was, or was erased), named by a
lookup value (matched by keyed hash) or by text, which is sealed: never in
plain in the file, the audit trail, an error or the list unless asked.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import CANARY, Clock, Register, assert_failure, canaries, found, noon, person

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TODAY = "2026-06-15"
STRANGER_EMAIL = "Canary.Stranger@Example.fi"
STRANGER_TEXT = "Canarystrangerfirst Canarystrangerlast, Canarystrangercity"
STRANGER = ("canary.stranger@example.fi", "Canarystrangerfirst", "Canarystrangerlast", "Canarystrangercity")


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    """Applicants 'a' (person 1) and 'canary' (CANARY); officer 'desk' by key file, and a purger 'cron'."""
    return make_register({"a": person(1), "canary": CANARY}, NOW, purger=True)


def request_open(reg: Register, *args: str) -> dict[str, Any]:
    return reg.json("request", "open", "--type", "access", *args)


def leaks(reg: Register, *texts: str) -> list[Any]:
    """What of ``texts`` turns up in the register file and its side files, or in any audit entry."""
    return found(reg.raw(), texts) + found(json.dumps(reg.audit(), ensure_ascii=False), texts)


# --- Art. 12(3): one extension, within the first month ---------------------------------------------------------


def test_an_extension_on_the_last_day_of_the_first_month_is_made(reg: Register, clock: Clock) -> None:
    opened = reg.open_request("access", "a", received="2026-01-31", now=noon("2026-02-01"))
    clock.now = noon("2026-02-28")
    data = reg.json("request", "extend", str(opened["id"]), "--reason", "complexity")
    assert (data["deadline"], data["first_month_ends"], data["extended"]) == ("2026-04-30", "2026-02-28", True)


def test_an_extension_after_the_first_month_is_refused(reg: Register, clock: Clock) -> None:
    opened = reg.open_request("access", "a", received="2026-01-31", now=noon("2026-02-01"))
    clock.now = noon("2026-03-01")
    before = reg.tables()
    result = reg.run("request", "extend", str(opened["id"]), "--reason", "complexity")
    assert_failure(result, 9, f"the first month of request {opened['id']} ended on 2026-02-28: it can no longer be extended")
    assert result.stderr.splitlines()[1:] == [
        "kss-panel: hint: Art. 12(3): an extension, and why, must be told to the person within one month of receipt"
    ]
    assert reg.tables() == before


def test_the_first_month_ends_at_midnight_in_finland(reg: Register, clock: Clock) -> None:
    opened = reg.open_request("access", "a", received="2026-01-31", now=noon("2026-02-01"))
    clock.now = datetime(2026, 2, 28, 22, 0, tzinfo=UTC)  # already 1 March in Helsinki
    assert_failure(reg.run("request", "extend", str(opened["id"]), "--reason", "complexity"), 9)
    clock.now = datetime(2026, 2, 28, 21, 59, tzinfo=UTC)
    assert reg.json("request", "extend", str(opened["id"]), "--reason", "complexity")["extended"] is True


def test_an_overdue_request_cannot_be_rescued_by_an_extension(reg: Register, clock: Clock) -> None:
    """The issue's example: received 1 October, 28 days overdue; extending would hide that."""
    opened = reg.open_request("access", "a", received="2026-10-01", now=noon("2026-10-01"))
    clock.now = noon("2026-11-29")
    assert_failure(reg.run("request", "extend", str(opened["id"]), "--reason", "complexity"), 9)
    [listed] = reg.json("request", "list", "--overdue")
    assert (listed["id"], listed["days_left"], listed["extended"]) == (opened["id"], -28, False)


# --- whom a request is about ------------------------------------------------------------------------------------


def test_a_request_by_a_person_not_in_the_register_keeps_the_email_sealed(reg: Register) -> None:
    opened = request_open(reg, "--email", STRANGER_EMAIL)
    assert (opened["subject"], opened["member_id"], opened["erased"], opened["deadline"]) == ("email", None, False, "2026-07-15")
    [entry] = [e for e in reg.audit() if e["action"] == "request-open"]
    assert (entry["member_id"], entry["detail"]) == (None, {"request": opened["id"], "type": "access", "subject": "email"})
    assert leaks(reg, *STRANGER, STRANGER_EMAIL) == []
    [(digest, box)] = reg.sql("SELECT subject_digest, subject_box FROM requests")
    assert len(digest) == 16 and box is not None  # a binary keyed digest (docs/crypto.md §5)
    listed = reg.run("request", "list")
    assert "email (hash)" in listed.stdout and "canary" not in listed.stdout.lower()
    assert "who" not in reg.json("request", "list")[0]


def test_human_output_of_opening_says_whom_the_request_is_about(reg: Register) -> None:
    result = reg.run("request", "open", "--type", "erasure", "--phone", "+358 40 999 8877")
    assert result.stdout == "request 1 (erasure) due 2026-07-15: no member has that phone (kept sealed)\n"
    result = reg.run("request", "open", "--type", "access", "--person", STRANGER_TEXT)
    assert result.stdout == "request 2 (access) due 2026-07-15: about a person not in the register (the text is kept sealed)\n"
    result = reg.run("request", "open", "--type", "access", "--email", "AINO.1@example.fi")
    assert result.stdout == f"request 3 (access) due 2026-07-15: about {reg.ids['a']}\n"


@pytest.mark.parametrize(
    ("option", "value"),
    [("--email", "Aino.1@EXAMPLE.fi"), ("--phone", "040 2000001"), ("--customer-number", " 30000001 ")],
)
def test_a_lookup_that_finds_a_member_makes_it_their_request(reg: Register, option: str, value: str) -> None:
    opened = request_open(reg, option, value)
    assert (opened["subject"], opened["member_id"]) == ("member", reg.ids["a"])
    assert reg.sql("SELECT subject_digest, subject_box FROM requests") == [(None, None)]
    kind = option.removeprefix("--").replace("-", "_")
    assert reg.audit()[-1]["detail"] == {"request": opened["id"], "type": "access", "subject": "member", "matched": kind}


def test_a_request_by_text_is_sealed_and_revealed_only_when_asked(reg: Register) -> None:
    opened = request_open(reg, "--person", STRANGER_TEXT)
    assert (opened["subject"], opened["member_id"]) == ("person", None)
    assert leaks(reg, *STRANGER[1:], STRANGER_TEXT) == []
    shown = reg.run("request", "list")
    assert "person (sealed)" in shown.stdout and "Canary" not in shown.stdout
    audit_before = len(reg.audit())
    [revealed] = reg.json("request", "list", "--reveal")
    assert revealed["who"] == STRANGER_TEXT
    [entry] = reg.audit()[audit_before:]
    assert (entry["action"], entry["member_id"], entry["detail"]) == ("request-reveal", None, {"requests": 1})
    assert leaks(reg, *STRANGER[1:]) == []


def test_reveal_names_the_member_a_request_is_about(reg: Register) -> None:
    request_open(reg, "--member", reg.ids["canary"])
    [revealed] = reg.json("request", "list", "--reveal")
    assert revealed["who"] == "Canaryfirstname Canarylastname"
    human = reg.run("request", "list", "--reveal")
    assert reg.ids["canary"] in human.stdout and "Canaryfirstname" in human.stdout


def test_a_purger_lists_requests_but_cannot_reveal(reg: Register) -> None:
    request_open(reg, "--person", STRANGER_TEXT)
    assert [row["subject"] for row in reg.json("request", "list", key="cron")] == ["person"]
    before = reg.tables()
    assert_failure(reg.run("request", "list", "--reveal", key="cron"), 3, "the purger slot 'cron' may not read whom requests are about")
    assert reg.tables() == before


def test_a_request_about_an_erased_member_by_id(reg: Register) -> None:
    reg.erase("a")
    opened = request_open(reg, "--member", reg.ids["a"])
    assert (opened["subject"], opened["member_id"], opened["erased"]) == ("member", reg.ids["a"], True)
    listed = reg.run("request", "list")
    assert reg.ids["a"] in listed.stdout and "erased" in listed.stdout
    closed = reg.json("request", "close", str(opened["id"]), "--outcome", "no-data")
    assert (closed["status"], closed["outcome"]) == ("closed", "no-data")


def test_an_erased_persons_email_finds_no_member(reg: Register) -> None:
    reg.erase("canary")
    opened = request_open(reg, "--email", CANARY["contact"]["email"])
    assert (opened["subject"], opened["member_id"]) == ("email", None)
    assert reg.json("request", "close", str(opened["id"]), "--outcome", "no-data")["outcome"] == "no-data"
    assert leaks(reg, *canaries(CANARY)) == []


def test_an_unknown_member_id_is_not_found_with_a_hint(reg: Register) -> None:
    before = reg.tables()
    result = reg.run("request", "open", "--type", "access", "--member", "Mnosuchmember0000")
    assert_failure(result, 4, "no member 'Mnosuchmember0000'")
    assert result.stderr.splitlines()[1] == "kss-panel: hint: for someone not in the register: --email, --phone, --customer-number or --person"
    assert reg.tables() == before


@pytest.mark.parametrize("args", [(), ("--member", "A", "--email", "x@example.fi"), ("--email", "x@example.fi", "--phone", "0401234567"),
                                  ("--person", "Someone", "--customer-number", "123456")])
def test_exactly_one_way_of_naming_the_person(reg: Register, args: tuple[str, ...]) -> None:
    before = reg.tables()
    result = reg.run("request", "open", "--type", "access", *(reg.ids["a"] if a == "A" else a for a in args))
    assert_failure(result, 5, "name whom the request is about", ["  --member|--email|--phone|--customer-number|--person: give exactly one"])
    assert reg.tables() == before


@pytest.mark.parametrize(
    ("option", "value", "message", "problem"),
    [
        ("--email", "canary-not-an-email", "invalid email", "  --email: is not a valid email address"),
        ("--phone", "12", "invalid phone", "  --phone: is not a valid phone number"),
        ("--customer-number", "canary12", "invalid customer number", "  --customer-number: must be 6 to 10 digits"),
        ("--person", "  ", "invalid person", "  --person: must not be empty"),
        ("--person", "x" * 201, "invalid person", "  --person: must be at most 200 characters"),
    ],
)
def test_a_bad_value_names_the_option_never_the_value(reg: Register, option: str, value: str, message: str, problem: str) -> None:
    before = reg.tables()
    result = reg.run("request", "open", "--type", "access", option, value)
    assert_failure(result, 5, message, [problem])
    assert not value.strip() or value.strip() not in result.stderr
    assert reg.tables() == before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=80).map(lambda t: f"Canaryhostile{t}"))
def test_hostile_person_text_is_sealed_or_refused_without_echo(reg: Register, text: str) -> None:
    with reg.restored():
        result = reg.run("request", "open", "--type", "access", "--person", text)
        if result.exit_code == 0:
            assert leaks(reg, "Canaryhostile") == []
            [row] = reg.json("request", "list", "--reveal")
            assert row["who"] == unicodedata.normalize("NFC", text).strip()
        else:
            assert_failure(result, 5, "invalid person")
            assert "Canaryhostile" not in result.stderr


def test_a_sealed_subject_moved_to_another_request_does_not_open(reg: Register) -> None:
    request_open(reg, "--person", STRANGER_TEXT)
    request_open(reg, "--person", "Someone Else")
    reg.sql("UPDATE requests SET subject_box = (SELECT subject_box FROM requests WHERE id = 1) WHERE id = 2")
    result = reg.run("request", "list", "--reveal")
    assert_failure(result, 7, "whom request 2 is about does not open: it was changed, moved or damaged")
    assert "Canary" not in result.stderr


# --- closing as no-data, and fulfilling a request of someone who became a member ------------------------------


def test_no_data_is_refused_for_a_member_the_register_holds(reg: Register) -> None:
    opened = request_open(reg, "--email", "aino.1@example.fi")
    before = reg.tables()
    result = reg.run("request", "close", str(opened["id"]), "--outcome", "no-data")
    assert_failure(result, 9, f"the register holds data about {reg.ids['a']}: request {opened['id']} cannot be closed as no-data")
    assert reg.tables() == before
    assert reg.json("request", "close", str(opened["id"]), "--outcome", "refused-unfounded")["outcome"] == "refused-unfounded"


def test_a_stranger_who_enrols_later_is_the_subject_of_their_request(reg: Register) -> None:
    opened = request_open(reg, "--email", "veikko.2@example.fi")
    member_id = reg.enrol(person(2, "Veikko", "Virtanen"))
    assert_failure(reg.run("request", "close", str(opened["id"]), "--outcome", "no-data"), 9)
    reg.json("export", "access", member_id, "--request", str(opened["id"]))
    [closed] = reg.json("request", "list")
    assert (closed["status"], closed["outcome"], closed["member_id"], closed["subject"]) == ("closed", "fulfilled", member_id, "member")
    assert reg.sql("SELECT subject_digest, subject_box FROM requests") == [(None, None)]  # the member id says who: no more is kept
    assert reg.audit()[-1]["action"] in ("export-access", "request-close")
    assert [e["member_id"] for e in reg.audit() if e["action"] == "request-close"] == [member_id]


def test_a_request_about_a_stranger_cannot_be_fulfilled_for_a_member(reg: Register) -> None:
    opened = request_open(reg, "--person", STRANGER_TEXT)
    before = reg.tables()
    result = reg.run("export", "access", reg.ids["a"], "--request", str(opened["id"]))
    assert_failure(result, 5, f"request {opened['id']} is about another person")
    assert reg.tables() == before


def test_key_rotation_seals_request_subjects_again_and_rehashes_their_digests(reg: Register) -> None:
    """After `key rotate`, whom a request names still opens (under the new data key) and a later match still finds it."""
    by_text = request_open(reg, "--person", STRANGER_TEXT)
    by_email = request_open(reg, "--email", STRANGER_EMAIL)
    before = dict(((request_id, (digest, box)) for request_id, digest, box in reg.sql("SELECT id, subject_digest, subject_box FROM requests")))
    assert reg.run("key", "rotate").exit_code == 0
    after = dict(((request_id, (digest, box)) for request_id, digest, box in reg.sql("SELECT id, subject_digest, subject_box FROM requests")))
    assert after[by_text["id"]][1] != before[by_text["id"]][1]  # sealed again, under the new key
    assert after[by_email["id"]][0] != before[by_email["id"]][0]  # the digest re-hashed with the new lookup key
    revealed = {row["id"]: row["who"] for row in reg.json("request", "list", "--reveal")}
    assert revealed[by_text["id"]] == STRANGER_TEXT
    assert revealed[by_email["id"]] == STRANGER[0]
    # The same person asks again: the re-hashed digest still recognises the earlier request's subject.
    again = request_open(reg, "--email", STRANGER_EMAIL)
    assert [digest for request_id, digest in reg.sql("SELECT id, subject_digest FROM requests") if request_id == again["id"]] == [
        after[by_email["id"]][0]
    ]
    assert leaks(reg, *STRANGER, STRANGER_TEXT, STRANGER_EMAIL) == []
