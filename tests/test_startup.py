"""Start-up: a run imports only the command module it needs, --help and anything unknown import them
all, and `kss_panel.cli.app` is still the whole command line. (Its speed is measured in
benchmarks/bench_core.py, not here.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

from kss_panel import cli
from kss_panel.cli import app
from support import POLICIES_DIR as SHIPPED


def _registered_by() -> dict[str, set[str]]:
    """Each top-level command or group of the whole app -> the cli modules whose functions it runs."""
    found: dict[str, set[str]] = {}
    for name, command in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        leaves = command.commands.values() if isinstance(command, typer.core.TyperGroup) else [command]
        found[name] = {leaf.callback.__module__.rsplit(".", 1)[1] for leaf in leaves}
    return found


def test_the_table_names_the_module_of_every_command() -> None:
    assert {name: set(modules) for name, modules in cli.MODULES.items()} == _registered_by()
    assert sorted(cli.EVERY_MODULE) == sorted({module for modules in cli.MODULES.values() for module in modules})


def test_the_root_options_that_take_a_value_are_known() -> None:
    """needed() skips their values: a root option added with a value must be added to VALUE_OPTIONS."""
    root = typer.main.get_command(app)
    taking = {param.opts[0] for param in root.params if not getattr(param, "is_flag", False)}
    assert taking == set(cli.VALUE_OPTIONS)


@pytest.mark.parametrize(
    ("argv", "modules"),
    [
        (["show", "M1"], ("members",)),
        (["--db", "show", "list", "--json"], ("members",)),  # "show" is the value of --db
        (["--policies", "p", "export", "access", "M1"], ("disclosure", "portability", "rights")),
        (["purge", "--help"], ("lifecycle",)),
        (["--help"], cli.EVERY_MODULE),
        ([], cli.EVERY_MODULE),
        (["--version"], cli.EVERY_MODULE),
        (["shwo"], cli.EVERY_MODULE),  # unknown: the parser's error, with every command known
        (["--show-completion", "bash"], cli.EVERY_MODULE),
    ],
)
def test_a_run_needs_its_commands_module(argv: list[str], modules: tuple[str, ...]) -> None:
    assert cli.needed(argv) == modules


def test_shell_completion_needs_every_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli.COMPLETION, "bash_complete")
    assert cli.needed(["show"]) == cli.EVERY_MODULE


def _imported_by(argv: list[str]) -> dict[str, object]:
    script = (
        "import json, sys\n"
        "from kss_panel import cli\n"
        f"cli.registered({argv!r})\n"
        "print(json.dumps({'cli': sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('kss_panel.cli.')),"
        " 'heavy': sorted(m for m in ('pydantic', 'cryptography', 'rich', 'sqlite_utils', 'jinja2') if m in sys.modules)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_show_imports_only_the_members_commands() -> None:
    assert _imported_by(["show", "M1"])["cli"] == ["credentials", "helptext", "members", "output", "progress", "root"]


def test_help_imports_no_service_library() -> None:
    imported = _imported_by(["--help"])
    assert imported["cli"] == sorted([*cli.EVERY_MODULE, "credentials", "helptext", "output", "progress", "root"])
    assert imported["heavy"] == []


def test_the_console_script_runs_a_lazily_registered_command() -> None:
    done = subprocess.run([sys.executable, "-c", "from kss_panel.cli import main; main()", "policy", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Usage: kss-panel policy" in done.stdout


def test_pydantic_plugins_are_never_loaded() -> None:
    done = subprocess.run([sys.executable, "-c", "import os, kss_panel; print(os.environ['PYDANTIC_DISABLE_PLUGINS'])"],
                          capture_output=True, text=True, check=True, env={"PYDANTIC_DISABLE_PLUGINS": ""})
    assert done.stdout.strip() == "__all__"


def test_show_and_loading_the_policies_never_import_pydantic() -> None:
    """The policy files are validated by policy_schema: only a command that validates a record imports pydantic."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from kss_panel import cli\n"
        "from kss_panel.policy_files import load_policies\n"
        "cli.registered(['show', 'M1'])\n"
        f"policies = load_policies(Path({str(SHIPPED)!r}))\n"
        "print(json.dumps({'rules': len(policies.retention.rules), 'pydantic': sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic')}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == {"rules": 4, "pydantic": []}
