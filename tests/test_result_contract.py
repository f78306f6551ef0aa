"""The --json contract: one versioned envelope on stdout, for results and for errors.

    {"kss_panel": 1, "command": ..., "ok": true,  "data": ...}
    {"kss_panel": 1, "command": ..., "ok": false, "error": {"code", "type", "message"[, "problems"]}}

Scripts depend on these keys; changing them is a breaking change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import Result

from support import AINO, PASSPHRASE, POLICIES_DIR, VEIKKO, Register, invoke, record

RESULT_KEYS = {"kss_panel", "command", "ok", "data"}
ERROR_KEYS = {"kss_panel", "command", "ok", "error"}
ERROR_TYPES = {3: "auth", 4: "not_found", 5: "invalid_input", 6: "invalid_policy", 7: "integrity", 8: "busy", 9: "refused"}


def one_document(result: Result) -> dict[str, Any]:
    """stdout holds exactly one JSON document, on one line, and nothing else."""
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1, result.stdout
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


READS: list[tuple[str, Callable[[Register], tuple[str, ...]], type]] = [
    ("show", lambda r: ("show", r.ids["aino"]), dict),
    ("find", lambda r: ("find", "--email", "aino@example.fi"), dict),
    ("find", lambda r: ("find", "--phone", "040 1234567"), dict),
    ("find", lambda r: ("find", "--customer-number", "87654321"), dict),
    ("list", lambda r: ("list",), list),
    ("list", lambda r: ("list", "--status", "applicant"), list),
    ("list", lambda r: ("list", "--names"), list),
    ("officer list", lambda r: ("officer", "list"), list),
    ("audit log", lambda r: ("audit", "log"), list),
    ("audit log", lambda r: ("audit", "log", "--member", r.ids["veikko"]), list),
    ("audit verify", lambda r: ("audit", "verify"), dict),
    ("audit head", lambda r: ("audit", "head"), dict),
]


@pytest.mark.parametrize(("command", "argv", "kind"), READS, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(READS)])
def test_read_commands_print_one_envelope(populated: Register, command: str, argv: Callable[[Register], tuple[str, ...]], kind: type) -> None:
    result = populated.run(*argv(populated), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    document = one_document(result)
    assert set(document) == RESULT_KEYS
    assert document["kss_panel"] == 1
    assert document["command"] == command
    assert document["ok"] is True
    assert isinstance(document["data"], kind)


def test_envelope_with_passphrase_unlock(populated: Register) -> None:
    result = populated.run_as_aino("officer", "list", "--json")
    document = one_document(result)
    assert set(document) == RESULT_KEYS and document["command"] == "officer list"


WRITES: list[tuple[str, Callable[[Register], tuple[tuple[str, ...], str | None]]]] = [
    ("enrol", lambda r: (("enrol", "--file", "-"), json.dumps(record(VEIKKO, customer_number="55556666",
                                                                    contact__email="n@example.fi", contact__phone=None)))),
    ("update", lambda r: (("update", r.ids["aino"], "--set", "contact.city=Hamina"), None)),
    ("officer add", lambda r: (("officer", "add", "cron", "--role", "purger", "--key-file", str(r.dir / "cron.key")), None)),
    ("officer remove", lambda r: (("officer", "remove", "aino"), None)),
]


@pytest.mark.parametrize(("command", "argv"), WRITES, ids=[c for c, _ in WRITES])
def test_write_commands_print_one_envelope(populated: Register, command: str, argv: Callable[[Register], tuple[tuple[str, ...], str | None]]) -> None:
    args, stdin = argv(populated)
    unlock = ("--unlock-key-file",) if command == "officer add" else ("--key-file",)
    result = populated.cli(*args, "--json", *unlock, str(populated.key_file), input=stdin)
    assert result.exit_code == 0, result.stderr
    document = one_document(result)
    assert set(document) == RESULT_KEYS
    assert (document["kss_panel"], document["command"], document["ok"]) == (1, command, True)


def test_init_prints_one_envelope(reg: Register) -> None:
    fresh = reg.dir / "fresh.db"
    result = invoke(
        "--db", fresh, "--policies", POLICIES_DIR, "init", "--officer", "aino", "--unlock-time", "0", "--json",
        env={"KSS_PANEL_PASSPHRASE": PASSPHRASE},
    )
    assert result.exit_code == 0, result.stderr
    document = one_document(result)
    assert set(document) == RESULT_KEYS
    assert (document["command"], document["ok"]) == ("init", True)
    assert document["data"]["officer"] == "aino"


def tamper_audit(r: Register) -> None:
    r.sql("UPDATE audit SET actor = 'mallory' WHERE seq = 2")


def not_a_register(r: Register) -> None:
    r.db.write_bytes(b"\x00not a database" * 100)


FAILURES: list[tuple[str, int, Callable[[Register], tuple[str, ...]], Callable[[Register], None] | None, bool]] = [
    ("show", 4, lambda r: ("show", "Mcccccccccccccccc"), None, False),
    ("find", 4, lambda r: ("find", "--email", "nobody@example.fi"), None, False),
    ("find", 5, lambda r: ("find", "--email", "nobody"), None, True),
    ("list", 5, lambda r: ("list", "--status", "vip"), None, True),
    ("enrol", 5, lambda r: ("enrol", "--file", "-"), None, True),
    ("update", 5, lambda r: ("update", r.ids["aino"], "--set", "contact.postal_code=1"), None, True),
    ("officer remove", 4, lambda r: ("officer", "remove", "nobody"), None, False),
    ("audit verify", 7, lambda r: ("audit", "verify"), tamper_audit, False),
    ("audit verify", 5, lambda r: ("audit", "verify", "--head", "junk"), None, True),
    ("audit log", 7, lambda r: ("audit", "log"), not_a_register, False),
    ("audit head", 7, lambda r: ("audit", "head"), tamper_audit, False),
    ("officer list", 4, lambda r: ("officer", "list"), lambda r: r.db.unlink(), False),
]


@pytest.mark.parametrize(
    ("command", "code", "argv", "setup", "has_problems"), FAILURES, ids=[f"{c}-{code}-{i}" for i, (c, code, _, _, _) in enumerate(FAILURES)]
)
def test_errors_print_one_error_envelope(
    populated: Register,
    command: str,
    code: int,
    argv: Callable[[Register], tuple[str, ...]],
    setup: Callable[[Register], None] | None,
    has_problems: bool,
) -> None:
    if setup is not None:
        setup(populated)
    result = populated.run(*argv(populated), "--json", input=json.dumps(record(AINO, contact__language="de")))
    assert result.exit_code == code, result.stderr
    document = one_document(result)
    assert set(document) == ERROR_KEYS
    assert (document["kss_panel"], document["command"], document["ok"]) == (1, command, False)
    error = document["error"]
    assert set(error) == ({"code", "type", "message", "problems"} if has_problems else {"code", "type", "message"})
    assert error["code"] == code
    assert error["type"] == ERROR_TYPES[code]
    assert result.stderr.splitlines()[0] == f"kss-panel: error: {error['message']}"
    if has_problems:
        assert error["problems"] and all(set(p) == {"path", "problem"} for p in error["problems"])
        listed = [line for line in result.stderr.splitlines() if line.startswith("  ")]
        assert listed == [f"  {p['path']}: {p['problem']}" for p in error["problems"]]


def test_auth_error_envelope(populated: Register) -> None:
    result = populated.run_as_aino("list", "--json", passphrase="not the passphrase at all")
    assert result.exit_code == 3
    document = one_document(result)
    assert document["error"] == {"code": 3, "type": "auth", "message": "wrong passphrase for officer 'aino'"}
    assert document["command"] == "list"


def test_without_json_stdout_has_no_envelope(populated: Register) -> None:
    result = populated.run("show", "Mcccccccccccccccc")
    assert result.exit_code == 4
    assert result.stdout == ""
