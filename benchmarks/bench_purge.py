"""Benchmark the nightly purge: dry run, apply, and a raw SQL delete as the floor.

Builds a register of N members of whom M are due (applicants who applied
long ago, under the applicant-not-admitted rule; the rest applied last week),
then, in the same run:

1. dry run: ``lifecycle.plan_purge`` (reads plain columns only);
2. apply: ``lifecycle.purge`` with a purger key (crypto-shred, delete, ledger
   and an audit entry per member, in batches);
3. on a copy of the register made before the apply, a raw SQL delete of the
   same M members' rows (lookups, members) with
   ``PRAGMA secure_delete=ON`` in one transaction: the floor the apply is
   compared with.

The build is timed separately; it is not what is measured.

    .venv/bin/python benchmarks/bench_purge.py                      # 100,000 members, 10,000 due
    .venv/bin/python benchmarks/bench_purge.py --members 5000 --due 500
    .venv/bin/python benchmarks/bench_purge.py --members 5000       # --due defaults to a tenth
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from kss_panel import crypto, keyslots
from kss_panel.services import intake, lifecycle, officers
from kss_panel.services.session import init_register, unlock
from kss_panel.policy_files import load_policies

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # noon UTC: the same day in Helsinki
TODAY = date(2026, 6, 15)
FAST_KDF = crypto.KdfParams(salt=b"s" * 16, memory_kib=64, iterations=1, lanes=1)
CHUNK = 2000


def application(i: int, applied_at: date) -> dict[str, Any]:
    """A full, valid, unique application (every category filled)."""
    return {
        "customer_number": f"{10_000_000 + i}",
        "contact": {
            "first_name": "Aino",
            "last_name": "Mäkelä",
            "email": f"member{i}@example.fi",
            "phone": f"+35840{1_000_000 + i}",
            "street_address": f"Hovioikeudenkatu {i % 200 + 1}",
            "postal_code": "45100",
            "city": "Kouvola",
            "language": ("fi", "sv", "en")[i % 3],
        },
        "demographics": {"birth_year": 1950 + i % 50, "gender": "undisclosed", "household_size": 1 + i % 5, "dwelling_type": "detached"},
        "electricity": {"annual_consumption_kwh": 5000 + i % 20000, "heating": "heat_pump", "has_solar_panels": i % 2 == 0, "has_electric_vehicle": i % 3 == 0},
        "hobbies": ["sauna", "fishing"][: 1 + i % 2],
        "attitudes": {"environment": 1 + i % 5, "price_sensitivity": 1 + (i // 5) % 5},
        "consents": {"email_marketing": i % 2 == 0, "sms_marketing": False, "partner_marketing": False},
        "applied_at": applied_at.isoformat(),
    }


def applications(members: int, due: int) -> Iterator[dict[str, Any]]:
    """``due`` applicants who applied 200 days ago (due), then the rest 10 days ago (not due)."""
    for i in range(members):
        yield application(i, TODAY - timedelta(days=200 if i < due else 10))


def build(db: Path, members: int, due: int) -> tuple[bytes, str]:
    """Create the register; return the purger key secret and how it was filled."""
    policies = load_policies(ROOT / "policies")
    cron_secret = crypto.parse_key_file(crypto.new_key_file_text())
    with init_register(db, policies, "aino", "correct horse battery", FAST_KDF, NOW, unlock_seconds=0.0) as session:
        officers.add_officer(session, "cron", "purger", NOW, key_secret=cron_secret)
        stream = applications(members, due)
        done = 0
        while done < members:
            chunk = [next(stream) for _ in range(min(CHUNK, members - done))]
            intake.import_applications(session, ((done + n + 2, record, []) for n, record in enumerate(chunk)), NOW, report=_refuse)
            done += len(chunk)
            print(f"\r  built {done:,} / {members:,}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    return cron_secret, "intake.import_applications"


def _refuse(line: int, path: str, problem: str) -> None:
    raise SystemExit(f"benchmark data invalid at line {line}: {path}: {problem}")


def raw_delete(db: Path, member_ids: list[str]) -> tuple[float, int]:
    """Delete these members' rows with plain SQL (secure_delete on), in one transaction."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        params = [(member_id,) for member_id in member_ids]
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TEMP TABLE gone (member_id TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO gone VALUES (?)", params)
        conn.execute("DELETE FROM lookups WHERE member_id IN (SELECT member_id FROM gone)")
        conn.execute("DELETE FROM members WHERE member_id IN (SELECT member_id FROM gone)")
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        left = conn.execute("SELECT count(*) FROM members").fetchone()[0]
    finally:
        conn.close()
    return elapsed, int(left)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000, help="members in the register (default 100,000)")
    parser.add_argument("--due", type=int, default=None, help="of whom due for erasure (default a tenth of --members)")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a new temporary one, removed after)")
    # run_all.py passes its arguments to every script: ignore another script's options.
    args, ignored = parser.parse_known_args()
    if ignored:
        print(f"ignoring options meant for other benchmarks: {' '.join(ignored)}", file=sys.stderr)
    if args.due is None:
        args.due = max(1, args.members // 10)
    if not 0 < args.due <= args.members:
        parser.error("need 0 < --due <= --members")
    warnings.simplefilter("ignore")

    work = args.dir or Path(tempfile.mkdtemp(prefix="kss-panel-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db, copy = work / "register.db", work / "register-raw.db"
    for path in (db, copy, work / "register.db.erasures"):
        path.unlink(missing_ok=True)
    try:
        print(f"kss-panel purge benchmark: {args.members:,} members, {args.due:,} due")
        started = time.perf_counter()
        cron_secret, how = build(db, args.members, args.due)
        build_seconds = time.perf_counter() - started
        size = db.stat().st_size
        shutil.copy(db, copy)  # identical register for the raw delete, made before the apply

        policies = load_policies(ROOT / "policies")
        with unlock(db, policies, keyslots.Credentials(key_secret=cron_secret)) as session:
            assert session.role == "purger"
            started = time.perf_counter()
            plan = lifecycle.plan_purge(session, TODAY)
            dry_seconds = time.perf_counter() - started
            assert plan.total == args.due, (plan.total, args.due)
            due_ids = [member_id for ids in plan.due.values() for member_id in ids]

            started = time.perf_counter()
            applied = lifecycle.purge(session, NOW, expect=args.due)  # over the guard's share: confirmed, as an officer would
            apply_seconds = time.perf_counter() - started
            assert applied.total == args.due

            started = time.perf_counter()
            again = lifecycle.purge(session, NOW)
            noop_seconds = time.perf_counter() - started
            assert again.total == 0
        conn = sqlite3.connect(db)
        try:
            left = conn.execute("SELECT count(*) FROM members").fetchone()[0]
            erased = conn.execute("SELECT count(*) FROM erasures").fetchone()[0]
        finally:
            conn.close()
        assert (left, erased) == (args.members - args.due, args.due), (left, erased)

        raw_seconds, raw_left = raw_delete(copy, due_ids)
        assert raw_left == args.members - args.due

        print(f"build (not measured)              {build_seconds:9.2f} s   via {how}; register {size / 1e6:.1f} MB")
        print(f"dry run (plan_purge)              {dry_seconds:9.3f} s")
        print(f"apply (purge, purger key)         {apply_seconds:9.3f} s   {apply_seconds / args.due * 1e3:.3f} ms per member")
        print(f"second apply (nothing due)        {noop_seconds:9.3f} s")
        print(f"raw SQL delete (secure_delete)    {raw_seconds:9.3f} s   {raw_seconds / args.due * 1e3:.3f} ms per member")
        print(f"ratio apply / raw                 {apply_seconds / raw_seconds:9.2f} x")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
