"""Checks that span keys or files of the policies: every name used is defined, and every field is accounted for.

Pure functions over the validated models; ``policy_files.load_policies`` turns
each finding into a problem with file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .model import STATUSES
from .policy import DisclosurePolicy, FieldSpec, RegisterPolicy, RetentionPolicy, field_paths, field_specs
from .policy_surveys import SurveyPolicy, survey_findings

Finding = tuple[str, tuple[Any, ...], str]

# Words in a field's name that suggest a special category of personal data (GDPR Art. 9(1)).
SPECIAL_CATEGORY_WORDS = re.compile(
    r"(^|_)(politic\w*|religio\w*|belief\w*|philosoph\w*|ethnic\w*|race|racial|union|health\w*|medical|diagnos\w*"
    r"|disabilit\w*|sexual\w*|sex_life|orientation|genetic\w*|biometric\w*)($|_)"
)


def cross_check(
    register: RegisterPolicy, retention: RetentionPolicy, disclosure: DisclosurePolicy, surveys: SurveyPolicy
) -> Iterator[Finding]:
    """A finding (file, location, problem) for every name used and defined nowhere, and every field not accounted for."""
    yield from _purposes_and_consents(register, disclosure, surveys)
    yield from _fields(register)
    yield from _retention(retention)
    yield from _recipients(register, disclosure)
    yield from survey_findings(register, retention, disclosure, surveys)


def _spec_location(path: str) -> tuple[str, ...]:
    """Where a field's spec sits in register.yaml, from its dotted path."""
    category, _, field = path.partition(".")
    return ("categories", category, "fields", field) if field else ("categories", category)


def _purposes_and_consents(register: RegisterPolicy, disclosure: DisclosurePolicy, surveys: SurveyPolicy) -> Iterator[Finding]:
    purposes = ", ".join(register.purposes)
    for name, consent in register.consents.items():
        if consent.purpose not in register.purposes:
            yield "register.yaml", ("consents", name, "purpose"), f"undefined purpose {consent.purpose!r} (expected one of {purposes})"
    for name, purpose in register.purposes.items():
        for index, consent_name in enumerate(purpose.consents):
            consent = register.consents.get(consent_name)
            reported = consent is not None and consent.purpose not in register.purposes  # its undefined purpose, above
            if consent is None or (consent.purpose != name and not reported):
                yield "register.yaml", ("purposes", name, "consents", index), (
                    f"{consent_name!r} is not a consent for purpose {name!r} (consents.<name>.purpose must be {name!r})"
                )
        if purpose.legal_basis == "consent" and not any(c.purpose == name for c in register.consents.values()):
            yield "register.yaml", ("purposes", name, "legal_basis"), (
                f"purpose {name!r} is based on consent, but no consent is for it: it lacks its legal basis"
            )
    used = {c for purpose in register.purposes.values() for c in purpose.consents}
    used |= {grant.consent for recipient in disclosure.recipients.values() for grant in recipient.purposes.values()}
    used.add(surveys.draws.consent)
    for name in register.consents:
        if name not in used:
            yield "register.yaml", ("consents", name), (
                f"consent {name!r} is used by no purpose or recipient: list it under purposes.<name>.consents"
                " or as a recipient's consent in disclosure.yaml, or remove it"
            )


def _fields(register: RegisterPolicy) -> Iterator[Finding]:
    seen_lookups: set[str] = set()
    for path, spec in field_specs(register).items():
        where = _spec_location(path)
        if not spec.purposes:
            yield "register.yaml", where, (
                f"field {path!r} serves no purpose: list its purposes (GDPR Art. 5(1)(b)-(c): no data without a purpose)"
            )
        for index, purpose in enumerate(spec.purposes):
            if purpose not in register.purposes:
                yield "register.yaml", (*where, "purposes", index), (
                    f"undefined purpose {purpose!r} (expected one of {', '.join(register.purposes)})"
                )
        if spec.label is None:
            yield "register.yaml", where, f"field {path!r} has no label: notices and reports name it in fi, sv and en"
        if spec.lookup in seen_lookups:
            yield "register.yaml", (*where, "lookup"), f"lookup {spec.lookup!r} is already used by another field"
        if spec.lookup:
            seen_lookups.add(spec.lookup)
        yield from _special_category(register, path, where, spec)


def _special_category(register: RegisterPolicy, path: str, where: tuple[str, ...], spec: FieldSpec) -> Iterator[Finding]:
    if spec.special_category is None:
        if SPECIAL_CATEGORY_WORDS.search(path.rpartition(".")[2]):
            yield "register.yaml", where, (
                f"field {path!r} looks like a special category of personal data (GDPR Art. 9(1)):"
                " mark it with 'special_category' and its Art. 9(2) ground in 'special_category_ground', or remove it"
            )
        elif spec.special_category_ground is not None:
            yield "register.yaml", (*where, "special_category_ground"), "a ground belongs to a field marked with 'special_category'"
        return
    if spec.special_category_ground is None:
        yield "register.yaml", (*where, "special_category"), (
            f"field {path!r} is a special category ({spec.special_category}) with no Art. 9(2) ground:"
            " processing it is prohibited (GDPR Art. 9(1)); name the ground in 'special_category_ground'"
        )
    elif spec.special_category_ground == "explicit-consent":
        for purpose in spec.purposes:
            if purpose in register.purposes and register.purposes[purpose].legal_basis != "consent":
                yield "register.yaml", (*where, "purposes"), (
                    f"field {path!r} rests on explicit consent (Art. 9(2)(a)), but purpose {purpose!r} is not based on consent"
                )


def _retention(retention: RetentionPolicy) -> Iterator[Finding]:
    names = [rule.name for rule in retention.rules]
    for index, rule in enumerate(retention.rules):
        if names.index(rule.name) != index:
            yield "retention.yaml", ("rules", index, "name"), f"duplicate rule name {rule.name!r}"
    for status in STATUSES:
        if not any(rule.status == status for rule in retention.rules):
            yield "retention.yaml", ("rules",), f"data stored for status {status!r} has no retention rule"


def _recipients(register: RegisterPolicy, disclosure: DisclosurePolicy) -> Iterator[Finding]:
    known_fields = set(field_paths(register))
    specs = field_specs(register)
    for key, recipient in disclosure.recipients.items():
        for index, path in enumerate(recipient.fields):
            where = ("recipients", key, "fields", index)
            if path not in known_fields:
                yield "disclosure.yaml", where, f"undefined field {path!r} (expected a field path of register.yaml, like contact.email)"
                continue
            served = specs[path].purposes if path in specs else [register.consents[path.partition(".")[2]].purpose]
            for purpose in recipient.purposes:
                if purpose in register.purposes and purpose not in served:
                    yield "disclosure.yaml", where, (
                        f"{key} receives {path!r} for purpose {purpose!r}, which the field does not serve"
                        f" (it serves: {', '.join(served) or 'nothing'})"
                    )
        for purpose, grant in recipient.purposes.items():
            yield from _grant(register, key, purpose, grant.consent)
        if not recipient.in_eu_eea and recipient.safeguard is None:
            yield "disclosure.yaml", ("recipients", key, "country"), (
                f"{recipient.country} is outside the EU/EEA: the recipient needs a 'safeguard'"
            )


def _grant(register: RegisterPolicy, key: str, purpose: str, consent: str) -> Iterator[Finding]:
    loc = ("recipients", key, "purposes", purpose)
    if purpose not in register.purposes:
        yield "disclosure.yaml", loc, f"undefined purpose {purpose!r} (expected one of {', '.join(register.purposes)})"
    elif consent == "none":
        if register.purposes[purpose].legal_basis == "consent":
            yield "disclosure.yaml", (*loc, "consent"), f"purpose {purpose!r} is based on consent: name the consent it requires"
    elif consent not in register.consents:
        yield "disclosure.yaml", (*loc, "consent"), f"undefined consent {consent!r} (expected 'none' or one of {', '.join(register.consents)})"
    elif register.consents[consent].purpose != purpose and register.consents[consent].purpose in register.purposes:
        yield "disclosure.yaml", (*loc, "consent"), (
            f"consent {consent!r} is for purpose {register.consents[consent].purpose!r}, not {purpose!r}: one consent, one purpose"
        )
