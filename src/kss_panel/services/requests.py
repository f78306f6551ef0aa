"""Data-subject requests and their deadlines (GDPR Art. 12(3))."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ..errors import InvalidInput, NotFound, Param
from ..model import EXTENSION_REASONS, REQUEST_OUTCOMES, REQUEST_TYPES, local_date, one_of, request_deadline, request_view
from .session import Session


def open_request(session: Session, kind: str, member_id: str, now: datetime, *, received: date | None = None) -> dict[str, Any]:
    session.require_officer("record requests")
    one_of(kind, REQUEST_TYPES, "type", "request type")
    today = local_date(now)
    received = received or today
    if received > today:
        raise InvalidInput("invalid receipt date", [(Param("received"), "must not be in the future")])
    with session.store.write():
        session.member_row(member_id)
        request_id = session.store.add_request(
            {"type": kind, "member_id": member_id, "received": received.isoformat(), "deadline": request_deadline(received).isoformat()}
        )
        session.audit(now, "request-open", member_id, [], {"request": request_id, "type": kind})
        return _view(session, request_id, today)


def list_requests(session: Session, now: datetime, *, overdue: bool = False) -> list[dict[str, Any]]:
    today = local_date(now)
    with session.store.read():
        views = [request_view(row, today) for row in session.store.requests()]
    return [v for v in views if v["overdue"]] if overdue else views


def extend_request(session: Session, request_id: int, reason: str, now: datetime, *, months: int = 2) -> dict[str, Any]:
    session.require_officer("extend requests")
    one_of(reason, EXTENSION_REASONS, "reason", "extension reason")
    if months not in (1, 2):
        raise InvalidInput("invalid extension", [(Param("months"), "may be 1 or 2 (Art. 12(3): at most two further months)")])
    with session.store.write():
        row = _open_row(session, request_id)
        if row["extended_to"]:
            raise InvalidInput(f"request {request_id} was already extended", [(Param("request"), "can be extended once")])
        extended = request_deadline(date.fromisoformat(row["received"]), months)
        session.store.update_request(request_id, {"extended_to": extended.isoformat(), "extension_reason": reason})
        session.audit(now, "request-extend", row["member_id"], [], {"request": request_id, "reason": reason, "months": months})
        return _view(session, request_id, local_date(now))


def close_request(session: Session, request_id: int, outcome: str, now: datetime) -> dict[str, Any]:
    session.require_officer("close requests")
    one_of(outcome, REQUEST_OUTCOMES, "outcome", "outcome")
    with session.store.write():
        _close(session, _open_row(session, request_id), outcome, now)
        return _view(session, request_id, local_date(now))


def fulfil(session: Session, request_id: int, member_id: str, kind: str, now: datetime) -> None:
    """Close request ``request_id`` as fulfilled by the command that answers it; it must match."""
    row = _open_row(session, request_id)
    if row["member_id"] != member_id:
        raise InvalidInput(f"request {request_id} is about another member", [(Param("request"), "member does not match")])
    if row["type"] != kind:
        raise InvalidInput(f"request {request_id} is a {row['type']} request", [(Param("request"), f"this command fulfils {kind} requests")])
    _close(session, row, "fulfilled", now)


def _open_row(session: Session, request_id: int) -> dict[str, Any]:
    row = session.store.request(request_id)
    if row is None:
        raise NotFound(f"no request {request_id}")
    if row["closed_on"]:
        raise InvalidInput(f"request {request_id} is already closed", [(Param("request"), f"closed on {row['closed_on']}")])
    return row


def _close(session: Session, row: dict[str, Any], outcome: str, now: datetime) -> None:
    session.store.update_request(row["id"], {"closed_on": local_date(now).isoformat(), "outcome": outcome})
    session.audit(now, "request-close", row["member_id"], [], {"request": row["id"], "outcome": outcome})


def _view(session: Session, request_id: int, today: date) -> dict[str, Any]:
    row = session.store.request(request_id)
    assert row is not None
    return request_view(row, today)
