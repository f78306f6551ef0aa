"""Timing commands the fair way on a shared machine: the command and its baseline run in turn (A B A B ...),
and each ratio is taken pair by pair, so the ratios hold while the machine's speed drifts.

Each run is a fresh child process; its wall time is the monotonic clock around it, its CPU time and peak
memory the operating system's own accounting of that child (through GNU time, /usr/bin/time, when it is
installed). Not a module of the project: the benchmark scripts import it.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    peak_mib: float
    stdout: str


GNU_TIME = Path("/usr/bin/time")


def run(argv: Sequence[str], *, env: dict[str, str] | None = None, check: bool = True) -> Run:
    """One child process: wall and CPU seconds, peak resident memory (MiB), its stdout.

    The peak comes from GNU time when it is installed: a process forked from
    this (large) one would count this one's memory as its own until it execs.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        wrapped = [str(GNU_TIME), "-f", "%U %S %M", "-o", stats.name, *argv] if GNU_TIME.exists() else list(argv)
        started = time.perf_counter()
        child = subprocess.Popen(wrapped, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
        out, err = child.communicate()
        wall = time.perf_counter() - started
        if check and child.returncode != 0:
            raise SystemExit(f"failed ({child.returncode}): {' '.join(argv)}\n{err.decode(errors='replace')[-2000:]}")
        if GNU_TIME.exists():
            user, system, peak_kib = stats.read().split()[-3:]
            cpu, peak = float(user) + float(system), int(peak_kib) / 1024
        else:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # cumulative: the difference is this child's
            cpu, peak = usage.ru_utime + usage.ru_stime - _spent(), usage.ru_maxrss / 1024
    return Run(wall, cpu, peak, out.decode(errors="replace"))


_before = [0.0]


def _spent() -> float:
    spent, usage = _before[0], resource.getrusage(resource.RUSAGE_CHILDREN)
    _before[0] = usage.ru_utime + usage.ru_stime
    return spent


@dataclass(frozen=True)
class Pairs:
    """Runs of a command (a) and its baseline (b), taken in turn."""

    a: list[Run]
    b: list[Run]

    def median(self, side: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in getattr(self, side))

    def ratio(self, field: str = "wall") -> float:
        """The median of the pairwise ratios a/b."""
        return statistics.median(getattr(a, field) / getattr(b, field) for a, b in zip(self.a, self.b, strict=True))

    def spread(self, field: str = "wall") -> str:
        """The lowest and highest pairwise ratio a/b, e.g. ``1.12-1.58x``."""
        ratios = sorted(getattr(a, field) / getattr(b, field) for a, b in zip(self.a, self.b, strict=True))
        return f"{ratios[0]:.2f}-{ratios[-1]:.2f}x"


def alternate(a: Callable[[], Run], b: Callable[[], Run], runs: int, *, progress: str = "") -> Pairs:
    """``runs`` pairs, a then b each time; each callable prepares its own input and returns its Run."""
    pairs = Pairs([], [])
    for n in range(runs):
        pairs.a.append(a())
        pairs.b.append(b())
        if progress:
            print(f"  {progress}: pair {n + 1} of {runs}", file=sys.stderr, flush=True)
    return pairs


def row(label: str, pairs: Pairs, side: str) -> str:
    return (f"{label:<46} {pairs.median(side, 'wall'):9.2f} {pairs.median(side, 'cpu'):9.2f} {pairs.median(side, 'peak_mib'):9.0f}")


def ratio_row(label: str, pairs: Pairs, target: str, *, peak: bool = True) -> str:
    """The pairwise median ratios a/b of wall time, CPU time (and peak memory), with the target they answer."""
    peak_ratio = f"{pairs.ratio('peak_mib'):8.2f}x" if peak else " " * 9
    return f"{label:<46} {pairs.ratio('wall'):8.2f}x {pairs.ratio('cpu'):8.2f}x {peak_ratio}   (target: {target})"


HEADER = f"{'command (median of the runs)':<46} {'wall s':>9} {'CPU s':>9} {'peak MiB':>9}"
