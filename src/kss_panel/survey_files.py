"""The files a survey takes in: a processor's return file (who answered) and a quota (how many to draw
from each stratum). Both are CSV, read with ``readers.read_rows``; problems name the line and the column,
never a cell's value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from .errors import InvalidInput
from .model import local_date
from .readers import read_rows

MAX_FILE_BYTES = 64 * 2**20
MAX_PROBLEMS = 1000  # a file with more is refused after this many, and read no further
MEMBER_ID = re.compile(r"M[a-z2-7]{16}")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Response:
    line: int
    member_id: str
    day: date | None


def _bounded(path: Path, what: str, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        size = os.stat(path).st_size
    except OSError:
        size = 0  # read_rows names a file that is not there or cannot be read
    if size > MAX_FILE_BYTES:
        raise InvalidInput(f"invalid {what} {path}", [(str(path), f"is larger than {MAX_FILE_BYTES // 2**20} MiB")])
    return read_rows(path, required)


def read_responses(path: Path) -> Iterator[Response | tuple[str, str]]:
    """Each row of a return file with a ``member_id`` column and an optional ``completed_on`` column (a day, or
    an ISO 8601 time with its offset, taken as the register's calendar day): a Response, or (where, problem)."""
    for line, row in _bounded(path, "return file", ("member_id",)):
        member_id = row["member_id"].strip()
        day, problem = _day(row.get("completed_on", "").strip())
        if not MEMBER_ID.fullmatch(member_id):
            yield f"line {line}: member_id", "is not a member id (M and 16 letters or digits)"
        elif problem:
            yield f"line {line}: completed_on", problem
        else:
            yield Response(line, member_id, day)


def _day(text: str) -> tuple[date | None, str | None]:
    if not text:
        return None, None
    try:
        if DAY.fullmatch(text):
            return date.fromisoformat(text), None
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None, "must be a day as YYYY-MM-DD, or a time as YYYY-MM-DDTHH:MM:SS+HH:MM"
    if instant.tzinfo is None:
        return None, "a time needs its offset from UTC (such as Z or +02:00)"
    return local_date(instant), None


@dataclass(frozen=True)
class QuotaFile:
    """A quota as read: its columns and each row's cells, by line; ``sampling.quota`` checks them."""

    path: Path
    columns: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]


def read_quota(path: Path) -> QuotaFile:
    """A quota CSV: one column per strata field (its path as given to --strata, without bins) and ``count``."""
    rows = tuple(_bounded_quota(path))
    columns = tuple(rows[0][1]) if rows else ()
    return QuotaFile(path, columns, rows)


def _bounded_quota(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    for count, (line, row) in enumerate(_bounded(path, "quota"), start=1):
        if count > 10_000:
            raise InvalidInput(f"invalid quota {path}", [(f"line {line}", "a quota has at most 10000 strata")])
        yield line, row
