"""Data-subject rights: erasure (Art. 17), restriction (Art. 18), consent and objection (Art. 7, 21); access is in ``access``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import InvalidInput, Param
from ..model import (
    ERASURE_REASONS, OBJECTIONS, RESTRICTION_GROUNDS, SUPPRESSED_KINDS, check_consent_change, local_date, objection_columns, one_of,
    refuse_marketing_consent, require_unrestricted,
)
from ..receipts import view as receipt_view
from ..record import changed_fields
from . import notifications, receipts, requests
from .session import Session, plain


def erase(
    session: Session, member_id: str, reason: str, now: datetime, *, dry_run: bool = False, suppress: bool = False, request: int | None = None
) -> dict[str, Any]:
    """Erase a member: destroy the data key, delete every row, note the id in the ledger.

    A restricted member (Art. 18) is refused, dry run or not: the data must be
    kept until the restriction is lifted.

    With ``suppress``, keyed hashes of the email and phone are kept so a person
    who objected is flagged if they apply again (opt-in; no value is kept).
    """
    session.require_officer("erase members")
    one_of(reason, ERASURE_REASONS, "reason", "erasure reason")
    with session.store.write():
        row = session.member_row(member_id)
        require_unrestricted(row)
        sections = sorted(session.record(row))
        summary = {"member_id": member_id, "sections": sections, "disclosures": len(session.store.disclosures_of(member_id))}
        if dry_run:
            return {**summary, "erased": False, "notify": notifications.would_notify(session, member_id)}
        if suppress:
            record = session.record(row, ["contact"])
            lookups = {k: v for k, v in session.vault.lookups(record).items() if k in SUPPRESSED_KINDS}
            session.store.suppress(lookups, local_date(now).isoformat())
        if request is not None:
            requests.fulfil(session, request, member_id, "erasure", now)
        notify = session.erase(member_id, reason, now, "suppress" if suppress else None)
    return {**summary, "erased": True, "suppressed": suppress, "notify": notify}


def consent(
    session: Session,
    member_id: str,
    now: datetime,
    *,
    give: tuple[str, ...] = (),
    withdraw: tuple[str, ...] = (),
    object_to_marketing: bool = False,
    withdraw_objection: bool = False,
    object_to_processing: bool = False,
    lift_processing_objection: bool = False,
    request: int | None = None,
) -> dict[str, Any]:
    """Give or withdraw consents (Art. 7(3)), and record or lift the member's objections (Art. 21).

    An objection to direct marketing (21(2)) withdraws every direct-marketing
    consent and blocks giving one while it stands; the member may withdraw it.
    An objection to processing based on legitimate interests (21(1)) keeps the
    member out of those purposes until lifted. Returns the consents and the
    days of both objections.
    """
    session.require_officer("change consents")
    register = session.policies.register
    marketing = register.direct_marketing_consents()
    objections = {
        kind: change
        for kind, change in (("direct-marketing", _change(object_to_marketing, withdraw_objection)),
                             ("legitimate-interests", _change(object_to_processing, lift_processing_objection)))
        if change
    }
    check_consent_change(register.consents, marketing, give, withdraw, objections)
    withdrawn = sorted({*withdraw, *(marketing if object_to_marketing else [])})
    with session.store.write():
        row = session.member_row(member_id)
        refuse_marketing_consent(row, give, marketing, objections)
        today = local_date(now)
        plain_changes = objection_columns(row, objections, today)
        before = session.record(row)
        consents = {**before.get("consents", {}), **{name: True for name in give}, **{name: False for name in withdrawn}}
        after = {**before, "consents": consents}
        changed = changed_fields(before, after)
        if changed:
            plain_changes["box"] = session.vault.reseal(row, after)
            plain_changes["updated_at"] = today.isoformat()
        made = {kind: change for kind, change in objections.items() if OBJECTIONS[kind] in plain_changes}
        columns, receipt = receipts.record_change(session, row, now, "officer", before=before.get("consents", {}), after=consents,
                                                  regiven=give, objections=made)
        session.store.update_member(member_id, {**plain_changes, **columns})
        if request is not None:
            requests.fulfil(session, request, member_id, "objection", now)
        detail: dict[str, Any] = {"given": sorted(give), "withdrawn": withdrawn, **({"objections": objections} if objections else {})}
        regiven = [f"consents.{name}" for name in (receipt or {}).get("given", {}) if f"consents.{name}" not in changed]
        session.audit(now, _consent_action(objections), member_id, sorted([*changed, *regiven]), detail)
        row = session.member_row(member_id)
    return {"member_id": member_id, "consents": consents, **{column: row[column] for column in OBJECTIONS.values()}, "receipt": receipt_view(receipt)}


def _change(record: bool, lift: bool) -> str | None:
    return "both" if record and lift else "object" if record else "lift" if lift else None


def _consent_action(objections: dict[str, str]) -> str:
    """The audit action: the objection made or lifted, else a consent change."""
    names = {("direct-marketing", "object"): "object", ("legitimate-interests", "object"): "object-processing",
             ("direct-marketing", "lift"): "object-withdraw", ("legitimate-interests", "lift"): "object-processing-lift"}
    return next((names[item] for item in names if item in objections.items()), "consent")


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
            outcome = {"withdrawn_notifications": notifications.after_lift(session, member_id)}
        else:
            session.store.update_member(member_id, {"restricted_at": local_date(now).isoformat(), "restriction_reason": reason})
            outcome = {"notify": [] if row.get("restricted_at") else notifications.after_restriction(session, member_id, now)}
        if request is not None:
            requests.fulfil(session, request, member_id, "restriction", now)
        detail = {**({"reason": reason} if reason else {}), **{key: value for key, value in outcome.items() if value}}
        session.audit(now, "restrict" if reason else "restrict-lift", member_id, [], detail)
        return {**plain(session.member_row(member_id)), **outcome}
