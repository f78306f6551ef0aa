"""Backups (an online, still-encrypted copy) and restores that erase again everyone erased since."""

from __future__ import annotations

import os
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import files
from ..errors import IntegrityError, InvalidInput, NotFound
from ..keyslots import Credentials
from ..model import local_date
from ..policy import Policies
from ..storage import DEFAULT_BUSY_TIMEOUT
from .session import Session, unlock
from .trail import audit_verify


def backup(session: Session, target: Path, now: datetime) -> dict[str, Any]:
    """An online, consistent, still-encrypted copy of the register (0600)."""
    session.require_officer("back up the register")
    files.reserve_new(target)  # before the audit entry: an existing file is refused with nothing recorded
    try:
        with session.store.write():
            session.audit(now, "backup", None, [], {})
        # SQLite's backup API cannot run inside our own write transaction; the
        # copy is taken right after, and holds the entry that records it.
        session.store.copy_to(target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return {"backup": str(target), "audit_entries": audit_verify(session).seq}


def restore(
    db: Path, source: Path, policies: Policies, credentials: Credentials, now: datetime, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> dict[str, Any]:
    """Replace the register with a backup, then erase again everyone erased since.

    The erasures come from the ledger beside the register and, when it can
    still be read, the current register's own ledger table. The restored audit
    trail records the restore and must verify before the file is replaced.
    """
    if not source.is_file():
        raise NotFound(f"no backup at {source}")
    erased = files.read_ledger(files.ledger_path(db))
    staging = db.with_name(db.name + ".restoring")
    with ExitStack() as hold:
        current_id = _hold_current(hold, db, policies, credentials, busy_timeout, erased)
        staging.unlink(missing_ok=True)
        try:
            with unlock(source, policies, credentials, busy_timeout=busy_timeout) as backup_session:
                if current_id is not None and backup_session.register_id != current_id:
                    raise InvalidInput(f"{source} is a backup of another register", [(str(source), "register id differs")])
                backup_head = audit_verify(backup_session)
                files.reserve_new(staging)
                backup_session.store.copy_to(staging)
            with unlock(staging, policies, credentials, busy_timeout=busy_timeout) as session:
                reapplied = _reapply_erasures(session, db, erased, backup_head.seq, now)
                head = audit_verify(session)
                session.store.sync_ledger()
            db.with_name(db.name + "-journal").unlink(missing_ok=True)  # a stale journal must never be replayed onto another file
            os.replace(staging, db)
        finally:
            staging.unlink(missing_ok=True)
    return {"restored_from": str(source), "erasures_reapplied": reapplied, "audit_entries": head.seq, "head": head.token()}


def _hold_current(hold: ExitStack, db: Path, policies: Policies, credentials: Credentials, busy_timeout: float, erased: dict[str, str]) -> str | None:
    """Unlock the current register (if any) and hold its write lock until it is replaced.

    A purge or erase must not commit to the old file while the backup takes its
    place. Its erasures join ``erased``; its register id is returned.
    """
    if not db.exists():
        return None
    try:
        current = hold.enter_context(unlock(db, policies, credentials, busy_timeout=busy_timeout))
        hold.enter_context(current.store.write())
    except IntegrityError:
        return None  # a corrupt register is what restores are for; the ledger file still speaks
    erased.update({row["member_id"]: row["reason"] for row in current.store.erased()})
    return current.register_id


def _reapply_erasures(session: Session, db: Path, erased: dict[str, str], backup_entries: int, now: datetime) -> int:
    session.store.ledger_path = files.ledger_path(db)
    reapplied = 0
    with session.store.write():
        known = {row["member_id"] for row in session.store.erased()}
        for member_id, reason in sorted(erased.items()):
            if session.store.member(member_id) is not None:
                session.erase(member_id, reason, now, "restore")
                reapplied += 1
            elif member_id not in known:
                session.store.record_erasure(member_id, local_date(now).isoformat(), reason, "restore")
        session.audit(now, "restore", None, [], {"backup_entries": backup_entries, "erasures_reapplied": reapplied})
    return reapplied
