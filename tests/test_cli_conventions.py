"""What people expect of a command-line tool: --version, shell completion, help that lists the values
of every choice, import problems in the JSON envelope after the error line, and passphrase prompts on
the terminal even when stdin carries the input (as age does)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from kss_panel import __version__
from kss_panel.cli import app
from kss_panel.keyslots import ROLES
from kss_panel.model import ERASURE_REASONS, EXTENSION_REASONS, REQUEST_OUTCOMES, REQUEST_TYPES, RESTRICTION_GROUNDS, STATUSES
from kss_panel.writers import FORMATS
from support import CONSENTS, PASSPHRASE, Clock, Register, assert_failure, invoke
RECIPIENTS = ("panel-mailer", "direct-marketing", "sms-gateway", "hosting", "group-companies", "partners")

KSS = str(Path(sys.executable).parent / "kss-panel")
HEADER = "customer_number,contact.first_name,contact.last_name,contact.email,contact.language\n"

# Every option that takes one of a closed list, and the list: from the domain constants, or the shipped policy.
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("request open", "--type"): REQUEST_TYPES,
    ("request extend", "--reason"): EXTENSION_REASONS,
    ("request extend", "--months"): ("1", "2"),
    ("request close", "--outcome"): REQUEST_OUTCOMES,
    ("list", "--status"): STATUSES,
    ("erase", "--reason"): ERASURE_REASONS,
    ("restrict", "--reason"): RESTRICTION_GROUNDS,
    ("officer add", "--role"): ROLES,
    ("export disclosure", "--format"): FORMATS,
    ("survey sample", "--format"): FORMATS,
    ("reject", "--reason"): ("not-a-customer", "incomplete-application", "duplicate-application", "outside-target-group"),
    ("consent", "--give"): CONSENTS,
    ("export disclosure", "--purpose"): ("communication", "market_research", "marketing", "competitions"),
    ("breach notify-members", "--format"): FORMATS,
    ("list", "--consent-outdated"): CONSENTS,
    ("notify list", "--recipient"): RECIPIENTS,
    ("breach affected", "--recipient"): RECIPIENTS,
}


def help_text(*path: str, policies: Path | None = None) -> str:
    result = invoke(*(("--policies", policies) if policies else ()), *path, "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.split())


# --- --version and completion -----------------------------------------------------------------------------------


def test_version() -> None:
    result = invoke("--version")
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"kss-panel {__version__}\n", "")


def test_show_completion_prints_a_script_for_the_shell() -> None:
    result = invoke("--show-completion", "bash")
    assert result.exit_code == 0
    assert "_KSS_PANEL_COMPLETE=complete_bash" in result.stdout and "complete " in result.stdout


def completions(words: str) -> list[str]:
    env = {**os.environ, "_KSS_PANEL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    done = subprocess.run([KSS], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_shell_completes_commands_options_and_choice_values() -> None:
    assert completions("kss-panel req") == ["request"]
    assert "--withdraw-objection" in completions("kss-panel consent M --with")
    assert completions("kss-panel request open --type re") == ["rectification", "restriction"]
    assert completions("kss-panel request close 1 --outcome refused") == ["refused-unfounded", "refused-excessive"]


def test_install_completion_writes_to_the_users_shell_files(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    done = subprocess.run([KSS, "--install-completion", "bash"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "bash completion installed in" in done.stdout
    assert "_KSS_PANEL_COMPLETE" in "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())


# --- help lists the values of every choice ----------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "option"), sorted(CHOICES), ids=[" ".join(key) for key in sorted(CHOICES)])
def test_help_lists_the_values_of_every_choice(command: str, option: str) -> None:
    text = help_text(*command.split())
    values = CHOICES[(command, option)]
    assert all(value in text for value in values), (values, text)


def test_every_option_that_lists_its_choices_is_known_here() -> None:
    def walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, (*path, name))
        if not hasattr(cmd, "commands"):
            yield " ".join(path), cmd

    listed = {(name, param.opts[0]) for name, cmd in walk(typer.main.get_command(app)) for param in cmd.params
              if param.param_type_name == "option" and ((param.metavar or "").startswith("[") or "One of:" in (param.help or ""))}
    assert listed <= set(CHOICES), listed - set(CHOICES)


def test_policy_values_in_help_come_from_the_policies_given(reg: Register) -> None:
    directory = reg.custom_policies("")
    register = directory / "register.yaml"
    text = register.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines(keepends=True) if line.startswith("  outside-target-group:"))
    register.write_text(text.replace(line, line + "  relocated: {fi: Muuttanut pois., sv: Flyttat bort., en: Moved away.}\n"))
    assert "relocated" not in help_text("reject")
    assert "relocated" in help_text("reject", policies=directory)
    assert "the rejection_reasons of register.yaml" in help_text("reject", policies=reg.dir / "no-such-directory")


# A run of each command that a wrong value of the option makes fail (the purpose a recipient may not receive is
# refused by the disclosure policy, exit 9, as README says; consents are tested in test_objections.py).
CHOICE_RUNS = {
    "request open": ["--member", "M"], "request extend": ["1", "--reason", "complexity"], "request close": ["1", "--outcome", "withdrawn"],
    "erase": ["M", "--reason", "request"], "restrict": ["M", "--reason", "legal-claims"], "officer add": ["zed"],
    "export disclosure": ["panel-mailer", "--purpose", "communication", "--dry-run"], "reject": ["M", "--reason", "x"], "list": [],
    "survey sample": ["spring-2026", "--size", "10"],
    "notify list": [], "breach affected": ["1", "--from", "2025-06-01", "--to", "2025-06-15"], "breach notify-members": ["1", "--out", "members.csv"],
}


@pytest.mark.parametrize(("command", "option"), sorted(k for k in CHOICES if k[0] != "consent" and k[1] != "--purpose"))
def test_a_value_outside_a_choice_is_invalid_input_naming_the_option(populated: Register, command: str, option: str) -> None:
    args = [populated.ids["aino"] if a == "M" else a for a in CHOICE_RUNS[command]]
    populated.open_request("access", "aino")
    before = populated.tables()
    unlock = "--unlock-key-file" if command == "officer add" else "--key-file"
    result = populated.cli(*command.split(), *args, option, "no-such-value", unlock, populated.key_file)
    assert_failure(result, 5)
    assert any(line.startswith(f"  {option}: must be ") for line in result.stderr.splitlines()), result.stderr
    assert populated.tables() == before


# --- import: the error line first, and the problems in the envelope -------------------------------------------------------


def rows_file(reg: Register, *languages: str) -> Path:
    lines = [f"{30_000_000 + n},Eero,Nieminen,eero.{n}@example.fi,{language}\n" for n, language in enumerate(languages, start=1)]
    return reg.file(HEADER + "".join(lines))


def test_import_prints_the_error_line_before_the_problems(reg: Register) -> None:
    result = reg.run("import", str(rows_file(reg, "fi", "de", "xx")))
    assert result.stderr.splitlines() == [
        "kss-panel: error: 2 of 3 records are invalid: nothing was imported",
        "  line 3: contact.language: input should be 'fi', 'sv' or 'en'",
        "  line 4: contact.language: input should be 'fi', 'sv' or 'en'",
    ]
    assert result.exit_code == 5


def test_import_json_carries_the_row_problems_in_the_error_envelope(reg: Register) -> None:
    before = reg.tables()
    result = reg.run("import", str(rows_file(reg, "fi", "de")), "--json")
    assert result.exit_code == 5
    assert json.loads(result.stdout)["error"] == {
        "code": 5, "type": "invalid_input", "message": "1 of 2 records is invalid: nothing was imported",
        "problems": [{"path": "line 3: contact.language", "problem": "input should be 'fi', 'sv' or 'en'"}],
    }
    assert reg.tables() == before


def test_import_json_with_skip_invalid_carries_the_problems_in_the_result(reg: Register) -> None:
    result = reg.run("import", str(rows_file(reg, "fi", "de")), "--skip-invalid", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"] == {
        "rows": 2, "imported": 1, "invalid": 1, "flagged": 0,
        "problems": [{"path": "line 3: contact.language", "problem": "input should be 'fi', 'sv' or 'en'"}],
    }
    assert result.stderr.splitlines() == [
        "kss-panel: warning: 1 invalid row skipped", "  line 3: contact.language: input should be 'fi', 'sv' or 'en'"]


def test_import_shows_a_thousand_problems_and_counts_the_rest(reg: Register) -> None:
    result = reg.run("import", str(rows_file(reg, *["de"] * 1003)), "--json")
    error = json.loads(result.stdout)["error"]
    assert (result.exit_code, len(error["problems"]), error["problems"][-1]["path"]) == (5, 1000, "line 1001: contact.language")
    assert result.stderr.splitlines()[-1] == "kss-panel: hint: 3 more problems not shown: --report FILE lists them all"


# --- prompts on the terminal ----------------------------------------------------------------------------------------------


class Terminal:
    """A pty the CLI prompts on; a thread answers each prompt it sees with the next line of ``answers``."""

    def __init__(self, answers: list[str]) -> None:
        self.master, self.slave = pty.openpty()
        self.name = os.ttyname(self.slave)
        self.answers = list(answers)
        self.seen = b""
        self.thread = threading.Thread(target=self._answer, daemon=True)
        self.thread.start()

    def _answer(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 10)
            if not ready:
                return
            try:
                chunk = os.read(self.master, 1024)
            except OSError:
                return
            self.seen += chunk
            if chunk.rstrip().endswith(b":") and self.answers:
                os.write(self.master, (self.answers.pop(0) + "\n").encode())

    def close(self) -> str:
        os.close(self.slave)
        self.thread.join(timeout=10)
        os.close(self.master)
        return self.seen.decode(errors="replace")


@pytest.fixture
def terminal(clock: Clock) -> Iterator[Callable[[list[str]], Terminal]]:
    made: list[Terminal] = []

    def make(answers: list[str]) -> Terminal:
        made.append(Terminal(answers))
        clock.terminal = made[-1].name
        return made[-1]

    yield make
    for tty in made:
        if tty.thread.is_alive():
            tty.close()


def test_the_passphrase_is_asked_on_the_terminal_while_stdin_carries_the_patch(populated: Register, terminal: Any) -> None:
    tty = terminal([PASSPHRASE])
    result = populated.cli("update", populated.ids["aino"], "--file", "-", "--officer", "aino",
                           input=json.dumps({"contact": {"city": "Kotka"}}))
    seen = tty.close()
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"updated {populated.ids['aino']}: contact.city\n"
    assert populated.json("show", populated.ids["aino"])["contact"]["city"] == "Kotka"
    assert "Passphrase:" in seen and PASSPHRASE not in seen  # asked there, and not echoed


def test_a_wrong_passphrase_on_the_terminal_is_an_auth_failure(populated: Register, terminal: Any) -> None:
    tty = terminal(["not the passphrase at all"])
    before = populated.tables()
    result = populated.cli("update", populated.ids["aino"], "--file", "-", "--officer", "aino", input='{"contact": {"city": "Kotka"}}')
    tty.close()
    assert_failure(result, 3, "wrong passphrase for officer 'aino'")
    assert populated.tables() == before


def test_a_new_passphrase_must_be_typed_the_same_twice(populated: Register, terminal: Any) -> None:
    tty = terminal([PASSPHRASE] + ["a new passphrase one", "a new passphrase two"] * 3)
    before = populated.tables()
    result = populated.cli("officer", "add", "zed", "--officer", "aino")
    seen = tty.close()
    assert_failure(result, 3, "the passphrase was not entered the same twice")
    assert seen.count("The two entries differ; try again.") == 2
    assert populated.tables() == before


def test_a_prompt_in_a_real_process_reads_dev_tty_with_stdin_piped(populated: Register) -> None:
    """As an officer types it: `echo '{…}' | kss-panel update M --file -`, in a process whose terminal is a pty."""
    read_end, write_end = os.pipe()
    os.write(write_end, json.dumps({"demographics": {"household_size": 5}}).encode())
    os.close(write_end)
    env = {"PATH": os.environ.get("PATH", ""), "KSS_PANEL_OFFICER": "aino", "COLUMNS": "80"}
    argv = [KSS, "--db", str(populated.db), "--policies", str(populated.policies_dir), "update", populated.ids["aino"], "--file", "-"]
    pid, master = pty.fork()
    if pid == 0:  # the child: stdin is the pipe, the controlling terminal the pty
        os.dup2(read_end, 0)
        os.execve(KSS, argv, env)
    os.close(read_end)
    seen = b""
    answered = False
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        assert ready, seen
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"Passphrase:" in seen:
            os.write(master, (PASSPHRASE + "\n").encode())
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(master)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert f"updated {populated.ids['aino']}: demographics.household_size" in text
    assert PASSPHRASE not in text
    assert populated.json("show", populated.ids["aino"])["demographics"]["household_size"] == 5


def test_without_a_terminal_a_prompt_fails_at_once(populated: Register) -> None:
    result = populated.cli("update", populated.ids["aino"], "--file", "-", "--officer", "aino", input="{}")
    assert_failure(result, 3, "no passphrase given and no terminal to ask on")
