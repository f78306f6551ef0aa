"""A bulk import's staging file: new members prepared outside the register's write lock.

Validating, sealing and hashing thousands of applications takes seconds; the
register's write lock is taken only to copy the prepared rows in, so readers
and other officers' commands answer meanwhile (docs/crypto.md §8). The
staging file beside the register (``PANEL.db.import``, 0600) holds ciphertext
and keyed digests only; it has no journal, and it is zeroed in place and
removed when the import ends (or at the next import after a crash).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import files
from .database import sqlite_errors
from .storage_members import INSERTED

STAGED = "staged"
BATCH = 1000
WHAT = "the import's staging file"


def staging_path(db: Path) -> Path:
    return db.with_name(db.name + ".import")


class Staging:
    """Prepared members (their rows, lookup digests and what their audit entries will say), in file order."""

    def __init__(self, db: Path) -> None:
        self.path = staging_path(db)
        self._members: list[tuple[Any, ...]] = []
        self._lookups: list[tuple[bytes, str, int]] = []
        self._pending: dict[bytes, None] = {}  # the digests of the rows not yet written
        self._written = False
        files.wipe(self.path)  # an import killed half-way left one
        files.reserve_new(self.path)
        try:
            self._create()
        except BaseException:
            self.__exit__()
            raise

    def _create(self) -> None:
        with sqlite_errors(self.path, WHAT):
            self.conn = sqlite3.connect(self.path, isolation_level=None)
            # Scratch: no journal, no waiting for the disk. A crash loses nothing but this import.
            self.conn.execute("PRAGMA journal_mode = OFF")
            self.conn.execute("PRAGMA synchronous = OFF")
            columns = ", ".join(f"{name} {'BLOB' if name in ('wrapped_dek', 'box', 'lookup_digests', 'receipts') else 'TEXT'}" for name in INSERTED)
            self.conn.execute(f"CREATE TABLE members (line INTEGER PRIMARY KEY, {columns}, fields TEXT, detail TEXT, state BLOB)")
            self.conn.execute("CREATE TABLE lookups (digest BLOB PRIMARY KEY, member_id TEXT NOT NULL, line INTEGER NOT NULL) WITHOUT ROWID")
            self.conn.execute("BEGIN")

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        if hasattr(self, "conn"):
            self.conn.close()
        files.wipe(self.path)

    def holds(self, digests: list[bytes]) -> set[bytes]:
        """Which of ``digests`` an earlier row of the file has (rows not yet written are in memory, a batch at most)."""
        held = {digest for digest in digests if digest in self._pending}
        if self._written:
            query = f"SELECT digest FROM lookups WHERE digest IN ({', '.join('?' * len(digests))})"
            with sqlite_errors(self.path, WHAT):
                held.update(row[0] for row in self.conn.execute(query, digests))
        return held

    def add(self, line: int, row: dict[str, Any], digests: list[bytes], fields: str, detail: str | None, state: bytes) -> None:
        """Stage a prepared member; rows are written a batch at a time."""
        self._members.append((line, *(row.get(name) for name in INSERTED), fields, detail, state))
        member_id = row["member_id"]
        for digest in digests:
            self._pending[digest] = None
            self._lookups.append((digest, member_id, line))
        if len(self._members) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._members:
            return
        self._written = True
        with sqlite_errors(self.path, WHAT):
            self.conn.executemany(
                f"INSERT INTO members (line, {', '.join(INSERTED)}, fields, detail, state) VALUES (?{', ?' * len(INSERTED)}, ?, ?, ?)", self._members
            )
            self.conn.executemany("INSERT INTO lookups (digest, member_id, line) VALUES (?, ?, ?)", self._lookups)
        self._members.clear()
        self._lookups.clear()
        self._pending.clear()

    def close_writing(self) -> None:
        self._flush()
        with sqlite_errors(self.path, WHAT):
            self.conn.execute("COMMIT")

    # --- inside the register's write transaction (the staging file attached as ``staged``) ---------------------

    @staticmethod
    def clashes(conn: sqlite3.Connection) -> list[int]:
        """Lines whose digests reached the register while the file was prepared (another officer's enrolment)."""
        query = f"SELECT DISTINCT s.line FROM {STAGED}.lookups AS s JOIN main.lookups AS m ON m.digest = s.digest ORDER BY s.line"
        return [line for (line,) in conn.execute(query)]

    @staticmethod
    def drop(conn: sqlite3.Connection, lines: list[int]) -> None:
        for line in lines:
            conn.execute(f"DELETE FROM {STAGED}.lookups WHERE line = ?", (line,))
            conn.execute(f"DELETE FROM {STAGED}.members WHERE line = ?", (line,))

    @staticmethod
    def copy_in(conn: sqlite3.Connection) -> None:
        columns = ", ".join(INSERTED)
        conn.execute(f"INSERT INTO main.members ({columns}) SELECT {columns} FROM {STAGED}.members ORDER BY line")
        conn.execute(f"INSERT INTO main.lookups (digest, member_id) SELECT digest, member_id FROM {STAGED}.lookups")

    @staticmethod
    def entries(conn: sqlite3.Connection) -> Iterator[tuple[str, str, str | None, bytes]]:
        """(member id, field list, detail, row digest) of every staged member, in file order."""
        yield from conn.execute(f"SELECT member_id, fields, detail, state FROM {STAGED}.members ORDER BY line")
