"""An unlocked register, and what every use case shares: members' checked rows and records, the trail, erasure.

A ``Session`` is the store, the policies, and the slot that unlocked it (the
actor, its role, the keys it holds and its signing key). Every function that
reads or changes personal data appends an audit entry in the same
transaction; at commit the session commits every changed member row (and the
slot table) to the trail and signs the transaction's last entry, so a change
and its record commit together or not at all. A member row is checked
against the trail before a command acts on it: a row edited, replayed or
deleted by hand is an integrity failure naming the member (exit 7).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import audit, crypto, keyslots
from ..errors import AuthError, IntegrityError, NotFound
from ..keyslots import Credentials, Keyring, Unlocked
from ..model import local_date
from ..policy import Policies
from ..record import RecordSchema
from ..database import sqlite_errors
from ..storage import DEFAULT_BUSY_TIMEOUT, MEMBER_COLUMNS, Store
from ..vault import Vault

Progress = Callable[[int, int | None], None]


@dataclass
class Session:
    store: Store
    policies: Policies
    register_id: str
    slot: Unlocked
    schema: RecordSchema = field(init=False)
    _vault: Vault | None = field(init=False, default=None)
    _writer: audit.Writer | None = field(init=False, default=None)
    _transaction: int = field(init=False, default=-1)
    _states: dict[str, bytes] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.schema = RecordSchema(self.policies)
        self.store.on_commit = self._before_commit
        self.store.on_change = self._before_change

    @property
    def actor(self) -> str:
        return self.slot.name

    @property
    def role(self) -> str:
        return self.slot.role

    @property
    def keys(self) -> Keyring:
        return self.slot.keys

    @property
    def legacy(self) -> bool:
        """A register not yet upgraded from format 1: no row digests, entries chained with format 1's MAC."""
        return self.slot.status == "legacy"

    def close(self) -> None:
        self.store.on_commit = self.store.on_change = None
        self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def require_officer(self, what: str) -> None:
        """A purger or backup slot holds no data key; refuse before trying anything."""
        if self.role != "officer" or self.keys.data is None or not self.keys.lookup:
            raise AuthError(f"the {self.role} slot {self.actor!r} may not {what}", hints=("use an officer's passphrase or key file",))

    def require_role(self, roles: tuple[str, ...], what: str) -> None:
        """Refuse a slot whose role may not do ``what`` (a backup machine may not purge, say)."""
        if self.role not in roles:
            raise AuthError(f"the {self.role} slot {self.actor!r} may not {what}", hints=("use an officer's passphrase or key file",))

    def rekey(self, slot: Unlocked) -> None:
        """Go on as ``slot`` (after an upgrade or rotation changed the keys or key pair)."""
        self.slot = slot
        self._vault = None

    @property
    def vault(self) -> Vault:
        """Sealing and opening of member records; only an officer's slot holds its keys."""
        if self._vault is None:
            self._vault = Vault(self.register_id, self.keys, self.schema)
        return self._vault

    # --- members ------------------------------------------------------------------------------------------

    def member_row(self, member_id: str) -> dict[str, Any]:
        """A member's stored row, checked against the last row the trail committed to."""
        row = self.find_row(member_id)
        if row is None:
            raise NotFound(f"no member {member_id!r}")
        return row

    def _before_change(self, member_id: str) -> None:
        self.find_row(member_id)

    def find_row(self, member_id: str) -> dict[str, Any] | None:
        """``member_row``, or None for a member who is not there (or was erased)."""
        self._this_transaction()
        row = self.store.member(member_id)
        if row is None:
            if not self.legacy and self.store.member_state(member_id) is not None and not self.store.is_erased(member_id):
                raise _deleted_by_hand(member_id)
            return None
        if not self.legacy and member_id not in self.store.dirty_members:
            self._check(member_id, audit.member_digest(row), self._committed(member_id))
        return row

    def find_rows(self, member_ids: list[str]) -> dict[str, dict[str, Any]]:
        """``find_row`` of many members, by id (those not there are left out): a few queries for them all."""
        self._this_transaction()
        rows = self.store.members_by_id(member_ids)
        self._check_rows(member_ids, rows)
        return rows

    def checked_members(self, status: str) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        """Every member's whole row of ``status`` as a tuple (of the columns returned first), each checked against
        the trail as it is read: one query gives the rows and each one's last committed state (the tuple's last
        item), streamed, so memory stays flat however large the register; no dict per member."""
        self._this_transaction()
        cursor = self.store.members_and_states("status = ?", [status])
        columns = [column[0] for column in cursor.description][:-1]
        return columns, self._checked(cursor, columns)

    def rows_to_check(self, where: str, params: list[Any]) -> tuple[Iterator[dict[str, Any]], Callable[[list[str]], None]]:
        """The members where ``where`` holds (a condition of this package's own), streamed as dicts of their plain
        columns and lookup digests, and a check of any of them against the trail, as ``find_rows`` makes: each row
        is digested as it is read, so none is read twice (a retention plan reads many, and checks those due)."""
        self._this_transaction()
        cursor = self.store.members_and_states(where, params)
        columns = [column[0] for column in cursor.description][:-1]
        digest, kept = audit.member_digester(columns), [(name, columns.index(name)) for name in (*MEMBER_COLUMNS, "lookup_digests")]
        seen: dict[str, tuple[bytes, bytes | None]] = {}

        def rows() -> Iterator[dict[str, Any]]:
            for values in cursor:
                row = {name: values[index] for name, index in kept}
                seen[row["member_id"]] = (digest(values), values[-1])
                yield row

        def check(member_ids: list[str]) -> None:
            for member_id in member_ids:
                if not self.legacy and member_id not in self.store.dirty_members:
                    found, committed = seen[member_id]
                    self._check(member_id, found, committed)  # raises unless the trail committed to this very row
                    self._states[member_id] = found

        return rows(), check

    def _checked(self, rows: Iterable[tuple[Any, ...]], columns: list[str]) -> Iterator[tuple[Any, ...]]:
        digest, member_id_at, dirty, checking = audit.member_digester(columns), columns.index("member_id"), self.store.dirty_members, not self.legacy
        for row in rows:
            if checking and row[-1] != digest(row) and row[member_id_at] not in dirty:
                self._check(row[member_id_at], digest(row), row[-1])  # says how the row fails
            yield row

    def _check_rows(self, member_ids: list[str], rows: dict[str, dict[str, Any]]) -> None:
        """Each member's row must be the one the trail last committed to; a member missing must have been erased."""
        if self.legacy:
            return
        states = self.store.member_states([member_id for member_id in member_ids if member_id not in self._states])
        erased = self.store.erased_among([member_id for member_id in member_ids if member_id not in rows and member_id in states])
        for member_id in member_ids:
            row = rows.get(member_id)
            if row is None:
                if member_id in states and member_id not in erased:
                    raise _deleted_by_hand(member_id)
            elif member_id not in self.store.dirty_members:
                committed = states[member_id] if member_id in states else self._states.get(member_id)
                self._check(member_id, audit.member_digest(row), committed)
                if committed is not None:
                    self._states[member_id] = committed

    def _check(self, member_id: str, digest: bytes, committed: bytes | None) -> None:
        """A member's row (its ``digest``) must be the one the trail last committed to."""
        if committed is None:
            raise IntegrityError(f"member {member_id} has no entry in the audit trail: the row was added by hand")
        if digest != committed:
            raise IntegrityError(f"the row of {member_id} does not match the audit trail: it was changed by hand since its last entry")

    def _committed(self, member_id: str) -> bytes | None:
        if member_id not in self._states:
            state = self.store.member_state(member_id)
            if state is None:
                return None
            self._states[member_id] = state
        return self._states[member_id]

    def record(self, row: dict[str, Any], sections: Iterable[str] | None = None) -> dict[str, Any]:
        """A member's decrypted record (or only ``sections``)."""
        return self.vault.open(row, sections)

    def erase(self, member_id: str, reason: str, now: datetime, rule: str | None = None) -> list[str]:
        """Crypto-shred and delete one member; call inside a write transaction.

        Returns the recipients that received the member, each owed an erasure notification (Art. 19).
        """
        notify = self.store.erase_member(member_id, local_date(now).isoformat(), reason, rule)
        self._states.pop(member_id, None)
        self.audit(now, "erase", member_id, [], {"reason": reason, **({"rule": rule} if rule else {}), **({"notify": notify} if notify else {})})
        return notify

    def erase_rows(self, rows: list[tuple[dict[str, Any], str | None]], reason: str, now: datetime) -> dict[str, list[str]]:
        """``erase`` of many members, each (its row as ``find_rows`` gave it, rule), a statement a table for all.

        Returns, by member, the recipients owed an erasure notification (Art. 19).
        """
        notified = self.store.erase_members([(row["member_id"], row["lookup_digests"], rule) for row, rule in rows], local_date(now).isoformat(), reason)
        writer, at = self.audit_writer(), int(now.timestamp())
        entries: list[dict[str, Any]] = []
        details: dict[tuple[str | None, ...], str | None] = {}
        for row, rule in rows:
            member_id = row["member_id"]
            self._states.pop(member_id, None)
            notify = notified[member_id]
            # Members erased by one rule, with no one to notify, share their entries' detail: encoded once.
            if (key := (rule, *notify)) not in details:
                details[key] = audit.compact_detail({"reason": reason, **({"rule": rule} if rule else {}), **({"notify": notify} if notify else {})})
            entries.append(writer.compact_entry(at, "erase", member_id, "", details[key], None))
        self.store.append_audit(entries)
        return notified

    # --- audit --------------------------------------------------------------------------------------------

    def _this_transaction(self) -> None:
        if self._transaction != self.store.transaction:
            self._transaction = self.store.transaction
            self._writer = None
            self._states = {}

    def audit_writer(self) -> audit.Writer:
        """This transaction's writer of entries after the trail's last; use inside the write transaction."""
        self._this_transaction()
        if self._writer is None:
            signer = self.slot.pair.signer() if self.slot.pair is not None else None
            self._writer = audit.Writer(
                self.register_id, self.actor, self.policies.hash, self.store.last_link(), self.store.fieldset_id,
                signer=signer, legacy_key=self.keys.audit if self.legacy else None,
            )
        return self._writer

    def start_trail(self, link: audit.Link) -> None:
        """Chain this transaction's entries after ``link`` (the upgrade's first entry follows format-1 entries)."""
        self._this_transaction()
        assert self.slot.pair is not None
        self._writer = audit.Writer(self.register_id, self.actor, self.policies.hash, link, self.store.fieldset_id, signer=self.slot.pair.signer())

    def audit(
        self,
        now: datetime,
        action: str,
        member_id: str | None = None,
        fields: Iterable[str] = (),
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one chained entry; an entry about a changed member (or slot table) commits to its row."""
        writer = self.audit_writer()
        state = None if self.legacy else self._state_now(member_id)
        self.store.append_audit([writer.entry(now, action, member_id, fields, detail, state)])

    def _state_now(self, member_id: str | None) -> bytes | None:
        if member_id is None:
            if not self.store.slots_dirty:
                return None
            self.store.slots_dirty = False
            return audit.slots_digest(self.store.slots())
        row = self.store.member(member_id)
        if row is None:
            return None
        current = audit.member_digest(row)
        if member_id not in self.store.dirty_members and self._committed(member_id) == current:
            return None
        self.store.dirty_members.discard(member_id)
        self._states[member_id] = current
        return current

    def _before_commit(self) -> None:
        """Commit what changed without an entry of its own, then sign the transaction's last entry."""
        if self.legacy:
            return
        self._this_transaction()
        changed = sorted(self.store.dirty_members)
        if changed or self.store.slots_dirty:
            writer = self.audit_writer()
            now = datetime.fromtimestamp(writer.last_at or 0, UTC)
            for member_id in changed:
                self.audit(now, "state", member_id)
            if self.store.slots_dirty:
                self.audit(now, "slots")
        if self._writer is not None:
            sealed = self._writer.seal()
            if sealed is not None:
                self.store.sign_entry(*sealed)


def _deleted_by_hand(member_id: str) -> IntegrityError:
    return IntegrityError(f"member {member_id} was deleted by hand: the audit trail has it, and it was never erased")


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A member's plain columns: status and dates, nothing personal."""
    return {column: row.get(column) for column in MEMBER_COLUMNS}


def slot_detail(slot: dict[str, Any]) -> dict[str, Any]:
    """What the trail records of a new slot: who, what it may do, and the key its signatures verify with."""
    return {"officer": slot["name"], "role": slot["role"], "kind": slot["kind"], "verifier": slot["verifier"].hex()}


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
    keyslots.check_passphrase(passphrase)
    kek = keyslots.passphrase_kek(passphrase, kdf or keyslots.calibrate(unlock_seconds))
    register_id = crypto.new_register_id()
    slot = keyslots.new_slot(register_id, Keyring.new(), officer, "officer", now, kek=kek, kind="passphrase")
    opened = keyslots.open_slot(register_id, slot, kek[0])
    assert opened is not None
    meta = {"register_id": register_id, "created_at": now.astimezone(UTC).isoformat(timespec="seconds"), "unlock_seconds": str(unlock_seconds)}
    store = Store.create(path, meta)
    session = Session(store, policies, register_id, opened)
    with store.write():
        store.add_slot(slot)
        session.audit(now, "init", detail=slot_detail(slot))
    return session


def unlock(
    path: Path, policies: Policies, credentials: Credentials, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT, now: datetime | None = None
) -> Session:
    """Open a register and unlock one slot; AuthError when nothing opens.

    The slot table must be the one the trail last committed to, or nothing is
    tried. A format-1 register is upgraded at an officer's unlock, and a slot
    still of format 1 at its owner's (``now`` is the instant of that entry).
    """
    from .upgrade import upgrade_if_needed

    store = Store.open(path, busy_timeout=busy_timeout)
    try:
        with sqlite_errors(path):  # a damaged page in the slot table is a corrupt file, not a bug
            register_id = store.meta("register_id") or ""
            if store.meta("keys_version") != "1":
                check_slot_table(store, register_id)
            opened = keyslots.unlock(store, register_id, credentials)
        session = Session(store, policies, register_id, opened)
        upgrade_if_needed(session, now or datetime.now(UTC))
        return session
    except BaseException:
        store.close()
        raise


def check_slot_table(store: Store, register_id: str) -> None:
    """Refuse a slot table that is not the one the trail last committed to (a removed slot copied back, say)."""
    with store.read():
        committed = store.slots_state()
        if committed is not None and audit.slots_digest(store.slots()) == committed:
            return
        store.verify_trail(register_id)  # names the slot when it can
    raise IntegrityError("the key slot table does not match the audit trail: a slot row was changed by hand")
