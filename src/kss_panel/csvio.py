"""Reading CSV files that officers hand in: rosters, activity exports, applications.

UTF-8 with or without a BOM, ',' or ';' as delimiter. Problems are reported by
line and column name, never with the cell's value.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from .errors import InvalidInput, NotFound
from .model import normalise_customer_number

MAX_FIELD = 100_000
csv.field_size_limit(MAX_FIELD)


def _open(path: Path) -> io.TextIOWrapper:
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise NotFound(f"file not found: {path}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}", [(str(path), exc.strerror or "unreadable")]) from None


def read_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) for each data row; the header must name ``required``."""
    with _open(path) as handle:
        try:
            sample = handle.read(4096)
            handle.seek(0)
            delimiter = ";" if sample.split("\n", 1)[0].count(";") > sample.split("\n", 1)[0].count(",") else ","
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            header = next(reader, None)
            if header is None:
                raise InvalidInput(f"{path} is empty", [("line 1", "a header row is required")])
            header = [column.strip() for column in header]
            missing = [column for column in required if column not in header]
            if missing:
                raise InvalidInput(f"{path} lacks a required column", [("line 1", f"no column {c!r}") for c in missing])
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if "\x00" in "".join(row):
                    raise InvalidInput(f"invalid {path}", [(f"line {reader.line_num}", "contains a NUL byte")])
                if len(row) != len(header):
                    raise InvalidInput(f"invalid {path}", [(f"line {reader.line_num}", f"has {len(row)} cells, the header {len(header)}")])
                yield reader.line_num, dict(zip(header, row, strict=True))
        except UnicodeDecodeError:
            raise InvalidInput(f"invalid {path}", [(str(path), "is not UTF-8 text")]) from None
        except csv.Error as exc:
            raise InvalidInput(f"invalid {path}", [(f"line {getattr(reader, 'line_num', 0)}", f"malformed CSV ({exc})")]) from None


def read_roster(path: Path) -> set[str]:
    """The customer numbers of a roster CSV (a ``customer_number`` column)."""
    numbers: set[str] = set()
    problems: list[tuple[str, str]] = []
    for line, row in read_rows(path, ("customer_number",)):
        try:
            numbers.add(normalise_customer_number(row["customer_number"]))
        except ValueError as exc:
            problems.append((f"line {line}: customer_number", str(exc)))
    if problems:
        raise InvalidInput(f"invalid roster {path}", problems)
    return numbers


def read_activity(path: Path) -> list[tuple[int, str, date]]:
    """(line, member id, date) from an activity CSV with ``member_id`` and ``date`` columns."""
    rows: list[tuple[int, str, date]] = []
    problems: list[tuple[str, str]] = []
    for line, row in read_rows(path, ("member_id", "date")):
        try:
            rows.append((line, row["member_id"].strip(), date.fromisoformat(row["date"].strip())))
        except ValueError:
            problems.append((f"line {line}: date", "must be a date as YYYY-MM-DD"))
    if problems:
        raise InvalidInput(f"invalid activity file {path}", problems)
    return rows
