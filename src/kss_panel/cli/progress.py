"""A progress bar on stderr for long work, only when stderr is a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .output import stderr


@contextmanager
def progress(label: str, *, enabled: bool = True) -> Iterator[Callable[[int, int | None], None] | None]:
    """Yields ``advance(done, total)``, or None when no bar should be drawn (piped, or --json)."""
    if not (enabled and stderr.is_terminal):
        yield None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    with Progress(TextColumn(label), BarColumn(), TaskProgressColumn(), console=stderr, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
