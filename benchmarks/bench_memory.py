"""Memory of the commands that walk every member, against the register's size: flat, or not.

    python benchmarks/bench_memory.py [--small N] [--large M] [--runs R] [--seed S] [--dir DIR]

Builds two registers from bench_import.py's synthetic applications, of N
(default 10,000) and M (default 300,000) members (`kss-panel import`, every
member then admitted through the services; not measured), then runs each
command below as its own process, on the large and on the small register in
turn R times (default 3), each run on a fresh copy of the register, and
prints the median peak resident memory (GNU time's maximum resident set size,
or getrusage) and wall time at both sizes, and the median of the pairwise
ratios of the peaks:

- `kss-panel list --json` (the document written as the rows come);
- `kss-panel export disclosure panel-mailer --purpose communication --out F`;
- `kss-panel purge` (a dry run: the plan, every due member checked);
- `kss-panel audit verify` (the chain and every row against it);
- `kss-panel show MEMBER --json`, which walks nobody: the yardstick.

The target is a peak at M members within 10 % of the peak at N. With --dir
the registers are built there, kept, and reused by a later run with the same
sizes and --seed. A plain script, not a timed test: it fails only if
something is broken.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import  # noqa: E402
import timing  # noqa: E402

from kss_panel.policy_files import load_policies  # noqa: E402
from kss_panel.record import RecordSchema  # noqa: E402


def build(work: Path, members: int, seed: int) -> tuple[Path, Path]:
    """A register of ``members`` admitted members and its officer key file (reused when ``work`` has them)."""
    db, key = work / f"register-{members}-{seed}.db", work / f"register-{members}-{seed}.key"
    if db.exists() and key.exists():
        print(f"reusing {db}", file=sys.stderr, flush=True)
        return db, key
    for path in (*work.glob(db.name + "*"), key):
        path.unlink(missing_ok=True)
    print(f"building a register of {members:,} members ...", file=sys.stderr, flush=True)
    pool, _ = bench_import.person_pool(seed, RecordSchema(load_policies(bench_import.POLICIES)))
    source = work / f"applications-{members}.csv"
    bench_import.write_applications(source, members, pool, seed)
    bench_import.new_register(db, key)
    timing.run(bench_import.kss(db, key, "import", str(source)))
    source.unlink()
    assert bench_import.admit_all(db, key) == members
    return db, key


def commands(template: Path, db: Path, key: Path, out: Path) -> dict[str, list[str]]:
    """The commands, run on ``db`` (a copy of ``template``)."""
    conn = sqlite3.connect(f"file:{template}?mode=ro&immutable=1", uri=True)
    try:
        member = conn.execute("SELECT member_id FROM members WHERE status = 'member' LIMIT 1").fetchone()[0]
    finally:
        conn.close()
    verify = [str(bench_import.BIN / "kss-panel"), "--db", str(db), "audit", "verify"]  # no key: verification needs none
    return {
        "list --json": bench_import.kss(db, key, "list", "--json"),
        "export disclosure": bench_import.kss(db, key, "export", "disclosure", "panel-mailer", "--purpose", "communication", "--out", str(out)),
        "purge (dry run)": bench_import.kss(db, key, "purge"),
        "audit verify": verify,
        "show MEMBER --json (walks nobody)": bench_import.kss(db, key, "show", member, "--json"),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="members of the small register (default 10000)")
    parser.add_argument("--large", type=int, default=300_000, help="members of the large register (default 300000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command at each size, in turn (default 3)")
    parser.add_argument("--seed", type=int, default=2025, help="seed of the synthetic data (default 2025)")
    parser.add_argument("--dir", type=Path, default=None, help="build the registers here, keep them and reuse them in a later run")
    args, ignored = parser.parse_known_args(argv)
    if ignored:
        print(f"(ignoring arguments meant for other scripts: {' '.join(ignored)})")
    with tempfile.TemporaryDirectory(prefix="kss-panel-bench-memory-") as tmp:
        work = args.dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        templates = {size: build(work, size, args.seed) for size in (args.small, args.large)}
        print(f"registers of {args.small:,} and {args.large:,} admitted members ready in {time.perf_counter() - started:.0f} s"
              " (not measured)", flush=True)
        runs = work / "run"
        runs.mkdir(exist_ok=True)
        copies = {size: (runs / f"register-{size}.db", key) for size, (_, key) in templates.items()}
        argvs = {size: commands(templates[size][0], db, key, runs / f"disclosed-{size}.csv") for size, (db, key) in copies.items()}

        def once(size: int, name: str) -> timing.Run:
            """The command on a fresh copy of the register (the earlier runs' audit entries and disclosures gone)."""
            db = copies[size][0]
            for path in runs.glob("*"):
                path.unlink()
            shutil.copy(templates[size][0], db)
            return timing.run(argvs[size][name])

        print()
        print(f"peak memory and wall time, medians of {args.runs} runs at each size in turn; ratio: large / small, pairwise median")
        print(f"{'command':<36} {'peak MiB':>9} {'peak MiB':>9} {'ratio':>7} {'wall s':>8} {'wall s':>8}")
        print(f"{'':<36} {args.small:>9,} {args.large:>9,} {'':>7} {args.small:>8,} {args.large:>8,}", flush=True)
        for name in argvs[args.small]:
            pairs = timing.alternate(lambda name=name: once(args.large, name), lambda name=name: once(args.small, name), args.runs,
                                     progress=name)
            print(f"{name:<36} {pairs.median('b', 'peak_mib'):9.1f} {pairs.median('a', 'peak_mib'):9.1f} {pairs.ratio('peak_mib'):6.2f}x "
                  f"{pairs.median('b', 'wall'):8.2f} {pairs.median('a', 'wall'):8.2f}", flush=True)
        for path in runs.glob("*"):
            path.unlink()
    print("(target: every walking command's peak at the large size within 10 % of its peak at the small size, ratio <= 1.10x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
