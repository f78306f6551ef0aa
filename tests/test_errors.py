"""Failures: a file that is not a register, a missing file, usage and policy errors; never a traceback."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from kss_panel.services import members
from kss_panel.errors import NotFound
from kss_panel.policy import Policies
from support import AINO, NOW, PASSPHRASE, POLICIES_DIR, Register, assert_clean_failure, invoke


def random_bytes(path: Path) -> None:
    # Fixed "random" bytes: the test must not depend on luck.
    path.write_bytes(b"".join(hashlib.sha256(bytes([i])).digest() for i in range(256)))


def zero_byte_file(path: Path) -> None:
    path.write_bytes(b"")


def empty_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 0")
    conn.execute("VACUUM")
    conn.close()


def _sqlite(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def other_tables(path: Path) -> None:
    _sqlite(path, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO customers (name) VALUES ('x')")


def meta_of_another_shape(path: Path) -> None:
    _sqlite(path, "CREATE TABLE meta (a TEXT, b TEXT)", "INSERT INTO meta VALUES ('format', 'kss-panel register')")


def meta_of_another_format(path: Path) -> None:
    _sqlite(path, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)", "INSERT INTO meta VALUES ('format', 'some other tool')")


def meta_only(path: Path) -> None:
    _sqlite(path, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)", "INSERT INTO meta VALUES ('format', 'kss-panel register')")


NOT_REGISTERS: dict[str, Callable[[Path], None]] = {
    "random-bytes": random_bytes,
    "zero-byte-file": zero_byte_file,
    "empty-sqlite": empty_sqlite,
    "other-tables": other_tables,
    "meta-of-another-shape": meta_of_another_shape,
    "meta-of-another-format": meta_of_another_format,
    "meta-only": meta_only,
}


@pytest.mark.parametrize("args", [("list",), ("show", "Mdddddddddddddddd"), ("audit", "verify"), ("officer", "list")])
@pytest.mark.parametrize("make", NOT_REGISTERS.values(), ids=NOT_REGISTERS.keys())
def test_a_file_that_is_not_a_register_is_exit_7(reg: Register, make: Callable[[Path], None], args: tuple[str, ...]) -> None:
    reg.db.unlink()
    make(reg.db)
    before = reg.db.read_bytes()
    result = reg.run(*args)
    assert_clean_failure(result, 7)
    [line] = result.stderr.splitlines()
    assert line in (
        f"kss-panel: error: {reg.db} is not a kss-panel register",
        "kss-panel: error: the register file is corrupt or not a kss-panel register",
    ), line
    assert result.stdout == ""
    assert reg.db.read_bytes() == before


def test_a_truncated_register_is_exit_7(populated: Register) -> None:
    populated.db.write_bytes(populated.db.read_bytes()[: 4096 * 3])
    result = populated.run("show", populated.ids["aino"])
    assert_clean_failure(result, 7)
    assert len(result.stderr.splitlines()) == 1


def test_a_register_of_a_newer_schema_is_exit_7(reg: Register) -> None:
    reg.sql("PRAGMA user_version = 999")
    result = reg.run("list")
    assert_clean_failure(result, 7)
    assert result.stderr.splitlines() == [f"kss-panel: error: {reg.db} was written by a newer kss-panel (schema 999)"]


@pytest.mark.parametrize("args", [("list",), ("show", "Mdddddddddddddddd"), ("enrol", "--file", "-"), ("audit", "head")])
def test_a_missing_register_is_exit_4(reg: Register, args: tuple[str, ...]) -> None:
    reg.db.unlink()
    result = reg.run(*args, input=json.dumps(AINO))
    assert_clean_failure(result, 4)
    assert result.stderr.splitlines() == [
        f"kss-panel: error: no register at {reg.db}",
        "kss-panel: hint: create one with: kss-panel init",
    ]
    assert not reg.db.exists()  # looking did not create it


def test_a_directory_is_not_a_register(reg: Register) -> None:
    reg.db.unlink()
    reg.db.mkdir()
    result = reg.run("list")
    assert result.exit_code in (4, 7)
    assert_clean_failure(result, result.exit_code)


def test_a_missing_policy_directory_is_exit_6(reg: Register) -> None:
    missing = reg.dir / "no-policies"
    result = invoke("--db", reg.db, "--policies", missing, "list", "--key-file", reg.key_file)
    assert_clean_failure(result, 6)
    assert result.stderr.splitlines()[0] == f"kss-panel: error: invalid policy in {missing}"
    assert f"  {missing / 'register.yaml'}: policy file is missing" in result.stderr.splitlines()


def test_an_invalid_policy_is_exit_6_naming_file_and_line(reg: Register) -> None:
    broken = reg.dir / "policies"
    shutil.copytree(POLICIES_DIR, broken)
    text = (broken / "register.yaml").read_text(encoding="utf-8")
    (broken / "register.yaml").write_text(text.replace("version: 1", "version: 1\nsurprise: true", 1), encoding="utf-8")

    result = invoke("--db", reg.db, "--policies", broken, "list", "--key-file", reg.key_file)
    assert_clean_failure(result, 6)
    assert any(line.startswith(f"  {broken / 'register.yaml'}:") and "surprise" in line for line in result.stderr.splitlines())


def test_a_bad_busy_timeout_is_invalid_input(reg: Register) -> None:
    result = reg.run("list", env={"KSS_PANEL_BUSY_TIMEOUT": "soon"})
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == [
        "kss-panel: error: invalid busy timeout",
        "  KSS_PANEL_BUSY_TIMEOUT: must be seconds from 0 to 3600",
    ]


def test_a_register_held_by_another_writer_is_busy(reg: Register) -> None:
    holder = sqlite3.connect(reg.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        before = reg.tables()
        result = reg.run("enrol", "--file", "-", input=json.dumps(AINO), env={"KSS_PANEL_BUSY_TIMEOUT": "0"})
        assert_clean_failure(result, 8)
        assert result.stderr.splitlines() == [
            "kss-panel: error: the register is busy: another command held it past the busy timeout",
            "kss-panel: hint: try again, or raise KSS_PANEL_BUSY_TIMEOUT",
        ]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert reg.tables() == before
    assert reg.run("enrol", "--file", "-", input=json.dumps(AINO)).exit_code == 0


def test_an_unexpected_error_is_exit_1_without_details(reg: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Canarysecret in an exception message")

    monkeypatch.setattr(members, "list_members", explode)
    result = reg.run("list")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["kss-panel: error: internal error; nothing was changed"]
    assert "Canarysecret" not in result.output
    assert "Traceback" not in result.output
    as_json = reg.run("list", "--json")
    assert json.loads(as_json.stdout)["error"] == {"code": 1, "type": "internal", "message": "internal error; nothing was changed"}


@pytest.mark.parametrize(
    "args",
    [
        ("no-such-command",),
        ("show",),
        ("enrol",),
        ("list", "--status"),
        ("officer",),
        ("audit", "nope"),
        ("init", "--unlock-time", "99"),
    ],
)
def test_usage_errors_are_exit_2_without_traceback(reg: Register, args: tuple[str, ...]) -> None:
    result = reg.cli(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


FAILING: list[tuple[tuple[str, ...], dict[str, str], int]] = [
    (("show", "Mdddddddddddddddd", "--key-file", "{key}"), {}, 4),
    (("show", "Mdddddddddddddddd", "--officer", "aino"), {"KSS_PANEL_PASSPHRASE": "wrong passphrase here"}, 3),
    (("list", "--officer", "nobody"), {"KSS_PANEL_PASSPHRASE": PASSPHRASE}, 3),
    (("list", "--key-file", "{dir}/missing.key"), {}, 4),
    (("find", "--email", "x", "--key-file", "{key}"), {}, 5),
    (("update", "Mdddddddddddddddd", "--set", "contact.city=X", "--key-file", "{key}"), {}, 4),
    (("enrol", "--file", "{dir}/missing.json", "--key-file", "{key}"), {}, 4),
    (("officer", "remove", "nobody", "--key-file", "{key}"), {}, 4),
    (("officer", "add", "x", "--key-file", "{key}", "--unlock-key-file", "{key}"), {}, 5),
    (("audit", "verify", "--head", "1-" + "0" * 64, "--key-file", "{key}"), {}, 7),
    (("audit", "log", "--json", "--key-file", "{key}"), {"KSS_PANEL_BUSY_TIMEOUT": "-1"}, 5),
]


@pytest.mark.parametrize(("args", "env", "code"), FAILING, ids=[" ".join(a[:2]) for a, _, _ in FAILING])
def test_no_failing_command_prints_a_traceback(reg: Register, args: tuple[str, ...], env: dict[str, str], code: int) -> None:
    argv = [a.format(key=reg.key_file, dir=reg.dir) for a in args]
    result = reg.cli(*argv, env=env)
    assert_clean_failure(result, code)
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr
    assert "File \"" not in result.output


def test_services_raise_only_project_errors_for_a_missing_member(reg: Register, policies: Policies) -> None:
    with reg.session(policies) as session:
        with pytest.raises(NotFound):
            members.show(session, "Mdddddddddddddddd", NOW)
        with pytest.raises(NotFound):
            members.update(session, "Mdddddddddddddddd", {"hobbies": ["x"]}, NOW)
