"""The right to data portability (GDPR Art. 20): the data a member provided, as JSON and CSV, in new files."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import writers
from ..portability import csv_text, document, provided
from ..record import flatten
from . import requests
from .session import Session


def export_portable(session: Session, member_id: str, out: Path, now: datetime, *, request: int | None = None) -> dict[str, Any]:
    """Write the data the member provided (``portability.provided``) to ``out`` as a JSON document and a CSV file.

    Both are new 0600 files written inside the transaction, so an export that
    cannot be delivered is neither audited nor closes the request. The read is
    audited with the fields written.
    """
    session.require_officer("export personal data")
    with session.store.write():
        row = session.member_row(member_id)
        data = provided(session.policies, session.record(row))
        portable = document(session.policies, member_id, data, now)
        if request is not None:
            requests.fulfil(session, request, member_id, "portability", now)
        session.audit(now, "export-portable", member_id, sorted(flatten(data)))
        name = f"portable-{member_id}-{writers.file_stamp(portable['generated_at'])}"
        written = writers.write_documents(out, {
            "json": (f"{name}.json", json.dumps(portable, ensure_ascii=False, indent=2) + "\n"),
            "csv": (f"{name}.csv", csv_text(session.policies, data)),
        })
    return {"member_id": member_id, "fields": portable["fields"], "files": written}
