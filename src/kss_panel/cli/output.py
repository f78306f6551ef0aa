"""Where the command line writes: stdout for results, stderr for errors, hints and progress."""

from __future__ import annotations

import errno

from rich.console import Console


class PipeConsole(Console):
    """A console that lets a closed pipe reach the command line's handler (rich would exit 1 on its own)."""

    def on_broken_pipe(self) -> None:
        del self._buffer[:]  # what could not be written is dropped, not written again by the next print
        raise BrokenPipeError(errno.EPIPE, "broken pipe")


stdout = PipeConsole(soft_wrap=True)
stderr = PipeConsole(stderr=True, soft_wrap=True, highlight=False)


def out(line: str) -> None:
    """One line of human output on stdout, printed as it is (never as markup)."""
    stdout.print(line, markup=False, highlight=False)


def err(line: str) -> None:
    """One line on stderr; a closed stderr has no reader to tell, so the line is dropped."""
    try:
        stderr.out(line, highlight=False)
    except BrokenPipeError:
        pass
