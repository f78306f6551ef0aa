"""The domain's rules: statuses, reasons and grounds, the register's calendar, request deadlines.

Pure functions and constants; nothing here reads a file or the clock.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .errors import InvalidInput, Param, Refused

if TYPE_CHECKING:
    from .policy import Purpose

REGISTER_TZ = ZoneInfo("Europe/Helsinki")
STATUSES = ("applicant", "member", "rejected")
# What a key slot may do: officer everything; purger purge, backup and audit; backup backup and audit.
ROLES = ("officer", "purger", "backup")
ERASURE_REASONS = ("request", "conditions-not-met")
RESTRICTION_GROUNDS = ("accuracy-contested", "unlawful-processing", "legal-claims", "objection-pending")
REQUEST_TYPES = ("access", "rectification", "erasure", "objection", "restriction", "portability")
REQUEST_OUTCOMES = ("fulfilled", "partially-fulfilled", "refused-unfounded", "refused-excessive", "withdrawn", "no-data")
EXTENSION_REASONS = ("complexity", "number-of-requests")
# Whom a request is about: a member (by id, or found by a lookup), or a person the register does not hold,
# named by a lookup value (kept as its keyed hash, to match, and sealed) or by text (sealed).
REQUEST_SUBJECTS = ("member", "email", "phone", "customer_number", "person")
LOOKUP_KINDS = ("email", "phone", "customer_number")
# The two objections of Art. 21, by the column of ``members`` that holds the day each was made.
OBJECTIONS = {"direct-marketing": "objected_at", "legitimate-interests": "processing_objected_at"}
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


def check_extension(row: dict[str, Any], today: date) -> None:
    """Art. 12(3): one extension, of at most two further months, made within the first month.

    The member must be told of the extension and why within one month of
    receipt, so once that month is over (the day after the first deadline)
    there is nothing left to extend; a second extension is not in the Article.
    """
    first_month = request_deadline(date.fromisoformat(row["received"]))
    if row["extended_to"]:
        raise Refused(
            f"request {row['id']} was already extended, to {row['extended_to']}",
            hints=("Art. 12(3) allows one extension, of at most two further months",),
        )
    if today > first_month:
        raise Refused(
            f"the first month of request {row['id']} ended on {first_month.isoformat()}: it can no longer be extended",
            hints=("Art. 12(3): an extension, and why, must be told to the person within one month of receipt",),
        )


def objection_against(row: dict[str, Any], purpose: Purpose) -> str | None:
    """The member's objection that bars processing for ``purpose``, if any (Art. 21).

    An objection to direct marketing (21(2)) stops every purpose the policy
    marks ``direct_marketing``; one to processing based on legitimate
    interests (21(1)) stops every purpose with that legal basis. Neither
    touches the other's purposes.
    """
    if row.get("objected_at") and purpose.direct_marketing:
        return "direct-marketing"
    if row.get("processing_objected_at") and purpose.legal_basis == "legitimate-interests":
        return "legitimate-interests"
    return None


def member_order(row: dict[str, Any]) -> tuple[int, str, str]:
    """How members are listed: by status in lifecycle order, then the day they applied."""
    status = row["status"]
    return (STATUSES.index(status) if status in STATUSES else len(STATUSES), row["applied_at"] or "", row["member_id"])


def request_view(row: dict[str, Any], today: date) -> dict[str, Any]:
    """A request as officers see it: its deadline (extended or not), status and days left."""
    deadline = date.fromisoformat(row["extended_to"] or row["deadline"])
    is_open = not row["closed_on"]
    return {
        "id": row["id"],
        "type": row["type"],
        "subject": row.get("subject") or "member",
        "member_id": row["member_id"],
        "received": row["received"],
        "first_month_ends": request_deadline(date.fromisoformat(row["received"])).isoformat(),
        "deadline": deadline.isoformat(),
        "extended": bool(row["extended_to"]),
        "extension_reason": row["extension_reason"],
        "status": "open" if is_open else "closed",
        "closed_on": row["closed_on"],
        "outcome": row["outcome"],
        "overdue": is_open and today > deadline,
        "days_left": (deadline - today).days if is_open else None,
    }


# An objection change: "object" records it, "lift" ends it (the member withdrew it, or, under 21(1),
# the controller shows compelling legitimate grounds); by objection, as in OBJECTIONS.
OBJECTION_OPTIONS = {
    "direct-marketing": ("object_to_marketing", "withdraw_objection"),
    "legitimate-interests": ("object_to_processing", "lift_processing_objection"),
}
OBJECTION_WORDING = {"direct-marketing": "direct marketing", "legitimate-interests": "processing based on legitimate interests"}
OBJECTION_ARTICLES = {"direct-marketing": "21(2)", "legitimate-interests": "21(1)"}


def check_consent_change(
    consents: Iterable[str], marketing: Iterable[str], give: tuple[str, ...], withdraw: tuple[str, ...], objections: dict[str, str]
) -> None:
    """Refuse a consent change that names an unknown consent, contradicts itself or changes nothing (Art. 7, 21)."""
    consents, marketing = tuple(consents), set(marketing)
    problems: list[tuple[str, str]] = []
    if [name for name in (*give, *withdraw) if name not in consents]:
        problems.append((Param("give/withdraw"), f"must name one of {', '.join(consents)}"))
    problems += [(Param("give/withdraw"), f"{name} cannot be both given and withdrawn") for name in sorted(set(give) & set(withdraw))]
    for kind, change in objections.items():
        record, lift = OBJECTION_OPTIONS[kind]
        if change == "both":
            problems.append((Param(f"{record}/{lift}"), "an objection cannot be made and lifted at once"))
    if objections.get("direct-marketing") == "object":
        problems += [(Param("object_to_marketing/give"), f"{name} is a direct-marketing consent, which the objection withdraws")
                     for name in give if name in marketing]
    if problems:
        raise InvalidInput("invalid consent change", problems)
    if not (give or withdraw or objections):
        raise InvalidInput("nothing to change", [(Param("give/withdraw"), "name a consent to give or withdraw, or an objection")])


def objection_columns(row: dict[str, Any], objections: dict[str, str], today: date) -> dict[str, str | None]:
    """The member columns an objection change sets; InvalidInput when lifting an objection that is not there.

    An objection already recorded keeps the day it was first made.
    """
    changes: dict[str, str | None] = {}
    for kind, change in objections.items():
        column = OBJECTIONS[kind]
        if change == "object" and not row.get(column):
            changes[column] = today.isoformat()
        elif change == "lift":
            if not row.get(column):
                raise InvalidInput(f"{row['member_id']} has not objected to {OBJECTION_WORDING[kind]}",
                                   [(Param(OBJECTION_OPTIONS[kind][1]), "there is no such objection to lift")])
            changes[column] = None
    return changes


def refuse_marketing_consent(row: dict[str, Any], give: tuple[str, ...], marketing: Iterable[str], objections: dict[str, str]) -> None:
    """While an objection to direct marketing stands (Art. 21(3)), no direct-marketing consent can be given."""
    blocked = [name for name in give if name in set(marketing)]
    if blocked and row.get("objected_at") and objections.get("direct-marketing") != "lift":
        raise Refused(
            f"{row['member_id']} objects to direct marketing (since {row['objected_at']}):"
            f" {', '.join(blocked)} cannot be given while the objection stands",
            hints=(f"if the member withdraws the objection: kss-panel consent {row['member_id']} --withdraw-objection"
                   + "".join(f" --give {name}" for name in blocked),),
        )
