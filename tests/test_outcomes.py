"""Honest outcomes: what the tool says happened is what happened.

A closed stdout (`| head -1`) never turns a committed change into "internal
error; nothing was changed": the command stops quietly with exit 141 and its
change stands. "nothing was changed" is said only when no write committed; a
failure after a committed write (a purge that stopped part-way) says what
stays done.
"""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import typer

from kss_panel import render
from kss_panel.cli import app
from kss_panel.errors import Busy
from kss_panel.services import lifecycle
from support import PINNED, Builder, Register, assert_no_traceback, noon, process_env

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DUE = range(1, 7)  # applicants of 2019: due under any clock, a real process's included


def populate(b: Builder) -> None:
    for n in DUE:
        b.applicant(n, date(2019, 1, n))
    for n in (7, 8):
        b.member(n, date(2026, 1, 2), date(2026, 1, 5))


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register({}, noon(date(2019, 1, 1)), populate=populate, purger=True).unguarded()


class ClosedPipe(io.TextIOBase):
    """A stdout whose reader has gone, as after `| head -1` has read its line."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def run_into_closed_pipe(reg: Register, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run kss-panel ARGS in-process with a stdout that is a closed pipe; the exit code and stderr."""
    monkeypatch.setattr("sys.stdout", ClosedPipe())
    command = typer.main.get_command(app)
    argv = ["--db", str(reg.db), "--policies", str(reg.policies_dir), *args, "--key-file", str(reg.key_file)]
    with pytest.raises(SystemExit) as done:
        command.main(args=argv, prog_name="kss-panel", obj=PINNED[-1])
    return int(done.value.code or 0), capsys.readouterr().err


# --- a closed stdout ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [(), ("--json",)])
def test_a_closed_stdout_after_a_commit_exits_141_quietly_and_the_change_stands(
    reg: Register, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], as_json: tuple[str, ...]
) -> None:
    gone = reg.ids[8]
    roster = str(reg.roster(reg.records[7]["customer_number"]))
    code, stderr = run_into_closed_pipe(reg, monkeypatch, capsys, "eligibility", "--customers", roster, "--remove", *as_json)
    assert (code, stderr) == (141, "")
    assert gone not in reg.member_ids() and gone in reg.erasures()
    assert reg.ledger.read_text().split()[1] == gone


def test_a_closed_stdout_of_a_purge(reg: Register, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, stderr = run_into_closed_pipe(reg, monkeypatch, capsys, "purge", "--apply")
    assert (code, stderr) == (141, "")
    assert reg.member_ids() == {reg.ids[7], reg.ids[8]}


def test_a_real_process_whose_reader_has_gone(reg: Register) -> None:
    """stdout is a pipe whose read end is already closed: the first write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = reg.process("erase", reg.ids[8], "--reason", "request", stdout=write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, b"")
    assert reg.ids[8] in reg.erasures()


def test_a_shell_pipeline_into_head(reg: Register) -> None:
    """The officer's `kss-panel eligibility … --remove | head -1`: the first line arrives, and whether the pipe broke
    before the rest or not, the erasure is committed and nothing on stderr says otherwise."""
    roster = reg.roster(reg.records[7]["customer_number"])
    command = " ".join(reg.argv("eligibility", "--customers", roster, "--remove"))
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command} | head -1"], capture_output=True, env=process_env(), timeout=60
    )
    assert done.returncode in (0, 141), done.stderr
    assert done.stdout.decode() == "erased and recorded\n"
    assert done.stderr == b""
    assert reg.ids[8] in reg.erasures()


def test_head_that_reads_nothing(reg: Register) -> None:
    command = " ".join(reg.argv("purge", "--apply"))
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {command} | head -c 0"], capture_output=True, env=process_env(), timeout=60)
    assert (done.returncode, done.stderr) == (141, b"")
    assert reg.member_ids() == {reg.ids[7], reg.ids[8]}


# --- failures after a commit -----------------------------------------------------------------------------------------


def test_an_internal_error_after_a_commit_does_not_say_nothing_was_changed(reg: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Canaryfirstname in a rendering bug")

    monkeypatch.setattr(render, "table", explode)
    seen = len(reg.audit())
    result = reg.run("list", "--names")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "kss-panel: error: internal error; what the command had done before the failure was committed and stands"
    ]
    assert "Canary" not in result.output
    assert_no_traceback(result)
    assert [entry["action"] for entry in reg.audit()[seen:]] == ["list-names"]  # the read was audited: that committed


def test_an_internal_error_before_any_commit_says_nothing_was_changed(reg: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("before the transaction")

    monkeypatch.setattr(lifecycle, "eligibility", explode)
    before = reg.tables()
    result = reg.run("eligibility", "--customers", str(reg.roster(reg.records[7]["customer_number"])), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == {"code": 1, "type": "internal", "message": "internal error; nothing was changed"}
    assert reg.tables() == before


def small_batches(monkeypatch: pytest.MonkeyPatch, failure: BaseException, after: int = 2) -> None:
    """The CLI's purge runs two members a batch and fails at the erasure after the first ``after``
    (by default the first of the second batch)."""
    real = lifecycle.purge
    erased: list[str] = []

    def fail(member_id: str) -> None:
        if len(erased) == after:
            raise failure
        erased.append(member_id)

    def purge(session: Any, now: datetime, **options: Any) -> lifecycle.PurgePlan:
        return real(session, now, batch=2, on_erased=fail, **options)

    monkeypatch.setattr(lifecycle, "purge", purge)


def test_a_purge_that_fails_part_way_says_how_many_it_erased(reg: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    small_batches(monkeypatch, Busy("the register is busy: another command held it past the busy timeout", hints=("try again",)))
    result = reg.run("purge", "--apply", "--quiet", key="cron")
    assert result.exit_code == 8
    assert result.stderr.splitlines() == [
        "kss-panel: error: the register is busy: another command held it past the busy timeout;"
        " 2 members had been erased before the failure and stay erased; the next purge erases the rest",
        "kss-panel: hint: try again",
    ]
    assert len(reg.erasures()) == 2 and len(reg.member_ids()) == 6
    assert len(reg.ledger.read_text().splitlines()) == 2


def test_an_internal_error_part_way_through_a_purge(reg: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    small_batches(monkeypatch, RuntimeError("disk on fire"))
    result = reg.run("purge", "--apply", "--json", key="cron")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == {
        "code": 1, "type": "internal", "changed": True,
        "message": "internal error; 2 members had been erased before the failure and stay erased; the next purge erases the rest",
    }
    assert "disk on fire" not in result.output
    # The next run finishes the job.
    monkeypatch.undo()
    assert reg.json("purge", "--apply", key="cron")["total"] == 4
    assert reg.member_ids() == {reg.ids[7], reg.ids[8]}


def test_a_purge_that_fails_in_its_first_batch_changed_nothing(reg: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    small_batches(monkeypatch, RuntimeError("x"), after=1)
    before = reg.tables()
    result = reg.run("purge", "--apply", key="cron")
    assert result.stderr.splitlines() == ["kss-panel: error: internal error; nothing was changed"]
    assert reg.tables() == before
    assert not reg.ledger.exists()
