"""The Art. 15 answer as a versioned JSON document: a member's data and everything the register does with it.

Pure: built from the policies, the member's plain row, their decrypted record
and disclosure log, the instant and the language. Codes stay codes here (the
document is for scripts too); every text meant for the member is in the
document's language, and the printable report (``access_report``) turns the
codes into words.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .model import OBJECTION_ARTICLES, OBJECTIONS, objection_against
from .policy import Policies, Recipient
from .policy_schema import dump
from .record import flatten
from .retention import next_due

ACCESS_EXPORT_SCHEMA = "kss-panel/access-export"
# Version 1 throughout: every key added since the first version is an addition, none changed or removed.
ACCESS_EXPORT_VERSION = 1


def access_document(
    policies: Policies, row: dict[str, Any], record: dict[str, Any], disclosures: list[dict[str, Any]], now: datetime, language: str,
    surveys: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every stored datum, purpose, recipient (past and future), transfer, retention and right, in ``language``.

    ``row`` is the member's plain columns (status and dates, nothing sealed);
    ``surveys`` the member's invitations, responses and draw entries (``access_surveys.participation``).
    """
    register = policies.register
    due = next_due(policies.retention, row)
    return {
        "schema": ACCESS_EXPORT_SCHEMA,
        "schema_version": ACCESS_EXPORT_VERSION,
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "language": language,
        "register": register.register_info.name.get(language),
        "controller": _controller(policies, language),
        "member": dict(row),
        "objections": [
            {"objection": kind, "article": OBJECTION_ARTICLES[kind], "since": row[column]} for kind, column in OBJECTIONS.items() if row.get(column)
        ],
        "rejection": _rejection(policies, row, language),
        "data": [{"category": name, "title": register.categories[name].title.get(language), "value": value} for name, value in record.items()],
        "purposes": [
            {"purpose": name, "title": p.title.get(language), "legal_basis": p.legal_basis,
             "description": p.description.get(language) if p.description else None,
             "legitimate_interest": p.legitimate_interest.get(language) if p.legitimate_interest else None}
            for name, p in register.purposes.items()
        ],
        "recipients": recipients_of(policies, row, record, language),
        "transfers": _transfers(policies, row, record, language),
        "disclosures": [_disclosure(policies.disclosure.recipients, d) for d in disclosures],
        "surveys": surveys or [],
        "retention": (
            {"rule": due[0].name, "description": due[0].description.get(language), "erased_on": due[1].isoformat(),
             "held_by_restriction": bool(row.get("restricted_at")) and policies.retention.restricted == "hold"}
            if due
            else None
        ),
        "automated_decisions": register.register_info.automated_decisions.get(language),
        "sources": [source.get(language) for source in register.sources],
        "rights": [{"article": r.article, "title": r.title.get(language), "how": r.how.get(language)} for r in register.rights],
    }


def _controller(policies: Policies, language: str) -> dict[str, Any]:
    controller = policies.register.controller
    person = controller.contact_person
    found = {
        "name": controller.name,
        "address": controller.address,
        "contact_person": {"name": person.name, "role": person.role.get(language), "email": person.email},
    }
    if controller.data_protection_officer is not None:
        found["data_protection_officer"] = dump(controller.data_protection_officer)
    return found


def _rejection(policies: Policies, row: dict[str, Any], language: str) -> dict[str, Any] | None:
    reason = row.get("rejection_reason")
    if row.get("status") != "rejected" or not reason:
        return None
    label = policies.register.rejection_reasons.get(reason)
    return {"reason": reason, "text": label.get(language) if label else None}


def recipients_of(policies: Policies, row: dict[str, Any], record: dict[str, Any], language: str) -> list[dict[str, Any]]:
    """The recipients that hold or will receive this member's data, under the policy and the member's consents.

    As ``export disclosure`` selects: only an admitted member, for a purpose
    no objection of theirs covers (Art. 21) and that needs no consent or whose
    consent the member gave; while processing is restricted, nothing is disclosed
    (``held_by_restriction``). A hosting recipient holds every field the
    member has, whatever their status.
    """
    consents = record.get("consents", {})
    restricted = bool(row.get("restricted_at"))
    found = []
    for key, recipient in policies.disclosure.recipients.items():
        if recipient.access == "hosting":
            purposes, fields = [], sorted(flatten(record))
        else:
            if row.get("status") != "member":
                continue
            purposes = [
                {"purpose": purpose, "consent": None if grant.consent == "none" else grant.consent}
                for purpose, grant in recipient.purposes.items()
                if (grant.consent == "none" or consents.get(grant.consent))
                and not objection_against(row, policies.register.purposes[purpose])
            ]
            fields = list(recipient.fields)
        if recipient.access == "hosting" or purposes:
            found.append({
                "recipient": key, **_identity(recipient, language), "access": recipient.access,
                "purposes": purposes, "fields": fields, "held_by_restriction": restricted and recipient.access == "export",
            })
    return found


def _identity(recipient: Recipient, language: str) -> dict[str, Any]:
    return {
        "name": recipient.name, "category": recipient.category.get(language), "role": recipient.role,
        "country": recipient.country, "in_eu_eea": recipient.in_eu_eea, "safeguard": recipient.safeguard,
    }


def _transfers(policies: Policies, row: dict[str, Any], record: dict[str, Any], language: str) -> dict[str, Any]:
    """Art. 15(2): the recipients outside the EU/EEA among this member's, and the safeguard of each."""
    outside = [
        {"recipient": r["recipient"], "country": r["country"], "safeguard": r["safeguard"]}
        for r in recipients_of(policies, row, record, language)
        if not r["in_eu_eea"]
    ]
    return {"statement": policies.disclosure.transfers.get(language), "outside_eu_eea": outside}


def _disclosure(recipients: dict[str, Recipient], entry: dict[str, Any]) -> dict[str, Any]:
    recipient = recipients.get(entry["recipient"])
    return {
        "recipient": entry["recipient"],
        "recipient_name": recipient.name if recipient else None,
        "country": recipient.country if recipient else None,
        "purpose": entry["purpose"],
        "fields": entry["fields"],
        "date": entry["disclosed_on"],
    }
