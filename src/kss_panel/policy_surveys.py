"""The survey policy (policies/surveys.yaml): who runs the panel's surveys and what it receives for an
invitation, how often a member may be asked, which fields may be used to draw a sample, and the consent a
prize draw needs. Its schema, and the checks that tie it to the other policy files.
"""

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from .policy import DisclosurePolicy, Period, RegisterPolicy, RetentionPolicy, Slug, field_paths, field_specs
from .policy_schema import Rule

FieldPath = Annotated[str, Rule(pattern=r"^[a-z0-9_.]{1,80}$")]
Finding = tuple[str, tuple[Any, ...], str]
# The field types a sample may be stratified or filtered by: a closed set of values, numbers that bin, or
# postal codes, which group by their leading digits (the postal area). Free text, names and lookups never.
STRATIFIABLE = ("enum", "boolean", "integer", "birth_year", "score", "postal_code")
NUMERIC = ("integer", "birth_year", "score")
YEAR_DAYS = 366


@dataclass(frozen=True, kw_only=True)
class Rest:
    """How often one member may be invited, over every survey: a rest period between two invitations,
    and a most in any twelve months."""

    days: Annotated[int, Rule(ge=0, le=3650)]
    per_year: Annotated[int, Rule(ge=1, le=366)]


@dataclass(frozen=True, kw_only=True)
class DrawPolicy:
    """A prize draw among a survey's respondents: the purpose it serves, and the consent an entrant must hold."""

    purpose: Slug
    consent: Slug


@dataclass(frozen=True, kw_only=True)
class SurveyPolicy:
    version: Literal[1]
    recipient: Slug
    purpose: Slug
    fields: Annotated[list[FieldPath], Rule(min_length=1, max_length=100)]
    rest: Rest
    strata: Annotated[list[FieldPath], Rule(max_length=100)] = dataclasses.field(default_factory=list)
    draws: DrawPolicy


def survey_findings(
    register: RegisterPolicy, retention: RetentionPolicy, disclosure: DisclosurePolicy, surveys: SurveyPolicy
) -> Iterator[Finding]:
    """A finding (file, location, problem) for every name surveys.yaml uses that the other files do not
    define or do not allow it."""
    if surveys.purpose not in register.purposes:
        yield "surveys.yaml", ("purpose",), f"undefined purpose {surveys.purpose!r} (expected one of {', '.join(register.purposes)})"
    yield from _recipient(disclosure, surveys)
    yield from _strata(register, surveys)
    yield from _draws(register, surveys)
    yield from _kept_long_enough(retention, surveys)


def _recipient(disclosure: DisclosurePolicy, surveys: SurveyPolicy) -> Iterator[Finding]:
    key = surveys.recipient
    recipient = disclosure.recipients.get(key)
    if recipient is None:
        yield "surveys.yaml", ("recipient",), f"undefined recipient {key!r} (expected one of {', '.join(disclosure.recipients)})"
        return
    if recipient.access != "export":
        yield "surveys.yaml", ("recipient",), f"{key} hosts the register's data: it receives no invitation lists"
        return
    if surveys.purpose not in recipient.purposes:
        yield "surveys.yaml", ("recipient",), (
            f"{key} does not receive data for purpose {surveys.purpose!r} (disclosure.yaml lists: {', '.join(recipient.purposes)})"
        )
    for index, path in enumerate(surveys.fields):
        if surveys.fields.index(path) != index:
            yield "surveys.yaml", ("fields", index), f"{path!r} is listed twice"
        elif path not in recipient.fields:
            yield "surveys.yaml", ("fields", index), (
                f"{key} may not receive {path!r}: it is not among the recipient's fields in disclosure.yaml"
            )


def _strata(register: RegisterPolicy, surveys: SurveyPolicy) -> Iterator[Finding]:
    specs = field_specs(register)
    known = set(field_paths(register))
    for index, path in enumerate(surveys.strata):
        where = ("strata", index)
        spec = specs.get(path)
        if surveys.strata.index(path) != index:
            yield "surveys.yaml", where, f"{path!r} is listed twice"
        elif spec is None:
            what = "a consent, which never draws a sample" if path in known else "an undefined field"
            yield "surveys.yaml", where, f"{path!r} is {what} (expected a field path of register.yaml, like demographics.gender)"
        elif spec.type not in STRATIFIABLE:
            yield "surveys.yaml", where, f"{path!r} is of type {spec.type}: strata take {', '.join(STRATIFIABLE)}"
        elif surveys.purpose in register.purposes and surveys.purpose not in spec.purposes:
            yield "surveys.yaml", where, (
                f"{path!r} does not serve purpose {surveys.purpose!r} (it serves: {', '.join(spec.purposes) or 'nothing'})"
            )


def _draws(register: RegisterPolicy, surveys: SurveyPolicy) -> Iterator[Finding]:
    draws = surveys.draws
    if draws.purpose not in register.purposes:
        yield "surveys.yaml", ("draws", "purpose"), f"undefined purpose {draws.purpose!r} (expected one of {', '.join(register.purposes)})"
    consent = register.consents.get(draws.consent)
    if consent is None:
        yield "surveys.yaml", ("draws", "consent"), f"undefined consent {draws.consent!r} (expected one of {', '.join(register.consents)})"
    elif consent.purpose != draws.purpose:
        yield "surveys.yaml", ("draws", "consent"), (
            f"consent {draws.consent!r} is for purpose {consent.purpose!r}, not {draws.purpose!r}: one consent, one purpose"
        )


def _kept_long_enough(retention: RetentionPolicy, surveys: SurveyPolicy) -> Iterator[Finding]:
    """The rest period is counted from the invitations the register still holds: they must be kept a year at least."""
    kept = retention.records.survey_invitations.period
    if not lasts_a_year(kept) or shortest_days(kept) < surveys.rest.days:
        held = f"{kept.days} days" if kept.days is not None else f"{kept.months} months"
        yield "surveys.yaml", ("rest",), (
            f"the rest period counts a member's invitations of the last twelve months and {surveys.rest.days} days,"
            f" but retention.yaml keeps invitations only {held} (records.survey_invitations)"
        )


def lasts_a_year(period: Period) -> bool:
    return (period.months or 0) >= 12 or (period.days or 0) >= YEAR_DAYS


def shortest_days(period: Period) -> int:
    """The fewest days a period can last (a month is at least 28 days)."""
    return period.days if period.days is not None else 28 * (period.months or 0)
