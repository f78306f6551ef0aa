"""Bulk admission: `kss-panel admit --all` against a shell loop of `kss-panel admit MEMBER`.

    python benchmarks/bench_admit.py [--members N] [--loop L]

Builds a register of N applicants (default 10,000; through the service layer,
one transaction, not timed) and a customer roster holding 97 % of their
customer numbers, then prints the wall time of

- `admit --all --customers ROSTER` as one subprocess, admitting every
  applicant in the roster in one transaction (unlocked with an officer-role
  key file, so no Argon2id cost is included), and its cost per applicant;
- `admit MEMBER --customers ROSTER` run L times (default 20) as separate
  subprocesses on a copy made before, as a shell loop over the applicants
  would, and what that loop would take for all of them.

A plain script, not a timed test: it prints figures and fails only if
something is broken.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_core import BIN, NOW, POLICIES, add_key_file_slot, new_register, synthetic_members
from kss_panel.services import members

OFFSET = 500_000  # customer numbers of their own, apart from the other benchmarks'


def build(workdir: Path, count: int) -> tuple[Path, Path, Path, list[str]]:
    db, key = workdir / "admit.db", workdir / "admit.key"
    records = synthetic_members(count, offset=OFFSET)
    with new_register(db) as session:
        ids = members.enrol_many(session, records, NOW)
    add_key_file_slot(db, key)
    roster = workdir / "roster.csv"
    kept = [record["customer_number"] for n, record in enumerate(records) if n % 33 != 0]  # 97 % are customers
    roster.write_text("customer_number\n" + "".join(f"{number}\n" for number in kept), encoding="utf-8")
    return db, key, roster, ids


def run(db: Path, key: Path, *args: str) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSS_PANEL_")}
    argv = [str(BIN / "kss-panel"), "--db", str(db), "--policies", str(POLICIES), *args, "--key-file", str(key)]
    started = time.perf_counter()
    done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000, help="applicants in the register (default 10000)")
    parser.add_argument("--loop", type=int, default=20, help="single admits timed for the shell-loop estimate (default 20)")
    args, ignored = parser.parse_known_args()
    if ignored:
        print(f"ignoring options meant for other benchmarks: {' '.join(ignored)}", file=sys.stderr)
    print(f"kss-panel admission benchmark: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {platform.machine()}")
    with tempfile.TemporaryDirectory(prefix="kss-panel-bench-") as tmp:
        workdir = Path(tmp)
        print(f"building a register of {args.members:,} applicants ...", flush=True)
        db, key, roster, ids = build(workdir, args.members)
        copy = workdir / "loop.db"
        shutil.copy(db, copy)
        seconds, out = run(db, key, "admit", "--all", "--customers", str(roster), "--json")
        data = json.loads(out)["data"]
        admitted, left = len(data["admitted"]), len(data["not_in_roster"])
        assert admitted + left == args.members, (admitted, left)
        print()
        print(f"{'command':<44} {'seconds':>9} {'ms/applicant':>13}")
        print(f"{'admit --all (' + f'{admitted:,} admitted, {left:,} left)':<44} {seconds:>9.2f} {seconds * 1000 / admitted:>13.2f}")
        sample = [member_id for n, member_id in enumerate(ids) if n % 33 != 0][: args.loop]
        loop = sum(run(copy, key, "admit", member_id, "--customers", str(roster))[0] for member_id in sample)
        per = loop / len(sample)
        print(f"{'admit MEMBER, ' + f'{len(sample)} runs in a loop':<44} {loop:>9.2f} {per * 1000:>13.2f}")
        print(f"{'a loop over all ' + f'{admitted:,} (estimated)':<44} {per * admitted:>9.0f} {per * 1000:>13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
