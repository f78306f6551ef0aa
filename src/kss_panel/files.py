"""Files the tool writes beside its register: new 0600 files, and the erasure ledger.

Every file kss-panel creates (the register, key files, exports, reports,
backups) is created here: 0600 from its first byte and never over an existing
file, so a mistyped path cannot destroy anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from .errors import FileRefused, IntegrityError


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


# --- the erasure ledger -----------------------------------------------------------------------------------
# One line per erased member, "DAY MEMBER_ID REASON", beside the register: it
# outlives a lost or restored register file, so a restore can erase them again.
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
        if len(parts) == 3 and not parts[1].startswith(SLOT_PREFIX):
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
    return [parts[1][len(SLOT_PREFIX) :] for parts in map(str.split, lines) if len(parts) == 3 and parts[1].startswith(SLOT_PREFIX)]


def append_ledger(path: Path, lines: list[str]) -> None:
    """Append and fsync: an erasure's line must be on the disk before the command reports it."""
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as handle:
        handle.writelines(lines)
        handle.flush()
        os.fsync(handle.fileno())


def ledger_line(erased_at: str, member_id: str, reason: str) -> str:
    return f"{erased_at} {member_id} {reason}\n"


def slot_removal_line(day: str, name: str) -> str:
    return f"{day} {SLOT_PREFIX}{name} removed\n"
