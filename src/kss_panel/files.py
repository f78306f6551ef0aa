"""Files the tool writes beside its register: new 0600 files, and the erasure ledger.

Every file kss-panel creates (the register, key files, exports, reports,
backups) is created here: 0600 from its first byte and never over an existing
file, so a mistyped path cannot destroy anything.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO

from .errors import FileRefused, IntegrityError, StorageError


def create_new(path: Path) -> int:
    """Create ``path`` (0600, O_EXCL) and return its descriptor; refuse an existing file."""
    try:
        return os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise FileRefused(f"{path} already exists: refusing to overwrite it", path, "file exists") from None
    except OSError as exc:
        raise FileRefused(f"cannot create {path}", path, exc.strerror or "cannot create") from None


def open_new(path: Path) -> IO[str]:
    """A new 0600 text file, open for writing (UTF-8, newlines as written)."""
    return os.fdopen(create_new(path), "w", encoding="utf-8", newline="")


def write_new(path: Path, text: str) -> None:
    """Write ``text`` to a new 0600 file; a file that cannot be written whole is removed."""
    try:
        with open_new(path) as handle:
            handle.write(text)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise FileRefused(f"cannot write {path}", path, exc.strerror or "cannot write") from None


def reserve_new(path: Path) -> None:
    """Create an empty 0600 file to be filled later (by SQLite's backup, say)."""
    os.close(create_new(path))


def wipe(path: Path) -> None:
    """Overwrite a file of ours with zeros where it lies, then remove it (its blocks go back to the
    file system holding nothing); no file, nothing to do."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    zero_descriptor(fd)
    path.unlink(missing_ok=True)


def zero_descriptor(fd: int) -> None:
    """Zero an open file from start to end, sync it and close the descriptor."""
    try:
        size = os.fstat(fd).st_size
        block = bytes(min(size, 1 << 20))
        for offset in range(0, size, 1 << 20):
            os.pwrite(fd, block[: min(len(block), size - offset)], offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def make_directory(path: Path) -> None:
    """A directory for exports (0700 when it is new)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise FileRefused(f"cannot create {path}", path, exc.strerror or "cannot create") from None


# --- the system's refusals -------------------------------------------------------------------------------
# A full disk or a permission denied is the machine's state, not a bug: the
# error names the file, the cause and what to do (the command line adds
# whether anything was changed).

CAUSES: dict[str, tuple[str, str]] = {
    "full": ("the disk is full", "free space on the file system that holds {where}, then run the command again"),
    "too-large": ("the file is larger than this process may write", "raise the file size limit (ulimit -f) of the user that runs kss-panel"),
    "permission": (
        "permission denied",
        "run kss-panel as the user that owns {where}: it must read and write the register and create files beside it",
    ),
    "read-only": ("the file system is read-only", "move the register to a writable file system, or remount {where} read-write"),
    "directory": (
        "its directory is read-only to this user, so the journal cannot be created beside it",
        "let the user that runs kss-panel write to {where} (the register's directory), or move the register",
    ),
    "read-only-file": (
        "it is read-only to this user (permission denied, or a read-only file system)",
        "run kss-panel as the user that owns the register, on a writable file system ({where})",
    ),
    "io": ("an I/O error (the disk may be full or failing)", "check the disk that holds {where}; restore from a backup if the register is damaged"),
}
ERRNO_CAUSES = {
    errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EFBIG: "too-large", errno.EACCES: "permission",
    errno.EPERM: "permission", errno.EROFS: "read-only", errno.EIO: "io",
}


def refusal(action: str, path: Path, cause: str) -> StorageError:
    """The system refused ``action`` (such as "write the register") on ``path`` for ``cause`` (a key of CAUSES)."""
    text, hint = CAUSES[cause]
    return StorageError(f"cannot {action} {path}: {text}", hints=(hint.format(where=path.parent),))


def os_refusal(exc: OSError, action: str, path: Path) -> StorageError:
    """An OSError as a refusal: a known cause with its hint, else the system's own words."""
    cause = ERRNO_CAUSES.get(exc.errno or 0)
    if cause is not None:
        return refusal(action, path, cause)
    return StorageError(f"cannot {action} {path}: {(exc.strerror or 'system error').lower()}")


# --- the erasure ledger -----------------------------------------------------------------------------------
# One line per erased member, "DAY MEMBER_ID REASON", beside the register: it
# outlives a lost or restored register file, so a restore can erase them again.
# A line is on the disk before the erasure commits (an erasure the ledger cannot
# hold does not happen); if the commit then fails, "DAY MEMBER_ID rolled-back"
# takes it back. A crash between the two leaves a line for a member who is still
# there: a restore then erases someone whose erasure was decided and begun, never
# brings back someone who was erased.
ROLLED_BACK = "rolled-back"
# A removed key slot gets a line "DAY slot:NAME removed", so a restore removes it again.
SLOT_PREFIX = "slot:"


def ledger_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".erasures")


def read_ledger(path: Path) -> dict[str, str]:
    """Member id -> reason, from a ledger file (empty when there is none)."""
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError):
        raise IntegrityError(f"the erasure ledger {path} cannot be read") from None
    found: dict[str, str] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 3 or parts[1].startswith(SLOT_PREFIX):
            continue
        if parts[2] == ROLLED_BACK:
            found.pop(parts[1], None)
        else:
            found[parts[1]] = parts[2]
    return found


def removed_slots(path: Path) -> list[str]:
    """The names of the key slots a ledger file says were removed, oldest first."""
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError):
        raise IntegrityError(f"the erasure ledger {path} cannot be read") from None
    removed: list[str] = []
    for parts in map(str.split, lines):
        if len(parts) == 3 and parts[1].startswith(SLOT_PREFIX):
            name = parts[1][len(SLOT_PREFIX) :]
            if parts[2] == ROLLED_BACK:
                removed = [slot for slot in removed if slot != name]
            elif name not in removed:
                removed.append(name)
    return removed


def append_ledger(path: Path, lines: list[str]) -> None:
    """Append and fsync: an erasure's line is on the disk before the erasure commits.

    A refusal of the system (a full disk, permission denied) is a StorageError
    naming the ledger; the caller rolls the erasure back.
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "a", encoding="ascii") as handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise os_refusal(exc, "write the erasure ledger", path) from None


def retract_ledger(path: Path, lines: list[str]) -> None:
    """Take back the lines of erasures that did not commit, as far as the disk lets us (best effort)."""
    retractions = []
    for line in lines:
        day, member_id, _ = line.split()
        retractions.append(ledger_line(day, member_id, ROLLED_BACK))
    try:
        append_ledger(path, retractions)
    except StorageError:
        pass  # the line stays: a restore erases a member whose erasure was begun, never resurrects one


def ledger_line(erased_at: str, member_id: str, reason: str) -> str:
    return f"{erased_at} {member_id} {reason}\n"


def slot_removal_line(day: str, name: str) -> str:
    return f"{day} {SLOT_PREFIX}{name} removed\n"
