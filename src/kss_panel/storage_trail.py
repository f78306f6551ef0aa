"""The trail's tables in the register file: entries, interned field lists (a part of ``storage.Store``).

Entries are compact: times as integers, the policy hash as 8 bytes, the list
of field names as the id of a row of ``fieldsets`` (an import's thousands of
entries share one), hashes and signatures as binary. ``audit log`` sees them
as ever: ISO times, lists of names, hex policy hashes, detail objects.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from .audit import STATE_PREFIX, Head, Link, signed_message
from .audit_signatures import EARLY
from .audit_verify import CHECKPOINT, Checkpoint, Trail, TrailRow, check_members, check_slots, verify_chain
from .errors import IntegrityError
from .migrations import STATE_KEY

STATE_CHUNK = 500
TRAIL_COLUMNS = ("seq", "at", "actor", "action", "member_id", "fields", "policy", "detail", "state", "hash", "sig", "mac")


class TrailTables:
    """The audit entries; mixed into ``Store``."""

    # Store provides these; ``trail_changes`` counts this transaction's rows of the trail's own tables.
    conn: sqlite3.Connection
    _fieldset_ids: dict[str, int]
    trail_changes: int

    def append_audit(self, entries: list[dict[str, Any]]) -> None:
        # Bound by position: an import or a purge appends thousands at a time.
        rows = [(e["seq"], e["at"], e["actor"], e["action"], e["member_id"], e["fields"], e["policy"], e["detail"], e["state"], e.get("hash"), e.get("mac"))
                for e in entries]
        self.conn.executemany(
            "INSERT INTO audit (seq, at, actor, action, member_id, fields, policy, detail, state, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        self.trail_changes += len(rows)

    def sign_entry(self, seq: int, chain_hash: bytes, signature: bytes) -> None:
        self.conn.execute("UPDATE audit SET hash = ?, sig = ? WHERE seq = ?", (chain_hash, signature, seq))
        self.trail_changes += 1

    def last_link(self) -> Link | None:
        row = self.conn.execute("SELECT seq, at, hash, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return Link(*row) if row else None

    def member_state(self, member_id: str) -> bytes | None:
        """The row digest of the last entry that committed to this member, if any."""
        row = self.conn.execute(
            # "+member_id": the whole id is compared in the row, the index found by its first characters.
            f"SELECT state FROM audit WHERE {STATE_KEY} = ? AND +member_id = ? AND state IS NOT NULL ORDER BY seq DESC LIMIT 1",
            (member_id[:STATE_PREFIX], member_id),
        ).fetchone()
        return row[0] if row else None

    def members_and_states(self, where: str, params: list[Any]) -> sqlite3.Cursor:
        """The members where ``where`` holds (a condition of this package's own on their columns, never of input),
        all columns and last the row digest of the last entry that committed to each (NULL if none), in the order
        they were enrolled: one query, streamed, nothing sorted (each state found along the trail's index)."""
        return self.conn.execute(
            f"SELECT m.*, (SELECT state FROM audit WHERE {STATE_KEY} = substr(m.member_id, 1, {STATE_PREFIX}) AND +member_id = m.member_id"
            f" AND state IS NOT NULL ORDER BY seq DESC LIMIT 1) FROM members m WHERE {where} ORDER BY m.rowid",
            params,
        )

    def member_states(self, member_ids: list[str]) -> dict[str, bytes]:
        """``member_state`` of many members, a query a few hundred of them."""
        found: dict[str, bytes] = {}
        for start in range(0, len(member_ids), STATE_CHUNK):
            chunk = member_ids[start : start + STATE_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found.update(self.conn.execute(
                f"SELECT member_id, state FROM audit WHERE seq IN (SELECT max(seq) FROM audit WHERE {STATE_KEY} IN ({marks})"
                f" AND +member_id IN ({marks}) AND state IS NOT NULL GROUP BY member_id)", [*(member_id[:STATE_PREFIX] for member_id in chunk), *chunk]
            ))
        return found

    def slots_state(self) -> bytes | None:
        """The slot-table digest of the last entry that committed to it, if any."""
        row = self.conn.execute(
            f"SELECT state FROM audit WHERE {STATE_KEY} IS NULL AND +member_id IS NULL AND state IS NOT NULL ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def fieldset_id(self, paths: str) -> int | None:
        """The id of a comma-joined list of field names, added on first use (None for no fields)."""
        if not paths:
            return None
        if paths not in self._fieldset_ids:
            found = self.conn.execute("SELECT id FROM fieldsets WHERE paths = ?", (paths,)).fetchone()
            if found is None:
                self.trail_changes += 1
            self._fieldset_ids[paths] = found[0] if found else int(self.conn.execute("INSERT INTO fieldsets (paths) VALUES (?)", (paths,)).lastrowid or 0)
        return self._fieldset_ids[paths]

    def fieldsets(self) -> dict[int, str]:
        return dict(self.conn.execute("SELECT id, paths FROM fieldsets").fetchall())

    def verify_trail(self, register_id: str, *, head: Head | None = None, legacy_key: bytes | None = None, states: bool = False) -> Trail:
        """Verify the chain and signatures (no key needed once upgraded), then every row against it; with ``states``
        the trail keeps each member's last state (``Trail.states``)."""
        trail = self.walk_trail(register_id, head=head, legacy_key=legacy_key, states=states)
        if trail.upgraded:
            check_slots(trail, self.slots())  # type: ignore[attr-defined]
            cursor = self.conn.execute("SELECT * FROM members ORDER BY member_id")
            # Each member's entries, in the order of the state index (no sort): see check_members.
            entries = self.conn.execute(f"SELECT member_id, seq, state FROM audit WHERE state IS NOT NULL ORDER BY {STATE_KEY}, seq")
            check_members(trail, [column[0] for column in cursor.description], cursor, entries)
        return trail

    def walk_trail(self, register_id: str, *, head: Head | None = None, legacy_key: bytes | None = None, states: bool = False) -> Trail:
        """The chain and its signatures only (``verify_chain``); the first signatures go to a worker before the walk."""
        return verify_chain(register_id, self.trail_rows(), self.fieldsets(), legacy_key=legacy_key, head=head,
                            checkpoint=self.checkpoint(), states=states, early=self.early_signatures(register_id))

    def early_signatures(self, register_id: str) -> list[tuple[int, bytes, bytes, bytes]]:
        """The first signed entries (``audit_signatures.EARLY``), each with the key its slot has now and the message
        its stored hash makes. The walk uses an answer only for the very check it makes itself."""
        keys = {name: key for name, key in self.conn.execute("SELECT name, verifier FROM slots") if isinstance(key, bytes)}
        rows = self.conn.execute("SELECT seq, actor, hash, sig FROM audit WHERE sig IS NOT NULL ORDER BY seq LIMIT ?", (EARLY,))
        return [(seq, keys[actor], sig, signed_message(register_id, seq, stored)) for seq, actor, stored, sig in rows
                if isinstance(seq, int) and isinstance(stored, bytes) and isinstance(sig, bytes) and isinstance(actor, str) and actor in keys]

    def trail_rows(self, through: int | None = None) -> Iterator[TrailRow]:
        """Every entry as stored (up to ``through``), oldest first, for verification (a cursor: nothing to clean up)."""
        where, params = ("WHERE seq <= ?", (through,)) if through is not None else ("", ())
        return self.conn.execute(f"SELECT {', '.join(TRAIL_COLUMNS)} FROM audit {where} ORDER BY seq", params)

    def checkpoint(self) -> Checkpoint | None:
        """Where a pruned trail starts (None when it starts at entry 1); IntegrityError when entries are gone unexplained."""
        first = self.conn.execute("SELECT min(seq) FROM audit").fetchone()[0]
        if first is None or first == 1:
            return None
        for seq, detail in self.conn.execute("SELECT seq, detail FROM audit WHERE action = ? ORDER BY seq DESC", (CHECKPOINT,)):
            found = Checkpoint.parse(seq, detail)
            if found.pruned_through == first - 1:
                return found
        raise IntegrityError(f"audit entries 1 to {first - 1} are missing, and no checkpoint says they were pruned: they were deleted")

    def last_command_before(self, at: int) -> int | None:
        """The last signed entry (the end of a command) written before ``at`` (seconds, UTC)."""
        row = self.conn.execute("SELECT max(seq) FROM audit WHERE sig IS NOT NULL AND at < ?", (at,)).fetchone()
        return row[0] if row else None

    def prune_trail(self, through: int) -> int:
        """Delete the entries up to ``through`` (secure_delete zeroes them); a checkpoint entry must say so."""
        deleted = self.conn.execute("DELETE FROM audit WHERE seq <= ?", (through,)).rowcount
        self.trail_changes += deleted
        return deleted

    def audit_rows(self, member_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Entries as people read them (``audit log``): ISO times, field names, hex policy hash, detail object."""
        fieldsets = self.fieldsets()
        where, params = ("WHERE member_id = ?", (member_id,)) if member_id is not None else ("", ())
        for seq, at, actor, action, member, fields, policy, detail in self.conn.execute(
            f"SELECT seq, at, actor, action, member_id, fields, policy, detail FROM audit {where} ORDER BY seq", params
        ):
            try:
                yield {
                    "seq": seq,
                    "at": datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds"),
                    "actor": actor,
                    "action": action,
                    "member_id": member,
                    "fields": fieldsets[fields].split(",") if fields is not None else [],
                    "policy_hash": policy.hex(),
                    "detail": json.loads(detail) if detail else {},
                }
            except (KeyError, TypeError, ValueError, OverflowError, OSError, AttributeError):
                raise IntegrityError(f"audit entry {seq} is corrupt") from None
