"""The register of personal-data breaches (GDPR Art. 33(5)) and the list for telling the members affected (Art. 34).

A breach is recorded with its title and the moment it was discovered (the
72-hour clock to notify the Data Protection Ombudsman starts there); the
members it affected are found from the disclosure log (everyone disclosed to a
compromised recipient within a window, erased members included through their
erasure notifications) or from a leaked export (the member ids in it). The
record holds member ids and the field names involved, never values; only
``notify_members`` reads personal data (contact details, audited).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..breach import categories, contact_paths, deadline, is_late, parse_day, parse_local_minute, status
from ..errors import InvalidInput, NotFound, Param
from ..model import local_date, one_of
from ..readers import RecordSource, open_input
from ..record import clean_text, field_spec, flatten
from ..writers import FORMATS, RowWriter
from .session import Session

TITLE_MAX = 200
REASON_MAX = 1000
MAX_PROBLEMS = 1000
MEMBER_ID = re.compile(r"M[a-z2-7]{16}")
Problems = list[tuple[str, str]]


def _text(value: str | None, parameter: str, limit: int, problems: Problems) -> str | None:
    if value is None:
        return None
    try:
        return clean_text(value, max_length=limit)
    except ValueError as exc:
        problems.append((Param(parameter), str(exc)))
        return None


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="seconds")


def open_breach(session: Session, title: str, discovered: str, now: datetime) -> dict[str, Any]:
    """Record a breach: a title (no personal data: it is kept in plain) and when it was discovered, in Finnish time."""
    session.require_officer("record breaches")
    problems: Problems = []
    text = _text(title, "title", TITLE_MAX, problems)
    found = parse_local_minute(discovered, "discovered", problems)
    if found is not None and found > now:
        problems.append((Param("discovered"), "must not be in the future"))
    if problems:
        raise InvalidInput("invalid breach", problems)
    assert found is not None and text is not None
    with session.store.write():
        breach_id = session.store.add_breach({"title": text, "discovered_at": _iso(found), "recorded_at": _iso(now)})
        session.audit(now, "breach-open", None, [], {"breach": breach_id})
        return view(session, _breach(session, breach_id), now)


def _breach(session: Session, breach_id: int) -> dict[str, Any]:
    row = session.store.breach(breach_id)
    if row is None:
        raise NotFound(f"no breach {breach_id}", hints=("kss-panel breach list shows them",))
    return row


def view(session: Session, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A breach as officers see it: its record, the deadline and status, and whom and what it affected."""
    affected, erased, fields = session.store.breach_summary(row["id"])
    return {
        **row, **status(row, now), "affected": affected, "erased": erased,
        "categories": categories(fields, list(session.policies.register.categories)), "fields": sorted(fields),
    }


def list_breaches(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Every breach with its 72-hour deadline and status; reads no personal data."""
    with session.store.read():
        return [view(session, row, now) for row in session.store.breaches()]


def record_affected(
    session: Session, breach_id: int, now: datetime, *, recipient: str | None = None, start: str | None = None, end: str | None = None,
    file: str | None = None,
) -> dict[str, Any]:
    """Record the members a breach affected and the fields involved: those disclosed to ``recipient`` from ``start`` to
    ``end`` (days, inclusive), or those whose ids are in a leaked export ``file`` (CSV, JSON or JSON Lines with a
    ``member_id`` column). A file is read through before the write lock is taken."""
    session.require_officer("record breaches")
    problems: Problems = []
    if (recipient is None) == (file is None):
        problems.append((Param("recipient|file"), "give exactly one"))
    window = _window(recipient, start, end, problems)
    if problems:
        raise InvalidInput("invalid affected members", problems)
    with session.store.read():
        if recipient is not None:
            known_recipient(session, recipient, "recipient")
        _breach(session, breach_id)
    affected = _from_file(session, file) if file is not None else None
    with session.store.write():
        _breach(session, breach_id)
        if affected is None:
            assert recipient is not None and window is not None
            affected = _from_log(session, recipient, *window)
        source = f"disclosures to {recipient} from {window[0]} to {window[1]}" if window else "leaked file"
        added, known = session.store.add_breach_members(breach_id, affected, source, local_date(now).isoformat())
        detail = {"breach": breach_id, "source": "disclosure-log" if window else "file", "members": len(affected), "added": added,
                  **({"recipient": recipient} if window else {})}
        session.audit(now, "breach-affected", None, [], detail)
        erased = sum(1 for member_id in affected if session.store.member(member_id) is None)
        return {"breach": breach_id, "members": len(affected), "added": added, "already": known, "erased": erased,
                "categories": categories(set().union(*affected.values()), list(session.policies.register.categories)),
                "record": view(session, _breach(session, breach_id), now)}


def _window(recipient: str | None, start: str | None, end: str | None, problems: Problems) -> tuple[str, str] | None:
    """The window of disclosure days (inclusive) that goes with --recipient."""
    if recipient is None:
        problems += [(Param(name), "goes with --recipient") for name, value in (("start", start), ("end", end)) if value is not None]
        return None
    days = []
    for name, value in (("start", start), ("end", end)):
        if value is None:
            problems.append((Param(name), "is required with --recipient"))
        days.append(parse_day(value, name, problems) if value is not None else None)
    first, last = days
    if first is None or last is None:
        return None
    if first > last:
        problems.append((Param("start/end"), "the window ends before it starts"))
    return first.isoformat(), last.isoformat()


def known_recipient(session: Session, recipient: str, parameter: str) -> None:
    """A recipient of the disclosure policy, or one the disclosure log or a notification still names (the policy may have dropped it)."""
    if recipient in session.policies.disclosure.recipients or session.store.names_recipient(recipient):
        return
    names = ", ".join(session.policies.disclosure.recipients)
    raise InvalidInput("unknown recipient", [(Param(parameter), f"must be one of the recipients of the disclosure policy ({names})")])


def _from_log(session: Session, recipient: str, first: str, last: str) -> dict[str, set[str]]:
    affected: dict[str, set[str]] = {}
    for member_id, fields in session.store.disclosed_between(recipient, first, last):
        affected.setdefault(member_id, set()).update(fields)
    return affected


def _from_file(session: Session, file: str) -> dict[str, set[str]]:
    """Member id -> the fields present for them in a leaked export; every problem by line, never a value."""
    affected: dict[str, set[str]] = {}
    problems: Problems = []
    more = rows = without_id = 0
    with open_input(file) as handle:
        for line, record, row_problems in RecordSource(handle, session.policies, extra_columns=("member_id",)):
            rows += 1
            member_id = (record or {}).pop("member_id", None)
            without_id += member_id is None and not row_problems
            found = [(f"line {line}: {path}", problem) for path, problem in row_problems] or _row_problems(session, line, member_id, record or {})
            if found:
                more += max(0, len(problems) + len(found) - MAX_PROBLEMS)
                problems += found[: max(0, MAX_PROBLEMS - len(problems))]
                continue
            affected.setdefault(str(member_id), set()).update(flatten(record or {}))
    if rows and without_id == rows:
        problems = [("(file)", "has no member_id: which members leaked cannot be told")]
    elif not rows:
        problems.append(("(file)", "holds no rows"))
    elif not problems and not any(affected.values()):
        problems.append(("(file)", "holds no field of the register: which data leaked cannot be told"))
    if problems:
        raise InvalidInput("invalid leaked file", problems, hints=(f"{more} more problems not shown",) if more else ())
    return affected


def _row_problems(session: Session, line: int, member_id: Any, record: dict[str, Any]) -> Problems:
    if member_id is None:
        return [(f"line {line}: member_id", "is missing")]
    if not isinstance(member_id, str) or not MEMBER_ID.fullmatch(member_id):
        return [(f"line {line}: member_id", "is not a member id")]
    found: Problems = []
    if any(field_spec(session.policies, path) is None for path in flatten(record)):
        found.append((f"line {line}: (record)", "holds a key that is not a field path of the register"))
    if not session.store.known_member(member_id):
        found.append((f"line {line}: member_id", "is no member of this register, present or erased"))
    return found


def close_breach(
    session: Session, breach_id: int, now: datetime, *, notified: str | None = None, delay_reason: str | None = None, not_notified: str | None = None,
) -> dict[str, Any]:
    """Close a breach: the day the Data Protection Ombudsman was notified (with the reasons for any delay past the
    72 hours, Art. 33(1)), or why it was not (the breach is unlikely to result in a risk, Art. 33(1))."""
    session.require_officer("record breaches")
    problems: Problems = []
    if (notified is None) == (not_notified is None):
        problems.append((Param("notified_authority|not_notified"), "give exactly one"))
    if delay_reason is not None and notified is None:
        problems.append((Param("delay_reason"), "goes with --notified-authority"))
    day = parse_day(notified, "notified_authority", problems) if notified is not None else None
    reason = _text(not_notified, "not_notified", REASON_MAX, problems)
    delay = _text(delay_reason, "delay_reason", REASON_MAX, problems)
    today = local_date(now)
    with session.store.write():
        row = _breach(session, breach_id)
        if row["closed_on"]:
            problems.append((Param("breach"), f"was closed on {row['closed_on']}"))
        if day is not None:
            problems += _notified_problems(row, day, today, delay)
        if problems:
            raise InvalidInput(f"cannot close breach {breach_id}", problems)
        session.store.update_breach(breach_id, {"authority_notified_on": day.isoformat() if day else None, "delay_reason": delay,
                                                "not_notified_reason": reason, "closed_on": today.isoformat()})
        session.audit(now, "breach-close", None, [], {"breach": breach_id, "authority_notified": day is not None})
        return view(session, _breach(session, breach_id), now)


def _notified_problems(row: dict[str, Any], day: date, today: date, delay: str | None) -> Problems:
    found: Problems = []
    if day > today:
        found.append((Param("notified_authority"), "must not be in the future"))
    if day < local_date(datetime.fromisoformat(row["discovered_at"])):
        found.append((Param("notified_authority"), "must not be before the breach was discovered"))
    if is_late(row["discovered_at"], day) and delay is None:
        due = local_date(deadline(row["discovered_at"])).isoformat()
        found.append((Param("delay_reason"), f"is required: the notification came after the 72-hour deadline ({due}), so Art. 33(1) asks the reasons for the delay"))
    return found


def notify_members(session: Session, breach_id: int, out: Path, now: datetime, *, format_: str = "csv") -> dict[str, Any]:
    """Write the contact details of the members a breach affected to ``out`` (a new 0600 file), to tell them (Art. 34).

    Members erased since are counted, not listed (nothing of them is left);
    restricted members are listed (telling them is in their interest and a duty
    of the controller). Each member's read is audited.
    """
    session.require_officer("read members' contact details")
    one_of(format_, FORMATS, "format", "format")
    paths = contact_paths(session.policies.register)
    wanted = sorted({path.partition(".")[0] for path in paths})
    with session.store.write():
        _breach(session, breach_id)
        found = [(row["member_id"], session.find_row(row["member_id"])) for row in session.store.breach_members(breach_id)]
        present = [(member_id, row) for member_id, row in found if row is not None]
        result = {"breach": breach_id, "listed": len(present), "erased": len(found) - len(present), "file": None, "format": format_}
        if not present:
            return result
        with RowWriter(out, ["member_id", *paths], format_) as writer:
            for member_id, row in present:
                flat = flatten(session.record(row, wanted))
                writer.write({"member_id": member_id, **{path: flat.get(path) for path in paths}})
                session.audit(now, "breach-notify-members", member_id, [p for p in paths if flat.get(p) is not None], {"breach": breach_id})
        session.store.update_breach(breach_id, {"members_listed_on": local_date(now).isoformat()})
    return {**result, "file": str(out)}
