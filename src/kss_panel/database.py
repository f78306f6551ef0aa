"""The SQLite connection under the register: its pragmas, SQLite's errors as the project's, and the write-ahead log's wipe."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import files
from .errors import Busy, IntegrityError

DEFAULT_BUSY_TIMEOUT = 30.0
# A member's row (its box, wrapped key and digests: about 1.1 KB) fills an 8 KiB page to some 95%, where a
# 4 KiB page holds three rows and a quarter of it stays empty. New registers use it; older files keep theirs.
PAGE_SIZE = 8192
# Write transactions committed in this process, by register path: the command line compares
# the count before and after a command, so it says "nothing was changed" only when it is true.
COMMITS: Counter[str] = Counter()


def connect(path: Path, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    # secure_delete overwrites deleted cells and freed pages with zeros; WAL lets
    # readers go on beside a writer (the log is wiped after each write, see
    # Store.scrub); temp tables stay in memory so no temporary file holds
    # register content.
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    return conn


def write_ahead(conn: sqlite3.Connection) -> None:
    """WAL mode (persistent in the file), set only once the file is known to be a register.

    A register on a read-only file (an auditor's copy) is read as it is.
    """
    try:
        conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError:
        pass


# SQLite's primary result codes (the low byte of an extended code) that are the machine's state, not a bug:
# code -> (what could not be done, the cause in files.CAUSES).
SQLITE_REFUSALS = {
    3: ("use", "permission"),  # SQLITE_PERM
    8: ("write", "read-only-file"),  # SQLITE_READONLY: no write permission, or a read-only file system
    10: ("read or write", "io"),  # SQLITE_IOERR
    13: ("write", "full"),  # SQLITE_FULL
    14: ("open", "permission"),  # SQLITE_CANTOPEN: the file, or its directory for the journal
    23: ("use", "permission"),  # SQLITE_AUTH
}
SQLITE_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
SQLITE_READONLY_DIRECTORY = 8 | (6 << 8)  # the journal cannot be created beside the register


@contextmanager
def sqlite_errors(path: Path, what: str = "the register") -> Iterator[None]:
    """SQLite's own errors as the project's: busy past the timeout, a refusal of the system
    (a full disk, permission denied, a read-only file system, an I/O error) naming ``what``
    is at ``path``, or a corrupt file."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except sqlite3.DatabaseError as exc:
        exc_code = getattr(exc, "sqlite_errorcode", None) or 0
        code = exc_code & 0xFF
        if code in SQLITE_BUSY_CODES or "database is locked" in str(exc):
            raise Busy(
                "the register is busy: another command held it past the busy timeout",
                hints=("try again, or raise KSS_PANEL_BUSY_TIMEOUT",),
            ) from None
        if exc_code == SQLITE_READONLY_DIRECTORY:
            raise files.refusal(f"write {what}", path, "directory") from None
        if code in SQLITE_REFUSALS:
            action, cause = SQLITE_REFUSALS[code]
            raise files.refusal(f"{action} {what}", path, cause) from None
        if isinstance(exc, sqlite3.OperationalError):
            raise  # a statement of ours that SQLite refused: a bug, reported as an internal error
        raise IntegrityError("the register file is corrupt or not a kss-panel register") from None


ZEROS = bytes(1 << 20)


def wal_path(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def has_content(log: Path) -> bool:
    """A wiped log starts with zeros (its header too); anything else may hold pages."""
    try:
        with log.open("rb") as handle:
            return any(handle.read(32))
    except OSError:
        return False


def zero(log: Path) -> None:
    """Overwrite a write-ahead log with zeros where it lies (see ``Store.scrub``)."""
    # The header last, in a second sync: a crash half-way leaves a header that
    # says "content here", so the next command wipes the log again.
    fd = os.open(log, os.O_WRONLY)
    try:
        size = os.fstat(fd).st_size
        for offset in range(32, size, len(ZEROS)):
            os.pwrite(fd, ZEROS[: min(len(ZEROS), size - offset)], offset)
        os.fsync(fd)
        os.pwrite(fd, ZEROS[: min(32, size)], 0)
        os.fsync(fd)
    finally:
        os.close(fd)
