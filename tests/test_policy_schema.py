"""The policy files' validator (policy_schema): strict types, every problem at once and in the wording
pydantic gave (officers and their scripts know it), cross-field checks only on valid fields, a bounded cost
for hostile input, and `policy show --json` written from the validated policies."""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kss_panel.policy import DisclosurePolicy, Guard, Localised, Period, RegisterPolicy, RetentionPolicy
from kss_panel.policy_files import FILES, load_policies
from kss_panel.policy_schema import allowed_keys, dump, validate
from kss_panel.policy_surveys import SurveyPolicy
from support import POLICIES_DIR, invoke

SHIPPED = load_policies(POLICIES_DIR)
DOCUMENTS = SHIPPED.documents
TEXTS = {"fi": "a", "sv": "b", "en": "c"}


def changed(filename: str, **keys: Any) -> dict[str, Any]:
    """A copy of a shipped document with top-level keys replaced (a value of ... removes the key)."""
    document = copy.deepcopy(DOCUMENTS[filename])
    for key, value in keys.items():
        if value is ...:
            del document[key]
        else:
            document[key] = value
    return document


def problems(model: type, data: Any) -> list[str]:
    instance, found = validate(model, data)
    assert (instance is None) == bool(found)
    return [message for _, message in found]


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        (Localised, {"fi": 1, "sv": True, "en": 1.5},
         ["fi: Input should be a valid string", "sv: Input should be a valid string", "en: Input should be a valid string"]),
        (Localised, {"fi": "", "sv": "x" * 1001},
         ["fi: String should have at least 1 character", "sv: String should have at most 1000 characters", "en: required key is missing"]),
        (Localised, ["fi"], ["(top level): Input should be a valid dictionary or instance of Localised"]),
        # fields in their declared order first, then the keys that are not fields, as the file has them
        (Localised, {"zz": 1, "fi": 2, "sv": "a"},
         ["fi: Input should be a valid string", "en: required key is missing", "zz: unknown key (expected one of: fi, sv, en)"]),
        # strict: a bool is neither a number nor an integer, and 2.0 is not an integer
        (Guard, {"max_percent": True, "always_allowed": 2.0},
         ["max_percent: Input should be a valid number", "always_allowed: Input should be a valid integer"]),
        (Guard, {"max_percent": math.nan, "always_allowed": 10**30},
         ["max_percent: Input should be less than or equal to 100", "always_allowed: Input should be less than or equal to 1000000"]),
        (Guard, {"max_percent": 10**400, "always_allowed": "3"},
         ["max_percent: Input should be a valid number", "always_allowed: Input should be a valid integer"]),
        (Guard, {"max_percent": -math.inf, "always_allowed": -1},
         ["max_percent: Input should be greater than or equal to 0", "always_allowed: Input should be greater than or equal to 0"]),
        (Period, {"days": 1, "months": 1}, ["(top level): give exactly one of 'days' or 'months'"]),
        (SurveyPolicy, changed("surveys.yaml", fields=[], strata=["x"] * 101),
         ["fields: List should have at least 1 item after validation, not 0",
          "strata: List should have at most 100 items after validation, not 101"]),
        (SurveyPolicy, changed("surveys.yaml", fields=["contact.email", "Contact", 3], purpose="abc\n"),
         ["purpose: String should match pattern '^[a-z][a-z0-9_-]*$'",  # matched in full: no final newline
          "fields.1: String should match pattern '^[a-z0-9_.]{1,80}$'", "fields.2: Input should be a valid string"]),
        # strict where pydantic was lenient: `version: true` is not version 1
        (SurveyPolicy, changed("surveys.yaml", version=True, recipient="r" * 65),
         ["version: Input should be 1", "recipient: String should have at most 64 characters"]),
        (RegisterPolicy, changed("register.yaml", register=..., register_info={}) | {5: 1},
         ["register: required key is missing",
          "register_info: unknown key (expected one of: version, register, controller, purposes, consents, categories,"
          " sources, security, rejection_reasons, rights)",
          "5: Keys should be strings"]),
        (RegisterPolicy, None, ["(top level): Input should be a valid dictionary or instance of RegisterPolicy"]),
        (RetentionPolicy, changed("retention.yaml", restricted=None, guards={"purge": 5}),
         ["restricted: must be 'hold': a restriction (GDPR Art. 18) means the data must be kept, so purges hold",
          "guards.purge: Input should be a valid dictionary or instance of Guard"]),
        (DisclosurePolicy, changed("disclosure.yaml", recipients={
            "Bad": {"category": TEXTS, "role": "processor", "country": "FI", "access": "hosting"},
            7: {"category": TEXTS, "role": "owner", "country": "FI", "purposes": {"x": {"consent": 1}}, "fields": "all"},
            "ok": {"category": TEXTS, "role": "processor", "country": "FI", "purposes": []},
        }),
         ["recipients.Bad.[key]: String should match pattern '^[a-z][a-z0-9_-]*$'",
          "recipients.7.[key]: Input should be a valid string",
          "recipients.7.role: Input should be 'processor', 'sub-processor', 'controller' or 'joint-controller'",
          "recipients.7.purposes.x.consent: Input should be a valid string",
          "recipients.7.fields: Input should be a valid list",
          "recipients.ok.purposes: Input should be a valid dictionary"]),
    ],
    ids=lambda value: "" if not isinstance(value, type) else value.__name__,
)
def test_every_problem_in_pydantics_words(model: type, data: Any, expected: list[str]) -> None:
    assert problems(model, data) == expected


def test_a_class_is_checked_as_a_whole_only_when_its_fields_are_valid() -> None:
    category = {"kind": "object", "title": TEXTS}
    assert problems(RegisterPolicy, changed("register.yaml", categories={"c": category})) == [
        "categories.c: a category of kind 'object' needs 'fields'"
    ]
    category["fields"] = {"f": {"type": "enum", "values": {"a": {"fi": "a"}}}}
    assert problems(RegisterPolicy, changed("register.yaml", categories={"c": category})) == [
        "categories.c.fields.f.values.a.sv: required key is missing", "categories.c.fields.f.values.a.en: required key is missing"
    ]
    category["fields"] = {"f": {"type": "enum", "purposes": ["membership"]}}
    assert problems(RegisterPolicy, changed("register.yaml", categories={"c": category})) == [
        "categories.c.fields.f: an enum field needs 'values'"
    ]


def test_a_purpose_without_its_legal_basis_says_what_it_needs() -> None:
    purposes = copy.deepcopy(DOCUMENTS["register.yaml"]["purposes"])
    del purposes["membership"]["legal_basis"]
    assert problems(RegisterPolicy, changed("register.yaml", purposes=purposes)) == [
        "purposes.membership.legal_basis: required key is missing: every purpose needs its legal basis"
        " (GDPR Art. 6(1): consent, contract, legal-obligation, vital-interests, public-task, legitimate-interests)"
    ]


def test_a_long_list_is_refused_before_its_items_are_read() -> None:
    assert problems(SurveyPolicy, changed("surveys.yaml", strata=[{"deep": ["x"] * 1000}] * 100_000)) == [
        "strata: List should have at most 100 items after validation, not 100000"
    ]


def test_the_shipped_policies_validate_and_dump_back_to_themselves() -> None:
    for filename, model in FILES.items():
        instance, found = validate(model, DOCUMENTS[filename])
        assert found == [] and instance is not None
        assert validate(model, dump(instance, by_alias=True)) == (instance, [])
    assert SHIPPED.retention.guards.purge.max_percent == 5.0 and type(SHIPPED.retention.guards.purge.max_percent) is float


def test_allowed_keys_walk_the_schema() -> None:
    assert allowed_keys(RegisterPolicy, ("categories", "contact", "fields", "email", "label")) == ["fi", "sv", "en"]
    assert allowed_keys(RetentionPolicy, ("guards",)) == ["eligibility", "purge"]
    assert allowed_keys(RegisterPolicy, ())[:2] == ["version", "register"]
    assert allowed_keys(RegisterPolicy, ("version",)) == []


def test_code_that_builds_a_policy_object_gets_the_same_cross_field_check() -> None:
    with pytest.raises(ValueError, match="give exactly one of 'days' or 'months'"):
        Period()
    with pytest.raises(AttributeError):
        Period(days=1).days = 2  # type: ignore[misc]


def test_policy_show_json_is_the_validated_policies(tmp_path: Path) -> None:
    result = invoke("--policies", POLICIES_DIR, "policy", "show", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert data["retention"]["guards"]["purge"] == {"max_percent": 5.0, "always_allowed": 3}
    assert list(data["register"])[:2] == ["version", "register"] and "register_info" not in data["register"]
    # None left out of retention and disclosure, as pydantic's exclude_none did; kept in register and surveys
    fallbacks = [rule.fallback_clock is not None for rule in SHIPPED.retention.rules]
    assert ["fallback_clock" in rule for rule in data["retention"]["rules"]] == fallbacks and not all(fallbacks)
    assert data["register"]["categories"]["contact"]["fields"]["email"]["max_age"] is None
    directory = Path(shutil.copytree(POLICIES_DIR, tmp_path / "policies"))
    assert invoke("--policies", directory, "policy", "show", "--json").stdout == result.stdout


def test_policy_check_refuses_version_true(tmp_path: Path) -> None:
    directory = Path(shutil.copytree(POLICIES_DIR, tmp_path / "policies"))
    path = directory / "surveys.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("version: 1\n", "version: true\n", 1), encoding="utf-8")
    result = invoke("--policies", directory, "policy", "check")
    assert result.exit_code == 6, result.output
    line = path.read_text(encoding="utf-8").splitlines().index("version: true") + 1
    assert [text for text in result.stderr.splitlines() if text.startswith("  ")] == [f"  {path}:{line}: version: Input should be 1"]


# --- hostile input -------------------------------------------------------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.dates()
DATA = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4),
    max_leaves=30,
)


def _leaf_paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in _leaf_paths(value, (*path, key))] or [path]
    if isinstance(data, list):
        return [p for index, value in enumerate(data) for p in _leaf_paths(value, (*path, index))] or [path]
    return [path]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(list(FILES.values()) + [Localised, Guard, Period]), data=DATA)
def test_any_data_is_a_model_or_a_list_of_problems(model: type, data: Any) -> None:
    instance, found = validate(model, data)
    assert (instance is None) == bool(found)
    for loc, message in found:
        assert message.startswith((".".join(map(str, loc)) or "(top level)") + ": ")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filename=st.sampled_from(sorted(FILES)), choice=st.integers(min_value=0), value=DATA)
def test_a_shipped_document_with_one_value_replaced(filename: str, choice: int, value: Any) -> None:
    document = copy.deepcopy(DOCUMENTS[filename])
    paths = _leaf_paths(document)
    *parents, last = paths[choice % len(paths)]
    target = document
    for part in parents:
        target = target[part]
    target[last] = value
    instance, found = validate(FILES[filename], document)
    assert (instance is None) == bool(found)
    assert all(isinstance(message, str) and message for _, message in found)
    if instance is not None:
        assert validate(FILES[filename], dump(instance, by_alias=True)) == (instance, [])
