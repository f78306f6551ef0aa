"""The command line: parse, call one service, render. The only package that knows exit codes and prints.

A run imports only the module that registers its command: building a module's
Typer commands costs start-up time, and ``kss-panel show`` has no use for the
other thirteen. ``--help``, shell completion and anything not a known command
import them all, so the help lists every command and an unknown one gets the
parser's own error. ``kss_panel.cli.app`` is the whole command line.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import root
from .root import EXIT_BROKEN_PIPE, quiet_stdout

if TYPE_CHECKING:
    import typer


__all__ = ["app", "main", "registered"]

# The modules that register each top-level command or group (tests/test_startup.py checks it).
MODULES: dict[str, tuple[str, ...]] = {
    "activity": ("lifecycle",), "admit": ("lifecycle",), "eligibility": ("lifecycle",), "purge": ("lifecycle",), "reject": ("lifecycle",),
    "enrol": ("members",), "find": ("members",), "import": ("members",), "list": ("members",), "show": ("members",), "update": ("members",),
    "consent": ("rights",), "erase": ("rights",), "restrict": ("rights",), "export": ("disclosure", "portability", "rights"),
    "audit": ("trail",), "backup": ("backup",), "restore": ("backup",), "breach": ("breach",), "draw": ("draws",),
    "init": ("officers",), "officer": ("officers",), "key": ("keys",), "notice": ("notice",), "notify": ("notify",),
    "policy": ("policies",), "request": ("requests",), "survey": ("surveys",),
}
# Every module, in the order --help lists their commands: setting up, members, their lifecycle and rights,
# requests and disclosures, the panel's work, then the register's keeping.
EVERY_MODULE = (
    "officers", "members", "lifecycle", "rights", "requests", "disclosure", "portability", "notify",
    "surveys", "draws", "breach", "trail", "keys", "backup", "policies", "notice",
)
VALUE_OPTIONS = ("--db", "--policies")  # the root options that take a value
COMPLETION = "_KSS_PANEL_COMPLETE"  # set by the shell when it asks for completions


def needed(argv: Sequence[str]) -> tuple[str, ...]:
    """The command modules a run with these arguments needs: its command's, or all of them."""
    if COMPLETION in os.environ:
        return EVERY_MODULE
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in VALUE_OPTIONS:
            skip = True
        elif arg.startswith("-"):
            if arg.startswith(("--help", "--install-completion", "--show-completion")) or arg == "-h":
                return EVERY_MODULE
        else:
            return MODULES.get(arg, EVERY_MODULE)
    return EVERY_MODULE


def registered(argv: Sequence[str] | None = None) -> typer.Typer:
    """The root app with the commands ``argv`` runs registered (every command without ``argv``)."""
    for module in EVERY_MODULE if argv is None else needed(argv):
        importlib.import_module(f"{__name__}.{module}")
    return root.app


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        return registered()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    app = registered(sys.argv[1:])
    try:
        app(prog_name="kss-panel")
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    try:
        sys.stdout.flush()  # what is still buffered, now, not in the interpreter's shutdown
    except BrokenPipeError:
        quiet_stdout()
        code = code or EXIT_BROKEN_PIPE
    # The interpreter's last collections would walk every object the run made (the policies' schema,
    # the parser's commands: about 30 ms of a 200 ms run); what is still open is closed either way.
    gc.freeze()
    sys.exit(code)
