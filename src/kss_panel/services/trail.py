"""The audit trail as officers and auditors read it: the log, verification (no key needed), the head."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import audit
from ..audit_verify import Trail
from ..errors import AuthError
from ..keyslots import Credentials
from ..policy import Policies
from ..storage import DEFAULT_BUSY_TIMEOUT, Store
from .session import Session, unlock


def audit_log(session: Session, member_id: str | None = None) -> list[dict[str, Any]]:
    with session.store.read():
        return list(session.store.audit_rows(member_id))


def audit_verify(session: Session, head: audit.Head | None = None) -> audit.Head:
    """Verify an unlocked register's trail (and its rows against it)."""
    with session.store.read():
        return session.store.verify_trail(session.register_id, head=head, legacy_key=session.keys.audit if session.legacy else None).head


def verify_file(
    db: Path,
    *,
    head: audit.Head | None = None,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    credentials: Callable[[], Credentials] | None = None,
    policies: Callable[[], Policies] | None = None,
) -> Trail:
    """Verify a register's trail with the file alone: the chain, every signature, every row against it.

    Only a register still of format 1 (no officer has unlocked it since the
    upgrade of the software) needs ``credentials``, to check format 1's MAC.
    """
    store = Store.open(db, busy_timeout=busy_timeout)
    try:
        if store.meta("keys_version") != "1":
            with store.read():
                return store.verify_trail(store.meta("register_id") or "", head=head)
    finally:
        store.close()
    if credentials is None or policies is None:
        raise AuthError("this register's trail is still format 1: verifying it needs a key until an officer unlocks it once",
                        hints=("pass --officer or --key-file",))
    with unlock(db, policies(), credentials(), busy_timeout=busy_timeout) as session, session.store.read():
        return session.store.verify_trail(session.register_id, head=head, legacy_key=session.keys.audit if session.legacy else None)
