"""Data-subject rights: access (Art. 15), erasure (Art. 17), restriction (Art. 18), consent and objection (Art. 7, 21)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import reports, writers
from ..errors import InvalidInput, Param
from ..model import ERASURE_REASONS, RESTRICTION_GROUNDS, SUPPRESSED_KINDS, local_date, one_of
from ..record import changed_fields, flatten
from ..retention import next_due
from . import members, requests
from .session import Session, plain

ACCESS_EXPORT_SCHEMA = "kss-panel/access-export"
ACCESS_EXPORT_VERSION = 1


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
        sections = sorted(session.record(row))
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
        today = local_date(now).isoformat()
        plain_changes = {"box": session.vault.reseal(row, after), "updated_at": today} if changed else {}
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


def access_export(
    session: Session,
    member_id: str | None,
    now: datetime,
    *,
    lookup: tuple[str, str] | None = None,
    out: Path | None = None,
    request: int | None = None,
) -> dict[str, Any]:
    """The Art. 15 answer: every stored datum and what the register does with it.

    The member is named by id or found by ``lookup`` (kind, value). With
    ``out`` the JSON document and the printable HTML report are written there
    inside the transaction, so an export that cannot be delivered is neither
    audited nor closes the request. Returns the document and the files written.
    """
    session.require_officer("export personal data")
    if member_id is None:
        assert lookup is not None
        member_id = members.find(session, *lookup, now)["member_id"]
    with session.store.write():
        row = session.member_row(member_id)
        record = session.record(row)
        export = _access_document(session, row, record, session.store.disclosures_of(member_id), now)
        if request is not None:
            requests.fulfil(session, request, member_id, "access", now)
        session.audit(now, "export-access", member_id, sorted(flatten(record)))
        written = {} if out is None else _deliver(session, out, export)
    return {"document": export, "files": written}


def _deliver(session: Session, out: Path, export: dict[str, Any]) -> dict[str, str]:
    stamp = export["generated_at"].replace("-", "").replace(":", "").replace("+0000", "Z")
    name = f"access-{export['member']['member_id']}-{stamp}"
    return writers.write_documents(out, {
        "json": (f"{name}.json", json.dumps(export, ensure_ascii=False, indent=2) + "\n"),
        "html": (f"{name}.html", reports.access_html(export, session.policies)),
    })


def _access_document(
    session: Session, row: dict[str, Any], record: dict[str, Any], disclosures: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    register = session.policies.register
    language = record.get("contact", {}).get("language", "fi")
    due = next_due(session.policies.retention, row)
    recipients = session.policies.disclosure.recipients
    return {
        "schema": ACCESS_EXPORT_SCHEMA,
        "schema_version": ACCESS_EXPORT_VERSION,
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "language": language,
        "register": register.register_info.name.get(language),
        "controller": {
            "name": register.controller.name,
            "address": register.controller.address,
            "contact_person": register.controller.contact_person.model_dump(),
        },
        "member": plain(row),
        "data": [{"category": name, "title": register.categories[name].title.get(language), "value": value} for name, value in record.items()],
        "purposes": [{"purpose": name, "title": p.title.get(language), "legal_basis": p.legal_basis} for name, p in register.purposes.items()],
        "disclosures": [
            {
                "recipient": d["recipient"],
                "recipient_name": recipients[d["recipient"]].name if d["recipient"] in recipients else None,
                "country": recipients[d["recipient"]].country if d["recipient"] in recipients else None,
                "purpose": d["purpose"],
                "fields": d["fields"],
                "date": d["disclosed_on"],
            }
            for d in disclosures
        ],
        "retention": (
            {"rule": due[0].name, "description": due[0].description, "erased_on": due[1].isoformat(),
             "held_by_restriction": bool(row.get("restricted_at")) and session.policies.retention.restricted == "hold"}
            if due
            else None
        ),
        "sources": [source.get(language) for source in register.sources],
        "rights": [{"article": r.article, "title": r.title.get(language), "how": r.how.get(language)} for r in register.rights],
    }
