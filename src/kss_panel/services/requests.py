"""Data-subject requests and their deadlines (GDPR Art. 12(3)).

A request is about a member (named by id, even one erased since, or found by
the keyed hash of their email, phone or customer number), or about a person
the register does not hold: named by such a lookup value or by text. What the
officer typed about such a person is personal data: it is sealed, never kept
in plain or written to the audit trail; a lookup value also keeps its keyed
hash, so the request still finds the person once they are a member.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..errors import InvalidInput, NotFound, Param, Refused
from ..model import (
    EXTENSION_REASONS, REQUEST_OUTCOMES, REQUEST_TYPES, check_extension, local_date, one_of, request_deadline, request_view,
)
from ..record import clean_text, normalise_lookup
from ..words import article
from .session import Session

PERSON_MAX_LENGTH = 200


@dataclass(frozen=True)
class Subject:
    """Whom a request is about: ``kind`` is one of model.REQUEST_SUBJECTS."""

    kind: str
    member_id: str | None = None
    digest: str | None = None
    sealed: dict[str, str] | None = None
    matched: str | None = None  # the lookup that found a member


def open_request(
    session: Session,
    kind: str,
    member_id: str | None,
    now: datetime,
    *,
    received: date | None = None,
    lookups: Mapping[str, str] | None = None,
    person: str | None = None,
) -> dict[str, Any]:
    """Record a request about a member, or about anyone named by one of ``lookups`` (kind -> value) or by ``person`` text."""
    session.require_officer("record requests")
    one_of(kind, REQUEST_TYPES, "type", "request type")
    lookups = lookups or {}
    if (member_id is not None) + len(lookups) + (person is not None) != 1:
        raise InvalidInput("name whom the request is about", [(Param("member|email|phone|customer_number|person"), "give exactly one")])
    today = local_date(now)
    received = received or today
    if received > today:
        raise InvalidInput("invalid receipt date", [(Param("received"), "must not be in the future")])
    text = _person_text(person) if person is not None else None
    with session.store.write():
        subject = _subject(session, member_id, next(iter(lookups.items()), None), text)
        request_id = session.store.add_request({
            "type": kind, "member_id": subject.member_id, "subject": subject.kind, "subject_digest": subject.digest,
            "received": received.isoformat(), "deadline": request_deadline(received).isoformat(),
        })
        if subject.sealed is not None:
            session.store.update_request(request_id, {"subject_box": session.vault.seal_subject(request_id, subject.sealed)})
        detail = {"request": request_id, "type": kind, "subject": subject.kind, **({"matched": subject.matched} if subject.matched else {})}
        session.audit(now, "request-open", subject.member_id, [], detail)
        return _view(session, session.store.request(request_id), today)


def _person_text(person: str) -> str:
    try:
        return clean_text(person, max_length=PERSON_MAX_LENGTH)
    except ValueError as exc:
        raise InvalidInput("invalid person", [(Param("person"), str(exc))]) from None


def _subject(session: Session, member_id: str | None, lookup: tuple[str, str] | None, person: str | None) -> Subject:
    """Whom a request is about, inside the transaction that records it."""
    if member_id is not None:
        if session.store.member(member_id) is None and not session.store.is_erased(member_id):
            raise NotFound(f"no member {member_id!r}", hints=("for someone not in the register: --email, --phone, --customer-number or --person",))
        return Subject("member", member_id)
    if lookup is not None:
        kind, value = lookup
        normalised = normalise_lookup(kind, value)
        digest = session.vault.digest(kind, normalised)
        found = session.store.find(kind, digest)
        if found is not None:
            return Subject("member", found, matched=kind)
        return Subject(kind, digest=digest, sealed={kind: normalised})
    assert person is not None
    return Subject("person", sealed={"person": person})


def list_requests(session: Session, now: datetime, *, overdue: bool = False, reveal: bool = False) -> list[dict[str, Any]]:
    """Requests with their deadlines; ``reveal`` also decrypts whom each is about (audited)."""
    today = local_date(now)
    if reveal:
        session.require_officer("read whom requests are about")
    with session.store.write() if reveal else session.store.read():
        rows = [row for row in session.store.requests() if not overdue or request_view(row, today)["overdue"]]
        views = [_view(session, row, today) for row in rows]
        if reveal:
            for view, row in zip(views, rows, strict=True):
                view["who"] = _who(session, row)
            session.audit(now, "request-reveal", None, ["contact.first_name", "contact.last_name", "request.subject"], {"requests": len(views)})
    return views


def _who(session: Session, row: dict[str, Any]) -> str | None:
    """The name of the member, or the sealed value naming the person, a request is about."""
    if row["subject_box"] is not None:
        return next(iter(session.vault.open_subject(row["id"], row["subject_box"]).values()))
    member = session.store.member(row["member_id"]) if row["member_id"] else None
    if member is None:
        return None
    contact = session.record(member, ["contact"]).get("contact", {})
    return " ".join(part for part in (contact.get("first_name"), contact.get("last_name")) if part) or None


def extend_request(session: Session, request_id: int, reason: str, now: datetime, *, months: int | str = 2) -> dict[str, Any]:
    """Extend once, by one or two further months (``months``, also as typed), within the first month (Art. 12(3))."""
    session.require_officer("extend requests")
    one_of(reason, EXTENSION_REASONS, "reason", "extension reason")
    if str(months) not in ("1", "2"):
        raise InvalidInput("invalid extension", [(Param("months"), "must be 1 or 2 (Art. 12(3): at most two further months)")])
    months = int(months)
    today = local_date(now)
    with session.store.write():
        row = _open_row(session, request_id)
        check_extension(row, today)
        extended = request_deadline(date.fromisoformat(row["received"]), months)
        session.store.update_request(request_id, {"extended_to": extended.isoformat(), "extension_reason": reason})
        session.audit(now, "request-extend", row["member_id"], [], {"request": request_id, "reason": reason, "months": months})
        return _view(session, session.store.request(request_id), today)


def close_request(session: Session, request_id: int, outcome: str, now: datetime) -> dict[str, Any]:
    """Close a request with its outcome; ``no-data`` only when the register holds nothing about the person."""
    session.require_officer("close requests")
    one_of(outcome, REQUEST_OUTCOMES, "outcome", "outcome")
    with session.store.write():
        row = _open_row(session, request_id)
        holder = _holder(session, row)
        if outcome == "no-data" and holder is not None:
            raise Refused(
                f"the register holds data about {holder}: request {request_id} cannot be closed as no-data",
                hints=("answer the request (kss-panel export access, erase, update, ... with --request), or close it with another outcome",),
            )
        _close(session, row, outcome, now)
        return _view(session, session.store.request(request_id), local_date(now))


def fulfil(session: Session, request_id: int, member_id: str, kind: str, now: datetime) -> None:
    """Close request ``request_id`` as fulfilled by the command that answers it; it must match."""
    row = _open_row(session, request_id)
    if _holder(session, row) != member_id:
        raise InvalidInput(f"request {request_id} is about another {'member' if row['member_id'] else 'person'}",
                           [(Param("request"), "member does not match")])
    if row["type"] != kind:
        raise InvalidInput(f"request {request_id} is {article(row['type'])} request", [(Param("request"), f"this command fulfils {kind} requests")])
    if row["member_id"] is None:
        # Asked before they were a member: the request is theirs now, and the member id says who they are,
        # so the sealed value and its keyed hash are no longer needed (and are securely deleted).
        session.store.update_request(request_id, {"member_id": member_id, "subject": "member", "subject_digest": None, "subject_box": None})
    _close(session, {**row, "member_id": member_id}, "fulfilled", now)


def _holder(session: Session, row: dict[str, Any]) -> str | None:
    """The member in the register that a request is about, if any: by id, or by the keyed hash it was opened with."""
    if row["member_id"] is not None:
        return row["member_id"] if session.store.member(row["member_id"]) is not None else None
    if row["subject_digest"] is not None:
        return session.store.find(row["subject"], row["subject_digest"])
    return None


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


def _view(session: Session, row: dict[str, Any] | None, today: date) -> dict[str, Any]:
    """A request as officers see it, and whether the member it names has been erased since."""
    assert row is not None
    view = request_view(row, today)
    view["erased"] = row["member_id"] is not None and session.store.member(row["member_id"]) is None
    return view
