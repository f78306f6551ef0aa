"""Writing what leaves the register: disclosure files, access exports, import reports.

Each goes to a new 0600 file (``files``), is never written over an existing
one, and is removed if the command fails half-way, so nothing half-written is
left behind. CSV cells a spreadsheet would run as formulas are neutralised.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from . import files

CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "json")


def neutralise(cell: str) -> str:
    """Stop a spreadsheet from running a cell as a formula (OWASP CSV injection).

    A plain E.164 phone number (+ and digits) cannot run as a formula and is
    kept as it is, so the recipient gets usable numbers.
    """
    if cell.startswith(CSV_FORMULA_START) and not re.fullmatch(r"\+[0-9]{6,15}", cell):
        return "'" + cell
    return cell


def csv_cell(value: Any) -> str:
    if value.__class__ is str:  # most cells: one test, and neutralise only for one that may run as a formula
        return neutralise(value) if value.startswith(CSV_FORMULA_START) else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return neutralise(";".join(str(v) for v in value))
    return neutralise(str(value))


class NewFile:
    """A new 0600 text file, removed again unless the ``with`` block completes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> IO[str]:
        self.handle = files.open_new(self.path)
        return self.handle

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.handle.close()
        if kind is not None:
            self.path.unlink(missing_ok=True)


class RowWriter(NewFile):
    """Rows of one shape (a header of ``columns``) as CSV or a JSON array, streamed."""

    def __init__(self, path: Path, columns: list[str], format_: str) -> None:
        super().__init__(path)
        self.columns = columns
        self.format = format_
        self._rows = 0

    def __enter__(self) -> RowWriter:  # type: ignore[override]
        handle = super().__enter__()
        self._csv = csv.writer(handle) if self.format == "csv" else None
        if self._csv is not None:
            self._csv.writerow(self.columns)
        return self

    def write(self, row: dict[str, Any]) -> None:
        self.write_values([row.get(column) for column in self.columns])

    def write_values(self, values: list[Any]) -> None:
        """A row given as the values of ``columns``, in order."""
        if self._csv is not None:
            self._csv.writerow(map(csv_cell, values))
        else:
            self.handle.write(("[\n" if not self._rows else ",\n") + json.dumps(dict(zip(self.columns, values, strict=True)), ensure_ascii=False))
        self._rows += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None and self._csv is None:
            self.handle.write("\n]\n" if self._rows else "[]\n")
        super().__exit__(kind, exc, tb)


def file_stamp(instant: str) -> str:
    """An ISO instant in UTC as a file name takes it: 2026-06-15T12:00:00+00:00 -> 20260615T120000Z."""
    return instant.replace("-", "").replace(":", "").replace("+0000", "Z")


def write_documents(directory: Path, documents: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Write several new files in ``directory`` (kind -> (name, text)); all of them or none."""
    files.make_directory(directory)
    written: dict[str, str] = {}
    try:
        for kind, (name, text) in documents.items():
            files.write_new(directory / name, text)
            written[kind] = str(directory / name)
    except BaseException:
        for path in written.values():
            Path(path).unlink(missing_ok=True)
        raise
    return written
