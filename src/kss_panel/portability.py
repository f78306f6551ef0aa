"""Data portability (GDPR Art. 20): the data a member provided, structured as ``kss-panel enrol --file`` reads it.

What counts as provided comes from the register policy: every field of every
category except the consents, unless the field says ``provided: false`` (a
value the controller derives, such as a score computed from answers). Never
provided: the consents (the controller's record of its legal basis), the
member id, status, dates, flags, restriction and objections, the consent
receipts, the disclosure log and every other record the register keeps about
the member. Pure: built from the policies and the decrypted record.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from .policy import Policies
from .record import flatten
from .writers import csv_cell

PORTABLE_SCHEMA = "kss-panel/portable-data"
PORTABLE_VERSION = 1


def provided_paths(policies: Policies) -> list[str]:
    """The dotted paths of the fields a member provides, in policy order."""
    paths: list[str] = []
    for name, category in policies.register.categories.items():
        if category.kind == "consents":
            continue
        if category.kind == "object":
            paths += [f"{name}.{field}" for field, spec in (category.fields or {}).items() if spec.provided]
        elif (category.field or category.item) and (category.field or category.item).provided:  # type: ignore[union-attr]
            paths.append(name)
    return paths


def provided(policies: Policies, record: dict[str, Any]) -> dict[str, Any]:
    """The part of a record the member provided, in the record's own shape."""
    wanted = set(provided_paths(policies))
    data: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, dict):
            kept = {field: inner for field, inner in value.items() if f"{name}.{field}" in wanted}
            if kept:
                data[name] = kept
        elif name in wanted:
            data[name] = value
    return data


def document(policies: Policies, member_id: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The JSON document: what it is, whose, when, and the data (``data`` is what ``enrol --file`` takes)."""
    return {
        "schema": PORTABLE_SCHEMA,
        "schema_version": PORTABLE_VERSION,
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "controller": policies.register.controller.name,
        "member_id": member_id,
        "fields": [path for path in provided_paths(policies) if path in flatten(data)],
        "data": data,
    }


def csv_text(policies: Policies, data: dict[str, Any]) -> str:
    """One header of every provided field's path and one row of the member's values, as ``kss-panel import`` reads a CSV:
    a list joined with ``;``, booleans as true/false, an empty cell for a value not given, formula-like cells neutralised."""
    paths = provided_paths(policies)
    flat = flatten(data)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(paths)
    writer.writerow([csv_cell(flat.get(path)) for path in paths])
    return buffer.getvalue()
