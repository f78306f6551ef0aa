"""Where the command line writes: stdout for results, stderr for errors, hints and progress.

The consoles are made at their first use in each command, so a command that
prints only JSON (or only its help) never imports rich, and each reads the
terminal's width (COLUMNS) when it first prints.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def _console(**options: Any) -> Console:
    from rich.console import Console

    class PipeConsole(Console):
        """A console that lets a closed pipe reach the command line's handler (rich would exit 1 on its own)."""

        def on_broken_pipe(self) -> None:
            del self._buffer[:]  # what could not be written is dropped, not written again by the next print
            raise BrokenPipeError(errno.EPIPE, "broken pipe")

    return PipeConsole(soft_wrap=True, **options)


class LazyConsole:
    """A rich console made when first used; it stands in for one everywhere (``render.table(stdout, …)``)."""

    def __init__(self, make: Callable[[], Console]) -> None:
        self._make = make
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = self._make()
        return getattr(self._console, name)

    def reset(self) -> None:
        """Forget the console: the next command run in this process makes its own."""
        self._console = None


stdout: Console = LazyConsole(_console)  # type: ignore[assignment]
stderr: Console = LazyConsole(lambda: _console(stderr=True, highlight=False))  # type: ignore[assignment]


def reset() -> None:
    """A command starts with new consoles (the command line's tests run many commands in one process)."""
    stdout.reset()  # type: ignore[attr-defined]
    stderr.reset()  # type: ignore[attr-defined]


def out(line: str) -> None:
    """One line of human output on stdout, printed as it is (never as markup)."""
    stdout.print(line, markup=False, highlight=False)


def err(line: str) -> None:
    """One line on stderr; a closed stderr has no reader to tell, so the line is dropped."""
    try:
        stderr.out(line, highlight=False)
    except BrokenPipeError:
        pass
