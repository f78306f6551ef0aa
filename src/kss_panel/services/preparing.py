"""Preparing applications for an import: validation, keyed digests and sealing, on a second core when there is one.

Validating and sealing a row costs more than reading and staging it, so a
large import hands batches of rows to worker processes while this process
reads the file, checks the prepared rows for duplicates and stages them. A
worker is a fork of this process (it has the keys already; nothing is sent to
it but the rows), it writes nothing, and it sends back for each row only its
problems, its keyed digests, the names of its fields and the consents it
gives, and its sealed row (the record and its consent receipt boxed):
ciphertext, never the record. Without ``fork`` (or with ``workers=0``) the
same work runs here, batch by batch: the outcome is the same either way.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date
from typing import Any, NamedTuple

from ..audit import member_digest
from ..errors import InvalidInput
from ..receipts import Event
from ..record import RecordSchema, field_paths_of
from ..vault import Vault
from .members import lookup_digests

Row = tuple[int, Any, list[tuple[str, str]]]  # line, the record as read (or None), the problems found reading it
ReceiptOf = Callable[[dict[str, Any]], Event | None]  # the consent receipt of a new applicant's record


class Prepared(NamedTuple):
    """A row as the worker sends it back: ciphertext, digests and names only, never a value."""

    line: int
    problems: list[tuple[str, str]]
    lookups: dict[str, bytes]  # keyed digests by kind
    fields: str  # the comma-joined names of the fields the record fills
    row: dict[str, Any] | None  # the sealed row (its record and consent receipt boxed); None for an invalid row
    given: tuple[str, ...]  # the consents the application gives
    state: bytes  # the row's digest for the trail, as it stands when no suppression matches (``audit.member_digest``)


Preparer = Callable[[Iterable[list[Row]]], Iterator[list[Prepared]]]
MAX_WORKERS = 2
PARALLEL_FROM = 2**20  # bytes of input from which a worker process pays for itself (about 5,000 applications)


def prepare(schema: RecordSchema, vault: Vault, today: date, receipt_of: ReceiptOf, rows: list[Row]) -> list[Prepared]:
    """Validate, hash and seal each row, its consent receipt with it (a duplicate is found later, by its digests)."""
    prepared: list[Prepared] = []
    for line, data, problems in rows:
        if not problems:
            try:
                record, applied_at = schema.validate(data, today=today)
            except InvalidInput as exc:
                problems = exc.problems
        if problems:
            prepared.append(Prepared(line, problems, {}, "", None, (), b""))
            continue
        receipt = receipt_of(record)
        row = vault.new_member(record, applied_at or today, today, receipt)
        given = tuple(receipt["given"]) if receipt is not None and "given" in receipt else ()
        lookups = vault.lookups(record)
        row.update(suppression_match=None, lookup_digests=lookup_digests(lookups))
        prepared.append(Prepared(line, [], lookups, ",".join(field_paths_of(record)), row, given, member_digest(row)))
    return prepared


def workers_for(size: int | None) -> int:
    """Two workers for a large file on a machine with a second core; none for a small one (or a pipe).

    A worker's share of a row costs about half again what this process's does
    (reading, the duplicate checks, staging, the trail), so two workers and
    this process keep two cores busy; more would wait on this process.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return MAX_WORKERS if size is not None and size >= PARALLEL_FROM and cores > 1 and _can_fork() else 0


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


@contextmanager
def preparer(schema: RecordSchema, vault: Vault, today: date, receipt_of: ReceiptOf, workers: int) -> Iterator[Preparer]:
    """A function from batches of rows to batches of prepared rows, in order: here, or in ``workers`` processes."""
    if workers <= 0 or not _can_fork():
        yield lambda batches: (prepare(schema, vault, today, receipt_of, batch) for batch in batches)
        return
    schema.model()  # built once, before the fork: the worker inherits it
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=_start, initargs=(schema, vault, today, receipt_of)
    )
    try:
        yield lambda batches: _pipelined(pool, batches, workers + 1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pipelined(pool: ProcessPoolExecutor, batches: Iterable[list[Row]], ahead: int) -> Iterator[list[Prepared]]:
    """Keep ``ahead`` batches in the workers while the caller stages the one before: memory stays bounded."""
    pending: deque[Future[list[Prepared]]] = deque()
    for batch in batches:
        pending.append(pool.submit(_prepare_here, batch))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


# --- in the worker process ----------------------------------------------------------------------------------

_worker: tuple[RecordSchema, Vault, date, ReceiptOf] | None = None


def _start(schema: RecordSchema, vault: Vault, today: date, receipt_of: ReceiptOf) -> None:
    global _worker
    _worker = (schema, vault, today, receipt_of)


def _prepare_here(rows: list[Row]) -> list[Prepared]:
    assert _worker is not None
    return prepare(*_worker, rows)
