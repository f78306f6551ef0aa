"""Memory of the commands that walk every member, against the register's size: flat, or not.

    python benchmarks/bench_memory.py [--small N] [--large M] [--seed S]

Builds two registers from bench_import.py's synthetic applications, of N
(default 10,000) and M (default 300,000) members (`kss-panel import`, every
member then admitted through the services; not measured), then runs each
command below as its own process on each register and prints its peak
resident memory (GNU time's maximum resident set size, or getrusage) and wall
time at both sizes, and the ratio of the peaks:

- `kss-panel list --json` (the document written as the rows come);
- `kss-panel export disclosure panel-mailer --purpose communication --out F`;
- `kss-panel purge` (a dry run: the plan, every due member checked);
- `kss-panel audit verify` (the chain and every row against it);
- `kss-panel show MEMBER --json`, which walks nobody: the yardstick.

The target is a peak at M members within 10 % of the peak at N. A plain
script, not a timed test: it fails only if something is broken.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import  # noqa: E402
import timing  # noqa: E402

from kss_panel.policy_files import load_policies  # noqa: E402
from kss_panel.record import RecordSchema  # noqa: E402


def build(work: Path, members: int, pool: list[bench_import.Person], seed: int) -> tuple[Path, Path]:
    db, key, source = work / f"register-{members}.db", work / f"register-{members}.key", work / f"applications-{members}.csv"
    bench_import.write_applications(source, members, pool, seed)
    bench_import.new_register(db, key)
    timing.run(bench_import.kss(db, key, "import", str(source)))
    source.unlink()
    assert bench_import.admit_all(db, key) == members
    return db, key


def commands(db: Path, key: Path, work: Path) -> dict[str, list[str]]:
    out = work / f"{db.stem}-disclosed.csv"
    out.unlink(missing_ok=True)
    member = json.loads(timing.run(bench_import.kss(db, key, "list", "--status", "member", "--json")).stdout)["data"][0]["member_id"]
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
    parser.add_argument("--seed", type=int, default=2025, help="seed of the synthetic data (default 2025)")
    args, ignored = parser.parse_known_args(argv)
    if ignored:
        print(f"(ignoring arguments meant for other scripts: {' '.join(ignored)})")
    with tempfile.TemporaryDirectory(prefix="kss-panel-bench-memory-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        pool, _ = bench_import.person_pool(args.seed, RecordSchema(load_policies(bench_import.POLICIES)))
        small, large = build(work, args.small, pool, args.seed), build(work, args.large, pool, args.seed)
        print(f"built registers of {args.small:,} and {args.large:,} admitted members in {time.perf_counter() - started:.0f} s"
              " (not measured)", flush=True)
        at_small, at_large = commands(*small, work), commands(*large, work)
        print()
        print(f"{'command':<36} {'peak MiB':>9} {'peak MiB':>9} {'ratio':>7} {'wall s':>8} {'wall s':>8}")
        print(f"{'':<36} {args.small:>9,} {args.large:>9,} {'':>7} {args.small:>8,} {args.large:>8,}")
        for name in at_small:
            a, b = timing.run(at_small[name]), timing.run(at_large[name])
            print(f"{name:<36} {a.peak_mib:9.1f} {b.peak_mib:9.1f} {b.peak_mib / a.peak_mib:6.2f}x {a.wall:8.2f} {b.wall:8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
