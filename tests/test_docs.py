"""Every command has help (ending with an example) and appears in the README."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kss_panel.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def walk(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


ROOT = typer.main.get_command(app)
ALL = list(walk(ROOT))
COMMANDS = [(path, cmd) for path, cmd in ALL if path and not hasattr(cmd, "commands")]
GROUPS = [(path, cmd) for path, cmd in ALL if hasattr(cmd, "commands")]


def name(path: tuple[str, ...]) -> str:
    return " ".join(path) or "kss-panel"


def test_the_walk_finds_the_commands_of_the_issue() -> None:
    found = {name(path) for path, _ in COMMANDS}
    expected = {
        "init", "officer add", "officer remove", "officer list", "enrol", "show", "find", "list", "update",
        "audit log", "audit verify", "audit head",
    }
    assert expected <= found


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[name(p) for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path: tuple[str, ...], command: object) -> None:
    text = (getattr(command, "help", None) or "").strip()
    assert text, f"{name(path)} has no help"
    assert "Example:" in text, f"{name(path)}: help should end with an example"
    assert (getattr(command, "short_help", None) or text.splitlines()[0]).strip()


@pytest.mark.parametrize(("path", "group"), GROUPS, ids=[name(p) for p, _ in GROUPS])
def test_every_group_has_help(path: tuple[str, ...], group: object) -> None:
    assert (getattr(group, "help", None) or "").strip(), f"{name(path)} has no help"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[name(p) for p, _ in COMMANDS])
def test_every_option_and_argument_has_help(path: tuple[str, ...], command: object) -> None:
    missing = [
        param.name
        for param in getattr(command, "params", [])
        if param.name != "help" and not (getattr(param, "help", None) or "").strip()
    ]
    assert not missing, f"{name(path)}: no help for {missing}"


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=[name(p) for p, _ in ALL])
def test_help_runs(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert "Traceback" not in result.output


def readme_text() -> str:
    assert README.is_file(), "README.md is missing"
    return README.read_text(encoding="utf-8")


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[name(p) for p, _ in COMMANDS])
def test_every_command_is_in_the_readme(path: tuple[str, ...], command: object) -> None:
    text = readme_text()
    pattern = r"\b" + r"\s+".join(re.escape(part) for part in path) + r"\b"
    assert re.search(pattern, text), f"README.md does not mention '{name(path)}'"


def test_the_readme_documents_the_exit_codes() -> None:
    text = readme_text()
    for code in range(10):
        assert re.search(rf"\|\s*{code}\s*\|", text), f"exit code {code} is not in the README's table"
