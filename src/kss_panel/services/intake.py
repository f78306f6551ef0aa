"""Bulk intake: applications from the website or a form export, and self-service changes.

Rows are streamed from the file and written in batches inside one
transaction, so memory stays flat; every invalid row is reported by line,
field path and problem, never by value. All or nothing unless the officer
asks to skip invalid rows.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

from .. import files
from ..audit import compact_detail, member_digest
from ..errors import InvalidInput
from ..model import local_date
from ..policy import Policies
from ..readers import RecordSource, open_input
from ..storage_staging import STAGED, Staging
from ..receipts import current_versions, enrolment_receipt
from ..record import normalise_lookup
from ..words import plural
from . import receipts
from .members import complete_member, enrol_audit_detail, rectify
from .preparing import preparer, workers_for
from .session import Session

IMPORT_BATCH = 1000
CHECK_BATCH = 500  # rows whose lookups are checked for duplicates at once
SHOWN_PROBLEMS = 1000  # problems kept in memory for the error or the result; --report takes any number
Report = Callable[[int, str, str], None]
Progress = Callable[[int, int | None], None]
Row = tuple[int, Any, list[tuple[str, str]]]


def import_file(
    session: Session,
    file: str,
    now: datetime,
    *,
    updates: bool = False,
    skip_invalid: bool = False,
    report: Path | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Import applications (or, with ``updates``, self-service changes) from a CSV, JSON or JSONL file.

    Invalid rows go to ``report`` (a new 0600 file, created once the register
    is unlocked and the role checked); without one, the first SHOWN_PROBLEMS
    of them are the problems of the error, or of the result (``problems``) when
    ``skip_invalid`` imported the others. ``progress`` hears (bytes read, file
    size) as the rows go by. ``workers``: processes that validate and seal
    applications beside this one (by default one for a large file, when the
    machine has a second core).
    """
    session.require_officer("rectify personal data" if updates else "enrol members")
    shown = _Shown()
    with ExitStack() as stack:
        handle = stack.enter_context(open_input(file))
        extra = ("member_id",) if updates else ("applied_at",)
        prescan(handle, session.policies, extra)
        note: Report = shown
        if report is not None:
            report_file = stack.enter_context(files.open_new(report))
            note = _report_line(report_file)
        rows: Iterable[Row] = RecordSource(handle, session.policies, extra_columns=extra)
        if progress is not None:
            rows = _watched(rows, handle, progress)
        try:
            if updates:
                counts = import_updates(session, rows, now, report=note, skip_invalid=skip_invalid)
            else:
                workers = workers_for(_size(handle)) if workers is None else workers
                counts = import_applications(session, rows, now, report=note, skip_invalid=skip_invalid, workers=workers)
        except InvalidInput as exc:
            exc.problems = [*shown.problems, *exc.problems]
            exc.hints = (*exc.hints, *shown.hints, *((f"the invalid rows are listed in {report}",) if report is not None else ()))
            raise
    return {**counts, "problems": shown.problems, "problems_not_shown": shown.more}


class _Shown:
    """The problems of invalid rows for the error or the result: the first SHOWN_PROBLEMS, and how many more."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.more = 0

    def __call__(self, line: int, path: str, problem: str) -> None:
        if len(self.problems) < SHOWN_PROBLEMS:
            self.problems.append((f"line {line}: {path}", problem))
        else:
            self.more += 1

    @property
    def hints(self) -> tuple[str, ...]:
        return (f"{plural(self.more, 'more problem')} not shown: --report FILE lists them all",) if self.more else ()


def prescan(handle: IO[bytes], policies: Policies, extra: tuple[str, ...]) -> None:
    """Read a file through once before the write lock is taken: a file that cannot be read on (broken
    syntax, bad encoding, a record or a file over its size limit) is refused while other officers' commands
    run on. Records are validated in the pass that writes them. Standard input from a pipe cannot be read
    twice, so it is checked in that pass alone."""
    if not handle.seekable():
        return
    start = handle.tell()
    for _ in RecordSource(handle, policies, extra_columns=extra, records=False):
        pass
    handle.seek(start)


def _report_line(handle: IO[str]) -> Report:
    def write(line: int, path: str, problem: str) -> None:
        handle.write(f"line {line}: {path}: {problem}\n")

    return write


def _size(handle: IO[bytes]) -> int | None:
    """The size of a regular file; None for a pipe."""
    try:
        status = os.fstat(handle.fileno())
    except (OSError, ValueError):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _watched(rows: Iterable[Row], handle: IO[bytes], progress: Progress) -> Iterator[Row]:
    total = _size(handle) or None
    for count, row in enumerate(rows, start=1):
        if count % 500 == 0:
            progress(handle.tell(), total)
        yield row


class _Counts(dict[str, int]):
    def problem(self, line: int, problems: list[tuple[str, str]], report: Report) -> None:
        self["invalid"] += 1
        for path, problem in problems:
            report(line, path, problem)

    def finish(self, skip_invalid: bool, what: str, outcome: str) -> None:
        if self["rows"] == 0:
            raise InvalidInput("the file holds no records", [("(file)", "no rows after the header")])
        if self["invalid"] and not skip_invalid:
            verb = "is" if self["invalid"] == 1 else "are"
            raise InvalidInput(f"{self['invalid']} of {plural(self['rows'], what)} {verb} invalid: {outcome}")


def import_applications(
    session: Session, rows: Iterable[Row], now: datetime, *, report: Report, skip_invalid: bool = False, workers: int = 0
) -> dict[str, int]:
    """Enrol a stream of applications, all or none; duplicates (within the file and against the
    register) are found by keyed digest.

    The rows are validated, sealed and hashed into a staging file with no lock
    held, so other commands answer meanwhile; the register's write lock is
    taken only to copy them in, in one transaction with their audit entries.
    With ``workers``, rows are validated and sealed in that many processes
    beside this one (``preparing``); the outcome is the same.
    """
    session.require_officer("enrol members")
    counts = _Counts(rows=0, imported=0, invalid=0, flagged=0)
    given: set[str] = set()
    with Staging(session.store.path) as staging:
        _prepare(session, staging, rows, now, counts, report, Preparation(workers, given))
        staging.close_writing()
        counts.finish(skip_invalid, "record", "nothing was imported")
        with session.store.attached(staging.path, STAGED), session.store.write():
            _late_duplicates(session, counts, report, skip_invalid)
            Staging.copy_in(session.store.conn)
            _enrol_entries(session, now)
            receipts.keep_wordings(session, given, now)
            session.audit(now, "import", None, [], {"imported": counts["imported"], "invalid": counts["invalid"]})
    return dict(counts)


@dataclass(frozen=True)
class Preparation:
    """How an import prepares its rows: in ``workers`` processes beside this one (or none), gathering in
    ``given`` the consents its applications give, whose wordings it keeps."""

    workers: int
    given: set[str]


def _prepare(session: Session, staging: Staging, rows: Iterable[Row], now: datetime, counts: _Counts, report: Report, how: Preparation) -> None:
    """Validate, seal and hash every row into the staging file (``preparing``), the duplicate checks a batch of
    rows at a time: two queries, of the rows staged before it and of the register, one short read each."""
    suppressions = session.store.has_suppressions()
    paths = session.schema.lookup_paths
    details = {flag: compact_detail(enrol_audit_detail({"suppression_match": flag}, **{"import": True})) for flag in (None, 1)}
    receipt_of = partial(enrolment_receipt, versions=current_versions(session.policies.register), now=now, channel="import", slot=session.actor)
    with preparer(session.schema, session.vault, local_date(now), receipt_of, how.workers) as prepare:
        for batch in prepare(_batches(rows)):
            digests = [digest for prepared in batch for digest in prepared.lookups.values()]
            taken = staging.holds(digests) | session.store.held(digests) if digests else set()
            for line, problems, lookups, fields, row, given, state in batch:
                counts["rows"] += 1
                if not problems:
                    # A value of a member, or of an earlier row of the file that is imported: the first row with it is.
                    problems = [(paths[kind], "is already in the register or earlier in the file") for kind in sorted(lookups) if lookups[kind] in taken]
                if problems or row is None:
                    counts.problem(line, problems, report)
                    continue
                taken.update(lookups.values())
                how.given.update(given)
                complete_member(session, row, lookups, check_suppressions=suppressions)
                counts["flagged"] += bool(row["suppression_match"])
                counts["imported"] += 1
                state = member_digest(row) if row["suppression_match"] else state  # the worker's digest, unless flagged here
                staging.add(line, row, [lookups[kind] for kind in sorted(lookups)], fields, details[row["suppression_match"]], state)


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, CHECK_BATCH)):
        yield batch


def _late_duplicates(session: Session, counts: _Counts, report: Report, skip_invalid: bool) -> None:
    """Rows whose values another command enrolled while the file was read: problems like any duplicate."""
    late = Staging.clashes(session.store.conn)
    if not late:
        return
    for line in late:
        counts.problem(line, [("(record)", "was enrolled by another command while the file was read")], report)
    counts["imported"] -= len(late)
    if not skip_invalid:
        raise InvalidInput(f"{counts['invalid']} of {counts['rows']} records are invalid: nothing was imported")
    Staging.drop(session.store.conn, late)


def _enrol_entries(session: Session, now: datetime) -> None:
    writer = session.audit_writer()
    at = int(now.timestamp())
    batch: list[dict[str, Any]] = []
    for member_id, fields, detail, state in Staging.entries(session.store.conn):
        batch.append(writer.compact_entry(at, "enrol", member_id, fields or "", detail, state))
        if len(batch) >= IMPORT_BATCH:
            session.store.append_audit(batch)
            batch = []
    session.store.append_audit(batch)


def import_updates(session: Session, rows: Iterable[Row], now: datetime, *, report: Report, skip_invalid: bool = False) -> dict[str, int]:
    """Apply self-service changes (member id or email, plus changed fields) as rectifications.

    A row naming no known member is reported, never guessed. Each changed
    member gets its own audit entry listing the changed fields.
    """
    session.require_officer("rectify personal data")
    counts = _Counts(rows=0, updated=0, unchanged=0, invalid=0)
    with session.store.write():
        for line, data, problems in rows:
            counts["rows"] += 1
            if not problems:
                try:
                    with session.store.savepoint():
                        changed = _self_service(session, dict(data), now)
                    counts["updated" if changed else "unchanged"] += 1
                    continue
                except InvalidInput as exc:
                    problems = exc.problems
            counts.problem(line, problems, report)
        counts.finish(skip_invalid, "update", "nothing was changed")
        session.audit(now, "import-updates", None, [], {k: v for k, v in counts.items() if k != "rows"})
    return dict(counts)


def _self_service(session: Session, patch: dict[str, Any], now: datetime) -> list[str]:
    member_id = patch.pop("member_id", None)
    if member_id is None:
        email = patch.get("contact", {}).get("email") if isinstance(patch.get("contact"), dict) else None
        if not isinstance(email, str):
            raise InvalidInput("no member named", [("member_id", "give member_id or contact.email")])
        member_id = session.store.find("email", session.vault.digest("email", normalise_lookup("email", email, "contact.email")))
        if member_id is None:
            raise InvalidInput("unknown member", [("contact.email", "no member has this email")])
    row = session.store.member(str(member_id))
    if row is None:
        raise InvalidInput("unknown member", [("member_id", "no such member")])
    changed, _ = rectify(session, row, patch, now, {"source": "self-service"}, channel="self-service")
    return changed
