"""A large import validates and seals its rows in a worker process: the outcome is the one of the same import
done in one process, row for row, and nothing but ciphertext and digests comes back from the worker."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kss_panel.errors import InvalidInput
from kss_panel.readers import RecordSource
from kss_panel.receipts import current_versions, enrolment_receipt
from kss_panel.services import intake, preparing
from support import NOW, Register
from test_import import HEADER, application, canary_row

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="the worker is a fork")
REGISTERED = "aino.registered@example.fi"


def awkward_rows() -> list[dict[str, str]]:
    """1,300 applications over three duplicate-check batches (500 rows each), with every kind of refusal:
    invalid values, duplicates inside a batch, across batches and of a registered member, and a value shared
    only with a refused row (no duplicate: the refused row is not imported)."""
    rows = [application(n) for n in range(1, 1301)]
    rows[10]["contact.email"] = "not an email"  # line 12: invalid
    rows[20]["contact.email"] = rows[19]["contact.email"]  # line 22: a duplicate in its batch
    rows[500]["contact.phone"] = rows[498]["contact.phone"]  # line 502: a duplicate of the batch before
    rows[700]["contact.email"] = rows[650]["contact.email"]  # line 702: a duplicate, refused ...
    rows[900]["contact.phone"] = rows[700]["contact.phone"]  # line 902: ... so its phone is free for this one
    rows[1000]["contact.email"] = REGISTERED  # line 1002: a member's email
    rows[1100]["demographics.birth_year"] = "1850"  # line 1102: out of range
    rows[1200]["customer_number"] = rows[3]["customer_number"]  # line 1202: two batches back
    return rows


def imported_with(reg: Register, workers: int) -> tuple[dict[str, Any], int, list[tuple[str, list[str]]]]:
    """The result of importing awkward_rows() into ``reg`` (which holds one member), its members and trail."""
    assert reg.run("import", str(reg.csv([application(5000, contact__email=REGISTERED)], HEADER))).exit_code == 0
    with reg.session() as session:
        outcome = intake.import_file(session, str(reg.csv(awkward_rows(), HEADER)), NOW, skip_invalid=True, workers=workers)
    verified = reg.run("audit", "verify")
    assert verified.exit_code == 0, verified.stderr
    assert not reg.db.with_name(reg.db.name + ".import").exists()
    return outcome, reg.count("members"), [(entry["action"], entry["fields"]) for entry in reg.audit()]


def test_a_worker_gives_the_outcome_of_one_process(make_register: Any, tmp_path: Path) -> None:
    alone = imported_with(make_register({}, directory=tmp_path / "alone"), workers=0)
    beside = imported_with(make_register({}, directory=tmp_path / "beside"), workers=2)
    assert beside == alone
    outcome, members, _ = beside
    assert (outcome["rows"], outcome["imported"], outcome["invalid"], members) == (1300, 1293, 7, 1 + 1293)
    assert [where for where, _ in outcome["problems"]] == [
        "line 12: contact.email", "line 22: contact.email", "line 502: contact.phone", "line 702: contact.email",
        "line 1002: contact.email", "line 1102: demographics.birth_year", "line 1202: customer_number",
    ]


def test_all_or_nothing_holds_with_a_worker(reg: Register) -> None:
    path = reg.csv(awkward_rows(), HEADER)
    before = reg.tables()
    with reg.session() as session, pytest.raises(InvalidInput) as refused:
        intake.import_file(session, str(path), NOW, workers=1)
    assert refused.value.message == "6 of 1300 records are invalid: nothing was imported"
    assert reg.tables() == before


def read(cells: list[dict[str, str]], reg: Register) -> list[preparing.Row]:
    """Rows as the reader hands them to the workers."""
    text = reg.csv(cells, HEADER).read_bytes()
    return list(RecordSource(io.BufferedReader(io.BytesIO(text)), reg.policies))  # type: ignore[arg-type]


def test_only_ciphertext_and_digests_come_back_from_a_worker(reg: Register) -> None:
    rows, canaries = zip(*(canary_row(n) for n in range(1, 30)), strict=True)
    with reg.session() as session:
        receipt_of = partial(enrolment_receipt, versions=current_versions(session.policies.register), now=NOW, channel="import", slot="desk")
        prepared = preparing.prepare(session.schema, session.vault, NOW.date(), receipt_of, read(list(rows), reg))
    assert all(not p.problems and p.row is not None and p.row["receipts"] is not None for p in prepared)
    sent = pickle.dumps(prepared).lower()
    for canary in {value for group in canaries for value in group}:
        assert canary.lower().encode() not in sent, canary


def test_the_command_imports_a_large_file_with_a_worker(reg: Register) -> None:
    path = reg.csv([application(n) for n in range(1, 6001)], HEADER)
    assert path.stat().st_size >= preparing.PARALLEL_FROM  # the command uses a worker for it
    done = reg.process("import", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"6000 applicants imported, 0 rows invalid\n"
    assert reg.count("members") == 6000
    assert reg.run("audit", "verify").exit_code == 0


def test_workers_are_for_large_files_on_more_than_one_core() -> None:
    assert preparing.workers_for(None) == 0  # a pipe: its size is not known
    assert preparing.workers_for(preparing.PARALLEL_FROM - 1) == 0
    assert preparing.workers_for(preparing.PARALLEL_FROM) == (2 if len(os.sched_getaffinity(0)) > 1 else 0)
