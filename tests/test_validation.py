"""Hostile records: every field of the policy's record shape, every kind of wrong value.

Each case makes one field of a valid record invalid. The register must answer
"invalid input" naming that field's path, and write nothing: no member, no
audit entry, not one changed byte of the file.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kss_panel.services import members
from kss_panel import model
from kss_panel.errors import InvalidInput
from kss_panel.policy import FieldSpec, Policies
from kss_panel.policy_files import load_policies
from support import AINO, NOW, POLICIES_DIR, Register, assert_clean_failure, record

POLICIES = load_policies(POLICIES_DIR)
TODAY = model.local_date(NOW)
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZäöåÄÖÅéü"
CONTROL = [chr(c) for c in range(0x00, 0x20)] + ["\x7f", "\x85", "\x9f", "\u2028", "\u2029"]
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass(frozen=True)
class Case:
    """Put ``value`` at ``path`` (or delete it when ``delete``); expect a problem at ``expected``."""

    path: tuple[str | int, ...]
    value: Any
    expected: str
    delete: bool = False

    def apply(self, base: dict[str, Any]) -> Any:
        out = copy.deepcopy(base)
        target = out
        for part in self.path[:-1]:
            target = target[part]
        if self.delete:
            del target[self.path[-1]]
        else:
            target[self.path[-1]] = self.value
        return out


# --- bad values by field type -------------------------------------------------------------------------------

letters = st.text(alphabet=LETTERS, min_size=1, max_size=12)
junk_containers = st.one_of(st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
not_a_string = st.one_of(st.integers(), finite_floats, st.booleans(), junk_containers)
not_an_int = st.one_of(st.text(max_size=6), finite_floats, st.booleans(), junk_containers)
not_a_bool = st.one_of(st.integers(), st.text(max_size=6), finite_floats, junk_containers)


def with_control(text: st.SearchStrategy[str] = letters) -> st.SearchStrategy[str]:
    """A control character inside a value (not at its ends, which are stripped as whitespace)."""
    return st.tuples(text, st.sampled_from(CONTROL), text).map("".join)


def too_long(limit: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=LETTERS, min_size=limit + 1, max_size=limit + 30)


blank = st.sampled_from(["", " ", "   ", "\t"])


def bad_values(spec: FieldSpec, *, required: bool) -> st.SearchStrategy[Any]:
    wrong_type = st.one_of(not_a_string, st.none()) if required else not_a_string
    match spec.type:
        case "customer_number":
            return st.one_of(
                wrong_type,
                blank,
                st.from_regex(r"[0-9]{1,5}", fullmatch=True),
                st.from_regex(r"[0-9]{11,16}", fullmatch=True),
                st.tuples(st.from_regex(r"[0-9]{3,5}", fullmatch=True), st.sampled_from("aZ-+. _/"), st.from_regex(r"[0-9]{3,5}", fullmatch=True)).map("".join),
            )
        case "name":
            limit = spec.max_length or 200
            return st.one_of(
                wrong_type,
                blank,
                st.tuples(letters, st.sampled_from("0123456789"), st.text(alphabet=LETTERS, max_size=5)).map("".join),
                st.tuples(letters, st.sampled_from("_!@#$%&*()=+/\\<>;:\",.?[]{}|~^"), letters).map("".join),
                with_control(),
                too_long(limit),
            )
        case "text":
            limit = spec.max_length or 200
            return st.one_of(wrong_type, blank, with_control(), too_long(limit))
        case "email":
            return st.one_of(
                wrong_type,
                blank,
                st.sampled_from([
                    "plainaddress", "@example.fi", "aino@", "aino@@example.fi", "aino example@example.fi", "aino@example",
                    "aino@.fi", "aino@example..fi", ".aino@example.fi", "aino.@example.fi", "aino@localhost",
                    "aino@exa_mple.fi", "a" * 250 + "@example.fi",
                ]),
                letters,  # no @ at all
                with_control(st.just("aino")).map(lambda s: s + "@example.fi"),
            )
        case "phone":
            return st.one_of(
                wrong_type,
                st.sampled_from(["12", "123", "040", "112", "+", "+358", "+999 1234567", "040 123", "0401234567890123", "00"]),
                letters,
                st.from_regex(r"[0-9]{1,2}", fullmatch=True),
            )
        case "postal_code":
            return st.one_of(
                wrong_type,
                blank,
                st.from_regex(r"[0-9]{1,4}", fullmatch=True),
                st.from_regex(r"[0-9]{6,9}", fullmatch=True),
                st.text(alphabet=LETTERS, min_size=5, max_size=5),
                st.from_regex(r"[0-9]{2}[ a-zA-Z-][0-9]{2}", fullmatch=True),
            )
        case "enum":
            allowed = set(spec.values or ())
            return st.one_of(
                st.integers(), st.booleans(), junk_containers,
                st.text(max_size=20).filter(lambda s: s not in allowed),
                st.sampled_from(sorted(allowed)).map(str.upper).filter(lambda s: s not in allowed),
                *([st.none()] if required else []),
            )
        case "birth_year":
            assert spec.min_age is not None and spec.max_age is not None
            oldest, youngest = TODAY.year - spec.max_age, TODAY.year - spec.min_age
            return st.one_of(not_an_int, st.integers(max_value=oldest - 1), st.integers(min_value=youngest + 1))
        case "integer" | "score":
            low = spec.min if spec.min is not None else (1 if spec.type == "score" else None)
            high = spec.max if spec.max is not None else (5 if spec.type == "score" else None)
            out_of_range = []
            if low is not None:
                out_of_range.append(st.integers(max_value=low - 1))
            if high is not None:
                out_of_range.append(st.integers(min_value=high + 1))
            return st.one_of(not_an_int, *out_of_range)
        case "boolean":
            return st.one_of(not_a_bool, *([st.none()] if required else []))
    raise AssertionError(f"no bad values for field type {spec.type!r}: add them here")


def field_cases(policies: Policies) -> dict[str, st.SearchStrategy[Case]]:
    """Bad cases by the part of the record each attacks: every field, every category, unknown keys."""
    register = policies.register
    cases: dict[str, list[st.SearchStrategy[Case]]] = {}

    def add(target: str, strategy: st.SearchStrategy[Case]) -> None:
        cases.setdefault(target, []).append(strategy)

    def bad(path: tuple[str, ...], values: st.SearchStrategy[Any]) -> None:
        add(".".join(path), values.map(lambda v, p=path: Case(p, v, ".".join(p))))

    def missing(path: tuple[str, ...]) -> None:
        add(".".join(path), st.just(Case(path, None, ".".join(path), delete=True)))

    def unknown_keys(name: str, known: set[str]) -> None:
        keys = st.from_regex(r"[a-z][a-z_]{0,20}", fullmatch=True).filter(lambda k: k not in known)
        add(f"{name}.(unknown)", st.tuples(keys, st.text(max_size=5)).map(lambda kv: Case((name, kv[0]), kv[1], f"{name}.{kv[0]}")))

    for name, category in register.categories.items():
        if category.kind == "value":
            assert category.field
            bad((name,), bad_values(category.field, required=category.field.required))
            if category.field.required:
                missing((name,))
        elif category.kind == "object":
            fields = category.fields or {}
            bad((name,), st.one_of(st.text(max_size=5), st.integers(), st.lists(st.integers(), max_size=2)))
            for field, spec in fields.items():
                bad((name, field), bad_values(spec, required=spec.required))
                if spec.required:
                    missing((name, field))
            unknown_keys(name, set(fields))
        elif category.kind == "tags":
            assert category.item
            limit = category.max_items or 50
            bad((name,), st.one_of(st.text(max_size=5), st.integers(), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)))
            bad((name,), st.lists(st.text(alphabet=LETTERS, min_size=1, max_size=10), min_size=limit + 1, max_size=limit + 10))
            add(
                f"{name}.(item)",
                st.tuples(st.integers(0, 3), bad_values(category.item, required=True)).map(
                    lambda iv, n=name: Case((n,), ["sauna"] * iv[0] + [iv[1]], f"{n}.{iv[0]}")
                ),
            )
        elif category.kind == "consents":
            bad((name,), st.one_of(st.text(max_size=5), st.integers(), st.lists(st.booleans(), max_size=2)))
            for consent in register.consents:
                bad((name, consent), st.one_of(not_a_bool, st.none()))
            unknown_keys(name, set(register.consents))
    top = st.from_regex(r"[a-z][a-z_]{0,20}", fullmatch=True).filter(lambda k: k not in {*register.categories, "applied_at"})
    add("(unknown)", st.tuples(top, st.text(max_size=5)).map(lambda kv: Case((kv[0],), kv[1], kv[0])))
    # applied_at: a future day, or not a YYYY-MM-DD date at all.
    future = st.integers(1, 40_000).map(lambda days: (TODAY + timedelta(days=days)).isoformat())
    bad_dates = st.sampled_from(["2024/01/01", "01.05.2024", "2024-1-1", "2024-13-01", "2024-02-30", "yesterday", "", "2024-05-01T00:00:00"])
    bad(("applied_at",), st.one_of(future, bad_dates, st.integers(), st.booleans(), junk_containers))
    return {target: st.one_of(strategies) for target, strategies in cases.items()}


CASES_BY_TARGET = field_cases(POLICIES)
# Each target equally likely, so a field with many kinds of bad value does not crowd out the others.
CASES = st.sampled_from(sorted(CASES_BY_TARGET)).flatmap(CASES_BY_TARGET.__getitem__)


def test_the_cases_cover_every_field_of_the_policy() -> None:
    """Every field of the policy has bad cases: a new field without any fails here."""
    targets = set(CASES_BY_TARGET)
    assert set(POLICIES.field_paths()) <= targets
    assert set(POLICIES.register.categories) | {"applied_at", "(unknown)", "hobbies.(item)"} <= targets
    for name, category in POLICIES.register.categories.items():
        if category.kind in ("object", "consents"):
            assert f"{name}.(unknown)" in targets


def as_patch(case: Case) -> dict[str, Any]:
    """The case as a merge patch of just its path (null removes, so deletion is null)."""
    value = None if case.delete else case.value
    patch: dict[str, Any] = {case.path[-1]: value}
    for part in reversed(case.path[:-1]):
        patch = {part: patch}
    return patch


# In a merge patch null means "remove"; only removing a required field is an error.
PATCH_CASES = CASES.filter(lambda c: c.path[0] != "applied_at" and (c.delete or c.value is not None))


def problem_paths(exc: InvalidInput) -> list[str]:
    return [path for path, _ in exc.problems]


# --- through the services -----------------------------------------------------------------------------------


@SETTINGS
@given(case=CASES)
def test_an_invalid_record_is_refused_naming_the_field(reg: Register, policies: Policies, case: Case) -> None:
    with reg.restored():
        data = case.apply(AINO)
        before, digest = reg.tables(), reg.digest()
        with reg.session(policies) as session:
            with pytest.raises(InvalidInput) as caught:
                members.enrol(session, data, NOW)["member_id"]
        assert case.expected in problem_paths(caught.value), (case, caught.value.problems)
        assert caught.value.message == "invalid record"
        assert reg.digest() == digest
        assert reg.tables() == before


@SETTINGS
@given(case=PATCH_CASES)
def test_an_invalid_patch_is_refused_naming_the_field(populated: Register, policies: Policies, case: Case) -> None:
    with populated.restored():
        before, digest = populated.tables(), populated.digest()
        with populated.session(policies) as session:
            with pytest.raises(InvalidInput) as caught:
                members.update(session, populated.ids["aino"], as_patch(case), NOW)
        assert case.expected in problem_paths(caught.value), (case, caught.value.problems)
        assert populated.digest() == digest
        assert populated.tables() == before


@settings(SETTINGS, max_examples=20)  # five kinds of value, none of them an object
@given(data=st.one_of(st.none(), st.integers(), st.text(max_size=10), st.lists(st.integers(), max_size=3), st.booleans()))
def test_a_record_that_is_not_an_object_is_refused(reg: Register, policies: Policies, data: Any) -> None:
    with reg.restored():
        before = reg.tables()
        with reg.session(policies) as session:
            with pytest.raises(InvalidInput) as caught:
                members.enrol(session, data, NOW)["member_id"]
        assert problem_paths(caught.value) == ["(record)"]
        assert reg.tables() == before


def test_every_problem_is_listed_at_once(reg: Register, policies: Policies) -> None:
    bad = record(
        AINO,
        customer_number="12",
        contact__first_name="R2D2",
        contact__email="nope",
        contact__language="de",
        demographics__household_size=0,
        attitudes__environment=6,
        hobbies=["ok", ""],
        nickname="Ainoska",
        applied_at="2999-01-01",
    )
    with reg.session(policies) as session:
        with pytest.raises(InvalidInput) as caught:
            members.enrol(session, bad, NOW)["member_id"]
    assert sorted(problem_paths(caught.value)) == sorted([
        "customer_number", "contact.first_name", "contact.email", "contact.language",
        "demographics.household_size", "attitudes.environment", "hobbies.1", "nickname", "applied_at",
    ])


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"contact__postal_code": "４５１００"}, "contact.postal_code"),  # fullwidth digits
        ({"contact__postal_code": "٤٥١٠٠"}, "contact.postal_code"),  # Arabic-Indic digits
        ({"customer_number": "١٢٣٤٥٦٧٨"}, "customer_number"),
        ({"customer_number": "１２３４５６７８"}, "customer_number"),
    ],
    ids=["postal-fullwidth", "postal-arabic-indic", "customer-arabic-indic", "customer-fullwidth"],
)
def test_digits_mean_ascii_digits(reg: Register, policies: Policies, changes: dict[str, str], path: str) -> None:
    """Python's \\d matches every script's digits; a postal code or customer number is 0-9 only."""
    with reg.session(policies) as session:
        with pytest.raises(InvalidInput) as caught:
            members.enrol(session, record(AINO, **changes), NOW)["member_id"]
    assert path in problem_paths(caught.value)


@pytest.mark.parametrize("name", ["Aino²", "Mäkelä③"])
def test_names_hold_no_digit_like_characters(reg: Register, policies: Policies, name: str) -> None:
    with reg.session(policies) as session:
        with pytest.raises(InvalidInput) as caught:
            members.enrol(session, record(AINO, contact__first_name=name), NOW)["member_id"]
    assert "contact.first_name" in problem_paths(caught.value)


@pytest.mark.parametrize(
    "name", ["Aino", "Mäkelä", "O'Brien", "Anna-Liisa", "Jean Luc", "Ολυμπία", "Søren", "李", "Nguyễn", "Ahmed’s"]
)
def test_names_of_any_script_are_accepted(reg: Register, policies: Policies, name: str) -> None:
    with reg.session(policies) as session:
        member_id = members.enrol(session, record(AINO, contact__first_name=name), NOW)["member_id"]
        assert members.show(session, member_id, NOW)["contact"]["first_name"] == name


def test_applied_at_today_is_accepted_and_tomorrow_is_not(reg: Register, policies: Policies) -> None:
    with reg.session(policies) as session:
        with pytest.raises(InvalidInput) as caught:
            members.enrol(session, record(AINO, applied_at=(TODAY + timedelta(days=1)).isoformat()), NOW)["member_id"]
        assert caught.value.problems == [("applied_at", "must not be in the future")]
        member_id = members.enrol(session, record(AINO, applied_at=TODAY.isoformat()), NOW)["member_id"]
        assert members.show(session, member_id, NOW)["applied_at"] == TODAY.isoformat()


def test_boundary_values_are_accepted(reg: Register, policies: Policies) -> None:
    edge = record(
        AINO,
        customer_number="123456",
        contact__first_name="A" * 60,
        contact__street_address="x" * 100,
        demographics__birth_year=TODAY.year - 120,
        demographics__household_size=20,
        electricity__annual_consumption_kwh=0,
        attitudes__environment=1,
        attitudes__price_sensitivity=5,
        hobbies=["h" * 40] * 20,
    )
    with reg.session(policies) as session:
        members.enrol(session, edge, NOW)["member_id"]
        members.enrol(session, record(AINO, customer_number="1234567890", contact__email="b@example.fi", contact__phone=None,
                                       demographics__birth_year=TODAY.year - 15), NOW)["member_id"]


# --- through the command line -------------------------------------------------------------------------------
# The command line takes "today" from the clock; keep to cases that are invalid on any day.


def clock_free(case: Case) -> bool:
    value = case.value
    if case.path == ("applied_at",) and isinstance(value, str) and value[:4].isdigit() and value[4:5] == "-":
        return int(value[:4]) >= 2900 or not _is_iso_date(value)
    if case.path[-1] == "birth_year" and type(value) is int:
        return not 1800 <= value <= 2200
    return True


def _is_iso_date(text: str) -> bool:
    try:
        return len(text) == 10 and bool(date.fromisoformat(text))
    except ValueError:
        return False


CLI_CASES = CASES.filter(clock_free)
CLI_PATCH_CASES = PATCH_CASES.filter(clock_free)
# The services' tests above try every field; these show, on a few cases each, that the command line
# reports what the services refuse.
CLI_SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@CLI_SETTINGS
@given(case=CLI_CASES)
def test_enrol_cli_refuses_invalid_records_with_exit_5(reg: Register, case: Case) -> None:
    with reg.restored():
        data = case.apply(AINO)
        before, digest = reg.tables(), reg.digest()
        result = reg.run("enrol", "--file", "-", input=json.dumps(data))
        assert_clean_failure(result, 5)
        lines = result.stderr.splitlines()
        assert lines[0] == "kss-panel: error: invalid record"
        assert any(line.startswith(f"  {case.expected}: ") for line in lines[1:]), (case, lines)
        assert all(line.startswith("  ") for line in lines[1:])
        assert result.stdout == ""
        assert reg.digest() == digest
        assert reg.tables() == before


@CLI_SETTINGS
@given(case=CLI_CASES)
def test_enrol_cli_json_error_lists_the_problems(reg: Register, case: Case) -> None:
    with reg.restored():
        result = reg.run("enrol", "--file", "-", "--json", input=json.dumps(case.apply(AINO)))
        assert result.exit_code == 5
        document = json.loads(result.stdout)
        assert set(document) == {"kss_panel", "command", "ok", "error"}
        error = document["error"]
        assert set(error) == {"code", "type", "message", "problems"}
        assert (error["code"], error["type"], error["message"]) == (5, "invalid_input", "invalid record")
        assert case.expected in [problem["path"] for problem in error["problems"]]
        assert all(set(problem) == {"path", "problem"} for problem in error["problems"])


@CLI_SETTINGS
@given(case=CLI_PATCH_CASES)
def test_update_cli_refuses_invalid_patches_with_exit_5(populated: Register, case: Case) -> None:
    with populated.restored():
        before, digest = populated.tables(), populated.digest()
        result = populated.run("update", populated.ids["aino"], "--file", "-", input=json.dumps(as_patch(case)))
        assert_clean_failure(result, 5)
        assert any(line.startswith(f"  {case.expected}: ") for line in result.stderr.splitlines()), (case, result.stderr)
        assert populated.digest() == digest
        assert populated.tables() == before
