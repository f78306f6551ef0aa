"""Where the command line writes: stdout for results, stderr for errors, hints and progress."""

from __future__ import annotations

from rich.console import Console

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


def out(line: str) -> None:
    """One line of human output on stdout, printed as it is (never as markup)."""
    stdout.print(line, markup=False, highlight=False)


def err(line: str) -> None:
    stderr.out(line, highlight=False)
