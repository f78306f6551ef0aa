"""A stratified survey sample against `list --json` on the same register, and its memory against the register's size.

    python benchmarks/bench_surveys.py [--members N] [--size S] [--runs R] [--seed X] [--dir DIR]

1. Builds a register of N admitted members (default 100,000) from
   bench_import.py's synthetic applications (`kss-panel import`, then every
   applicant admitted through the services; not what is measured), and a
   second one of a quarter of them, and creates a survey in each.
2. Times `survey sample … --apply --out FILE` once on the large register, for
   another survey (the invitation list written, S invitations and
   disclosure-log entries), so that the runs below look up every member's
   rest period and leave those S members out.
3. Runs, alternately R times (default 5) on the large register, each as a
   subprocess unlocked with an officer-role key file:
   - `kss-panel list --json` (the baseline: every member's plain columns);
   - `kss-panel survey sample bench --size S --strata demographics.gender,demographics.birth_year:1960,1975,1990 --json`
     (default S = 1,000; a dry run: every admitted member's record opened for
     its two strata fields, the sample drawn, audited);
   and prints the median wall time, CPU time and peak memory (maximum
   resident set size) of each, and the median of the pairwise ratios
   (target: wall time at most 2x).
4. Prints the peak memory of the same sample on the quarter-sized register:
   flat in the register's size means about the same figure.

With --dir the registers are built there (and kept, and reused by a later
run with the same --dir and --members), else in a temporary directory.
A plain script, not a timed test: it fails only if something is broken.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import  # noqa: E402  (the synthetic applications, the register set-up and the measurement)
import timing  # noqa: E402  (alternate runs of a command and its baseline)

from kss_panel.policy_files import load_policies  # noqa: E402
from kss_panel.record import RecordSchema  # noqa: E402

STRATA = "demographics.gender,demographics.birth_year:1960,1975,1990"


def build(workdir: Path, rows: int, seed: int, label: str) -> tuple[Path, Path]:
    """A register of ``rows`` admitted members with a survey named bench (reused when ``workdir`` has it)."""
    db, key = workdir / f"{label}.db", workdir / f"{label}.key"
    if db.exists() and key.exists():
        return db, key
    pool, _ = bench_import.person_pool(seed, RecordSchema(load_policies(bench_import.POLICIES)))
    csv_path = workdir / f"{label}.csv"
    bench_import.write_applications(csv_path, rows, pool, seed)
    print(f"building {label}: {rows:,} members ...", file=sys.stderr)
    _, db, key = bench_import.bench_import(workdir, csv_path, rows, label)
    bench_import.admit_all(db, key)
    csv_path.unlink()
    bench_import.measure(bench_import.kss(db, key, "survey", "create", "bench", "--title", "Benchmark"), workdir)
    return db, key


def sample_argv(db: Path, key: Path, size: int, *more: str, survey: str = "bench") -> list[str]:
    return bench_import.kss(db, key, "survey", "sample", survey, "--size", str(size), "--strata", STRATA, "--json", *more)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="admitted members in the large register (default 100000)")
    parser.add_argument("--size", type=int, default=1000, help="the sample's size (default 1000)")
    parser.add_argument("--runs", type=int, default=5, help="alternate runs of each command (default 5)")
    parser.add_argument("--seed", type=int, default=2025, help="seed of the synthetic data (default 2025)")
    parser.add_argument("--dir", type=Path, default=None, help="build (and keep) the registers here")
    args, _ = parser.parse_known_args(argv)  # run_all.py passes every script the same arguments
    with tempfile.TemporaryDirectory(prefix="kss-bench-surveys-") as temporary:
        workdir = args.dir or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        large = build(workdir, args.members, args.seed, f"large-{args.members}")
        small = build(workdir, args.members // 4, args.seed, f"small-{args.members // 4}")
        # An earlier survey's invitations, so the runs below look up every member's rest period.
        survey = f"earlier-{time.time_ns()}"
        bench_import.measure(bench_import.kss(*large, "survey", "create", survey, "--title", "Earlier"), workdir)
        earlier = min(args.size, args.members // 2)
        applied = bench_import.measure(sample_argv(*large, earlier, "--apply", "--out", str(workdir / f"{survey}.csv"), survey=survey), workdir)
        if json.loads(applied.stdout)["data"]["invited"] != earlier:
            raise SystemExit("the applied sample invited an unexpected number of members")
        env = bench_import.clean_env()
        pairs = timing.alternate(lambda: timing.run(sample_argv(*large, args.size), env=env),
                                 lambda: timing.run(bench_import.kss(*large, "list", "--json"), env=env), args.runs, progress="survey sample")
        drawn = json.loads(pairs.a[-1].stdout)["data"]
        if drawn["to_draw"] != min(args.size, drawn["eligible"]) or not drawn["excluded"]["resting"]:
            raise SystemExit(f"unexpected sample: {drawn['to_draw']} drawn of {drawn['eligible']} eligible")
        quarter = timing.run(sample_argv(*small, args.size), env=env)
    print(f"register of {args.members:,} admitted members, sample of {args.size:,} in {len(drawn['strata'])} strata"
          f" (2 fields), medians of {args.runs} alternate runs")
    print(timing.HEADER)
    print(timing.row("survey sample (dry run)", pairs, "a"))
    print(timing.row("list --json (baseline)", pairs, "b"))
    print(timing.ratio_row("ratio sample / list (pairwise median)", pairs, "wall <= 2x"))
    print(f"{f'survey sample, {args.members // 4:,} members':<46} {quarter.wall:9.2f} {quarter.cpu:9.2f} {quarter.peak_mib:9.0f}")
    print(f"{'survey sample --apply --out (another survey)':<46} {applied.seconds:9.2f} {'':>9} {applied.peak_mb:9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
