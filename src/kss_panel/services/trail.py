"""The audit trail as officers and auditors read it: the log, verification, the head."""

from __future__ import annotations

from typing import Any

from .. import audit
from .session import Session


def audit_log(session: Session, member_id: str | None = None) -> list[dict[str, Any]]:
    with session.store.read():
        return [{k: row[k] for k in audit.ENTRY_FIELDS} for row in session.store.audit_rows(member_id)]


def audit_verify(session: Session, head: audit.Head | None = None) -> audit.Head:
    with session.store.read():
        return audit.verify(session.keys.audit, session.register_id, session.store.audit_rows(), head)


def audit_head(session: Session) -> audit.Head:
    return audit_verify(session)
