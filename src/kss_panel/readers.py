"""Reading what officers hand in: rosters, activity exports, applications (CSV, JSON, JSON Lines).

UTF-8 with or without a BOM; CSV with ',' or ';' as delimiter. Problems are
reported by line and column name, never with the cell's value.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import IO, Any

from .errors import InvalidInput, NotFound, Param
from .json_input import MAX_JSON_INPUT, ArrayScan, parse_json
from .record import field_spec, normalise_customer_number, text_converter
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


def read_json(file: str) -> Any:
    """One JSON document (a record or a patch) from a file, or stdin for ``-``; at most 1 MB."""
    with open_input(file) as handle:
        try:
            raw = handle.read(MAX_JSON_INPUT + 1)
        except OSError as exc:
            raise InvalidInput(f"cannot read {file}", [(Param("file"), exc.strerror or "unreadable")]) from None
    if len(raw) > MAX_JSON_INPUT:
        raise InvalidInput("input too large", [(Param("file"), f"must be at most {MAX_JSON_INPUT} bytes")])
    try:
        return parse_json(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidInput("invalid input", [(Param("file"), "is not UTF-8 text")]) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput("invalid input", [(Param("file"), f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")]) from None
    except ValueError as exc:
        raise InvalidInput("invalid input", [(Param("file"), str(exc))]) from None


class open_input:
    """A binary, peekable stream of a file, or of stdin for ``-``."""

    def __init__(self, file: str) -> None:
        self.file = file

    def __enter__(self) -> IO[bytes]:
        if self.file == "-":
            stdin = sys.stdin.buffer
            # A buffered reader can peek; stdin is one, unless something has put a plain stream in its place.
            self.handle: Any = stdin if hasattr(stdin, "peek") else io.BufferedReader(stdin)  # type: ignore[arg-type]
            return self.handle
        try:
            self.handle = open(self.file, "rb")
        except FileNotFoundError:
            raise NotFound(f"input file not found: {self.file}") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read {self.file}", [(Param("file"), exc.strerror or "unreadable")]) from None
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.file != "-":
            self.handle.close()


# --- applications and self-service updates ----------------------------------------------------------------

JSON_CHUNK = 1 << 16
MAX_IMPORT_BYTES = 256 * 2**20  # one import file; a record's limits are in json_input
RecordRow = tuple[int, dict[str, Any] | None, list[tuple[str, str]]]
Column = tuple[str, str | None, Callable[[str], Any]]  # category, field (None: the whole category), conversion of a cell


def _stripped(cell: str) -> str | None:
    return cell.strip() or None


class RecordSource:
    """A stream of records from CSV (dotted-path header), a JSON array, or JSON Lines.

    Yields ``(line, record or None, problems)``; memory stays flat in the
    number of rows. A file that cannot be read on (bad encoding, broken CSV
    quoting, NUL bytes, an oversized field) raises InvalidInput naming the line.
    """

    def __init__(
        self, handle: io.BufferedReader, policies: Policies, *, extra_columns: tuple[str, ...] = ("applied_at",), records: bool = True
    ) -> None:
        self.handle = handle
        self.policies = policies
        self.extra_columns = extra_columns
        # records=False reads the file through for its structure alone (CSV cells and JSON Lines are not
        # turned into records): what a first pass needs to refuse a file that cannot be read on.
        self.records = records
        self.line = 0  # the physical line read last
        self.bytes_read = 0

    def __iter__(self) -> Iterator[RecordRow]:
        first = self._peek()
        if first == "":
            raise InvalidInput("the file is empty", [("line 1", "no header and no records")])
        if first == "[":
            yield from self._json_array()
        elif first == "{":
            yield from self._json_lines()
        else:
            yield from self._csv()

    def _peek(self) -> str:
        # The first non-blank byte tells the format; peek() consumes nothing.
        head = self.handle.peek(4096)[:4096].removeprefix(codecs.BOM_UTF8).lstrip()
        return head[:1].decode("ascii", "replace")

    def _read(self, size: int) -> int:
        """Count ``size`` bytes read; refuse a file past MAX_IMPORT_BYTES."""
        self.bytes_read += size
        if self.bytes_read > MAX_IMPORT_BYTES:
            raise InvalidInput("the file is too large", [("(file)", f"is larger than {MAX_IMPORT_BYTES // 2**20} MiB: split it into smaller imports")])
        return size

    def _lines(self) -> Iterator[str]:
        """Decoded physical lines, each checked on its own so an error names its line."""
        number = 0
        for chunk in self.handle:
            self._read(len(chunk))
            # Split again on a lone CR too: spreadsheets on old Macs end lines so.
            for raw in chunk.splitlines(keepends=True) if b"\r" in chunk[:-2] else (chunk,):
                number += 1
                self.line = number
                if number == 1:
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidInput("the file is not UTF-8 text", [(f"line {number}", "invalid UTF-8")]) from None

    def _csv(self) -> Iterator[RecordRow]:
        lines = self._lines()
        sample = next(lines)
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        reader = csv.reader(itertools.chain([sample], lines), delimiter=delimiter, strict=True)
        start = 1
        try:
            header = [column.strip() for column in next(reader)]
            columns = self._columns(header)
            while True:
                start = reader.line_num + 1  # a quoted cell may span lines: name the first
                cells = next(reader, None)
                if cells is None:
                    return
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    yield start, None, [("(row)", f"has {len(cells)} cells, the header {len(header)}")]
                    continue
                yield start, self._record(columns, cells) if self.records else None, []
        except csv.Error as exc:
            reason = "contains a NUL byte" if "NUL" in str(exc) else (
                f"a field is longer than {MAX_FIELD} characters" if "field larger" in str(exc) else "malformed CSV (quoting)"
            )
            raise InvalidInput("the file cannot be read on", [(f"line {start}", reason)]) from None

    def _columns(self, header: list[str]) -> list[Column]:
        """Each column's category, field (None for a whole category) and the conversion of its cells."""
        problems: list[tuple[str, str]] = []
        columns: list[Column] = []
        for index, column in enumerate(header, start=1):
            if column in self.extra_columns:
                columns.append((column, None, _stripped))
                continue
            found = field_spec(self.policies, column)
            if found is None or found[1] is None:
                # The column's text is not echoed: a missing header means it is personal data.
                problems.append((f"line 1: column {index}", "is not a field path of the register (like contact.email)"))
                continue
            name, _, field = column.partition(".")
            columns.append((name, field or None, text_converter(found[1], found[0].kind)))
        if problems:
            raise InvalidInput("the header is not a list of field paths", problems)
        if len(set(header)) != len(header):
            raise InvalidInput("the header names a column twice", [("line 1", "duplicate column")])
        return columns

    @staticmethod
    def _record(columns: list[Column], cells: list[str]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for (name, field, convert), cell in zip(columns, cells, strict=True):
            value = convert(cell)
            if value is None:
                continue
            if field is None:
                record[name] = value
            else:
                record.setdefault(name, {})[field] = value
        return record

    def _json_lines(self) -> Iterator[RecordRow]:
        for number, text in enumerate(self._lines(), start=1):
            if not text.strip():
                continue
            if len(text) > MAX_JSON_INPUT:
                yield number, None, [("(row)", f"is longer than {MAX_JSON_INPUT} characters")]
                continue
            if not self.records:
                yield number, None, []
                continue
            try:
                value = parse_json(text)
            except json.JSONDecodeError as exc:
                yield number, None, [("(row)", f"not valid JSON ({exc.msg})")]
                continue
            except ValueError as exc:
                yield number, None, [("(row)", str(exc))]
                continue
            if isinstance(value, dict):
                yield number, value, []
            else:
                yield number, None, [("(row)", "must be a JSON object")]

    def _chunks(self) -> Iterator[str]:
        """Decoded chunks of the whole file; an encoding error names its line."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        newlines, first = 0, True
        while True:
            raw = self.handle.read(JSON_CHUNK)
            self._read(len(raw))
            if first:
                raw, first = raw.removeprefix(codecs.BOM_UTF8), False
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                line = newlines + raw[: exc.start].count(b"\n") + 1
                raise InvalidInput("the file is not UTF-8 text", [(f"line {line}", "invalid UTF-8")]) from None
            newlines += text.count("\n")
            yield text
            if not raw:
                return

    def _json_array(self) -> Iterator[RecordRow]:
        """The objects of one JSON array, each parsed once: linear in the file, and in memory bounded by
        MAX_JSON_INPUT (a value not complete within it, such as an unterminated string, is refused)."""
        scan = ArrayScan(self._chunks())
        scan.skip()
        if not scan.text.startswith("[", scan.pos):
            raise InvalidInput("not valid JSON", [(f"line {scan.line}", "expected [")])
        scan.pos += 1
        while True:
            scan.skip()
            if scan.pos == len(scan.text):
                raise InvalidInput("not valid JSON", [(f"line {scan.line}", "the array is not closed with ]")])
            if scan.text.startswith("]", scan.pos):
                scan.pos += 1
                scan.rest_is_blank()
                return
            line, (value, problem) = scan.line, scan.value()
            self.line = line
            if problem is not None:
                yield line, None, [("(row)", problem)]
            elif isinstance(value, dict):
                yield line, value, []
            else:
                yield line, None, [("(row)", "must be a JSON object")]
