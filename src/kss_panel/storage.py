"""The register file: one SQLite database, its transactions, and a write-ahead log wiped after every write.

Plain columns hold only what purge and lookups need (opaque ids, status,
dates, keyed digests); everything personal is an encrypted box. The file is
in WAL mode, so readers never wait for a writer; every write runs in
``BEGIN IMMEDIATE`` with a busy timeout, so cron and an officer can share it.
``secure_delete`` zeroes deleted content inside the file, and after every
write the log is checkpointed into the file and overwritten with zeros in
place, so no erased or replaced ciphertext stays in a side file or in disk
blocks the file system frees later (docs/crypto.md §8). The schema is in
``migrations``; the member and trail tables in ``storage_members`` and
``storage_trail``; files beside the register in ``files``.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import files, free_space
from .database import COMMITS, DEFAULT_BUSY_TIMEOUT, PAGE_SIZE, connect, has_content, sqlite_errors, wal_path, write_ahead, zero
from .errors import CommittedButBusy, IntegrityError, InvalidInput, NotFound, StorageError
from .migrations import SCHEMA_VERSION, migrate
from .storage_accountability import AccountabilityTables
from .storage_members import MEMBER_COLUMNS, MemberTables, rows_of
from .storage_surveys import SurveyTables
from .storage_trail import TrailTables

__all__ = ["DEFAULT_BUSY_TIMEOUT", "FORMAT", "MEMBER_COLUMNS", "Store", "sqlite_errors"]

FORMAT = "kss-panel register"
SQLITE_ERROR = 1  # SQLite's generic error: here, a query of ours that this file's tables do not fit
SCRUB_ATTEMPTS = 20
CHECKPOINT_PAUSE = 0.005  # seconds between tries while another connection checkpoints


class Store(MemberTables, TrailTables, SurveyTables, AccountabilityTables):
    """A register file. Open with ``Store.create`` or ``Store.open``.

    ``on_commit`` (set by an unlocked session) runs inside every write
    transaction just before COMMIT: it commits the rows' digests to the trail
    and signs the trail's last entry. ``dirty_members`` and ``slots_dirty``
    say what the transaction changed.
    """

    # Write transactions committed in this process, by register path (``database.COMMITS``).
    commits: Counter[str] = COMMITS

    def __init__(self, path: Path, conn: sqlite3.Connection, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = path
        self.conn = conn
        self.busy_timeout = busy_timeout
        self._ledger_lines: list[str] = []
        # The erasure ledger beside the file: it outlives a lost or restored register.
        self.ledger_path = files.ledger_path(path)
        self.on_commit: Callable[[], None] | None = None
        self.on_change: Callable[[str], None] | None = None
        self.transaction = 0
        self.trail_changes = 0
        self.dirty_members: set[str] = set()
        self.slots_dirty = False
        self._fieldset_ids: dict[str, int] = {}

    @classmethod
    def create(cls, path: Path, meta: dict[str, str], *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Store:
        # Never over an existing file; 0600 from the first byte, before SQLite writes.
        files.reserve_new(path)
        store = cls(path, connect(path, busy_timeout), busy_timeout)
        store.conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before the first write: it is fixed from then on
        write_ahead(store.conn)
        with store.write():
            migrate(store.conn)
            store.conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", {"format": FORMAT, **meta}.items())
        return store

    @classmethod
    def open(cls, path: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Store:
        if not path.is_file():
            raise NotFound(f"no register at {path}", hints=("create one with: kss-panel init",))
        with sqlite_errors(path):
            store = cls(path, connect(path, busy_timeout), busy_timeout)
            try:
                tables = {row[0] for row in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                is_register = {"meta", "migrations"} <= tables and store.meta("format") == FORMAT
                version = store.conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF != SQLITE_ERROR:
                    store.close()
                    raise  # the system refused (permissions, a full disk): sqlite_errors names it
                is_register = False  # a table of another shape: someone else's file
            if not is_register or version < 1:
                store.close()
                raise IntegrityError(f"{path} is not a kss-panel register")
            if version > SCHEMA_VERSION:
                store.close()
                raise IntegrityError(f"{path} was written by a newer kss-panel (schema {version})")
            write_ahead(store.conn)
        # A command killed between its commit and its wipe leaves a log with content: wipe it
        # now if no one else is writing (a reader never waits for this).
        store.scrub(wait=False)
        if version < SCHEMA_VERSION:
            # Not counted as the command's change: a failure after it still changed nothing of the register's content.
            with store.write(counted=False):
                migrate(store.conn)
        return store

    def close(self) -> None:
        self.conn.close()

    # --- transactions ---------------------------------------------------------------------------------------

    @contextmanager
    def write(self, *, counted: bool = True) -> Iterator[Store]:
        """One all-or-nothing write: BEGIN IMMEDIATE takes the write lock up front; the log is wiped after."""
        with self._transaction("BEGIN IMMEDIATE", commit=True, counted=counted):
            yield self

    @contextmanager
    def read(self) -> Iterator[Store]:
        """A consistent snapshot for reads that change nothing."""
        with self._transaction("BEGIN", commit=False):
            yield self

    @contextmanager
    def _transaction(self, begin: str, *, commit: bool, counted: bool = True) -> Iterator[None]:
        with sqlite_errors(self.path):
            self.conn.execute(begin)
            self.transaction += 1
            self.dirty_members, self.slots_dirty = set(), False
            self.trail_changes, changes = 0, self.conn.total_changes
            try:
                yield
                if commit and self.on_commit is not None:
                    self.on_commit()
                if commit and self._ledger_lines:
                    # Before COMMIT: an erasure whose ledger line cannot be written must not happen.
                    files.append_ledger(self.ledger_path, self._ledger_lines)
            except BaseException:
                self._ledger_lines.clear()
                self._rollback()
                if commit:
                    self.scrub(wait=False)  # a rolled-back write may have spilled pages into the log
                raise
            self._finish(commit, counted)
        # A write that only appended to the trail (show, find: no record, key or slot) left no
        # ciphertext in the log, so it need not wait for readers to leave it.
        trail_only = self.conn.total_changes - changes == self.trail_changes
        if commit and not trail_only and not self.scrub():
            raise CommittedButBusy(
                "the change was committed, but the write-ahead log could not be wiped: another command kept reading past the busy timeout",
                hints=("the next command that writes wipes it; raise KSS_PANEL_BUSY_TIMEOUT if this recurs",),
            )

    def _finish(self, commit: bool, counted: bool) -> None:
        if not commit:
            self.conn.execute("ROLLBACK")
            return
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()  # a failed COMMIT may leave the transaction open; the log undoes it
            if self._ledger_lines:
                files.retract_ledger(self.ledger_path, self._ledger_lines)
            self._ledger_lines.clear()
            raise
        self._ledger_lines.clear()
        if counted:
            Store.commits[str(self.path)] += 1

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite rolled back on its own (a full disk, an I/O error): nothing to undo

    @contextmanager
    def attached(self, path: Path, name: str) -> Iterator[None]:
        """Another SQLite file of ours (an import's staging file) visible as ``name`` to the register's connection."""
        with sqlite_errors(path, "an import's staging file"):
            self.conn.execute(f"ATTACH DATABASE ? AS {name}", (str(path),))
        try:
            yield
        finally:
            self.conn.execute(f"DETACH DATABASE {name}")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo one step of a longer write (a bad row of an import) and go on."""
        self.conn.execute("SAVEPOINT step")
        dirty = set(self.dirty_members)
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO step")
            self.conn.execute("RELEASE step")
            self.dirty_members = dirty
            raise
        self.conn.execute("RELEASE step")

    def scrub(self, *, wait: bool = True) -> bool:
        """Checkpoint the write-ahead log into the file, clear the unused space of the pages it held, and
        overwrite it with zeros, in place.

        The log holds every page a write changed, before and after: the
        ciphertext of members since erased, and of records since replaced.
        Truncating or deleting it would hand those blocks back to the file
        system with their content, so it is zeroed where it lies. The pages it
        held may keep, in their unused space, copies of cells a rebalance moved
        (``free_space``); those bytes are zeroed in the file first. That is safe
        only when every frame is in the database file, no reader is using the
        log, and no writer is: RESTART waits for readers to leave the log, and
        the empty write transaction keeps writers out while the zeros go down
        (``data_version`` shows whether one slipped in between; then again).
        A checkpoint another command is running makes SQLite answer busy at
        once, so that is tried again until the busy timeout. Returns False if
        readers or writers held on past the busy timeout; if the system refuses
        the wipe's own reads or writes, raises StorageError (``wait``) or
        returns False.
        """
        log = wal_path(self.path)
        if not log.exists() or not has_content(log):
            return True
        if not wait:
            self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            return self._scrub(log, wait)
        except sqlite3.OperationalError:
            return False
        except OSError as exc:
            if not wait:
                return False
            refused = files.os_refusal(exc, "wipe the write-ahead log", log)
            raise StorageError(refused.message, hints=(*refused.hints, "the next command that writes wipes it")) from None
        finally:
            if not wait:
                self.conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    def _scrub(self, log: Path, wait: bool) -> bool:
        deadline = time.monotonic() + (self.busy_timeout if wait else 0.0)
        tries = 0
        while tries < SCRUB_ATTEMPTS:
            busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            if busy:
                # Readers stayed past the busy timeout (RESTART waited for them), or another connection is
                # checkpointing: SQLite does not wait for that lock, so wait here, within the busy timeout.
                if time.monotonic() >= deadline:
                    return False
                time.sleep(CHECKPOINT_PAUSE)
                continue
            tries += 1
            version = self.data_version()
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if self.data_version() == version:
                    free_space.clear(self.path, free_space.logged_pages(log))  # before the log's page numbers go
                    zero(log)
                    return True
            finally:
                self.conn.execute("ROLLBACK")
        return False

    def data_version(self) -> int:
        """SQLite's count of the commits of other connections this one has seen (it changes with each)."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

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

    def rows(self, statement: str, params: tuple[Any, ...] = ()) -> Iterator[dict[str, Any]]:
        """The rows of a query of this package's own (never of input) as dicts."""
        return rows_of(self.conn.execute(statement, params))

    # --- meta and slots -------------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def add_slot(self, row: dict[str, Any]) -> None:
        try:
            self._insert("slots", row)
        except sqlite3.IntegrityError:
            raise InvalidInput(f"an officer named {row['name']!r} already exists", [("name", "already exists")]) from None
        self.slots_dirty = True

    def slot(self, name: str) -> dict[str, Any] | None:
        return next(rows_of(self.conn.execute("SELECT * FROM slots WHERE name = ?", (name,))), None)

    def slots(self, kind: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE kind = ?", (kind,)) if kind is not None else ("", ())
        return list(rows_of(self.conn.execute(f"SELECT * FROM slots {where} ORDER BY name", params)))

    def update_slot(self, name: str, changes: dict[str, Any]) -> None:
        self._update("slots", "name", name, changes)
        self.slots_dirty = True

    def remove_slot(self, name: str, day: str) -> None:
        self.conn.execute("DELETE FROM slots WHERE name = ?", (name,))
        self.slots_dirty = True
        # The ledger remembers removals too, so a restore from an older backup removes the slot again.
        self._ledger_lines.append(files.slot_removal_line(day, name))

    # --- plain SQL helpers (table and column names come from this package, never from input) ----------------

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
            with sqlite_errors(target, "the backup"):
                self.conn.backup(destination)
        except BaseException:
            destination.close()
            target.unlink(missing_ok=True)
            raise
        destination.close()
