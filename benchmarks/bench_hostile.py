"""Benchmark hostile input against honest input of the same kind, run alternately in the same run.

1. Policies: loading the shipped policies with a billion-laughs alias bomb
   (under 600 bytes, 9**9 nodes expanded) appended, against the shipped
   policies alone. The bomb is refused; the ratio shows it costs no more than
   reading an honest file.
2. A JSON array whose string never ends, of 80 MB, against one of 2 MB: the
   reader stops at the per-record limit, so the ratio stays near 1.
3. A valid JSON array of records of 300 kB each (every record spans the 64 kB
   chunks), of 32 MB against 8 MB: seconds per MB, whose ratio is near 1 when
   the parse is linear (the old parser was quadratic in the record).
4. ``kss-panel import`` of N rows from a file (read through once before the
   write lock) against the same rows from a pipe (checked as imported): the
   cost of the first reading.

    .venv/bin/python benchmarks/bench_hostile.py
    .venv/bin/python benchmarks/bench_hostile.py --import-rows 2000 --runs 3
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kss_panel import crypto
from kss_panel.errors import InvalidInput, PolicyError
from kss_panel.policy_files import load_policies
from kss_panel.readers import RecordSource
from kss_panel.services import officers
from kss_panel.services.session import init_register

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
FAST_KDF = crypto.KdfParams(salt=b"s" * 16, memory_kib=64, iterations=1, lanes=1)
KSS_PANEL = Path(sys.executable).parent / "kss-panel"


def alternately(runs: int, baseline: Callable[[], None], measured: Callable[[], None]) -> tuple[float, float]:
    """Median seconds of ``baseline`` and ``measured``, run one after the other ``runs`` times."""
    times: dict[str, list[float]] = {"baseline": [], "measured": []}
    for _ in range(runs):
        for name, run in (("baseline", baseline), ("measured", measured)):
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return statistics.median(times["baseline"]), statistics.median(times["measured"])


def report(label: str, baseline: float, measured: float, unit: str = "s") -> None:
    print(f"{label:58} {baseline:9.4f} {measured:9.4f} {unit}   ratio {measured / baseline:6.2f} x")


def bomb(levels: int = 9) -> str:
    lines = ["lol0: &l0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"lol{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def policies(work: Path, runs: int) -> None:
    bombed = work / "bombed"
    shutil.copytree(ROOT / "policies", bombed)
    with open(bombed / "retention.yaml", "a", encoding="utf-8") as handle:
        handle.write(bomb())

    def refused() -> None:
        try:
            load_policies(bombed)
        except PolicyError:
            return
        raise SystemExit("the alias bomb was not refused")

    report("policies: shipped | with a 9x9 alias bomb (refused)", *alternately(runs, lambda: load_policies(ROOT / "policies"), refused))


SHIPPED = load_policies(ROOT / "policies")


def read_all(data: bytes, expect_refusal: bool) -> None:
    shipped = SHIPPED
    try:
        for _ in RecordSource(io.BufferedReader(io.BytesIO(data)), shipped):  # type: ignore[arg-type]
            pass
    except InvalidInput:
        if expect_refusal:
            return
        raise
    if expect_refusal:
        raise SystemExit("the unterminated string was not refused")


def json_arrays(runs: int) -> None:
    small, large = (b'[{"customer_number": "' + b"a" * size for size in (2_000_000, 80_000_000))
    report("unterminated string: 2 MB | 80 MB (refused)", *alternately(
        runs, lambda: read_all(small, True), lambda: read_all(large, True)))

    def array(megabytes: int) -> bytes:
        record = {"customer_number": "12345678", "hobbies": ["x" * 300_000]}
        return json.dumps([record] * (megabytes * 1_000_000 // 300_000)).encode()

    eight, thirty_two = array(8), array(32)
    base, measured = alternately(runs, lambda: read_all(eight, False), lambda: read_all(thirty_two, False))
    report("records of 300 kB, seconds per MB: 8 MB | 32 MB", base / 8, measured / 32, "s/MB")


def register(work: Path, name: str) -> tuple[Path, Path]:
    db, key = work / f"{name}.db", work / f"{name}.key"
    text = crypto.new_key_file_text()
    key.write_text(text)
    with init_register(db, load_policies(ROOT / "policies"), "aino", "correct horse battery", FAST_KDF, NOW, unlock_seconds=0.0) as session:
        officers.add_officer(session, "desk", "officer", NOW, key_secret=crypto.parse_key_file(text))
    return db, key


def imports(work: Path, rows: int, runs: int) -> None:
    header = "customer_number,contact.first_name,contact.last_name,contact.email,contact.language\n"
    data = header + "".join(f"{40_000_000 + n},Aino,Mäkelä,aino.{n}@example.fi,fi\n" for n in range(rows))
    source = work / "applications.csv"
    source.write_text(data, encoding="utf-8")
    counter = iter(range(10**6))

    def run(from_pipe: bool) -> None:
        db, key = register(work, f"r{next(counter)}")
        argv = [str(KSS_PANEL), "--db", str(db), "--policies", str(ROOT / "policies"), "import", "-" if from_pipe else str(source),
                "--key-file", str(key)]
        done = subprocess.run(argv, input=data.encode() if from_pipe else None, capture_output=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr.decode())

    report(f"import of {rows:,} rows: from a pipe | from a file (read twice)", *alternately(runs, lambda: run(True), lambda: run(False)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--import-rows", type=int, default=5000, dest="rows", help="rows of the import (default 5000)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each, alternately (default 5)")
    args, ignored = parser.parse_known_args()
    if ignored:
        print(f"ignoring options meant for other benchmarks: {' '.join(ignored)}", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="kss-panel-bench-"))
    try:
        print(f"{'kss-panel hostile input (medians of ' + str(args.runs) + ' runs)':58} {'baseline':>9} {'measured':>9}")
        policies(work, args.runs)
        json_arrays(args.runs)
        imports(work, args.rows, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
