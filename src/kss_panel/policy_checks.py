"""Checks that span keys or files of the policies: every name used must be defined somewhere.

Pure functions over the validated models; ``policy.load_policies`` turns each
finding into a problem with file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .model import STATUSES
from .policy import DisclosurePolicy, RegisterPolicy, RetentionPolicy, field_paths

Finding = tuple[str, tuple[Any, ...], str]


def cross_check(register: RegisterPolicy, retention: RetentionPolicy, disclosure: DisclosurePolicy) -> Iterator[Finding]:
    """A finding (file, location, problem) for every name used and defined nowhere."""
    for name, consent in register.consents.items():
        if consent.purpose not in register.purposes:
            yield "register.yaml", ("consents", name, "purpose"), (
                f"undefined purpose {consent.purpose!r} (expected one of {', '.join(register.purposes)})"
            )
    seen_lookups: set[str] = set()
    for category_name, category in register.categories.items():
        specs = {**{f"fields.{k}": v for k, v in (category.fields or {}).items()}, **({"field": category.field} if category.field else {})}
        for where, spec in specs.items():
            if spec.lookup in seen_lookups:
                yield "register.yaml", ("categories", category_name, *where.split("."), "lookup"), (
                    f"lookup {spec.lookup!r} is already used by another field"
                )
            if spec.lookup:
                seen_lookups.add(spec.lookup)
    names = [rule.name for rule in retention.rules]
    for index, rule in enumerate(retention.rules):
        if names.index(rule.name) != index:
            yield "retention.yaml", ("rules", index, "name"), f"duplicate rule name {rule.name!r}"
    for status in STATUSES:
        if not any(rule.status == status for rule in retention.rules):
            yield "retention.yaml", ("rules",), f"data stored for status {status!r} has no retention rule"
    known_fields = set(field_paths(register))
    for key, recipient in disclosure.recipients.items():
        for index, path in enumerate(recipient.fields):
            if path not in known_fields:
                yield "disclosure.yaml", ("recipients", key, "fields", index), f"undefined field {path!r} (expected a field path of register.yaml, like contact.email)"
        for purpose, grant in recipient.purposes.items():
            loc = ("recipients", key, "purposes", purpose)
            if purpose not in register.purposes:
                yield "disclosure.yaml", loc, f"undefined purpose {purpose!r} (expected one of {', '.join(register.purposes)})"
                continue
            if grant.consent == "none":
                if register.purposes[purpose].legal_basis == "consent":
                    yield "disclosure.yaml", (*loc, "consent"), f"purpose {purpose!r} is based on consent: name the consent it requires"
            elif grant.consent not in register.consents:
                yield "disclosure.yaml", (*loc, "consent"), f"undefined consent {grant.consent!r} (expected 'none' or one of {', '.join(register.consents)})"
        if not recipient.in_eu_eea and recipient.safeguard is None:
            yield "disclosure.yaml", ("recipients", key, "country"), (
                f"{recipient.country} is outside the EU/EEA: the recipient needs a 'safeguard'"
            )
