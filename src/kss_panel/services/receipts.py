"""Consent receipts (GDPR Art. 7(1)): written with every consent change, read by show, the access export and re-consent lists.

Every path that changes a member's consents (enrol, import, consent, update,
import --updates) records the change here, inside its own transaction, so a
change and its receipt commit together. The receipts live in a box of their own
sealed under the member's data key (``vault``); the wording each version
stands for is kept in ``consent_wordings``, and checked against its version
whenever it is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ..errors import IntegrityError
from ..model import OBJECTIONS, STATUSES, local_date, member_order, one_of
from ..policy_schema import dump
from ..receipts import Event, consent_change, current_versions, enrolment_receipt, history, outdated, receipt, standing, wording_version
from .session import Session, plain

FIELD = "consent_receipts"  # what an audit entry names when receipts are read


def on_enrolment(session: Session, record: dict[str, Any], now: datetime, channel: str) -> Event | None:
    """The receipt of the consents a new applicant gives in the application (None if they give none)."""
    return enrolment_receipt(record, versions=current_versions(session.policies.register), now=now, channel=channel, slot=session.actor)


def record_change(
    session: Session, row: dict[str, Any], now: datetime, channel: str, *, before: dict[str, bool], after: dict[str, bool],
    regiven: Iterable[str] = (), objections: dict[str, str] | None = None,
) -> tuple[dict[str, Any], Event | None]:
    """Inside a write: the receipt of one member's consent change, if anything changed.

    Returns the member columns to update (the receipts box sealed again with the
    new receipt, or nothing) and the receipt.
    """
    current = current_versions(session.policies.register)
    events = session.vault.receipts(row)
    given, withdrawn = consent_change(before, after, current, standing(events), regiven)
    event = receipt(now, channel, session.actor, given, withdrawn, objections)
    if event is None:
        return {}, None
    keep_wordings(session, [*given, *withdrawn], now)
    return {"receipts": session.vault.reseal_receipts(row, [*events, event])}, event


def keep_wordings(session: Session, names: Iterable[str], now: datetime) -> None:
    """Keep the wording of each consent named, as the policy states it now, under its version (once)."""
    consents = session.policies.register.consents
    session.store.keep_wordings(
        [(name, wording_version(consents[name].text), dump(consents[name].text)) for name in sorted(set(names))],
        local_date(now).isoformat(),
    )


def consent_view(session: Session, row: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """A member's consent history and the consents they hold under wording that has changed since."""
    current = current_versions(session.policies.register)
    events = session.vault.receipts(row)
    return {
        "consent_history": history(events, current),
        "outdated_consents": outdated(record.get("consents", {}), standing(events), current),
    }


def wordings(session: Session, versions: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
    """The text each (consent, version) stands for, checked against its version: a text edited by hand is an integrity failure."""
    kept = session.store.wordings()
    found: dict[tuple[str, str], dict[str, str]] = {}
    for key in set(versions):
        if key not in kept:
            continue
        text = kept[key][0]
        if wording_version(text) != key[1]:
            raise IntegrityError(f"the wording of consent {key[0]} version {key[1]} does not match its version: it was changed by hand")
        found[key] = text
    return found


def outdated_members(
    session: Session, consent: str, now: datetime, *, status: str | None = None, restricted: bool = False, objected: bool = False,
    names: bool = False,
) -> list[dict[str, Any]]:
    """Members who hold ``consent`` under wording that has changed since (or with no receipt): the re-consent list.

    Decrypts each member's consents and receipts (and with ``names`` their
    names; audited: one entry with the count), so an officer's slot is needed.
    Each row is the member's plain columns with the version given under (None:
    no receipt) and when.
    """
    one_of(consent, session.policies.register.consents, "consent_outdated", "consent")
    if status is not None:
        one_of(status, STATUSES, "status", "status")
    session.require_officer("read members' consents")
    current = current_versions(session.policies.register)
    found = []
    with session.store.write():
        for listed in session.store.iter_members(status):
            if (restricted and not listed["restricted_at"]) or (objected and not any(listed[c] for c in OBJECTIONS.values())):
                continue
            row = session.member_row(listed["member_id"])
            given_under = standing(session.vault.receipts(row))
            opened = session.record(row, ["consents", "contact"] if names else ["consents"])
            if consent in outdated(opened.get("consents", {}), given_under, {consent: current[consent]}):
                version, at = given_under.get(consent, (None, None))
                contact = opened.get("contact", {})
                found.append({**plain(row), "given_version": version, "given_at": _iso(at), "current_version": current[consent],
                              **({"first_name": contact.get("first_name"), "last_name": contact.get("last_name")} if names else {})})
        found.sort(key=member_order)
        read = [f"consents.{consent}", FIELD, *(["contact.first_name", "contact.last_name"] if names else [])]
        session.audit(now, "list-consent-outdated", None, read, {"consent": consent, "members": len(found)})
    return found


def _iso(at: int | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
