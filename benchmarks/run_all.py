"""Run every benchmarks/bench_*.py in turn (what `make bench` does).

    python benchmarks/run_all.py [ARGS...]   # ARGS are passed to every script

Each script prints its own figures; this exits non-zero if any of them failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    failed = []
    scripts = sorted(HERE.glob("bench_*.py"))
    for script in scripts:
        print(f"=== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script), *argv]).returncode != 0:
            failed.append(script.name)
        print(flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"{len(scripts)} benchmark script(s) done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
