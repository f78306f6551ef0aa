"""The member tables of the register file: members and their boxes, lookups, suppressions,
erasures, disclosures and requests (a part of ``storage.Store``).

A member is one row: plain status and dates, the wrapped data key, one sealed
box, and the member's lookup digests (so an erasure finds its lookup rows
without an index). New columns must default to NULL: a row's digest in the
trail leaves NULL columns out, so a column added later does not change it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import files
from .crypto import DIGEST_BYTES
from .errors import InvalidInput
from .migrations import APPLIED_DAY, LISTED_KEY, STATUS_RANK, STATUS_RANKS

MEMBER_COLUMNS = (
    "member_id", "status", "applied_at", "admitted_at", "rejected_at", "last_activity_at", "updated_at",
    "ineligible_at", "restricted_at", "restriction_reason", "objected_at", "processing_objected_at", "suppression_match",
    "rejection_reason",
)
INSERTED = ("member_id", "status", "applied_at", "updated_at", "wrapped_dek", "box", "lookup_digests", "suppression_match", "receipts")
CHUNK = 500
# The records kept beside members' data that retention prunes: (table, the date column its period counts from).
RECORD_TABLES = {"closed_requests": ("requests", "closed_on"), "disclosure_log": ("disclosures", "disclosed_on"), "suppressions": ("suppressions", "since"),
                 "notifications": ("notifications", "sent_on"), "breaches": ("breaches", "closed_on")}
# Records of one member, which a restriction holds (a breach names many members: its period runs as it is).
MEMBER_RECORDS = ("requests", "disclosures", "notifications")


def rows_of(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


def split_digests(joined: bytes | None) -> list[bytes]:
    joined = joined or b""
    return [joined[i : i + DIGEST_BYTES] for i in range(0, len(joined), DIGEST_BYTES)]


def dated_condition(conditions: list[tuple[str, str, str | None, str]]) -> tuple[str, list[str]]:
    """A condition on members (and its parameters) that holds where, for any (status, clock, fallback clock, day)
    given, the member has that status and the clock's date (or else the fallback's) is on or before the day.

    What a retention plan needs to look at: a member no rule could make due is not passed on. (No conditions: none.)
    """
    clauses, params = [], []
    for status, clock, fallback, day in conditions:
        if clock not in MEMBER_COLUMNS or (fallback is not None and fallback not in MEMBER_COLUMNS):
            raise ValueError(f"not a date column of members: {clock!r}, {fallback!r}")
        start = f"coalesce(nullif({clock}, ''), nullif({fallback}, ''))" if fallback else f"nullif({clock}, '')"
        clauses.append(f"(status = ? AND {start} <= ?)")
        params += [status, day]
    return " OR ".join(clauses) or "0", params


class MemberTables:
    """Members, lookups, suppressions, erasures, disclosures and requests; mixed into ``Store``."""

    # Store provides these, and _insert and _update. ``on_change`` (set by an
    # unlocked session) hears of a member about to change for the first time in
    # a transaction, so a row changed by hand is refused, never committed anew.
    conn: sqlite3.Connection
    dirty_members: set[str]
    _ledger_lines: list[str]
    on_change: Callable[[str], None] | None

    # --- members --------------------------------------------------------------------------------------------

    def insert_members(self, members: list[dict[str, Any]], lookups: Iterable[tuple[bytes, str]]) -> None:
        """New members with their keyed digests: plain executemany, no per-row overhead.

        Each row holds ``INSERTED``'s columns; the caller commits each row's digest to the trail.
        """
        self.conn.executemany(
            f"INSERT INTO members ({', '.join(INSERTED)}) VALUES ({', '.join(':' + c for c in INSERTED)})", members
        )
        self.conn.executemany("INSERT INTO lookups (digest, member_id) VALUES (?, ?)", lookups)

    def member(self, member_id: str) -> dict[str, Any] | None:
        return next(rows_of(self.conn.execute("SELECT * FROM members WHERE member_id = ?", (member_id,))), None)

    def members(self, status: str | None = None) -> list[dict[str, Any]]:
        return list(self.iter_members(status))

    def iter_members(self, status: str | None = None) -> Iterator[dict[str, Any]]:
        """Members' plain columns by status (applicants, members, rejected), then the day they applied, then
        as they were enrolled: streamed along an index, so memory stays flat however large the register."""
        # Written so SQLite's planner walks the index (for a status: from its first entry of that rank) and sorts
        # nothing: "+status" keeps the column's own term from competing with the index's.
        if status is None:
            query, params = f"SELECT {', '.join(MEMBER_COLUMNS)} FROM members ORDER BY {LISTED_KEY}, rowid", ()
        else:
            query = f"SELECT {', '.join(MEMBER_COLUMNS)} FROM members WHERE {STATUS_RANK} = ? AND +status = ? ORDER BY {APPLIED_DAY}, rowid"
            params = (STATUS_RANKS.get(status, len(STATUS_RANKS)), status)
        yield from rows_of(self.conn.execute(query, params))

    def count_members(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM members").fetchone()[0])

    def update_member(self, member_id: str, changes: dict[str, Any]) -> None:
        if changes:
            if self.on_change is not None and member_id not in self.dirty_members:
                self.on_change(member_id)
            self._update("members", "member_id", member_id, changes)  # type: ignore[attr-defined]
            self.dirty_members.add(member_id)

    def erase_member(self, member_id: str, erased_at: str, reason: str, rule: str | None = None) -> list[str]:
        """Delete every row of a member (its wrapped DEK and box with it) and note the id in the ledger.

        Returns the recipients that received the member, each now owed an erasure notification (Art. 19).
        """
        if self.on_change is not None and member_id not in self.dirty_members:
            self.on_change(member_id)
        row = self.conn.execute("SELECT lookup_digests FROM members WHERE member_id = ?", (member_id,)).fetchone()
        return self.erase_members([(member_id, row[0] if row else None, rule)], erased_at, reason)[member_id]

    def erase_members(self, members: list[tuple[str, bytes | None, str | None]], erased_at: str, reason: str) -> dict[str, list[str]]:
        """Delete every row of each (member id, its lookup digests, rule) and note the ids in the ledger, a
        statement a table for all of them; the caller has checked each member's row (``on_change``).

        Returns, for each member, the recipients that received it, each now owed an erasure notification (Art. 19).
        """
        # Each table's rows are visited in its key's order (ids and digests sorted), so every page of a table or
        # index is loaded and written once however many members go, not once per member for a few at a time.
        ids = sorted(member_id for member_id, _, _ in members)
        told = self.told_of(ids)  # type: ignore[attr-defined]  # the others have nothing to tell anyone
        notified = {member_id: self.notify_erased(member_id, erased_at) if member_id in told else [] for member_id in ids}  # type: ignore[attr-defined]
        # Only a member's own lookup rows: a digest listed by hand under another member is not deleted.
        self.conn.executemany(
            "DELETE FROM lookups WHERE digest = ? AND member_id = ?", sorted((d, member_id) for member_id, joined, _ in members for d in split_digests(joined))
        )
        self.erase_participation(ids)  # type: ignore[attr-defined]
        sections = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sections'").fetchone() is not None
        # A register not yet upgraded from format 1 still keeps the records in per-category sections.
        for table in ("disclosures", *(("sections",) if sections else ()), "members"):
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                self.conn.execute(f"DELETE FROM {table} WHERE member_id IN ({', '.join('?' * len(chunk))})", chunk)
        self.dirty_members.difference_update(ids)
        self.conn.executemany(
            "INSERT OR REPLACE INTO erasures (member_id, erased_at, reason, rule) VALUES (?, ?, ?, ?)",
            sorted((member_id, erased_at, reason, rule) for member_id, _, rule in members),
        )
        self._ledger_lines.extend(files.ledger_line(erased_at, member_id, reason) for member_id, _, _ in members)
        return notified

    def members_by_id(self, member_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The rows of these members that exist, by id (a query a few hundred of them)."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(member_ids), CHUNK):
            chunk = member_ids[start : start + CHUNK]
            cursor = self.conn.execute(f"SELECT * FROM members WHERE member_id IN ({', '.join('?' * len(chunk))})", chunk)
            found.update((row["member_id"], row) for row in rows_of(cursor))
        return found

    def erased_among(self, member_ids: list[str]) -> set[str]:
        return self.among("erasures", member_ids)

    def among(self, table: str, member_ids: list[str], where: str = "") -> set[str]:
        """Which of ``member_ids`` have a row in ``table`` (one of this package's tables; ``where`` narrows it)."""
        found: set[str] = set()
        for start in range(0, len(member_ids), CHUNK):
            chunk = member_ids[start : start + CHUNK]
            query = f"SELECT DISTINCT member_id FROM {table} WHERE member_id IN ({', '.join('?' * len(chunk))}){where}"
            found.update(row[0] for row in self.conn.execute(query, chunk))
        return found

    def record_erasure(self, member_id: str, erased_at: str, reason: str, rule: str | None = None) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO erasures (member_id, erased_at, reason, rule) VALUES (?, ?, ?, ?)",
            (member_id, erased_at, reason, rule),
        )
        self._ledger_lines.append(files.ledger_line(erased_at, member_id, reason))

    def erased(self) -> list[dict[str, Any]]:
        return list(rows_of(self.conn.execute("SELECT * FROM erasures ORDER BY erased_at, member_id")))

    # --- lookups and suppressions ---------------------------------------------------------------------------

    def put_lookups(self, member_id: str, lookups: dict[str, bytes], paths: dict[str, str]) -> None:
        """Replace a member's keyed digests; a digest held by another member is a duplicate (named by ``paths``)."""
        row = self.conn.execute("SELECT lookup_digests FROM members WHERE member_id = ?", (member_id,)).fetchone()
        old = split_digests(row[0] if row else None)
        self.conn.executemany("DELETE FROM lookups WHERE digest = ? AND member_id = ?", [(d, member_id) for d in old])
        self.refuse_duplicates(lookups, paths)
        digests = [lookups[kind] for kind in sorted(lookups)]
        self.conn.executemany("INSERT INTO lookups (digest, member_id) VALUES (?, ?)", [(d, member_id) for d in digests])
        self.conn.execute("UPDATE members SET lookup_digests = ? WHERE member_id = ?", (b"".join(digests), member_id))

    def refuse_duplicates(self, lookups: dict[str, bytes], paths: dict[str, str]) -> None:
        """Refuse keyed digests another member holds, naming each by its field path (``paths``: kind -> path)."""
        clashes = sorted(paths.get(kind, kind) for kind, digest in lookups.items() if self.find(kind, digest))
        if clashes:
            raise InvalidInput("duplicate of a registered member", [(path, "is already in the register") for path in clashes])

    def find(self, kind: str, digest: bytes) -> str | None:
        """The member holding a digest (the kind is in the digest: each kind has its own subkey)."""
        row = self.conn.execute("SELECT member_id FROM lookups WHERE digest = ?", (digest,)).fetchone()
        return row[0] if row else None

    def held(self, digests: list[bytes]) -> set[bytes]:
        """Which of ``digests`` some member holds, in one query (an import checks each row's lookups so)."""
        query = f"SELECT digest FROM lookups WHERE digest IN ({', '.join('?' * len(digests))})"
        return {row[0] for row in self.conn.execute(query, digests)} if digests else set()

    def member_ids_with(self, kind: str, digests: set[bytes]) -> set[str]:
        """Members holding any of ``digests`` (digests of ``kind``: other kinds never match)."""
        found: set[str] = set()
        ordered = sorted(digests)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            query = f"SELECT member_id FROM lookups WHERE digest IN ({', '.join('?' * len(chunk))})"
            found.update(row[0] for row in self.conn.execute(query, chunk))
        return found

    def suppress(self, digests: dict[str, bytes], since: str) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO suppressions (digest, since) VALUES (?, ?)", [(d, since) for d in digests.values()])

    def has_suppressions(self) -> bool:
        return self.conn.execute("SELECT 1 FROM suppressions LIMIT 1").fetchone() is not None

    def suppressed(self, digests: dict[str, bytes]) -> bool:
        return any(self.conn.execute("SELECT 1 FROM suppressions WHERE digest = ?", (d,)).fetchone() for d in digests.values())

    # --- disclosures and requests ---------------------------------------------------------------------------

    def disclosures_of(self, member_id: str) -> list[dict[str, Any]]:
        rows = rows_of(self.conn.execute("SELECT * FROM disclosures WHERE member_id = ? ORDER BY disclosed_on, id", (member_id,)))
        return [{**row, "fields": json.loads(row["fields"])} for row in rows]

    def log_disclosures(self, member_ids: Iterable[str], recipient: str, purpose: str, fields: list[str], day: str) -> None:
        """A disclosure-log row for each member: what ``recipient`` received of them (field names) for ``purpose`` on ``day``."""
        names = json.dumps(fields)
        self.conn.executemany(
            "INSERT INTO disclosures (member_id, recipient, purpose, fields, disclosed_on) VALUES (?, ?, ?, ?, ?)",
            [(member_id, recipient, purpose, names, day) for member_id in member_ids],
        )

    def add_request(self, row: dict[str, Any]) -> int:
        return int(self._insert("requests", row) or 0)  # type: ignore[attr-defined]

    def request(self, request_id: int) -> dict[str, Any] | None:
        return next(rows_of(self.conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,))), None)

    def requests(self) -> list[dict[str, Any]]:
        return list(rows_of(self.conn.execute("SELECT * FROM requests ORDER BY id")))

    def update_request(self, request_id: int, changes: dict[str, Any]) -> None:
        self._update("requests", "id", request_id, changes)  # type: ignore[attr-defined]

    def is_erased(self, member_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM erasures WHERE member_id = ?", (member_id,)).fetchone() is not None

    def old_records(self, kind: str, cutoff: str, *, hold_restricted: bool, delete: bool = False) -> int:
        """How many records of ``kind`` are dated on or before ``cutoff`` (a day); with ``delete``, delete them.

        With ``hold_restricted``, the records of a member whose processing is restricted are kept.
        """
        table, column = RECORD_TABLES[kind]
        where = f"{column} IS NOT NULL AND {column} <= ?"
        if hold_restricted and table in MEMBER_RECORDS:
            where += " AND member_id NOT IN (SELECT member_id FROM members WHERE restricted_at IS NOT NULL)"
        if delete and table == "breaches":
            self.conn.execute(f"DELETE FROM breach_members WHERE breach_id IN (SELECT id FROM breaches WHERE {where})", (cutoff,))
        if delete:
            return self.conn.execute(f"DELETE FROM {table} WHERE {where}", (cutoff,)).rowcount
        return int(self.conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", (cutoff,)).fetchone()[0])
