"""The register file: one SQLite database, its transactions and its tables.

Plain columns hold only what purge and lookups need (opaque ids, status,
dates, keyed hashes); everything personal is an encrypted box. Every write
runs in ``BEGIN IMMEDIATE`` with a busy timeout, so cron and an officer can
share the file; ``secure_delete`` zeroes deleted content in place. The schema
is in ``migrations``; files beside the register are in ``files``.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import files
from .database import connect, sqlite_errors
from .errors import IntegrityError, InvalidInput, NotFound
from .migrations import SCHEMA_VERSION, migrate

FORMAT = "kss-panel register"
DEFAULT_BUSY_TIMEOUT = 30.0
MEMBER_COLUMNS = (
    "member_id", "status", "applied_at", "admitted_at", "rejected_at", "last_activity_at", "updated_at",
    "ineligible_at", "restricted_at", "restriction_reason", "objected_at", "processing_objected_at", "suppression_match",
    "rejection_reason",
)
AUDIT_COLUMNS = ("seq", "at", "actor", "action", "member_id", "fields", "policy_hash", "detail", "mac")
# The records kept beside members' data that retention prunes: (table, the date column its period counts from).
RECORD_TABLES = {"closed_requests": ("requests", "closed_on"), "disclosure_log": ("disclosures", "disclosed_on"), "suppressions": ("suppressions", "since")}


def _dicts(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


class Store:
    """A register file. Open with ``Store.create`` or ``Store.open``."""

    # Write transactions committed in this process, by register path: the command line compares
    # the count before and after a command, so it says "nothing was changed" only when it is true.
    commits: Counter[str] = Counter()

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self._ledger_lines: list[str] = []
        # The erasure ledger beside the file: it outlives a lost or restored register.
        self.ledger_path = files.ledger_path(path)

    @classmethod
    def create(cls, path: Path, meta: dict[str, str], *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Store:
        # Never over an existing file; 0600 from the first byte, before SQLite writes.
        files.reserve_new(path)
        store = cls(path, connect(path, busy_timeout))
        with store.write():
            migrate(store.conn)
            store.conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", {"format": FORMAT, **meta}.items())
        return store

    @classmethod
    def open(cls, path: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Store:
        if not path.is_file():
            raise NotFound(f"no register at {path}", hints=("create one with: kss-panel init",))
        with sqlite_errors(path):
            store = cls(path, connect(path, busy_timeout))
            try:
                tables = {row[0] for row in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                is_register = {"meta", "migrations"} <= tables and store.meta("format") == FORMAT
                version = store.conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.OperationalError:
                is_register = False  # a table of another shape: someone else's file
            if not is_register or version < 1:
                store.close()
                raise IntegrityError(f"{path} is not a kss-panel register")
        if version > SCHEMA_VERSION:
            raise IntegrityError(f"{path} was written by a newer kss-panel (schema {version})")
        if version < SCHEMA_VERSION:
            with store.write():
                migrate(store.conn)
        return store

    def close(self) -> None:
        self.conn.close()

    # --- transactions ---------------------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Store]:
        """One all-or-nothing write: BEGIN IMMEDIATE takes the write lock up front."""
        with self._transaction("BEGIN IMMEDIATE", commit=True):
            yield self

    @contextmanager
    def read(self) -> Iterator[Store]:
        """A consistent snapshot for reads that change nothing."""
        with self._transaction("BEGIN", commit=False):
            yield self

    @contextmanager
    def _transaction(self, begin: str, *, commit: bool) -> Iterator[None]:
        with sqlite_errors(self.path):
            self.conn.execute(begin)
            try:
                yield
                if commit and self._ledger_lines:
                    # Before COMMIT: an erasure whose ledger line cannot be written must not happen.
                    files.append_ledger(self.ledger_path, self._ledger_lines)
            except BaseException:
                self._ledger_lines.clear()
                self._rollback()
                raise
            if not commit:
                self.conn.execute("ROLLBACK")
                return
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self._rollback()  # a failed COMMIT may leave the transaction open; the journal undoes it
                if self._ledger_lines:
                    files.retract_ledger(self.ledger_path, self._ledger_lines)
                self._ledger_lines.clear()
                raise
            self._ledger_lines.clear()
            Store.commits[str(self.path)] += 1

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite rolled back on its own (a full disk, an I/O error): nothing to undo

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo one step of a longer write (a bad row of an import) and go on."""
        self.conn.execute("SAVEPOINT step")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO step")
            self.conn.execute("RELEASE step")
            raise
        self.conn.execute("RELEASE step")

    def sync_ledger(self) -> None:
        """Append to the ledger file every erasure it lacks (e.g. after a restore)."""
        present = files.read_ledger(self.ledger_path)
        missing = [
            files.ledger_line(row["erased_at"], row["member_id"], row["reason"])
            for row in self.erased()
            if row["member_id"] not in present
        ]
        if missing:
            files.append_ledger(self.ledger_path, missing)

    # --- meta and slots -------------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def add_slot(self, row: dict[str, Any]) -> None:
        try:
            self._insert("slots", row)
        except sqlite3.IntegrityError:
            raise InvalidInput(f"an officer named {row['name']!r} already exists", [("name", "already exists")]) from None

    def slot(self, name: str) -> dict[str, Any] | None:
        return next(_dicts(self.conn.execute("SELECT * FROM slots WHERE name = ?", (name,))), None)

    def slots(self, kind: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE kind = ?", (kind,)) if kind is not None else ("", ())
        return list(_dicts(self.conn.execute(f"SELECT * FROM slots {where} ORDER BY name", params)))

    def remove_slot(self, name: str) -> None:
        self.conn.execute("DELETE FROM slots WHERE name = ?", (name,))

    # --- members --------------------------------------------------------------------------------------------

    def insert_members(self, members: list[dict[str, Any]], boxes: list[tuple[str, str, bytes]], lookups: list[tuple[str, str, str]]) -> None:
        """New members with their boxes and keyed hashes: plain executemany, no per-row overhead."""
        self.conn.executemany(
            "INSERT INTO members (member_id, status, applied_at, updated_at, wrapped_dek, suppression_match)"
            " VALUES (:member_id, :status, :applied_at, :updated_at, :wrapped_dek, :suppression_match)",
            members,
        )
        self.conn.executemany("INSERT INTO sections (member_id, section, box) VALUES (?, ?, ?)", boxes)
        self.conn.executemany("INSERT INTO lookups (kind, digest, member_id) VALUES (?, ?, ?)", lookups)

    def member(self, member_id: str) -> dict[str, Any] | None:
        return next(_dicts(self.conn.execute("SELECT * FROM members WHERE member_id = ?", (member_id,))), None)

    def members(self, status: str | None = None) -> list[dict[str, Any]]:
        return list(self.iter_members(status))

    def iter_members(self, status: str | None = None) -> Iterator[dict[str, Any]]:
        """Members' plain columns, streamed: memory stays flat however large the register."""
        where, params = ("WHERE status = ?", (status,)) if status is not None else ("", ())
        yield from _dicts(self.conn.execute(f"SELECT {', '.join(MEMBER_COLUMNS)} FROM members {where} ORDER BY applied_at, member_id", params))

    def update_member(self, member_id: str, changes: dict[str, Any]) -> None:
        self._update("members", "member_id", member_id, changes)

    def boxes(self, member_id: str) -> dict[str, bytes]:
        rows = self.conn.execute("SELECT section, box FROM sections WHERE member_id = ?", (member_id,))
        return {section: box for section, box in rows}

    def put_boxes(self, member_id: str, boxes: dict[str, bytes]) -> None:
        self.conn.execute("DELETE FROM sections WHERE member_id = ?", (member_id,))
        self.conn.executemany("INSERT INTO sections (member_id, section, box) VALUES (?, ?, ?)", [(member_id, s, b) for s, b in boxes.items()])

    def erase_member(self, member_id: str, erased_at: str, reason: str, rule: str | None = None) -> None:
        """Delete every row of a member (its wrapped DEK with it) and note the id in the ledger."""
        for table in ("sections", "lookups", "disclosures", "members"):
            self.conn.execute(f"DELETE FROM {table} WHERE member_id = ?", (member_id,))
        self.record_erasure(member_id, erased_at, reason, rule)

    def record_erasure(self, member_id: str, erased_at: str, reason: str, rule: str | None = None) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO erasures (member_id, erased_at, reason, rule) VALUES (?, ?, ?, ?)",
            (member_id, erased_at, reason, rule),
        )
        self._ledger_lines.append(files.ledger_line(erased_at, member_id, reason))

    def erased(self) -> list[dict[str, Any]]:
        return list(_dicts(self.conn.execute("SELECT * FROM erasures ORDER BY erased_at, member_id")))

    # --- lookups and suppressions ---------------------------------------------------------------------------

    def put_lookups(self, member_id: str, lookups: dict[str, str], paths: dict[str, str]) -> None:
        """Replace a member's keyed hashes; a hash held by another member is a duplicate."""
        self.conn.execute("DELETE FROM lookups WHERE member_id = ?", (member_id,))
        self.refuse_duplicates(lookups, paths)
        self.conn.executemany("INSERT INTO lookups (kind, digest, member_id) VALUES (?, ?, ?)", [(k, d, member_id) for k, d in lookups.items()])

    def refuse_duplicates(self, lookups: dict[str, str], paths: dict[str, str]) -> None:
        """Refuse keyed hashes another member holds, naming each by its field path (``paths``: kind -> path)."""
        clashes = sorted(paths.get(kind, kind) for kind, digest in lookups.items() if self.find(kind, digest))
        if clashes:
            raise InvalidInput("duplicate of a registered member", [(path, "is already in the register") for path in clashes])

    def find(self, kind: str, digest: str) -> str | None:
        row = self.conn.execute("SELECT member_id FROM lookups WHERE kind = ? AND digest = ?", (kind, digest)).fetchone()
        return row[0] if row else None

    def member_ids_with(self, kind: str, digests: set[str]) -> set[str]:
        """Members whose keyed hash of ``kind`` is among ``digests``."""
        rows = self.conn.execute("SELECT digest, member_id FROM lookups WHERE kind = ?", (kind,))
        return {member_id for digest, member_id in rows if digest in digests}

    def suppress(self, digests: dict[str, str], since: str) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO suppressions (kind, digest, since) VALUES (?, ?, ?)", [(k, d, since) for k, d in digests.items()])

    def has_suppressions(self) -> bool:
        return self.conn.execute("SELECT 1 FROM suppressions LIMIT 1").fetchone() is not None

    def suppressed(self, digests: dict[str, str]) -> bool:
        query = "SELECT 1 FROM suppressions WHERE kind = ? AND digest = ?"
        return any(self.conn.execute(query, (k, d)).fetchone() for k, d in digests.items())

    # --- disclosures and requests ---------------------------------------------------------------------------

    def disclosures_of(self, member_id: str) -> list[dict[str, Any]]:
        rows = _dicts(self.conn.execute("SELECT * FROM disclosures WHERE member_id = ? ORDER BY disclosed_on, id", (member_id,)))
        return [{**row, "fields": json.loads(row["fields"])} for row in rows]

    def log_disclosures(self, rows: list[dict[str, Any]]) -> None:
        self.conn.executemany(
            "INSERT INTO disclosures (member_id, recipient, purpose, fields, disclosed_on)"
            " VALUES (:member_id, :recipient, :purpose, :fields, :disclosed_on)",
            [{**row, "fields": json.dumps(row["fields"])} for row in rows],
        )

    def add_request(self, row: dict[str, Any]) -> int:
        return int(self._insert("requests", row))

    def request(self, request_id: int) -> dict[str, Any] | None:
        return next(_dicts(self.conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,))), None)

    def requests(self) -> list[dict[str, Any]]:
        return list(_dicts(self.conn.execute("SELECT * FROM requests ORDER BY id")))

    def is_erased(self, member_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM erasures WHERE member_id = ?", (member_id,)).fetchone() is not None

    def update_request(self, request_id: int, changes: dict[str, Any]) -> None:
        self._update("requests", "id", request_id, changes)

    def old_records(self, kind: str, cutoff: str, *, hold_restricted: bool, delete: bool = False) -> int:
        """How many records of ``kind`` are dated on or before ``cutoff`` (a day); with ``delete``, delete them.

        With ``hold_restricted``, the records of a member whose processing is restricted are kept.
        """
        table, column = RECORD_TABLES[kind]
        where = f"{column} IS NOT NULL AND {column} <= ?"
        if hold_restricted and table != "suppressions":
            where += " AND member_id NOT IN (SELECT member_id FROM members WHERE restricted_at IS NOT NULL)"
        if delete:
            return self.conn.execute(f"DELETE FROM {table} WHERE {where}", (cutoff,)).rowcount
        return int(self.conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", (cutoff,)).fetchone()[0])

    # --- audit ----------------------------------------------------------------------------------------------

    def append_audit(self, entries: list[dict[str, Any]]) -> None:
        columns = ", ".join(AUDIT_COLUMNS)
        self.conn.executemany(
            f"INSERT INTO audit ({columns}) VALUES ({', '.join(':' + c for c in AUDIT_COLUMNS)})",
            [{**row, "fields": json.dumps(row["fields"]), "detail": json.dumps(row["detail"], sort_keys=True)} for row in entries],
        )

    def last_audit(self) -> dict[str, Any] | None:
        row = next(_dicts(self.conn.execute("SELECT * FROM audit ORDER BY seq DESC LIMIT 1")), None)
        return _audit_row(row) if row else None

    def audit_rows(self, member_id: str | None = None) -> Iterator[dict[str, Any]]:
        where, params = ("WHERE member_id = ?", (member_id,)) if member_id is not None else ("", ())
        for row in _dicts(self.conn.execute(f"SELECT * FROM audit {where} ORDER BY seq", params)):
            yield _audit_row(row)

    # --- plain SQL helpers (table and column names come from this module, never from input) -----------------

    def _insert(self, table: str, row: dict[str, Any]) -> int | None:
        columns = ", ".join(row)
        cursor = self.conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in row)})", row)
        return cursor.lastrowid

    def _update(self, table: str, key: str, value: Any, changes: dict[str, Any]) -> None:
        if changes:
            assignments = ", ".join(f"{column} = :{column}" for column in changes)
            self.conn.execute(f"UPDATE {table} SET {assignments} WHERE {key} = :_key", {**changes, "_key": value})

    def copy_to(self, target: Path) -> None:
        """An online, consistent copy (SQLite's backup API) into ``target``, a new 0600 file reserved by the caller."""
        destination = sqlite3.connect(target)
        try:
            with sqlite_errors(target, "the copy"):
                self.conn.backup(destination)
        except BaseException:
            destination.close()
            target.unlink(missing_ok=True)
            raise
        destination.close()


def _audit_row(row: dict[str, Any]) -> dict[str, Any]:
    try:
        return {**row, "fields": json.loads(row["fields"]), "detail": json.loads(row["detail"])}
    except (TypeError, ValueError):
        raise IntegrityError(f"audit entry {row.get('seq')} is corrupt") from None
