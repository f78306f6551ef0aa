"""The domain's rules: statuses, reasons and grounds, the register's calendar, request deadlines.

Pure functions and constants; nothing here reads a file or the clock.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .errors import InvalidInput, Param, Refused

REGISTER_TZ = ZoneInfo("Europe/Helsinki")
STATUSES = ("applicant", "member", "rejected")
ERASURE_REASONS = ("request", "conditions-not-met")
RESTRICTION_GROUNDS = ("accuracy-contested", "unlawful-processing", "legal-claims", "objection-pending")
REQUEST_TYPES = ("access", "rectification", "erasure", "objection", "restriction")
REQUEST_OUTCOMES = ("fulfilled", "partially-fulfilled", "refused-unfounded", "refused-excessive", "withdrawn", "no-data")
EXTENSION_REASONS = ("complexity", "number-of-requests")
# The lookups kept, as keyed hashes, for a person erased with --suppress.
SUPPRESSED_KINDS = ("email", "phone")


def local_date(now: datetime) -> date:
    """The register's calendar day (Finland) at the instant ``now``."""
    return now.astimezone(REGISTER_TZ).date()


def add_months(start: date, months: int) -> date:
    """``start`` plus calendar months; a month-end overflow clamps to the month's last day."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def one_of(value: str, allowed: Iterable[str], parameter: str, what: str) -> None:
    """Refuse a value outside a closed list, naming the parameter and the list."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise InvalidInput(f"invalid {what}", [(Param(parameter), f"must be one of {', '.join(allowed)}")])


def require_status(row: dict[str, Any], status: str, action: str) -> None:
    """A status change only from the status it starts at (applicant -> member or rejected)."""
    if row["status"] != status:
        raise InvalidInput(f"cannot {action} {row['member_id']}", [("status", f"is {row['status']}, not {status}")])


def require_unrestricted(row: dict[str, Any]) -> None:
    """A restriction (Art. 18) means the data must be kept: a restricted member is not erased."""
    if row.get("restricted_at"):
        member_id = row["member_id"]
        raise Refused(
            f"{member_id} is restricted (GDPR Art. 18, {row.get('restriction_reason')}): the data must be kept, so it is not erased",
            hints=(f"lift the restriction first if its ground no longer applies: kss-panel restrict {member_id} --lift",),
        )


def request_deadline(received: date, extended_months: int = 0) -> date:
    """One calendar month from receipt, plus any extension (Art. 12(3))."""
    return add_months(received, 1 + extended_months)


def request_view(row: dict[str, Any], today: date) -> dict[str, Any]:
    """A request as officers see it: its deadline (extended or not), status and days left."""
    deadline = date.fromisoformat(row["extended_to"] or row["deadline"])
    is_open = not row["closed_on"]
    return {
        "id": row["id"],
        "type": row["type"],
        "member_id": row["member_id"],
        "received": row["received"],
        "deadline": deadline.isoformat(),
        "extended": bool(row["extended_to"]),
        "extension_reason": row["extension_reason"],
        "status": "open" if is_open else "closed",
        "closed_on": row["closed_on"],
        "outcome": row["outcome"],
        "overdue": is_open and today > deadline,
        "days_left": (deadline - today).days if is_open else None,
    }
