"""Data-subject rights: erasure (Art. 17), restriction (Art. 18), consent and objection (Art. 7, 21); access is in ``access``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import InvalidInput, Param
from ..model import ERASURE_REASONS, RESTRICTION_GROUNDS, SUPPRESSED_KINDS, local_date, one_of
from ..record import changed_fields
from . import requests
from .session import Session, plain


def erase(
    session: Session, member_id: str, reason: str, now: datetime, *, dry_run: bool = False, suppress: bool = False, request: int | None = None
) -> dict[str, Any]:
    """Erase a member: destroy the data key, delete every row, note the id in the ledger.

    With ``suppress``, keyed hashes of the email and phone are kept so a person
    who objected is flagged if they apply again (opt-in; no value is kept).
    """
    session.require_officer("erase members")
    one_of(reason, ERASURE_REASONS, "reason", "erasure reason")
    with session.store.write():
        row = session.member_row(member_id)
        sections = sorted(session.store.boxes(member_id))
        summary = {"member_id": member_id, "sections": sections, "disclosures": len(session.store.disclosures_of(member_id))}
        if dry_run:
            return {**summary, "erased": False}
        if suppress:
            record = session.record(row, ["contact"])
            lookups = {k: v for k, v in session.vault.lookups(record).items() if k in SUPPRESSED_KINDS}
            session.store.suppress(lookups, local_date(now).isoformat())
        if request is not None:
            requests.fulfil(session, request, member_id, "erasure", now)
        session.erase(member_id, reason, now, "suppress" if suppress else None)
    return {**summary, "erased": True, "suppressed": suppress}


def consent(
    session: Session,
    member_id: str,
    now: datetime,
    *,
    give: tuple[str, ...] = (),
    withdraw: tuple[str, ...] = (),
    object_to_marketing: bool = False,
    request: int | None = None,
) -> dict[str, bool]:
    """Give or withdraw consents; an objection (Art. 21) withdraws every marketing consent."""
    session.require_officer("change consents")
    register = session.policies.register
    unknown = [name for name in [*give, *withdraw] if name not in register.consents]
    if unknown or not (give or withdraw or object_to_marketing):
        raise InvalidInput("invalid consent change", [(Param("give/withdraw"), f"must name one of {', '.join(register.consents)}")])
    marketing = [name for name, c in register.consents.items() if register.purposes[c.purpose].direct_marketing]
    withdrawn = sorted({*withdraw, *(marketing if object_to_marketing else [])})
    with session.store.write():
        row = session.member_row(member_id)
        before = session.record(row)
        consents = {**before.get("consents", {}), **{name: True for name in give}, **{name: False for name in withdrawn}}
        after = {**before, "consents": consents}
        changed = changed_fields(before, after)
        if changed:
            session.store.put_boxes(member_id, session.vault.reseal(row, after))
        today = local_date(now).isoformat()
        plain_changes = {"updated_at": today} if changed else {}
        if object_to_marketing and not row.get("objected_at"):
            plain_changes["objected_at"] = today
        session.store.update_member(member_id, plain_changes)
        if request is not None:
            requests.fulfil(session, request, member_id, "objection", now)
        session.audit(now, "object" if object_to_marketing else "consent", member_id, changed, {"given": sorted(give), "withdrawn": withdrawn})
    return consents


def restrict(session: Session, member_id: str, now: datetime, *, reason: str | None = None, request: int | None = None) -> dict[str, Any]:
    """Restrict processing (Art. 18) on one of its grounds, or lift the restriction (``reason`` None)."""
    session.require_officer("restrict processing")
    if reason is not None:
        one_of(reason, RESTRICTION_GROUNDS, "reason", "restriction ground")
    with session.store.write():
        row = session.member_row(member_id)
        if reason is None:
            if not row.get("restricted_at"):
                raise InvalidInput(f"{member_id} is not restricted", [(Param("lift"), "no restriction to lift")])
            session.store.update_member(member_id, {"restricted_at": None, "restriction_reason": None})
        else:
            session.store.update_member(member_id, {"restricted_at": local_date(now).isoformat(), "restriction_reason": reason})
        if request is not None:
            requests.fulfil(session, request, member_id, "restriction", now)
        session.audit(now, "restrict" if reason else "restrict-lift", member_id, [], {"reason": reason} if reason else {})
        return plain(session.member_row(member_id))
