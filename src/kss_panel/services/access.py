"""The right of access (GDPR Art. 15): a member's whole answer, as a JSON document and a printable report."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import access_accountability, access_report, reports, writers
from ..access_document import access_document
from ..access_surveys import participation
from ..policy import LANGUAGES
from ..record import flatten
from ..model import one_of
from . import members, receipts, requests
from .session import Session, plain


def access_export(
    session: Session,
    member_id: str | None,
    now: datetime,
    *,
    lookup: tuple[str, str] | None = None,
    out: Path | None = None,
    request: int | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """The Art. 15 answer: every stored datum and what the register does with it.

    The member is named by id or found by ``lookup`` (kind, value). The answer
    is in the member's language unless ``language`` says otherwise. With
    ``out`` the JSON document and the printable HTML report are written there
    inside the transaction, so an export that cannot be delivered is neither
    audited nor closes the request. Returns the document and the files written.
    """
    session.require_officer("export personal data")
    if language is not None:
        one_of(language, LANGUAGES, "language", "language")
    if member_id is None:
        assert lookup is not None
        member_id = members.find(session, *lookup, now)["member_id"]
    with session.store.write():
        row = session.member_row(member_id)
        record = session.record(row)
        chosen = language or record.get("contact", {}).get("language", "fi")
        surveys = participation(session.store.participation_of(member_id))
        export = access_document(session.policies, plain(row), record, session.store.disclosures_of(member_id), now, chosen, surveys)
        export.update(_accountability(session, row, record, chosen))
        if request is not None:
            requests.fulfil(session, request, member_id, "access", now)
        read = [*flatten(record), *([receipts.FIELD] if export["consent_history"] else [])]
        session.audit(now, "export-access", member_id, sorted(read))
        written = {} if out is None else _deliver(session, out, export)
    return {"document": export, "files": written}


def _accountability(session: Session, row: dict[str, Any], record: dict[str, Any], language: str) -> dict[str, Any]:
    """The consent history with the wordings it names (Art. 7(1)), and the recipients told of changes (Art. 19)."""
    consents = receipts.consent_view(session, row, record)
    named = [(line["consent"], line["version"]) for line in consents["consent_history"] if line["consent"] and line["event"] == "given"]
    wordings = receipts.wordings(session, named)
    notified = session.store.notifications(member_id=row["member_id"])
    return access_accountability.document_part(session.policies, consents, wordings, notified, language)


def _deliver(session: Session, out: Path, export: dict[str, Any]) -> dict[str, str]:
    name = f"access-{export['member']['member_id']}-{writers.file_stamp(export['generated_at'])}"
    return writers.write_documents(out, {
        "json": (f"{name}.json", json.dumps(export, ensure_ascii=False, indent=2) + "\n"),
        "html": (f"{name}.html", reports.html(access_report.report(export, session.policies))),
    })
