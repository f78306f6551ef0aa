"""What accountability costs: consent receipts at import, the re-consent list, Art. 19 notifications and the breach register.

    python benchmarks/bench_accountability.py [--members N] [--runs R] [--seed S]

On N synthetic applications from bench_import.py's generator (default 20,000),
each pair run alternately R times (default 3), medians and their ratio:

1. `import` of the applications (about 60 % give email marketing, 30 % SMS,
   20 % partner marketing: each such member gets a receipt box) against the
   same file with every consent "false" (no receipt): what receipts add to an
   import, in time and in bytes per member.
2. `list --consent-outdated email_marketing` (after the policy's wording
   changed, so every holder is listed: each member's consents and receipts
   decrypted) against `list --names` (each member's contact decrypted): the
   same walk, the same audited read of every member.
3. `notify export direct-marketing` of a rectification of every member
   disclosed to it (each record decrypted, the new values of the fields it
   received written, the notifications marked sent) against `export
   disclosure direct-marketing --purpose marketing` of the same members (each
   record decrypted, the recipient's fields written, the log written), each
   on a fresh copy of the register.
4. `breach affected --recipient direct-marketing --from --to` (the members
   disclosed in the window, recorded with their fields) against its floor: the
   same query and the same rows inserted with plain sqlite3 in one
   transaction.
5. `purge --apply` erasing every member (all inactive for 24 months) with the
   disclosure log in place (an erasure notification per recipient that
   received the member) against the same purge with the log emptied first: the
   cost of keeping what the notifications need.

A plain script, not a timed test: it fails only if something is broken.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import  # noqa: E402  (the synthetic applications and the register set-up)

from kss_panel import crypto, keyslots  # noqa: E402
from kss_panel.policy_files import load_policies  # noqa: E402
from kss_panel.record import RecordSchema  # noqa: E402
from kss_panel.services import records  # noqa: E402
from kss_panel.services.session import unlock  # noqa: E402

PURGE_AT = datetime(2027, 7, 1, 12, 0, tzinfo=UTC)  # every member admitted on bench_import.NOW is 24 months inactive

OLD_TEXT = "by email. I may withdraw my consent at any time."
NEW_TEXT = "by email, at most twice a month. I may withdraw my consent at any time."


def run(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def kss(db: Path, key: Path, policies: Path, *args: str) -> list[str]:
    return [str(bench_import.BIN / "kss-panel"), "--db", str(db), "--policies", str(policies), *args, "--key-file", str(key)]


def alternate(runs: int, first: Callable[[int], float], second: Callable[[int], float]) -> tuple[float, float]:
    """Medians of ``first`` and ``second`` run one after the other ``runs`` times (the machine's drift hits both)."""
    a, b = [], []
    for n in range(runs):
        a.append(first(n))
        b.append(second(n))
    return statistics.median(a), statistics.median(b)


def without_consents(source: Path, target: Path) -> None:
    with open(source, encoding="utf-8", newline="") as src, open(target, "w", encoding="utf-8", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
        header = next(reader)
        writer.writerow(header)
        consents = [i for i, name in enumerate(header) if name.startswith("consents.")]
        for row in reader:
            writer.writerow(["false" if i in consents else cell for i, cell in enumerate(row)])


def bench_imports(work: Path, with_file: Path, without_file: Path, members: int, runs: int) -> dict[str, float]:
    sizes: dict[str, float] = {}

    def once(label: str, path: Path, n: int) -> float:
        db, key = work / f"{label}-{n}.db", work / f"{label}-{n}.key"
        bench_import.new_register(db, key)
        seconds, out = run(kss(db, key, bench_import.POLICIES, "import", str(path)))
        assert out.startswith(f"{members} applicants imported"), out
        sizes[label] = db.stat().st_size / members
        conn = sqlite3.connect(db)
        sizes[f"box_{label}"] = (conn.execute("SELECT coalesce(sum(length(receipts)), 0) FROM members").fetchone()[0] or 0) / members
        conn.close()
        if n:
            db.unlink()
        return seconds

    receipts, plain = alternate(runs, lambda n: once("receipts", with_file, n), lambda n: once("plain", without_file, n))
    return {"receipts": receipts, "plain": plain, "bytes_receipts": sizes["receipts"], "bytes_plain": sizes["plain"], "box": sizes["box_receipts"]}


def edited_policies(work: Path) -> Path:
    directory = work / "policies"
    shutil.copytree(bench_import.POLICIES, directory)
    register = directory / "register.yaml"
    text = register.read_text(encoding="utf-8")
    assert text.count(OLD_TEXT) == 1
    register.write_text(text.replace(OLD_TEXT, NEW_TEXT), encoding="utf-8")
    return directory


def rectify_everyone_disclosed(db: Path, key: Path, work: Path) -> int:
    """A self-service change of city for every member disclosed to direct-marketing: a pending rectification each."""
    conn = sqlite3.connect(db)
    ids = [m for (m,) in conn.execute("SELECT DISTINCT member_id FROM disclosures WHERE recipient = 'direct-marketing'")]
    conn.close()
    path = work / "changes.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["member_id", "contact.city"])
        writer.writerows([member_id, "Kotka"] for member_id in ids)
    run(kss(db, key, bench_import.POLICIES, "import", str(path), "--updates"))
    return len(ids)


def floor_affected(db: Path, first: str, last: str) -> float:
    """The breach's query and its rows, with plain sqlite3, in one transaction (rolled back)."""
    conn = sqlite3.connect(db, isolation_level=None)
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    found: dict[str, set[str]] = {}
    for member_id, fields in conn.execute(
        "SELECT member_id, fields FROM disclosures WHERE recipient = 'direct-marketing' AND disclosed_on BETWEEN ? AND ?", (first, last)
    ):
        found.setdefault(member_id, set()).update(json.loads(fields))
    conn.executemany("INSERT INTO breach_members (breach_id, member_id, fields, sources, added_on) VALUES (999999, ?, ?, '[\"x\"]', ?)",
                     [(m, json.dumps(sorted(f)), first) for m, f in found.items()])
    conn.execute("ROLLBACK")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def copy_of(db: Path, name: str) -> Path:
    target = db.with_name(name)
    for suffix in ("", "-wal", "-shm"):
        if Path(str(target) + suffix).exists():
            Path(str(target) + suffix).unlink()
    shutil.copy(db, target)
    return target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000, help="applications (default 20000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side (default 3)")
    parser.add_argument("--seed", type=int, default=2025)
    args, ignored = parser.parse_known_args(argv)
    if ignored:
        print(f"(ignoring arguments meant for other scripts: {' '.join(ignored)})")
    n, runs = args.members, args.runs
    with tempfile.TemporaryDirectory(prefix="kss-panel-bench-accountability-") as tmp:
        work = Path(tmp)
        pool, _ = bench_import.person_pool(args.seed, RecordSchema(load_policies(bench_import.POLICIES)))
        with_file, without_file = work / "applications.csv", work / "no-consents.csv"
        bench_import.write_applications(with_file, n, pool, args.seed)
        without_consents(with_file, without_file)
        print(f"1/5 import of {n:,} applications, with and without consents ...", file=sys.stderr, flush=True)
        imports = bench_imports(work, with_file, without_file, n, runs)

        db, key = work / "receipts-0.db", work / "receipts-0.key"
        admitted = bench_import.admit_all(db, key)
        policies = edited_policies(work)
        run(kss(db, key, bench_import.POLICIES, "export", "disclosure", "direct-marketing", "--purpose", "marketing", "--out", str(work / "dm.csv")))
        print("2/5 list --consent-outdated against list --names ...", file=sys.stderr, flush=True)
        outdated, names = alternate(runs, lambda _: run(kss(db, key, policies, "list", "--consent-outdated", "email_marketing", "--json"))[0],
                                    lambda _: run(kss(db, key, policies, "list", "--names", "--json"))[0])
        listed = len(json.loads(run(kss(db, key, policies, "list", "--consent-outdated", "email_marketing", "--json"))[1])["data"])

        rectified = rectify_everyone_disclosed(db, key, work)
        print(f"3/5 notify export of {rectified:,} rectifications against export disclosure ...", file=sys.stderr, flush=True)
        notify, disclose = alternate(
            runs,
            lambda i: run(kss(copy_of(db, f"notify-{i}.db"), key, bench_import.POLICIES, "notify", "export", "direct-marketing",
                              "--out", str(work / f"notify-{i}.json")))[0],
            lambda i: run(kss(copy_of(db, f"disclose-{i}.db"), key, bench_import.POLICIES, "export", "disclosure", "direct-marketing",
                              "--purpose", "marketing", "--out", str(work / f"disclose-{i}.csv")))[0],
        )

        print("4/5 breach affected against its floor ...", file=sys.stderr, flush=True)
        conn = sqlite3.connect(db)
        day = conn.execute("SELECT min(disclosed_on) FROM disclosures").fetchone()[0]  # the wall clock's day of the export
        conn.close()

        def affected_once(i: int) -> float:
            run(kss(db, key, bench_import.POLICIES, "breach", "open", "--title", f"bench {i}", "--discovered", "2025-06-02T08:00"))
            return run(kss(db, key, bench_import.POLICIES, "breach", "affected", str(i + 1), "--recipient", "direct-marketing",
                           "--from", day, "--to", day, "--json"))[0]

        affected, floor = alternate(runs, affected_once, lambda _: floor_affected(db, day, day))
        startup = statistics.median(run(kss(db, key, bench_import.POLICIES, "breach", "list", "--json"))[0] for _ in range(runs))

        print("5/5 purge of every member, with and without the disclosure log ...", file=sys.stderr, flush=True)
        secret = crypto.parse_key_file(key.read_text())

        def purge(i: int, keep_log: bool) -> float:
            """In-process (the purge must run years later than the wall clock: services take the instant)."""
            copy = copy_of(db, f"purge-{'log' if keep_log else 'nolog'}-{i}.db")
            if not keep_log:
                conn = sqlite3.connect(copy)
                with conn:
                    conn.execute("DELETE FROM disclosures")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # both sides start from a file with an empty log
                conn.close()
            started = time.perf_counter()
            with unlock(copy, load_policies(bench_import.POLICIES), keyslots.Credentials(key_secret=secret), now=PURGE_AT) as session:
                plan, _ = records.purge(session, PURGE_AT, apply=True, expect=admitted)
            assert plan.total == admitted, plan.total
            return time.perf_counter() - started

        with_log, without_log = alternate(runs, lambda i: purge(i, True), lambda i: purge(i, False))
        notified = sqlite3.connect(work / "purge-log-0.db").execute("SELECT count(*) FROM notifications WHERE event = 'erased'").fetchone()[0]

    print()
    print(f"{'work':<62} {'kss-panel s':>11} {'baseline s':>10} {'ratio':>6}")
    print(f"{f'import {n:,} rows with consents / the same without':<62} {imports['receipts']:>11.2f} {imports['plain']:>10.2f} "
          f"{imports['receipts'] / imports['plain']:>5.2f}x")
    print(f"{f'list --consent-outdated ({listed:,} listed) / list --names':<62} {outdated:>11.2f} {names:>10.2f} {outdated / names:>5.2f}x")
    print(f"{f'notify export ({rectified:,} rectified) / export disclosure':<62} {notify:>11.2f} {disclose:>10.2f} {notify / disclose:>5.2f}x")
    print(f"{'breach affected --recipient (the command) / sqlite3 floor':<62} {affected:>11.2f} {floor:>10.2f} {affected / floor:>5.1f}x")
    print(f"{'  the same less start-up (breach list as start-up)':<62} {affected - startup:>11.2f} {floor:>10.2f} "
          f"{(affected - startup) / floor:>5.1f}x")
    print(f"{f'purge --apply of {admitted:,} with the log ({notified:,} notified) / empty log':<62} {with_log:>11.2f} {without_log:>10.2f} "
          f"{with_log / without_log:>5.2f}x")
    print()
    print(f"register after import: {imports['bytes_receipts']:,.0f} bytes per member with receipts, {imports['bytes_plain']:,.0f} without "
          f"(+{imports['bytes_receipts'] - imports['bytes_plain']:,.0f}); the receipt boxes hold {imports['box']:,.0f} bytes per member")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
