"""The unused space inside the register's pages, cleared of what SQLite leaves in it.

``secure_delete`` zeroes a cell SQLite deletes and a page it frees. But when
a write rebalances a b-tree, SQLite rebuilds a page's cells towards its end
and leaves the bytes below them as they were: copies of cells that moved to
a sibling page, which a later rectification or erasure of that member does
not reach. So after every write, with the write-ahead log checkpointed and
before it is wiped (``storage.Store.scrub``), each page the log held is read
from the file and its unallocated space (between the cell pointers and the
cells) and the bodies of its free blocks are overwritten with zeros where
they lie (docs/crypto.md §8). Migration ``0005_clear_unused_page_space``
does the same once for every page of a register made before.

Only b-tree pages are touched, and only bytes the file format says are
unused, so a page that does not parse as a b-tree page is left alone.
Fragments (runs of at most three bytes SQLite does not track) are not
cleared: no ciphertext fits in them.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from collections.abc import Iterable
from pathlib import Path

from .database import ZEROS, wal_path

HEADER = 100  # the file header, before page 1's own header
LEAF_TYPES, INTERIOR_TYPES = (10, 13), (2, 5)  # index and table b-tree pages
WAL_HEADER, FRAME_HEADER = 32, 24
WAL_MAGIC = (0x377F0682, 0x377F0683)
PENDING_BYTE = 0x40000000  # SQLite's lock-byte page, never used for content


def unused_spans(page: bytes, header_at: int, usable: int) -> list[tuple[int, int]]:
    """The (start, end) byte ranges of ``page`` that hold nothing: its unallocated space and its
    free blocks past their 4-byte links. Empty if the page is not a well-formed b-tree page."""
    if len(page) < usable or header_at + 8 > usable:
        return []
    kind = page[header_at]
    if kind not in LEAF_TYPES and kind not in INTERIOR_TYPES:
        return []
    first_free, cells, content = struct.unpack_from(">HHH", page, header_at + 1)
    content = content or 65536
    pointers_end = header_at + (8 if kind in LEAF_TYPES else 12) + 2 * cells
    if not pointers_end <= content <= usable:
        return []
    spans = [(pointers_end, content)] if content > pointers_end else []
    at, floor = first_free, content
    while at:
        if at < floor or at + 4 > usable:
            return []  # a free block outside the content area, or a chain that does not go up
        following, size = struct.unpack_from(">HH", page, at)
        if size < 4 or at + size > usable or (following and following < at + size):
            return []
        if size > 4:
            spans.append((at + 4, at + size))
        at, floor = following, at + size
    return spans


def logged_pages(log: Path) -> set[int]:
    """Every page number a write-ahead log has a frame for, whatever its salt (an over-estimate is harmless)."""
    with log.open("rb") as handle:
        header = handle.read(WAL_HEADER)
        if len(header) < WAL_HEADER:
            return set()
        magic, _, page_size = struct.unpack_from(">III", header)
        if magic not in WAL_MAGIC or page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
            return set()
        size = os.fstat(handle.fileno()).st_size
        frame = FRAME_HEADER + page_size
        pages = set()
        for offset in range(WAL_HEADER, size - frame + 1, frame):
            (number,) = struct.unpack(">I", os.pread(handle.fileno(), 4, offset))
            if number:
                pages.add(number)
        return pages


def clear(db: Path, pages: Iterable[int] | None = None, *, skip: Iterable[int] = ()) -> int:
    """Zero the unused space of ``pages`` (every page when None, but those in ``skip``) of the database
    file at ``db``, in place, and sync it if anything changed; return how many bytes were overwritten.

    The caller holds the write lock, and no page it names has a frame in the log that a checkpoint has
    not yet copied: nothing else writes these pages meanwhile.
    """
    fd = os.open(db, os.O_RDWR)
    try:
        header = os.pread(fd, HEADER, 0)
        if len(header) < HEADER:
            return 0
        page_size = struct.unpack_from(">H", header, 16)[0]
        page_size = 65536 if page_size == 1 else page_size
        usable = page_size - header[20]
        count = os.fstat(fd).st_size // page_size
        wanted = range(1, count + 1) if pages is None else sorted(pages)
        skipped, lock_page = set(skip), PENDING_BYTE // page_size + 1
        cleared = 0
        for number in wanted:
            if not 1 <= number <= count or number == lock_page or number in skipped:
                continue
            offset = (number - 1) * page_size
            page = os.pread(fd, page_size, offset)
            for start, end in unused_spans(page, HEADER if number == 1 else 0, usable):
                if page.count(0, start, end) != end - start:
                    os.pwrite(fd, ZEROS[: end - start], offset + start)
                    cleared += end - start
        if cleared:
            os.fsync(fd)
        return cleared
    finally:
        os.close(fd)


def clear_register(conn: sqlite3.Connection) -> int:
    """Migration 0005: every page of the connection's file, inside its write transaction, but the pages
    its log holds (a checkpoint may be copying them; the write's wipe clears them after)."""
    [name] = [row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"]
    if not name:
        return 0  # an in-memory database
    log = wal_path(Path(name))
    return clear(Path(name), skip=logged_pages(log) if log.exists() else ())
