"""Benchmark the nightly purge: dry run and apply, against a raw-SQL floor doing the same work.

Builds a register of N members of whom M are due (applicants who applied
long ago, under the applicant-not-admitted rule; the rest applied last week),
then, alternately R times (default 3), each on a fresh copy of it:

A. `kss-panel purge --apply --expect M` with a purger key file, as cron runs
   it (start-up included): the plan, every due member's row checked against
   the trail, then in batches: the member's rows deleted (lookups,
   disclosures, the member with its wrapped key and box), an erasure row, a
   ledger line, an audit entry each, the batch signed, and the write-ahead
   log wiped after each batch;
B. the floor, a plain script (sqlite3, hashlib and cryptography only, none of
   kss-panel's code) doing the same work in one raw transaction with
   `secure_delete` on: the same queries of whom to notify (none: nobody
   was disclosed), the same deletes (lookup rows by digest, survey
   invitations and draw entries, disclosures, members), the same erasure
   rows and ledger lines (fsynced before the commit), the same audit entries chained with SHA-256 and the last signed
   with Ed25519, then the log wiped once (checkpoint, zeros, fsync). It knows
   the due members beforehand: no plan, no trail checks, no batches.

It prints the median wall and CPU time of each and the median of the
pairwise ratios (target: at most 2x), then the dry run (`kss-panel purge`)
and a second apply (nothing due) on the purged register. The build is not
measured; with --dir it is kept there and reused by a later run of the same
--members and --due.

    .venv/bin/python benchmarks/bench_purge.py                      # 100,000 members, 10,000 due
    .venv/bin/python benchmarks/bench_purge.py --members 5000 --due 500
    .venv/bin/python benchmarks/bench_purge.py --members 5000       # --due defaults to a tenth
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
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

from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timing  # noqa: E402  (alternate runs of a command and its floor)

# kss-panel's own modules are imported where the build needs them, not here: the floor runs this file as its
# own process, and importing them would add their start-up to the floor's time.

ROOT = Path(__file__).resolve().parents[1]
# The command purges as of today, so the register is built relative to today.
NOW = datetime.now(UTC)
TODAY = NOW.astimezone(ZoneInfo("Europe/Helsinki")).date()  # the register's calendar day, as kss_panel.model.local_date
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


def build(db: Path, key: Path, members: int, due: int) -> str:
    """Create the register and the purger's key file; return how it was filled."""
    from kss_panel import crypto
    from kss_panel.policy_files import load_policies
    from kss_panel.services import intake, officers
    from kss_panel.services.session import init_register

    fast_kdf = crypto.KdfParams(salt=b"s" * 16, memory_kib=64, iterations=1, lanes=1)
    policies = load_policies(ROOT / "policies")
    text = crypto.new_key_file_text()
    key.write_text(text)
    cron_secret = crypto.parse_key_file(text)
    with init_register(db, policies, "aino", "correct horse battery", fast_kdf, NOW, unlock_seconds=0.0) as session:
        officers.add_officer(session, "cron", "purger", NOW, key_secret=cron_secret)
        stream = applications(members, due)
        done = 0
        while done < members:
            chunk = [next(stream) for _ in range(min(CHUNK, members - done))]
            intake.import_applications(session, ((done + n + 2, record, []) for n, record in enumerate(chunk)), NOW, report=_refuse)
            done += len(chunk)
            print(f"\r  built {done:,} / {members:,}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    return "intake.import_applications"


def _refuse(line: int, path: str, problem: str) -> None:
    raise SystemExit(f"benchmark data invalid at line {line}: {path}: {problem}")


# --- the floor: the same work in one raw transaction ---------------------------------------------------------


def raw_purge(db: Path, ids_file: Path) -> None:
    """Erase the members listed in ``ids_file`` with plain SQL, as kss-panel's purge does, in one transaction."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    ids = ids_file.read_text().split()
    day, now = TODAY.isoformat(), int(NOW.timestamp())
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("BEGIN IMMEDIATE")
    register_id = conn.execute("SELECT value FROM meta WHERE key = 'register_id'").fetchone()[0]
    pairs = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for member_id, joined in conn.execute(f"SELECT member_id, lookup_digests FROM members WHERE member_id IN ({marks})", chunk):
            pairs += [(joined[i : i + 16], member_id) for i in range(0, len(joined), 16)]
    # Whom to notify of the erasure (Art. 19): the members some recipient received or is still to be told of.
    told: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        told.update(row[0] for row in conn.execute(f"SELECT DISTINCT member_id FROM disclosures WHERE member_id IN ({marks})", chunk))
        told.update(row[0] for row in conn.execute(
            f"SELECT DISTINCT member_id FROM notifications WHERE member_id IN ({marks}) AND sent_on IS NULL", chunk))
    assert not told, "the benchmark's register discloses nobody: the floor writes no notifications"
    conn.executemany("DELETE FROM lookups WHERE digest = ? AND member_id = ?", pairs)
    for table in ("survey_invitations", "draw_entries", "disclosures", "members"):
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            conn.execute(f"DELETE FROM {table} WHERE member_id IN ({', '.join('?' * len(chunk))})", chunk)
    conn.executemany("INSERT INTO erasures (member_id, erased_at, reason, rule) VALUES (?, ?, 'retention', 'applicant-not-admitted')",
                     [(member_id, day) for member_id in ids])
    seq, chain, policy = conn.execute("SELECT seq, hash, policy FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    entries = []
    detail = json.dumps({"reason": "retention", "rule": "applicant-not-admitted"}, sort_keys=True, separators=(",", ":"))
    for member_id in [*ids, None]:
        seq += 1
        action, text = ("erase", detail) if member_id else ("purge", json.dumps({"erased": len(ids)}, separators=(",", ":")))
        canonical = "\n".join((str(seq), str(now), "cron", action, member_id or "", "", policy.hex(), text, ""))
        chain = hashlib.sha256(chain + canonical.encode()).digest()
        entries.append((seq, now, "cron", action, member_id, policy, text, chain[:8]))
    conn.executemany("INSERT INTO audit (seq, at, actor, action, member_id, policy, detail, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", entries)
    message = b"kss-panel" + register_id.encode() + str(seq).encode() + chain
    conn.execute("UPDATE audit SET hash = ?, sig = ? WHERE seq = ?", (chain, Ed25519PrivateKey.generate().sign(message), seq))
    with open(db.with_name(db.name + ".erasures"), "a", encoding="utf-8") as ledger:
        ledger.writelines(f"{day} {member_id} retention\n" for member_id in ids)
        ledger.flush()
        os.fsync(ledger.fileno())
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(RESTART)")
    wal = db.with_name(db.name + "-wal")
    with open(wal, "r+b") as log:
        size = log.seek(0, os.SEEK_END)
        log.seek(0)
        log.write(bytes(size))
        log.flush()
        os.fsync(log.fileno())
    conn.close()


# --- main ---------------------------------------------------------------------------------------------------


def fresh(template: Path, db: Path) -> None:
    """A copy of the template register (and nothing of an earlier run beside it)."""
    for path in db.parent.glob(db.name + "*"):
        path.unlink()
    shutil.copy(template, db)


def erased(db: Path) -> tuple[int, int]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM members").fetchone()[0], conn.execute("SELECT count(*) FROM erasures").fetchone()[0]
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000, help="members in the register (default 100,000)")
    parser.add_argument("--due", type=int, default=None, help="of whom due for erasure (default a tenth of --members)")
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs, apply and floor in turn (default 3)")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a new temporary one, removed after)")
    parser.add_argument("--floor", nargs=2, type=Path, metavar=("DB", "IDS"), help=argparse.SUPPRESS)  # the floor, as its own process
    # run_all.py passes its arguments to every script: ignore another script's options.
    args, ignored = parser.parse_known_args()
    if args.floor:
        raw_purge(*args.floor)
        return
    if ignored:
        print(f"ignoring options meant for other benchmarks: {' '.join(ignored)}", file=sys.stderr)
    if args.due is None:
        args.due = max(1, args.members // 10)
    if not 0 < args.due <= args.members:
        parser.error("need 0 < --due <= --members")
    warnings.simplefilter("ignore")
    work = args.dir or Path(tempfile.mkdtemp(prefix="kss-panel-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    size = f"{args.members}-{args.due}"
    template, key, db, ids_file = work / f"template-{size}.db", work / f"cron-{size}.key", work / "run" / "register.db", work / "due.txt"
    db.parent.mkdir(exist_ok=True)
    try:
        print(f"kss-panel purge benchmark: {args.members:,} members, {args.due:,} due, {args.runs} runs of each in turn")
        if args.dir is not None and template.exists() and key.exists():
            # Built by an earlier run with the same --dir: the due applied 200 days before that day, the rest 10.
            print(f"reusing {template} ({template.stat().st_size / 1e6:.1f} MB)", flush=True)
        else:
            for path in (*work.glob(template.name + "*"), key):
                path.unlink(missing_ok=True)
            started = time.perf_counter()
            how = build(template, key, args.members, args.due)
            print(f"build (not measured): {time.perf_counter() - started:.1f} s via {how}; register {template.stat().st_size / 1e6:.1f} MB",
                  flush=True)
        kss = [str(Path(sys.executable).parent / "kss-panel"), "--db", str(db), "--policies", str(ROOT / "policies")]
        fresh(template, db)
        plan = json.loads(timing.run([*kss, "purge", "--json", "--key-file", str(key)]).stdout)["data"]
        ids_file.write_text("\n".join(member_id for rule in plan["rules"] for member_id in rule["member_ids"]) + "\n")
        assert plan["total"] == args.due, plan["total"]

        def apply() -> timing.Run:
            fresh(template, db)
            done = timing.run([*kss, "purge", "--apply", "--quiet", "--expect", str(args.due), "--key-file", str(key)])
            assert erased(db) == (args.members - args.due, args.due)
            return done

        def floor() -> timing.Run:
            fresh(template, db)
            done = timing.run([sys.executable, __file__, "--floor", str(db), str(ids_file)])
            assert erased(db) == (args.members - args.due, args.due)
            return done

        pairs = timing.alternate(apply, floor, args.runs, progress="purge")
        fresh(template, db)
        dry = timing.run([*kss, "purge", "--quiet", "--key-file", str(key)])
        timing.run([*kss, "purge", "--apply", "--quiet", "--expect", str(args.due), "--key-file", str(key)])
        again = timing.run([*kss, "purge", "--apply", "--quiet", "--key-file", str(key)])
        print()
        print(timing.HEADER)
        print(timing.row("kss-panel purge --apply", pairs, "a"))
        print(timing.row("floor: the same work, raw SQL, one transaction", pairs, "b"))
        print(timing.ratio_row("ratio purge --apply / floor (pairwise median)", pairs, "wall <= 2x", peak=False))
        print(f"{'kss-panel purge (dry run)':<46} {dry.wall:9.2f} {dry.cpu:9.2f} {dry.peak_mib:9.0f}")
        print(f"{'kss-panel purge --apply, nothing due':<46} {again.wall:9.2f} {again.cpu:9.2f} {again.peak_mib:9.0f}")
        per = pairs.median("a", "wall") / args.due * 1e3
        print(f"\napply: {per:.3f} ms per member erased; floor {pairs.median('b', 'wall') / args.due * 1e3:.3f} ms")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
