"""Members: enrol, show, find, list, rectify."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from ..access_surveys import participation
from ..errors import InvalidInput, NotFound
from ..model import OBJECTIONS, STATUSES, SUPPRESSED_KINDS, local_date, one_of, refuse_marketing_consent
from ..record import apply_patch, changed_fields, flatten, normalise_lookup
from . import notifications, receipts, requests
from .session import Session, plain

NewMember = tuple[dict[str, Any], dict[str, bytes]]


def new_member(
    session: Session, record: dict[str, Any], applied_at: date | None, today: date, *, receipt: receipts.Event | None = None
) -> NewMember:
    """A validated record as a new applicant: the row to insert (sealed box and consent receipt included) and its keyed digests."""
    lookups = session.vault.lookups(record)
    return complete_member(session, session.vault.new_member(record, applied_at or today, today, receipt), lookups), lookups


def complete_member(session: Session, row: dict[str, Any], lookups: dict[str, bytes], *, check_suppressions: bool = True) -> dict[str, Any]:
    """A new applicant's sealed row with its lookup digests and the suppression flag.

    Someone erased with --suppress who applies again is flagged, not refused.
    """
    suppressed = {kind: digest for kind, digest in lookups.items() if kind in SUPPRESSED_KINDS}
    row["suppression_match"] = 1 if check_suppressions and session.store.suppressed(suppressed) else None
    row["lookup_digests"] = lookup_digests(lookups)
    return row


def lookup_digests(lookups: dict[str, bytes]) -> bytes:
    """A member row's ``lookup_digests``: its keyed digests joined in the order of their kinds."""
    return b"".join(lookups[kind] for kind in sorted(lookups))


def enrol_audit_detail(row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**extra, **({"suppression_match": True} if row["suppression_match"] else {})}


def enrol(session: Session, data: Any, now: datetime) -> dict[str, Any]:
    """Validate one application and store it as an applicant: its member id and suppression flag."""
    [member_id] = enrol_many(session, [data], now)
    with session.store.read():
        row = session.member_row(member_id)
    return {"member_id": member_id, "suppression_match": bool(row["suppression_match"])}


def enrol_many(session: Session, records: Iterable[Any], now: datetime) -> list[str]:
    """Enrol several applications in one transaction: all of them or none."""
    session.require_officer("enrol members")
    today = local_date(now)
    enrolled = []
    with session.store.write():
        for data in records:
            record, applied_at = session.schema.validate(data, today=today)
            receipt = receipts.on_enrolment(session, record, now, "enrol")
            row, lookups = new_member(session, record, applied_at, today, receipt=receipt)
            session.store.refuse_duplicates(lookups, session.schema.lookup_paths)
            session.store.insert_members([row], [(digest, row["member_id"]) for digest in lookups.values()])
            if receipt is not None:
                receipts.keep_wordings(session, receipt["given"], now)
            session.audit(now, "enrol", row["member_id"], sorted(flatten(record)), enrol_audit_detail(row) or None)
            enrolled.append(row["member_id"])
    return enrolled


def status(session: Session, member_id: str) -> dict[str, Any]:
    """A member's plain columns only (no personal data, so not audited)."""
    with session.store.read():
        return plain(session.member_row(member_id))


def show(session: Session, member_id: str, now: datetime) -> dict[str, Any]:
    """A member's plain columns, whole decrypted record, surveys (invitations, responses, draw entries), and consent history
    (with the consents given under wording changed since)."""
    session.require_officer("read personal data")
    with session.store.write():
        row = session.member_row(member_id)
        record = session.record(row)
        surveys = participation(session.store.participation_of(member_id))
        consents = receipts.consent_view(session, row, record)
        read = sorted([*flatten(record), *([receipts.FIELD] if consents["consent_history"] else [])])
        session.audit(now, "show", member_id, read)
    return {**plain(row), **record, "surveys": surveys, **consents}


def find(session: Session, kind: str, value: str, now: datetime) -> dict[str, Any]:
    """Find a member by the keyed hash of a normalised lookup value; decrypts no one."""
    session.require_officer("look up members")
    digest = session.vault.digest(kind, normalise_lookup(kind, value))
    with session.store.write():
        member_id = session.store.find(kind, digest)
        if member_id is None:
            raise NotFound(f"no member with that {kind.replace('_', ' ')}")
        row = session.member_row(member_id)
        session.audit(now, "find", member_id, [kind])
    return plain(row)


def list_members(
    session: Session, now: datetime, *, status: str | None = None, names: bool = False, restricted: bool = False, objected: bool = False
) -> Iterable[dict[str, Any]]:
    """Members' ids, status and dates, by status, then the day they applied, then as enrolled; names only when
    asked (and audited).

    ``restricted`` keeps the members whose processing is restricted (Art. 18),
    ``objected`` those with an objection under Art. 21 (either kind). Without
    ``names`` the rows stream as they are read (in one read transaction, open
    until the last is taken): memory stays flat however large the register.
    With ``names`` they are all read, and the reading audited, before any is given.
    """
    if status is not None:
        one_of(status, STATUSES, "status", "status")
    if not names:
        return _listed(session, status, restricted, objected)
    session.require_officer("read members' names")
    with session.store.write():
        listed = []
        for row in _kept(session.store.iter_members(status), restricted, objected):
            contact = session.record(session.member_row(row["member_id"]), ["contact"]).get("contact", {})
            listed.append({**plain(row), "first_name": contact.get("first_name"), "last_name": contact.get("last_name")})
        session.audit(now, "list-names", None, ["contact.first_name", "contact.last_name"], {"members": len(listed)})
        return listed


def _listed(session: Session, status: str | None, restricted: bool, objected: bool) -> Iterator[dict[str, Any]]:
    with session.store.read():
        for row in _kept(session.store.iter_members(status), restricted, objected):
            yield plain(row)


def _kept(rows: Iterable[dict[str, Any]], restricted: bool, objected: bool) -> Iterator[dict[str, Any]]:
    for row in rows:
        if (not restricted or row["restricted_at"]) and (not objected or any(row[column] for column in OBJECTIONS.values())):
            yield row


def update(session: Session, member_id: str, patch: Any, now: datetime, *, request: int | None = None) -> dict[str, list[str]]:
    """Rectify a member's record with a merge patch; return the changed field paths and the recipients now owed a notification."""
    session.require_officer("rectify personal data")
    if not isinstance(patch, dict) or not patch:
        raise InvalidInput("empty patch", [("(patch)", "must be a JSON object with at least one field")])
    with session.store.write():
        row = session.member_row(member_id)
        if request is not None:
            requests.fulfil(session, request, member_id, "rectification", now)
        changed, notify = rectify(session, row, patch, now)
        return {"changed": changed, "notify": notify}


def rectify(
    session: Session, row: dict[str, Any], patch: dict[str, Any], now: datetime, detail: dict[str, Any] | None = None, *, channel: str = "officer"
) -> tuple[list[str], list[str]]:
    """Apply a merge patch to a member inside a write: validate, re-seal, re-hash, audit the changed fields.

    A field the policy no longer defines (a consent retired since) goes with
    the rectification, and is audited among the changed fields. A consent
    changed, or given again under wording changed since, gets its receipt
    (through ``channel``) and counts as changed. Each recipient that received
    a field whose value changed is owed a notification (Art. 19). Returns the
    changed fields and those recipients.
    """
    if "applied_at" in patch:
        raise InvalidInput("invalid patch", [("applied_at", "cannot be changed by an update")])
    today = local_date(now)
    before = session.record(row)
    after, _ = session.schema.validate(apply_patch(session.schema.current(before), patch), today=today)
    values = changed_fields(before, after)
    named = patch.get("consents") if isinstance(patch.get("consents"), dict) else {}
    columns, receipt = {}, None
    if named or any(path.startswith("consents.") for path in values):  # the receipts are opened only when consents are touched
        columns, receipt = receipts.record_change(session, row, now, channel, before=before.get("consents", {}), after=after.get("consents", {}),
                                                  regiven=[name for name, value in named.items() if value is True])
        _refuse_while_objecting(session, row, receipt, channel)
    changed = sorted({*values, *(f"consents.{name}" for name in receipt.get("given", {}))}) if receipt else values
    notify: list[str] = []
    if changed:
        member_id = row["member_id"]
        session.store.put_lookups(member_id, session.vault.lookups(after), session.schema.lookup_paths)
        session.store.update_member(member_id, {"box": session.vault.reseal(row, after), "updated_at": today.isoformat(), **columns})
        notify = notifications.after_rectification(session, member_id, values, now)
        session.audit(now, "update", member_id, changed, {**(detail or {}), **({"notify": notify} if notify else {})} or None)
    return changed, notify


def _refuse_while_objecting(session: Session, row: dict[str, Any], receipt: receipts.Event | None, channel: str) -> None:
    """A direct-marketing consent is not given while the member objects to direct marketing (Art. 21(3)), however it comes:
    an officer's update is refused (exit 9, as consent --give is); a self-service row is an invalid row."""
    marketing = session.policies.register.direct_marketing_consents()
    blocked = [name for name in (receipt or {}).get("given", {}) if name in marketing]
    if not blocked or not row.get("objected_at"):
        return
    if channel == "self-service":
        raise InvalidInput("a direct-marketing consent while the member objects to direct marketing",
                           [(f"consents.{name}", "cannot be given while the member objects to direct marketing") for name in blocked])
    refuse_marketing_consent(row, tuple(blocked), marketing, {})
