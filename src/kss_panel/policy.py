"""Policies as code: the schema of the YAML files under policies/, validated strictly.

Each file is a frozen dataclass that ``policy_schema`` validates strictly: unknown keys are refused
and nothing is coerced. ``policy_files`` reads the files, ``policy_checks`` checks names across them.

The annotations are evaluated at import (no ``from __future__ import annotations``): the schema reads
them as they are, with nothing to evaluate at the start of every command.
"""

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from .policy_schema import Before, Missing, Rule, aliased

if TYPE_CHECKING:
    from .policy_surveys import SurveyPolicy


Slug = Annotated[str, Rule(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
Text = Annotated[str, Rule(min_length=1, max_length=1000)]
Email = Annotated[str, Rule(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", max_length=254)]
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


@dataclass(frozen=True, kw_only=True)
class Localised:
    fi: Text
    sv: Text
    en: Text

    def get(self, language: str) -> str:
        return str(getattr(self, language if language in LANGUAGES else "en"))


FieldType = Literal[
    "customer_number", "name", "email", "phone", "text", "postal_code", "enum",
    "birth_year", "integer", "boolean", "score",
]


@dataclass(frozen=True, kw_only=True)
class FieldSpec:
    type: FieldType
    label: Localised | None = None
    purposes: list[Slug] = dataclasses.field(default_factory=list)
    special_category: Literal[SPECIAL_CATEGORIES] | None = None  # type: ignore[valid-type]
    special_category_ground: Literal[ART9_GROUNDS] | None = None  # type: ignore[valid-type]
    required: bool = False
    provided: bool = True  # the person gave it (Art. 20: export portable), not derived by the controller
    lookup: Literal["email", "phone", "customer_number"] | None = None
    max_length: Annotated[int, Rule(ge=1, le=1000)] | None = None
    values: dict[Slug, Localised] | None = None
    min: int | None = None
    max: int | None = None
    min_age: Annotated[int, Rule(ge=0, le=150)] | None = None
    max_age: Annotated[int, Rule(ge=0, le=150)] | None = None

    def __post_init__(self) -> None:  # the cross-field check: ValueError names the problem
        if self.type == "enum" and not self.values:
            raise ValueError("an enum field needs 'values'")
        if self.type != "enum" and self.values is not None:
            raise ValueError("'values' belongs to enum fields only")
        if self.type == "birth_year" and (self.min_age is None or self.max_age is None):
            raise ValueError("a birth_year field needs 'min_age' and 'max_age'")


@dataclass(frozen=True, kw_only=True)
class Category:
    kind: Literal["object", "tags", "value", "consents"]
    title: Localised
    fields: dict[Slug, FieldSpec] | None = None
    field: FieldSpec | None = None
    item: FieldSpec | None = None
    max_items: Annotated[int, Rule(ge=1, le=1000)] | None = None

    def __post_init__(self) -> None:  # the cross-field check: ValueError names the problem
        wanted = {"object": "fields", "tags": "item", "value": "field", "consents": None}[self.kind]
        for key in ("fields", "field", "item"):
            if (getattr(self, key) is not None) != (key == wanted):
                raise ValueError(f"a category of kind {self.kind!r} " + (f"needs {wanted!r}" if key == wanted else f"takes no {key!r}"))


@dataclass(frozen=True, kw_only=True)
class ContactPerson:
    name: Text
    role: Localised
    email: Email


@dataclass(frozen=True, kw_only=True)
class DataProtectionOfficer:
    name: Text
    email: Email


@dataclass(frozen=True, kw_only=True)
class Controller:
    name: Text
    address: Text
    contact_person: ContactPerson
    data_protection_officer: DataProtectionOfficer | None = None


@dataclass(frozen=True, kw_only=True)
class RegisterInfo:
    """What the register description says of the register as a whole (its sections 3, 4 and 8) and
    what GDPR Art. 13(2)(e)-(f) and 30(1)(c) add."""

    name: Localised
    purpose_statement: Localised
    membership_conditions: Localised
    data_subjects: list[Localised]
    provision: Localised
    automated_decisions: Localised


@dataclass(frozen=True, kw_only=True)
class Purpose:
    title: Localised
    description: Localised | None = None
    legal_basis: Annotated[
        Literal[LEGAL_BASES],  # type: ignore[valid-type]
        Missing(f"every purpose needs its legal basis (GDPR Art. 6(1): {', '.join(LEGAL_BASES)})"),
    ]
    legitimate_interest: Localised | None = None
    consents: list[Slug] = dataclasses.field(default_factory=list)
    direct_marketing: bool = False

    def __post_init__(self) -> None:  # the cross-field check: ValueError names the problem
        if (self.legal_basis == "legitimate-interests") != (self.legitimate_interest is not None):
            raise ValueError(
                "a purpose based on legitimate interests states the interest in 'legitimate_interest' (GDPR Art. 13(1)(d)); no other purpose has one"
            )


@dataclass(frozen=True, kw_only=True)
class Right:
    article: Annotated[str, Rule(pattern=r"^[0-9]{1,3}(\([0-9a-z]+\))*$")]
    title: Localised
    how: Localised


@dataclass(frozen=True, kw_only=True)
class Consent:
    purpose: Slug
    title: Localised
    text: Localised  # the wording the person agrees to; its hash is the version a receipt names (receipts.py)


@dataclass(frozen=True, kw_only=True)
class Security:
    statement: list[Localised]
    measures: list[Localised]


@dataclass(frozen=True, kw_only=True)
class RegisterPolicy:
    version: Literal[1]
    register_info: RegisterInfo = aliased("register")
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


@dataclass(frozen=True, kw_only=True)
class Period:
    days: Annotated[int, Rule(ge=0, le=36500)] | None = None
    months: Annotated[int, Rule(ge=0, le=1200)] | None = None

    def __post_init__(self) -> None:  # the cross-field check: ValueError names the problem
        if (self.days is None) == (self.months is None):
            raise ValueError("give exactly one of 'days' or 'months'")


@dataclass(frozen=True, kw_only=True)
class RetentionRule:
    name: Slug
    description: Localised
    status: Literal["applicant", "member", "rejected"]
    clock: Literal["applied_at", "admitted_at", "rejected_at", "last_activity_at", "ineligible_at", "updated_at"]
    fallback_clock: Literal["applied_at", "admitted_at", "rejected_at", "last_activity_at", "ineligible_at", "updated_at"] | None = None
    period: Period
    action: Literal["erase"]


@dataclass(frozen=True, kw_only=True)
class Guard:
    """A blast-radius guard: one run may touch at most ``max_percent`` of the members it looks at
    (or ``always_allowed`` members, whichever is more) unless the officer confirms the exact count."""

    max_percent: Annotated[float, Rule(ge=0, le=100)] = 5.0
    always_allowed: Annotated[int, Rule(ge=0, le=1_000_000)] = 0

    def allowance(self, base: int) -> int:
        """How many of ``base`` members one run may touch without confirmation."""
        return max(self.always_allowed, math.floor(base * self.max_percent / 100))


@dataclass(frozen=True, kw_only=True)
class Guards:
    eligibility: Guard = Guard()
    purge: Guard = Guard()


@dataclass(frozen=True, kw_only=True)
class RecordRetention:
    period: Period
    description: Localised


@dataclass(frozen=True, kw_only=True)
class RecordRetentions:
    """How long the register keeps what it records beside its members' data."""

    closed_requests: RecordRetention
    disclosure_log: RecordRetention
    suppressions: RecordRetention
    audit_trail: RecordRetention
    survey_invitations: RecordRetention
    competition_winners: RecordRetention
    notifications: RecordRetention
    breaches: RecordRetention

    def items(self) -> list[tuple[str, RecordRetention]]:
        """Each kind of record and how long it is kept, in the order the schema lists them."""
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)]


def _restriction_holds(value: Any) -> None:
    if value != "hold":
        raise ValueError("must be 'hold': a restriction (GDPR Art. 18) means the data must be kept, so purges hold")


@dataclass(frozen=True, kw_only=True)
class RetentionPolicy:
    version: Literal[1]
    rules: list[RetentionRule]
    records: RecordRetentions
    # A restriction (Art. 18) means the data must be kept: purges hold, always.
    restricted: Annotated[Literal["hold"], Before(_restriction_holds)] = "hold"
    guards: Guards = Guards()


Safeguard = Literal["adequacy-decision", "standard-contractual-clauses", "binding-corporate-rules", "derogation-art-49"]


@dataclass(frozen=True, kw_only=True)
class PurposeGrant:
    consent: Slug


@dataclass(frozen=True, kw_only=True)
class Recipient:
    """Who receives personal data: a file for a purpose (``export``), or the register itself on its servers (``hosting``)."""

    name: Text | None = None
    category: Localised
    example: bool = False
    role: Literal["processor", "sub-processor", "controller", "joint-controller"]
    country: Annotated[str, Rule(pattern=r"^[A-Z]{2}$")]
    safeguard: Safeguard | None = None
    access: Literal["export", "hosting"] = "export"
    purposes: dict[Slug, PurposeGrant] = dataclasses.field(default_factory=dict)
    fields: list[Annotated[str, Rule(pattern=r"^[a-z0-9_.]{1,80}$")]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:  # the cross-field check: ValueError names the problem
        if self.access == "hosting" and (self.purposes or self.fields):
            raise ValueError("a hosting recipient holds every field for every purpose: it takes no 'purposes' or 'fields'")
        if self.access == "export" and not (self.purposes and self.fields):
            raise ValueError("a recipient of exports needs 'purposes' and 'fields'")

    @property
    def in_eu_eea(self) -> bool:
        return self.country in EU_EEA


@dataclass(frozen=True, kw_only=True)
class DisclosurePolicy:
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
    surveys: "SurveyPolicy"
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


POLICY_FILES: dict[str, type] = {
    "register.yaml": RegisterPolicy,
    "retention.yaml": RetentionPolicy,
    "disclosure.yaml": DisclosurePolicy,
}
