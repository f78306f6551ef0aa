"""Reading CSV files that officers hand in: rosters, activity exports, applications.

UTF-8 with or without a BOM, ',' or ';' as delimiter. Problems are reported by
line and column name, never with the cell's value.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from .errors import InvalidInput, NotFound
from .model import coerce_text, field_spec, normalise_customer_number
from .policy import Policies

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


# --- applications and self-service updates ----------------------------------------------------------------

JSON_CHUNK = 1 << 16
RecordRow = tuple[int, dict[str, Any] | None, list[tuple[str, str]]]


class RecordSource:
    """A stream of records from CSV (dotted-path header), a JSON array, or JSON Lines.

    Yields ``(line, record or None, problems)``; memory stays flat in the
    number of rows. A file that cannot be read on (bad encoding, broken CSV
    quoting, NUL bytes, an oversized field) raises InvalidInput naming the line.
    """

    def __init__(self, handle: io.BufferedReader, policies: Policies, *, extra_columns: tuple[str, ...] = ("applied_at",)) -> None:
        self.handle = handle
        self.policies = policies
        self.extra_columns = extra_columns
        self.text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="strict", newline="")
        self.line = 0

    def position(self) -> int:
        return self.handle.tell()

    def __iter__(self) -> Iterator[RecordRow]:
        try:
            first = self._peek()
            if first == "":
                raise InvalidInput("the file is empty", [("line 1", "no header and no records")])
            if first == "[":
                yield from self._json_array()
            elif first == "{":
                yield from self._json_lines()
            else:
                yield from self._csv()
        except UnicodeDecodeError:
            raise InvalidInput("the file is not UTF-8 text", [(f"line {self.line + 1}", "invalid UTF-8")]) from None

    def _peek(self) -> str:
        # The first non-blank byte tells the format; peek() consumes nothing.
        head = self.handle.peek(4096)[:4096].removeprefix(codecs.BOM_UTF8).lstrip()
        return head[:1].decode("ascii", "replace")

    def _csv(self) -> Iterator[RecordRow]:
        sample = self.text.readline()
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        reader = csv.reader(itertools.chain([sample], self.text), delimiter=delimiter, strict=True)
        try:
            header = [column.strip() for column in next(reader)]
            self.line = 1
            columns = self._columns(header)
            for cells in reader:
                line = reader.line_num
                self.line = line
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    yield line, None, [("(row)", f"has {len(cells)} cells, the header {len(header)}")]
                    continue
                yield line, self._record(columns, cells), []
        except csv.Error as exc:
            reason = "contains a NUL byte" if "NUL" in str(exc) else (
                f"a field is longer than {MAX_FIELD} characters" if "field larger" in str(exc) else "malformed CSV (quoting)"
            )
            raise InvalidInput("the file cannot be read on", [(f"line {reader.line_num + 1}", reason)]) from None

    def _columns(self, header: list[str]) -> list[tuple[str, Any, str]]:
        problems: list[tuple[str, str]] = []
        columns: list[tuple[str, Any, str]] = []
        for index, column in enumerate(header, start=1):
            if column in self.extra_columns:
                columns.append((column, None, "extra"))
                continue
            found = field_spec(self.policies, column)
            if found is None or found[1] is None:
                # The column's text is not echoed: a missing header means it is personal data.
                problems.append((f"line 1: column {index}", "is not a field path of the register (like contact.email)"))
                continue
            columns.append((column, found[1], found[0].kind))
        if problems:
            raise InvalidInput("the header is not a list of field paths", problems)
        if len({name for name, _, _ in columns}) != len(columns):
            raise InvalidInput("the header names a column twice", [("line 1", "duplicate column")])
        return columns

    @staticmethod
    def _record(columns: list[tuple[str, Any, str]], cells: list[str]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for (path, spec, kind), cell in zip(columns, cells, strict=True):
            value = cell.strip() or None if kind == "extra" else coerce_text(spec, kind, cell)
            if value is None:
                continue
            name, _, field = path.partition(".")
            if field:
                record.setdefault(name, {})[field] = value
            else:
                record[name] = value
        return record

    def _json_lines(self) -> Iterator[RecordRow]:
        for number, text in enumerate(self.text, start=1):
            self.line = number
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, None, [("(row)", f"not valid JSON ({exc.msg})")]
                continue
            yield number, value if isinstance(value, dict) else None, [] if isinstance(value, dict) else [("(row)", "must be a JSON object")]

    def _json_array(self) -> Iterator[RecordRow]:
        decoder = json.JSONDecoder()
        buffer, line, started = "", 1, False
        exhausted = False
        while True:
            stripped = buffer.lstrip(" \t\r\n,")
            line += buffer[: len(buffer) - len(stripped)].count("\n")
            buffer = stripped
            if not started and buffer.startswith("["):
                buffer, started = buffer[1:], True
                continue
            if started and buffer.startswith("]"):
                if buffer[1:].strip() or self.text.read(1).strip():
                    raise InvalidInput("not valid JSON", [(f"line {line}", "text after the closing ]")])
                return
            try:
                value, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError as exc:
                if exhausted:
                    raise InvalidInput("not valid JSON", [(f"line {line + buffer[:exc.pos].count(chr(10))}", exc.msg)]) from None
                chunk = self.text.read(JSON_CHUNK)
                exhausted = chunk == ""
                buffer += chunk
                continue
            if end == len(buffer) and not exhausted:
                # A number or the like may continue in the next chunk: read more first.
                chunk = self.text.read(JSON_CHUNK)
                exhausted = chunk == ""
                if chunk:
                    buffer += chunk
                    continue
            self.line = line
            if isinstance(value, dict):
                yield line, value, []
            else:
                yield line, None, [("(row)", "must be a JSON object")]
            line += buffer[:end].count("\n")
            buffer = buffer[end:]
