"""An unlocked register, and what every use case shares: members' rows and records, the audit writer, erasure.

A ``Session`` is the store, the policies, the slot that unlocked it (the
actor) and the keys that slot holds. Every function that reads or changes
personal data appends an audit entry in the same transaction, so the change
and its record commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import audit, crypto, keyslots
from ..errors import AuthError, NotFound
from ..keyslots import Credentials, Keyring
from ..model import local_date
from ..policy import Policies
from ..record import RecordSchema
from ..database import sqlite_errors
from ..storage import DEFAULT_BUSY_TIMEOUT, MEMBER_COLUMNS, Store
from ..vault import Vault


@dataclass
class Session:
    store: Store
    policies: Policies
    register_id: str
    actor: str
    role: str
    keys: Keyring
    schema: RecordSchema = field(init=False)
    _vault: Vault | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.schema = RecordSchema(self.policies)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def require_officer(self, what: str) -> None:
        """A purger slot holds no data key; refuse before trying anything."""
        if self.role != "officer" or self.keys.data is None or self.keys.lookup is None:
            raise AuthError(f"the {self.role} slot {self.actor!r} may not {what}", hints=("use an officer's passphrase or key file",))

    @property
    def vault(self) -> Vault:
        """Sealing and opening of member records; only an officer's slot holds its keys."""
        if self._vault is None:
            self._vault = Vault(self.register_id, self.keys, self.schema)
        return self._vault

    # --- members ------------------------------------------------------------------------------------------

    def member_row(self, member_id: str) -> dict[str, Any]:
        row = self.store.member(member_id)
        if row is None:
            raise NotFound(f"no member {member_id!r}")
        return row

    def record(self, row: dict[str, Any], sections: Iterable[str] | None = None) -> dict[str, Any]:
        """A member's decrypted record (or only ``sections``)."""
        return self.vault.open(row, self.store.boxes(row["member_id"]), sections)

    def erase(self, member_id: str, reason: str, now: datetime, rule: str | None = None) -> None:
        """Crypto-shred and delete one member; call inside a write transaction."""
        self.store.erase_member(member_id, local_date(now).isoformat(), reason, rule)
        self.audit(now, "erase", member_id, [], {"reason": reason, **({"rule": rule} if rule else {})})

    # --- audit --------------------------------------------------------------------------------------------

    def audit_writer(self) -> audit.Writer:
        """Seals this actor's entries after the trail's last; use inside the write transaction."""
        return audit.Writer(self.keys.audit, self.register_id, self.actor, self.policies.hash, self.store.last_audit())

    def audit(self, now: datetime, action: str, member_id: str | None = None, fields: Iterable[str] = (), detail: dict[str, Any] | None = None) -> None:
        """Append one chained entry (see ``audit.Writer.entry``); call inside the write transaction it records."""
        self.store.append_audit([self.audit_writer().entry(now, action, member_id, fields, detail)])


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A member's plain columns: status and dates, nothing personal."""
    return {column: row.get(column) for column in MEMBER_COLUMNS}


def init_register(
    path: Path,
    policies: Policies,
    officer: str,
    passphrase: str,
    kdf: crypto.KdfParams | None,
    now: datetime,
    *,
    unlock_seconds: float = 0.5,
) -> Session:
    """Create a register with fresh random keys and its first officer's slot.

    ``kdf`` None tunes Argon2id here so one unlock takes about ``unlock_seconds``.
    """
    keyslots.check_officer_name(officer)
    kdf = kdf or keyslots.calibrate(unlock_seconds)
    register_id = crypto.new_register_id()
    keys = Keyring.new()
    slot = keyslots.new_slot(register_id, keys, officer, "officer", now, passphrase=passphrase, kdf=kdf)
    meta = {"register_id": register_id, "created_at": now.astimezone(UTC).isoformat(timespec="seconds"), "unlock_seconds": str(unlock_seconds)}
    store = Store.create(path, meta)
    session = Session(store, policies, register_id, officer, "officer", keys)
    with store.write():
        store.add_slot(slot)
        session.audit(now, "init", detail={"officer": officer})
    return session


def unlock(path: Path, policies: Policies, credentials: Credentials, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Session:
    """Open a register and unlock one slot; AuthError when nothing opens."""
    store = Store.open(path, busy_timeout=busy_timeout)
    try:
        with sqlite_errors(path):  # a damaged page in the slot table is a corrupt file, not a bug
            register_id = store.meta("register_id") or ""
            opened = keyslots.unlock(store, register_id, credentials)
        return Session(store, policies, register_id, opened.name, opened.role, opened.keys)
    except BaseException:
        store.close()
        raise
