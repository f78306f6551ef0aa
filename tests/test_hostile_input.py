"""Hostile input never hangs or crashes: it is refused in bounded time and memory, with the exit code of its kind.

A policy (exit 6): YAML alias bombs, recursive aliases, deep nesting, an oversized file.
An input (exit 5): a JSON array whose string never ends (read up to one record's limit,
never re-parsed from the start: linear), deeply nested JSON, an oversized file. A file
that cannot be read on is refused before the write lock is taken, so other officers'
commands go on.

Policies are read by every command, the nightly purge included; the hostile ones are
also run in a real process with a timeout, so a hang fails the test instead of hanging it.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kss_panel import json_input, readers
from kss_panel.policy_files import MAX_NODES, inspect_tree, parse_yaml
from support import Register, assert_failure, person

HEADER = "customer_number,contact.first_name,contact.last_name,contact.email,contact.language\n"


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """The classic: each level a list of ``width`` aliases of the one before; 9 x 9 is 9**9 nodes, in under 600 bytes."""
    lines = ["lol0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"lol{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * width) + "]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def policies_with(reg: Register, filename: str, extra: str) -> Path:
    directory = reg.custom_policies(extra, filename)
    return directory / filename


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register({1: person(1)}, purger=True)


# --- policies ---------------------------------------------------------------------------------------------------------


def test_the_bomb_is_small() -> None:
    assert len(billion_laughs().encode()) < 600


@pytest.mark.parametrize("filename", ["retention.yaml", "register.yaml", "disclosure.yaml"])
def test_an_alias_bomb_is_refused_by_every_command(reg: Register, filename: str) -> None:
    path = policies_with(reg, filename, billion_laughs())
    lines = path.read_text().splitlines()
    # lol0 is a list of 9 scalars (10 nodes); lol5 is 1 + 9 * (1 + 9 * ...) = 597871 nodes, the first over 100000.
    first_over = next(n for n, text in enumerate(lines, 1) if text.startswith("lol5:"))
    for args, key in ((("policy", "check"), None), (("purge", "--apply", "--quiet"), "cron"), (("list",), "desk")):
        argv = [*args] if key is None else [*args, "--key-file", str(reg.keys[key])]
        result = reg.cli(*argv)
        assert_failure(result, 6, f"invalid policy in {path.parent}")
        assert result.stderr.splitlines()[1:] == [
            f"  {path}:{first_over}: aliases expand this to more than {MAX_NODES} nodes (a YAML alias bomb?)"
        ]


def test_an_alias_bomb_in_a_real_process_is_refused_at_once(reg: Register) -> None:
    policies_with(reg, "retention.yaml", billion_laughs(levels=12))
    done = reg.process("purge", "--apply", "--quiet", key="cron", timeout=30)
    assert done.returncode == 6, done.stderr
    assert b"a YAML alias bomb?" in done.stderr


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("loop: &loop [1, *loop]\n", "an alias refers to a node that contains it (a recursive alias)"),
        ("loop: &loop {a: *loop}\n", "an alias refers to a node that contains it (a recursive alias)"),
        ("deep: " + "[" * 100 + "]" * 100 + "\n", "nested more than 64 levels deep"),
        ("deep: " + "[" * 5000 + "]" * 5000 + "\n", "not valid YAML: exceeded maximum nesting depth"),
    ],
    ids=["recursive-list", "recursive-mapping", "deep-100", "deep-5000"],
)
def test_hostile_yaml_is_an_invalid_policy(reg: Register, extra: str, problem: str) -> None:
    path = policies_with(reg, "retention.yaml", extra)
    line = len(path.read_text().splitlines())
    result = reg.cli("policy", "check")
    assert_failure(result, 6, f"invalid policy in {path.parent}")
    assert result.stderr.splitlines()[1:] == [f"  {path}:{line}: {problem}"]


def test_an_oversized_policy_file_is_refused_unread(reg: Register) -> None:
    path = policies_with(reg, "disclosure.yaml", "# " + "x" * 1_000_000 + "\n")
    result = reg.cli("policy", "check")
    assert_failure(result, 6, f"invalid policy in {path.parent}")
    assert result.stderr.splitlines()[1:] == [f"  {path}: is larger than 1000000 bytes"]


def test_an_honest_alias_is_still_allowed(reg: Register, tmp_path: Path) -> None:
    """Anchors and aliases that do not blow up stay usable: one text shared by two rules."""
    directory = reg.custom_policies("", "retention.yaml")
    path = directory / "retention.yaml"
    text = path.read_text()
    text = text.replace("    description: An applicant not admitted", "    description: &same An applicant not admitted", 1)
    text = text.replace("    description: A rejected applicant is erased 30 days after the rejection.", "    description: *same", 1)
    path.write_text(text)
    result = reg.cli("policy", "check")
    assert result.exit_code == 0, result.stderr


@settings(max_examples=60, deadline=None)
@given(levels=st.integers(1, 12), width=st.integers(1, 12))
def test_the_walk_counts_what_the_aliases_expand_to(levels: int, width: int) -> None:
    root, _ = parse_yaml(billion_laughs(levels, width))
    # The document: a mapping (1) of levels keys (1 each) and levels lists; list n holds width copies of list n-1.
    lists = [1 + width]
    for _ in range(1, levels):
        lists.append(1 + width * lists[-1])
    over = 1 + levels + sum(lists) > MAX_NODES
    problems = inspect_tree(root)
    assert bool(problems) == over
    if over:
        [(line, problem)] = problems
        assert problem.startswith("aliases expand this")


# --- JSON and files to import -------------------------------------------------------------------------------------------


def unterminated(size: int) -> bytes:
    return b'[{"customer_number": "' + b"a" * size


def test_an_unterminated_string_is_refused_without_reading_it_all(reg: Register) -> None:
    before = reg.tables()
    result = reg.run("import", "-", input=unterminated(80_000_000))
    assert_failure(result, 5, "the file cannot be read on",
                   ["  line 1: a record is longer than 1000000 characters (or a string is not closed)"])
    assert reg.tables() == before


def test_a_bad_file_is_refused_before_the_write_lock(reg: Register) -> None:
    """Another writer holds the lock and the busy timeout is 0: a file refused before asking for the lock is
    exit 5, never exit 8. A file from disk is read through once before the lock is asked for."""
    path = reg.file(unterminated(80_000_000), ".json")
    holder = sqlite3.connect(reg.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        before = reg.tables()
        for content in (unterminated(80_000_000), b"[" + b"[" * 100_000, HEADER.encode() + b'1,"unclosed\n' + b"x" * 200_000):
            path = reg.file(content, ".json" if content.startswith(b"[") else ".csv")
            result = reg.run("import", path, env={"KSS_PANEL_BUSY_TIMEOUT": "0"})
            assert result.exit_code == 5, result.stderr
        # A good file waits for the lock, and so is busy here: the check above is no accident.
        good = reg.file(HEADER + "55556666,Eero,Nieminen,eero@example.fi,fi\n")
        assert reg.run("import", good, env={"KSS_PANEL_BUSY_TIMEOUT": "0"}).exit_code == 8
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert reg.tables() == before


class CountingDecoder:
    """json's decoder, counting the characters each parse attempt reads: a value's, or all that is left
    when the value is not complete yet."""

    def __init__(self) -> None:
        self.inner = json.JSONDecoder()
        self.parsed = 0

    def raw_decode(self, text: str, pos: int) -> Any:
        try:
            value, end = self.inner.raw_decode(text, pos)
        except json.JSONDecodeError:
            self.parsed += len(text) - pos
            raise
        self.parsed += end - pos
        return value, end


@pytest.mark.parametrize("record_size", [100, 20_000, 300_000, 900_000])
def test_a_json_array_is_parsed_in_linear_time(reg: Register, monkeypatch: pytest.MonkeyPatch, record_size: int) -> None:
    """However the records fall across the 64 KiB chunks, the parser is handed each character a bounded number
    of times (the old parser started again from the record's start after every chunk: quadratic)."""
    counting = CountingDecoder()
    monkeypatch.setattr(json_input.ArrayScan, "DECODER", counting)
    records = [{"customer_number": "1", "hobbies": ["x" * record_size]} for _ in range(max(3, 2_000_000 // record_size))]
    text = json.dumps(records)
    rows = list(readers.RecordSource(io.BufferedReader(io.BytesIO(text.encode())), reg.policies))  # type: ignore[arg-type]
    assert len(rows) == len(records)
    assert counting.parsed <= 3 * len(text), (counting.parsed, len(text))


@pytest.mark.parametrize("depth", [33, 900, 100_000])
def test_deeply_nested_json_is_invalid_input(reg: Register, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    before = reg.tables()
    record = json.dumps(person(2)).replace('"hobbies": [', f'"hobbies": [{nested}, ', 1)
    assert_failure(reg.run("enrol", "--file", "-", input=record), 5, "invalid input",
                   ["  --file: is nested more than 32 levels deep"])
    assert_failure(reg.run("update", reg.ids[1], "--file", "-", input='{"hobbies": ' + nested + "}"),
                   5, "invalid input", ["  --file: is nested more than 32 levels deep"])
    result = reg.run("import", reg.file(f"[{record}]", ".json"))
    assert result.exit_code == 5, result.stderr
    assert "is nested more than 32 levels deep" in result.stderr
    result = reg.run("import", reg.file(record + "\n", ".jsonl"))
    assert result.exit_code == 5, result.stderr
    assert "  line 1: (row): is nested more than 32 levels deep" in result.stderr.splitlines()
    assert reg.tables() == before


def test_a_json_lines_row_over_the_record_limit_is_a_row_problem(reg: Register) -> None:
    huge = json.dumps({"customer_number": "55556666", "hobbies": ["x" * 1_000_001]})
    result = reg.run("import", reg.file(huge + "\n" + json.dumps(person(3)) + "\n", ".jsonl"), "--skip-invalid", "--json")
    assert result.exit_code == 0, result.stderr
    assert "  line 1: (row): is longer than 1000000 characters" in result.stderr.splitlines()
    assert json.loads(result.stdout)["data"] == {
        "rows": 2, "imported": 1, "invalid": 1, "flagged": 0,
        "problems": [{"path": "line 1: (row)", "problem": "is longer than 1000000 characters"}],
    }


@pytest.mark.parametrize("kind", ["csv", "json", "jsonl"])
def test_a_file_over_the_size_limit_is_refused(reg: Register, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    monkeypatch.setattr(readers, "MAX_IMPORT_BYTES", 2**20)
    rows = [person(n) for n in range(10, 3000)]
    content = {
        "csv": HEADER + "".join(f"{40_000_000 + n},Aino,Mäkelä,aino.{n}@example.fi,fi\n" for n in range(30_000)),
        "json": json.dumps(rows),
        "jsonl": "".join(json.dumps(r) + "\n" for r in rows),
    }[kind]
    assert len(content.encode()) > 2**20
    before = reg.tables()
    for source in (reg.file(content, f".{kind}"), "-"):
        result = reg.run("import", source, input=content if source == "-" else None)
        assert_failure(result, 5, "the file is too large", ["  (file): is larger than 1 MiB: split it into smaller imports"])
    assert reg.tables() == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet='[]{}"a:,0 \n\\', max_size=300))
def test_any_text_as_a_json_array_import_is_exit_0_or_5(reg: Register, text: str) -> None:
    with reg.restored():
        result = reg.run("import", "-", input=("[" + text).encode())
    assert result.exit_code in (0, 5), (result.exit_code, result.stderr)
    assert "Traceback" not in result.output
