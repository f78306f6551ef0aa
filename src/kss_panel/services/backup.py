"""Backups (an online, still-encrypted copy, by any slot) and restores (an officer's act) that erase
again everyone erased since and remove again every slot removed since."""

from __future__ import annotations

import os
import sqlite3
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import files
from ..errors import IntegrityError, InvalidInput, NotFound
from ..keyslots import Credentials
from ..model import local_date
from ..policy import Policies
from ..database import sqlite_errors
from ..storage import DEFAULT_BUSY_TIMEOUT
from . import keys
from .session import Session, unlock
from .trail import audit_verify

STAGING = "restoring"


def backup(session: Session, target: Path, now: datetime) -> dict[str, Any]:
    """An online, consistent, still-encrypted copy of the register (0600).

    Any slot may take one, a purger's or a backup machine's key file too: it
    copies ciphertext and decrypts nothing.
    """
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
    """Put a backup back, then erase again everyone erased since and remove again every slot removed since.

    Only an officer may restore. The backup is copied to a staging file and
    brought up to date there: the erasures come from the ledger beside the
    register and, when it can still be read, the current register's own
    table; the slots removed since are those the current register no longer
    has (or, when it cannot be read, that the ledger names), and after
    removing them the keys are rotated, since the removed officers knew the
    backup's keys. The staging trail must verify. Then the current register
    is rewritten in place, in one transaction under its write lock, so no
    command commits to it meanwhile and its old content is zeroed (never
    handed back to the file system); the staging file is zeroed and removed.
    """
    if not source.is_file():
        raise NotFound(f"no backup at {source}")
    erased = files.read_ledger(files.ledger_path(db))
    staging = db.with_name(db.name + "." + STAGING)
    files.wipe(staging)  # a restore killed half-way left one
    files.reserve_new(staging)
    with ExitStack() as hold:
        hold.callback(files.wipe, staging)
        current = _hold_current(hold, db, policies, credentials, busy_timeout, staging, now)
        _copy_file(source, staging)
        with unlock(staging, policies, credentials, busy_timeout=busy_timeout, now=now) as session:
            session.require_officer("restore the register")
            if current is not None and session.register_id != current.register_id:
                raise InvalidInput(f"{source} is a backup of another register", [(str(source), "register id differs")])
            backup_head = audit_verify(session)
            session.store.ledger_path = files.ledger_path(db)
            if current is not None:
                erased.update({row["member_id"]: row["reason"] for row in current.store.erased()})
            removed = _reapply_removals(session, db, {s["name"] for s in current.store.slots()} if current else None, now)
            reapplied = _reapply_erasures(session, erased, backup_head.seq, now)
            head = audit_verify(session)
            session.store.sync_ledger()
        if current is None:
            _replace(staging, db)
        else:
            with current.store.write():
                _rewrite_in_place(current.store.conn)
                current.store.on_commit = None  # the rows are the staging file's, signed there
    return {"restored_from": str(source), "erasures_reapplied": reapplied, "slots_removed": removed, "audit_entries": head.seq,
            "head": head.token()}


def _hold_current(
    hold: ExitStack, db: Path, policies: Policies, credentials: Credentials, busy_timeout: float, staging: Path, now: datetime
) -> Session | None:
    """The current register (if it opens), unlocked as an officer, with the staging file attached to it."""
    if not db.exists():
        return None
    try:
        current = hold.enter_context(unlock(db, policies, credentials, busy_timeout=busy_timeout, now=now))
    except IntegrityError:
        return None  # a corrupt register is what restores are for; the ledger file still speaks
    current.require_officer("restore the register")
    with sqlite_errors(staging, "the restore's staging copy"):
        current.store.conn.execute(f"ATTACH DATABASE ? AS {STAGING}", (str(staging),))
    hold.callback(current.store.conn.execute, f"DETACH DATABASE {STAGING}")
    return current


def _copy_file(source: Path, target: Path) -> None:
    """SQLite's backup API from a backup file into the reserved staging file; the backup file is only read."""
    reader, writer = sqlite3.connect(source), sqlite3.connect(target)
    try:
        with sqlite_errors(target, "the restore's staging copy"):
            reader.backup(writer)
    finally:
        reader.close()
        writer.close()


def _rewrite_in_place(conn: sqlite3.Connection) -> None:
    """Every table of the register replaced by the staging file's, row for row, inside the caller's transaction.

    ``secure_delete`` zeroes the old rows where they lay and the log is wiped
    after the commit, so nothing of the old content survives on the disk.
    """
    tables = [row[0] for row in conn.execute(f"SELECT name FROM {STAGING}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    existing = {row[0] for row in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}
    for name in existing - set(tables):
        if not name.startswith("sqlite_"):
            conn.execute(f'DELETE FROM main."{name}"')
    for name in tables:
        columns = ", ".join(f'"{row[1]}"' for row in conn.execute(f'PRAGMA {STAGING}.table_info("{name}")'))
        conn.execute(f'DELETE FROM main."{name}"')
        conn.execute(f'INSERT INTO main."{name}" ({columns}) SELECT {columns} FROM {STAGING}."{name}"')


def _replace(staging: Path, db: Path) -> None:
    """No current register (lost, or too damaged to open): the staging file takes its place; a damaged one is zeroed."""
    old = os.open(db, os.O_WRONLY) if db.exists() else None
    os.replace(staging, db)
    if old is not None:
        files.zero_descriptor(old)


def _reapply_removals(session: Session, db: Path, current: set[str] | None, now: datetime) -> list[str]:
    """Remove again the slots removed since the backup, then rotate, in one transaction."""
    ledger = set(files.removed_slots(files.ledger_path(db)))
    with session.store.write():
        names = [s["name"] for s in session.store.slots()]
        gone = [name for name in sorted(names) if (name not in current if current is not None else name in ledger) and name != session.actor]
        rotate = bool(gone) and not any(s["legacy"] is not None for s in session.store.slots() if s["name"] not in gone)
        if rotate:
            keys.check_rotation(session)
        for name in gone:
            session.store.remove_slot(name, local_date(now).isoformat())
            session.audit(now, "officer-remove", detail={"officer": name, "rotate": rotate, "restore": True})
        if rotate:
            keys.rotate_in(session, now)
    return gone


def _reapply_erasures(session: Session, erased: dict[str, str], backup_entries: int, now: datetime) -> int:
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
