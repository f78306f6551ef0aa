"""The command line: parse, call one service, render. The only package that knows exit codes and prints."""

from __future__ import annotations

import sys

from . import backup, disclosure, draws, keys, lifecycle, members, notice, officers, policies, requests, rights, surveys, trail  # noqa: F401  (each registers its commands)
from . import breach, notify, portability  # noqa: F401  (accountability: issue 14)
from .app import EXIT_BROKEN_PIPE, app, quiet_stdout

__all__ = ["app", "main"]


def main() -> None:
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
    sys.exit(code)
