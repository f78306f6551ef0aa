"""The documentation holds what the code does: every command has help ending with an example,
its own place in the README, every option it takes, and the README's exit codes are the code's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kss_panel.cli import app
from kss_panel.cli.root import EXIT_BROKEN_PIPE, EXIT_CODES, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE

README = Path(__file__).resolve().parents[1] / "README.md"
SHARED_OPTIONS = {"--officer", "--passphrase-file", "--key-file", "--unlock-key-file", "--json", "--help"}


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


ROOT = typer.main.get_command(app)
ALL = list(walk(ROOT))
COMMANDS = [(path, cmd) for path, cmd in ALL if path and not hasattr(cmd, "commands")]
GROUPS = [(path, cmd) for path, cmd in ALL if hasattr(cmd, "commands")]


def name(path: tuple[str, ...]) -> str:
    return " ".join(path) or "kss-panel"


def readme_text() -> str:
    assert README.is_file(), "README.md is missing"
    return README.read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    """The text of the README section under ``## title``."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README.md has no section '## {title}'"
    return match.group(1)


def command_section(text: str, path: tuple[str, ...]) -> str:
    """The README's paragraph on a command: from its **`kss-panel COMMAND`** lead to the next lead or heading."""
    lead = re.search(rf"^\*\*`kss-panel {re.escape(name(path))}( [^`]*)?`\*\*", text, flags=re.M)
    assert lead, f"README.md has no paragraph led by **`kss-panel {name(path)}`**"
    rest = text[lead.start():]
    end = re.search(r"^(\*\*`kss-panel |#)", rest[1:], flags=re.M)
    return rest if end is None else rest[: end.start() + 1]


def test_the_walk_finds_the_commands_of_the_issues() -> None:
    found = {name(path) for path, _ in COMMANDS}
    expected = {
        "init", "officer add", "officer remove", "officer list", "enrol", "show", "find", "list", "update",
        "audit log", "audit verify", "audit head", "import", "admit", "reject", "eligibility", "activity import", "purge",
        "export access", "export disclosure", "erase", "consent", "restrict", "request open", "request list",
        "request extend", "request close", "backup", "restore", "policy check", "policy show",
    }
    assert expected <= found


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[name(p) for p, _ in COMMANDS])
def test_every_command_has_help_ending_with_an_example(path: tuple[str, ...], command: Any) -> None:
    text = (command.help or "").strip()
    assert text, f"{name(path)} has no help"
    last = text.splitlines()[-1]
    assert last.startswith(f"Example: kss-panel "), f"{name(path)}: help should end with an example"
    assert re.match(rf"Example: kss-panel( --(db|policies) \S+)* {re.escape(name(path))}( |$)", last), (
        f"{name(path)}: the example should run {name(path)}"
    )


@pytest.mark.parametrize(("path", "group"), GROUPS, ids=[name(p) for p, _ in GROUPS])
def test_every_group_has_help(path: tuple[str, ...], group: Any) -> None:
    assert (group.help or "").strip(), f"{name(path)} has no help"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[name(p) for p, _ in COMMANDS])
def test_every_option_and_argument_has_help(path: tuple[str, ...], command: Any) -> None:
    missing = [param.name for param in command.params if param.name != "help" and not (getattr(param, "help", None) or "").strip()]
    assert not missing, f"{name(path)}: no help for {missing}"


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=[name(p) for p, _ in ALL])
def test_help_runs(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[name(p) for p, _ in COMMANDS])
def test_every_command_has_its_own_readme_paragraph_and_example(path: tuple[str, ...], command: Any) -> None:
    text = readme_text()
    command_section(text, path)
    example = re.compile(rf"^kss-panel( --(db|policies) \S+)* {re.escape(name(path))}( |$)", flags=re.M)
    assert example.search(text), f"README.md has no example line starting 'kss-panel {name(path)}'"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[name(p) for p, _ in COMMANDS])
def test_every_option_of_a_command_is_in_its_readme_paragraph(path: tuple[str, ...], command: Any) -> None:
    text = readme_text()
    paragraph = command_section(text, path)
    shared = section(text, "Global options and environment") + section(text, "Secrets") + section(text, "JSON output")
    options = [opt for param in command.params if param.param_type_name == "option" for opt in param.opts]
    missing = [
        opt for opt in options
        if f"`{opt}" not in paragraph and f" {opt}" not in paragraph and not (opt in SHARED_OPTIONS and opt in shared)
    ]
    assert not missing, f"README.md's paragraph on {name(path)} does not mention {missing}"


def test_every_global_option_is_in_the_readme() -> None:
    table = section(readme_text(), "Global options and environment")
    for param in ROOT.params:
        for opt in param.opts:
            assert f"`{opt}" in table, opt


def test_the_readme_exit_code_table_is_the_code() -> None:
    table = section(readme_text(), "Exit codes")
    documented = {int(code) for code in re.findall(r"^\|\s*([0-9]+)\s*\|", table, flags=re.M)}
    assert documented == {EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_BROKEN_PIPE, *(code for code, _ in EXIT_CODES.values())}


def test_the_readme_names_every_error_type() -> None:
    envelope = section(readme_text(), "JSON output")
    for _, kind in EXIT_CODES.values():
        assert f"`{kind}`" in envelope, kind
    assert "`internal`" in envelope


def test_every_policy_key_is_in_the_policy_reference() -> None:
    """docs/policies.md names every key the policy files may hold."""
    import dataclasses

    from kss_panel import policy, policy_surveys
    from kss_panel.policy_schema import allowed_keys

    text = (README.parent / "docs" / "policies.md").read_text(encoding="utf-8")
    models = [value for module in (policy, policy_surveys) for value in vars(module).values()
              if dataclasses.is_dataclass(value) and value.__module__ in (policy.__name__, policy_surveys.__name__)
              and value is not policy.Policies]
    keys = {key for model in models for key in allowed_keys(model, ())}
    assert {"register", "restricted", "max_percent", "draws", "per_year"} <= keys
    missing = sorted(key for key in keys if not re.search(rf"[`.{{]{re.escape(key)}(`|\.|\[|<| |:)", text))
    assert missing == []
