"""Policies as code: the schema of the YAML files under policies/, validated strictly.

Each file is a pydantic model that forbids unknown keys and coerces nothing;
``policy_files`` reads the files, ``policy_checks`` checks names across them.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    from .policy_surveys import SurveyPolicy


Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", max_length=254)]
LANGUAGES = ("fi", "sv", "en")
LEGAL_BASES = ("consent", "contract", "legal-obligation", "vital-interests", "public-task", "legitimate-interests")
# GDPR Art. 9(1): the special categories of personal data, and the Art. 9(2) grounds that lift its ban.
SPECIAL_CATEGORIES = (
    "racial-or-ethnic-origin", "political-opinions", "religious-or-philosophical-beliefs", "trade-union-membership",
    "genetic-data", "biometric-data", "health", "sex-life-or-sexual-orientation",
)
ART9_GROUNDS = (
    "explicit-consent", "employment-and-social-protection", "vital-interests", "not-for-profit-body", "made-public",
    "legal-claims", "substantial-public-interest", "health-or-social-care", "public-health", "archiving-research-statistics",
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Localised(Strict):
    fi: Text
    sv: Text
    en: Text

    def get(self, language: str) -> str:
        return str(getattr(self, language if language in LANGUAGES else "en"))


FieldType = Literal[
    "customer_number", "name", "email", "phone", "text", "postal_code", "enum",
    "birth_year", "integer", "boolean", "score",
]


class FieldSpec(Strict):
    type: FieldType
    label: Localised | None = None
    purposes: list[Slug] = []
    special_category: Literal[SPECIAL_CATEGORIES] | None = None  # type: ignore[valid-type]
    special_category_ground: Literal[ART9_GROUNDS] | None = None  # type: ignore[valid-type]
    required: bool = False
    provided: bool = True  # the person gave it (Art. 20: export portable), not derived by the controller
    lookup: Literal["email", "phone", "customer_number"] | None = None
    max_length: Annotated[int, Field(ge=1, le=1000)] | None = None
    values: dict[Slug, Localised] | None = None
    min: int | None = None
    max: int | None = None
    min_age: Annotated[int, Field(ge=0, le=150)] | None = None
    max_age: Annotated[int, Field(ge=0, le=150)] | None = None

    @model_validator(mode="after")
    def _coherent(self) -> FieldSpec:
        if self.type == "enum" and not self.values:
            raise ValueError("an enum field needs 'values'")
        if self.type != "enum" and self.values is not None:
            raise ValueError("'values' belongs to enum fields only")
        if self.type == "birth_year" and (self.min_age is None or self.max_age is None):
            raise ValueError("a birth_year field needs 'min_age' and 'max_age'")
        return self


class Category(Strict):
    kind: Literal["object", "tags", "value", "consents"]
    title: Localised
    fields: dict[Slug, FieldSpec] | None = None
    field: FieldSpec | None = None
    item: FieldSpec | None = None
    max_items: Annotated[int, Field(ge=1, le=1000)] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Category:
        wanted = {"object": "fields", "tags": "item", "value": "field", "consents": None}[self.kind]
        for key in ("fields", "field", "item"):
            if (getattr(self, key) is not None) != (key == wanted):
                raise ValueError(f"a category of kind {self.kind!r} " + (f"needs {wanted!r}" if key == wanted else f"takes no {key!r}"))
        return self


class ContactPerson(Strict):
    name: Text
    role: Localised
    email: Email


class DataProtectionOfficer(Strict):
    name: Text
    email: Email


class Controller(Strict):
    name: Text
    address: Text
    contact_person: ContactPerson
    data_protection_officer: DataProtectionOfficer | None = None


class RegisterInfo(Strict):
    """What the register description says of the register as a whole (its sections 3, 4 and 8) and
    what GDPR Art. 13(2)(e)-(f) and 30(1)(c) add."""

    name: Localised
    purpose_statement: Localised
    membership_conditions: Localised
    data_subjects: list[Localised]
    provision: Localised
    automated_decisions: Localised


class Purpose(Strict):
    title: Localised
    description: Localised | None = None
    legal_basis: Literal[LEGAL_BASES]  # type: ignore[valid-type]
    legitimate_interest: Localised | None = None
    consents: list[Slug] = []
    direct_marketing: bool = False

    @model_validator(mode="after")
    def _interest_stated(self) -> Purpose:
        if (self.legal_basis == "legitimate-interests") != (self.legitimate_interest is not None):
            raise ValueError(
                "a purpose based on legitimate interests states the interest in 'legitimate_interest' (GDPR Art. 13(1)(d)); no other purpose has one"
            )
        return self


class Right(Strict):
    article: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}(\([0-9a-z]+\))*$")]
    title: Localised
    how: Localised


class Consent(Strict):
    purpose: Slug
    title: Localised
    text: Localised  # the wording the person agrees to; its hash is the version a receipt names (receipts.py)


class Security(Strict):
    statement: list[Localised]
    measures: list[Localised]


class RegisterPolicy(Strict):
    version: Literal[1]
    register_info: RegisterInfo = Field(alias="register")
    controller: Controller
    purposes: dict[Slug, Purpose]
    consents: dict[Slug, Consent]
    categories: dict[Slug, Category]
    sources: list[Localised]
    security: Security
    rejection_reasons: dict[Slug, Localised]
    rights: list[Right]

    def direct_marketing_consents(self) -> list[str]:
        """The consents whose purpose is direct marketing: an objection (Art. 21(2)) withdraws them all."""
        return [name for name, consent in self.consents.items() if self.purposes[consent.purpose].direct_marketing]


# EU member states and the other EEA states (Iceland, Liechtenstein, Norway).
EU_EEA = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()
)


class Period(Strict):
    days: Annotated[int, Field(ge=0, le=36500)] | None = None
    months: Annotated[int, Field(ge=0, le=1200)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Period:
        if (self.days is None) == (self.months is None):
            raise ValueError("give exactly one of 'days' or 'months'")
        return self


class RetentionRule(Strict):
    name: Slug
    description: Localised
    status: Literal["applicant", "member", "rejected"]
    clock: Literal["applied_at", "admitted_at", "rejected_at", "last_activity_at", "ineligible_at", "updated_at"]
    fallback_clock: Literal["applied_at", "admitted_at", "rejected_at", "last_activity_at", "ineligible_at", "updated_at"] | None = None
    period: Period
    action: Literal["erase"]


class Guard(Strict):
    """A blast-radius guard: one run may touch at most ``max_percent`` of the members it looks at
    (or ``always_allowed`` members, whichever is more) unless the officer confirms the exact count."""

    max_percent: Annotated[float, Field(ge=0, le=100)] = 5
    always_allowed: Annotated[int, Field(ge=0, le=1_000_000)] = 0

    def allowance(self, base: int) -> int:
        """How many of ``base`` members one run may touch without confirmation."""
        return max(self.always_allowed, math.floor(base * self.max_percent / 100))


class Guards(Strict):
    eligibility: Guard = Guard()
    purge: Guard = Guard()


class RecordRetention(Strict):
    period: Period
    description: Localised


class RecordRetentions(Strict):
    """How long the register keeps what it records beside its members' data."""

    closed_requests: RecordRetention
    disclosure_log: RecordRetention
    suppressions: RecordRetention
    audit_trail: RecordRetention
    survey_invitations: RecordRetention
    competition_winners: RecordRetention
    notifications: RecordRetention
    breaches: RecordRetention


class RetentionPolicy(Strict):
    version: Literal[1]
    rules: list[RetentionRule]
    records: RecordRetentions
    # A restriction (Art. 18) means the data must be kept: purges hold, always.
    restricted: Literal["hold"] = "hold"
    guards: Guards = Guards()

    @field_validator("restricted", mode="before")
    @classmethod
    def _restriction_holds(cls, value: Any) -> Any:
        if value != "hold":
            raise ValueError("must be 'hold': a restriction (GDPR Art. 18) means the data must be kept, so purges hold")
        return value


Safeguard = Literal["adequacy-decision", "standard-contractual-clauses", "binding-corporate-rules", "derogation-art-49"]


class PurposeGrant(Strict):
    consent: Slug


class Recipient(Strict):
    """Who receives personal data: a file for a purpose (``export``), or the register itself on its servers (``hosting``)."""

    name: Text | None = None
    category: Localised
    example: bool = False
    role: Literal["processor", "sub-processor", "controller", "joint-controller"]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    safeguard: Safeguard | None = None
    access: Literal["export", "hosting"] = "export"
    purposes: dict[Slug, PurposeGrant] = {}
    fields: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.]{1,80}$")]] = []

    @model_validator(mode="after")
    def _shape(self) -> Recipient:
        if self.access == "hosting" and (self.purposes or self.fields):
            raise ValueError("a hosting recipient holds every field for every purpose: it takes no 'purposes' or 'fields'")
        if self.access == "export" and not (self.purposes and self.fields):
            raise ValueError("a recipient of exports needs 'purposes' and 'fields'")
        return self

    @property
    def in_eu_eea(self) -> bool:
        return self.country in EU_EEA


class DisclosurePolicy(Strict):
    version: Literal[1]
    statement: Localised
    transfers: Localised
    recipients: dict[Slug, Recipient]


@dataclass(frozen=True)
class Policies:
    """The resolved policies of one directory and the hash that names them."""

    register: RegisterPolicy
    retention: RetentionPolicy
    disclosure: DisclosurePolicy
    surveys: SurveyPolicy
    documents: dict[str, Any]
    hash: str

    def field_paths(self) -> list[str]:
        """Every stored field as a dotted path, the unit audit entries name."""
        return field_paths(self.register)


def field_specs(register: RegisterPolicy) -> dict[str, FieldSpec]:
    """The spec of every declared field by dotted path (consents, which the consents map declares, apart)."""
    specs: dict[str, FieldSpec] = {}
    for name, category in register.categories.items():
        specs.update({f"{name}.{field}": spec for field, spec in (category.fields or {}).items()})
        if category.field or category.item:
            specs[name] = category.field or category.item  # type: ignore[assignment]
    return specs


def field_paths(register: RegisterPolicy) -> list[str]:
    """Every stored field of a register policy as a dotted path."""
    paths: list[str] = []
    for name, category in register.categories.items():
        if category.kind == "object":
            paths += [f"{name}.{field}" for field in category.fields or {}]
        elif category.kind == "consents":
            paths += [f"{name}.{consent}" for consent in register.consents]
        else:
            paths.append(name)
    return paths


POLICY_FILES: dict[str, type[Strict]] = {
    "register.yaml": RegisterPolicy,
    "retention.yaml": RetentionPolicy,
    "disclosure.yaml": DisclosurePolicy,
}


def validate(model: type[Strict], data: Any) -> tuple[Strict | None, list[tuple[tuple[Any, ...], str]]]:
    """The validated model, or None and every problem as (location, message)."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, [
            (tuple(error["loc"]), describe(model, tuple(error["loc"]), error["type"], error["msg"]))
            for error in exc.errors(include_input=False, include_url=False)
        ]


def describe(model: type[BaseModel], loc: tuple[Any, ...], kind: str, msg: str) -> str:
    path = ".".join(str(part) for part in loc) or "(top level)"
    msg = msg.removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = allowed_keys(model, loc[:-1])
        msg = "unknown key" + (f" (expected one of: {', '.join(allowed)})" if allowed else "")
    elif kind == "missing" and loc[-1:] == ("legal_basis",):
        msg = f"required key is missing: every purpose needs its legal basis (GDPR Art. 6(1): {', '.join(LEGAL_BASES)})"
    elif kind == "missing":
        msg = "required key is missing"
    return f"{path}: {msg}"


def allowed_keys(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at ``loc`` may hold, walking the model's annotations."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = next((f for name, f in current.model_fields.items() if (f.alias or name) == part), None)
            if info is None:
                return []
            current = info.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation
