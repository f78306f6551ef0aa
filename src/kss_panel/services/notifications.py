"""Telling recipients of a rectification, erasure or restriction (GDPR Art. 19).

A recipient is owed a notification when the disclosure log shows it received
the member: of a rectification only when it received a field that changed
(and then only of those fields), of an erasure or a restriction always. The
notifications are created in the transaction that rectifies, restricts or
erases (the erasure's in ``Store.erase_member``, which copies what the
notification needs before the log goes); ``notify export`` writes a
recipient's pending ones to a manifest and marks them sent. Values are never
stored with a notification: a rectification's new values are read from the
member's record when the manifest is written, limited to the fields the
recipient received.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import files
from ..errors import NotFound
from ..model import local_date
from ..record import flatten
from .breaches import known_recipient
from .session import Session

MANIFEST_SCHEMA = "kss-panel/recipient-notifications"
MANIFEST_VERSION = 1


def after_rectification(session: Session, member_id: str, changed: list[str], now: datetime) -> list[str]:
    """Inside the rectifying write: a pending notification for each recipient that received a changed field."""
    day = local_date(now).isoformat()
    notified = []
    for recipient, (names, refs) in sorted(session.store.received(member_id).items()):
        hit = sorted(names & set(changed))
        if hit:
            referred = [ref for ref in refs if set(ref["fields"]) & set(hit)]
            session.store.notify(member_id, recipient, "rectified", hit, referred, day)
            notified.append(recipient)
    return notified


def after_restriction(session: Session, member_id: str, now: datetime) -> list[str]:
    """Inside the restricting write: a pending notification for each recipient that received the member."""
    day = local_date(now).isoformat()
    received = session.store.received(member_id)
    for recipient, (names, refs) in sorted(received.items()):
        session.store.notify(member_id, recipient, "restricted", sorted(names), refs, day)
    return sorted(received)


def after_lift(session: Session, member_id: str) -> list[str]:
    """A restriction lifted before its notifications were sent: there is nothing left to tell; they are withdrawn."""
    return session.store.drop_pending(member_id, "restricted")


def would_notify(session: Session, member_id: str) -> list[str]:
    """The recipients an erasure of the member would owe a notification (for a dry run)."""
    pending = {row["recipient"] for row in session.store.notifications(member_id=member_id, sent=False)}
    return sorted(set(session.store.received(member_id)) | pending)


def list_notifications(session: Session, *, recipient: str | None = None, sent: bool = False) -> list[dict[str, Any]]:
    """Notifications, by recipient and then the day recorded: the pending ones, and with ``sent`` those sent too.

    Reads no personal data (ids, field names and days), so any slot may list them.
    """
    with session.store.read():
        if recipient is not None:
            known_recipient(session, recipient, "recipient")
        return [_view(session, row) for row in session.store.notifications(recipient=recipient, sent=sent)]


def _view(session: Session, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "recipient": row["recipient"], "member_id": row["member_id"], "event": row["event"], "fields": row["fields"],
        "disclosures": [ref["disclosure"] for ref in row["disclosures"]], "recorded_on": row["recorded_on"], "sent_on": row["sent_on"],
        "erased": session.store.member(row["member_id"]) is None,
    }


def export(session: Session, recipient: str, out: Path, now: datetime) -> dict[str, Any]:
    """Write a recipient's pending notifications to ``out`` (a new 0600 JSON manifest) and mark them sent.

    A rectification carries the new value of each rectified field the
    recipient received (``null``: removed), read from the record now; an
    erasure or a restriction carries no value. The file is written inside the
    transaction, so notifications are marked sent only if it was. With nothing
    pending no file is written. Each notification read is audited.
    """
    session.require_officer("notify recipients")
    day = local_date(now).isoformat()
    with session.store.write():
        pending = session.store.notifications(recipient=recipient, sent=False)
        if not pending:
            if recipient not in session.policies.disclosure.recipients and not session.store.names_recipient(recipient):
                raise NotFound(f"no recipient {recipient!r}: the disclosure policy names none, and no disclosure or notification does",
                               hints=(f"recipients: {', '.join(session.policies.disclosure.recipients)}",))
            return {"recipient": recipient, "file": None, "notifications": 0, "members": 0, "events": {}}
        entries = [_entry(session, row, now) for row in pending]
        files.write_new(out, json.dumps(_manifest(session, recipient, entries, now), ensure_ascii=False, indent=2) + "\n")
        session.store.mark_sent([row["id"] for row in pending], day)
    events = Counter(row["event"] for row in pending)
    return {"recipient": recipient, "file": str(out), "notifications": len(pending), "members": len({row["member_id"] for row in pending}),
            "events": dict(sorted(events.items()))}


def _entry(session: Session, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One notification as the manifest states it; a rectification's values are read (and audited) here."""
    entry: dict[str, Any] = {
        "notification": row["id"], "member_id": row["member_id"], "event": row["event"], "recorded_on": row["recorded_on"],
        "fields": row["fields"],
        "disclosures": [{"disclosure": ref["disclosure"], "date": ref["date"], "purpose": ref["purpose"]} for ref in row["disclosures"]],
    }
    disclosed: list[str] = []
    if row["event"] == "rectified":
        flat = flatten(session.record(session.member_row(row["member_id"])))
        entry["values"] = {path: flat.get(path) for path in row["fields"]}
        disclosed = row["fields"]
    session.audit(now, "notify-recipient", row["member_id"], disclosed,
                  {"recipient": row["recipient"], "notification": row["id"], "event": row["event"]})
    return entry


def _manifest(session: Session, recipient: str, entries: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    controller = session.policies.register.controller
    known = session.policies.disclosure.recipients.get(recipient)
    return {
        "schema": MANIFEST_SCHEMA,
        "schema_version": MANIFEST_VERSION,
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "controller": {"name": controller.name, "address": controller.address,
                       "contact_person": {"name": controller.contact_person.name, "email": controller.contact_person.email}},
        "recipient": {"key": recipient, "name": known.name if known else None},
        "article": "GDPR Art. 19",
        "instructions": {
            "rectified": "replace the values of the fields listed with those given (null: delete the field)",
            "erased": "erase every datum of the member you received",
            "restricted": "restrict the processing of the member's data: store it, but do not otherwise process it until told",
        },
        "notifications": entries,
    }
