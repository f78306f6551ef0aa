"""Personal-data breaches (GDPR Art. 33, 34): the 72-hour clock, times in Finnish time, a breach's status.

Pure functions over a breach's plain row; nothing here reads a file or the
clock. Times are typed in the register's timezone (Europe/Helsinki) and stored
in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .errors import Param
from .model import REGISTER_TZ, local_date
from .policy import RegisterPolicy

NOTIFY_WITHIN = timedelta(hours=72)  # Art. 33(1): to the supervisory authority, after becoming aware
LOCAL_MINUTE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Problems = list[tuple[str, str]]


def parse_local_minute(text: str, parameter: str, problems: Problems) -> datetime | None:
    """A wall-clock minute in Finnish time (YYYY-MM-DDTHH:MM) as a UTC instant; a problem (and None) if it is not one.

    In the hour the clocks go back, a time happens twice: the earlier is taken,
    which makes the deadline the earlier too. A time in the hour the clocks skip
    does not exist and is refused.
    """
    try:
        if not LOCAL_MINUTE.fullmatch(text):
            raise ValueError
        wall = datetime.strptime(text, "%Y-%m-%dT%H:%M")
    except ValueError:
        problems.append((Param(parameter), "must be a time as YYYY-MM-DDTHH:MM (Finnish time)"))
        return None
    local = wall.replace(tzinfo=REGISTER_TZ)
    instant = local.astimezone(UTC)
    if instant.astimezone(REGISTER_TZ).replace(tzinfo=None) != wall:
        problems.append((Param(parameter), "does not exist in Finnish time (the clocks moved forward past it)"))
        return None
    return instant


def parse_day(text: str, parameter: str, problems: Problems) -> date | None:
    """A day as YYYY-MM-DD; a problem (and None) if it is not one."""
    try:
        if not DAY.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        problems.append((Param(parameter), "must be a date as YYYY-MM-DD"))
        return None


def deadline(discovered_at: str) -> datetime:
    """The instant by which the Data Protection Ombudsman must be notified: 72 hours after the breach was discovered."""
    return datetime.fromisoformat(discovered_at) + NOTIFY_WITHIN


def is_late(discovered_at: str, notified_on: date) -> bool:
    """A notification dated after the deadline's day (Finnish time) was late, and must give the reasons for the delay (Art. 33(1))."""
    return notified_on > local_date(deadline(discovered_at))


def status(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A breach's state: ``open`` (the clock runs), ``overdue`` (the deadline passed, no decision), ``notified`` or ``not-notified``.

    ``hours_left`` (whole hours, negative once overdue) is given while the breach is open.
    """
    due = deadline(row["discovered_at"])
    if row["authority_notified_on"]:
        state = "notified"
    elif row["not_notified_reason"]:
        state = "not-notified"
    else:
        state = "overdue" if now > due else "open"
    left = None if state in ("notified", "not-notified") else int((due - now).total_seconds() // 3600)
    late = bool(row["authority_notified_on"]) and is_late(row["discovered_at"], date.fromisoformat(row["authority_notified_on"]))
    return {"deadline": due.astimezone(UTC).isoformat(timespec="seconds"), "status": state, "hours_left": left, "late": late}


def categories(fields: set[str], order: list[str]) -> list[str]:
    """The data categories (policy order) that field paths belong to."""
    found = {path.partition(".")[0] for path in fields}
    return [name for name in order if name in found] + sorted(found - set(order))


def contact_paths(register: RegisterPolicy) -> list[str]:
    """The fields a member is told through (Art. 34): every field of the category that holds the email lookup
    (the contact details, the language included), else every field with an email or phone lookup."""
    for name, category in register.categories.items():
        fields = category.fields or {}
        if any(spec.lookup == "email" for spec in fields.values()):
            return [f"{name}.{field}" for field in fields]
    return [f"{name}.{field}" for name, category in register.categories.items() for field, spec in (category.fields or {}).items()
            if spec.lookup in ("email", "phone")]
