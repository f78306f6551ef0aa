"""Key rotation, audit verification and reads beside a long import, on a large register.

    python benchmarks/bench_keys.py [--members N] [--commands K] [--runs R] [--import-rows M] [--seed S]

1. Builds a register of N members (default 100,000) from bench_import.py's
   synthetic applications (`kss-panel import`, not what is measured), then
   appends K single-entry commands (default 2,000 `show`s through the
   services), each its own transaction and so its own signature.
2. `audit verify`, in-process and with no key: entries per second of the
   chain walk alone (SHA-256 chain, every command's Ed25519 signature, the
   slots' history) and of the whole check (the walk, then every member's and
   slot's row against it); the floor is a plain loop that reads the same
   rows and hashes each into a SHA-256 chain; the check and the floor run in
   turn R times, medians. Also `kss-panel audit verify` as a command (wall
   time, start-up included).
3. `kss-panel key rotate` (a subprocess, wall time) against its floor, a
   plain script doing the same cryptography (a new data key; each member's
   DEK unwrapped and replaced, the box opened and sealed again) and the same
   row updates in one transaction with nothing else: no trail, no digests,
   no grants. The two run alternately, R times each (default 2).
4. Reads beside a long write: the wall time of `kss-panel show` alone, and
   while `kss-panel import` of M rows (default 20,000) runs into the same
   register.

A plain script, not a timed test: it fails only if something is broken.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import  # noqa: E402  (the synthetic applications and the register set-up)

from kss_panel import crypto, keyslots  # noqa: E402
from kss_panel.policy_files import load_policies  # noqa: E402
from kss_panel.record import RecordSchema  # noqa: E402
from kss_panel.services import members  # noqa: E402
from kss_panel.services.session import unlock  # noqa: E402
from kss_panel.storage import Store  # noqa: E402

NOW = bench_import.NOW


def build(workdir: Path, rows: int, commands: int, seed: int) -> tuple[Path, Path]:
    pool, _ = bench_import.person_pool(seed, RecordSchema(load_policies(bench_import.POLICIES)))
    csv_path = workdir / "applications.csv"
    bench_import.write_applications(csv_path, rows, pool, seed)
    db, key = workdir / "register.db", workdir / "register.key"
    bench_import.new_register(db, key)
    started = time.perf_counter()
    done = subprocess.run(bench_import.kss(db, key, "import", str(csv_path)), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    print(f"built a register of {rows:,} members in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    credentials = keyslots.Credentials(key_secret=crypto.parse_key_file(key.read_text()))
    with unlock(db, load_policies(bench_import.POLICIES), credentials, now=NOW) as session:
        ids = [row["member_id"] for _, row in zip(range(commands), session.store.iter_members(), strict=False)]
        for member_id in ids:
            members.show(session, member_id, NOW)
    return db, key


def floor_hash(db: Path) -> tuple[float, int]:
    """Read every entry and chain it with SHA-256, nothing else: what verification cannot go below."""
    conn = sqlite3.connect(db)
    started = time.perf_counter()
    chain, count = b"", 0
    sha = hashlib.sha256
    for row in conn.execute("SELECT seq, at, actor, action, member_id, fields, policy, detail, state, hash, sig, mac FROM audit ORDER BY seq"):
        chain = sha(chain + repr(row).encode()).digest()
        count += 1
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, count


def verify_in_process(db: Path) -> tuple[float, float, int]:
    store = Store.open(db)
    try:
        register_id = store.meta("register_id") or ""
        with store.read():
            started = time.perf_counter()
            # As `audit verify` walks it: no dictionary of every member's state (states=False), signatures past
            # the first 512 checked by a second process.
            trail = store.walk_trail(register_id)
            walk = time.perf_counter() - started
            started = time.perf_counter()
            store.verify_trail(register_id)
            whole = time.perf_counter() - started
    finally:
        store.close()
    return walk, whole, trail.head.seq


def floor_rotate(db: Path, key: Path) -> float:
    """The same cryptography and row updates as a rotation, with nothing else, in one transaction."""
    credentials = keyslots.Credentials(key_secret=crypto.parse_key_file(key.read_text()))
    with unlock(db, load_policies(bench_import.POLICIES), credentials, now=NOW) as session:
        old, register_id = session.keys.data, session.register_id
    assert old is not None
    conn = sqlite3.connect(db, isolation_level=None)
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    old_aead, new_aead = AESGCM(old), AESGCM(os.urandom(32))
    updates = []
    for member_id, wrapped, box in conn.execute("SELECT member_id, wrapped_dek, box FROM members"):
        ad = crypto.associated_data("dek", register_id, member_id)
        dek = old_aead.decrypt(wrapped[1:13], wrapped[13:], ad)
        fresh = os.urandom(32)
        record_ad = crypto.associated_data("record", register_id, member_id)
        plain = AESGCM(dek[:32]).decrypt(box[1:13], box[13:], record_ad)
        nonce = os.urandom(12)
        updates.append((b"\x02" + nonce + new_aead.encrypt(nonce, fresh, ad), b"\x02" + nonce + AESGCM(fresh).encrypt(nonce, plain, record_ad), member_id))
    conn.executemany("UPDATE members SET wrapped_dek = ?, box = ? WHERE member_id = ?", updates)
    conn.execute("ROLLBACK")  # the floor must not change the register the next rotation runs on
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{done.stderr}")
    return time.perf_counter() - started


def reads_beside_an_import(workdir: Path, db: Path, key: Path, rows: int, seed: int) -> tuple[float, float, int]:
    pool, _ = bench_import.person_pool(seed + 7, RecordSchema(load_policies(bench_import.POLICIES)))
    csv_path = workdir / "more.csv"
    bench_import.write_applications(csv_path, rows, pool, seed + 7)
    text = csv_path.read_text().replace("\n1", "\n9", -1)  # other customer numbers, emails and phones than the register's
    csv_path.write_text(text.replace("@example.fi", "@example.com").replace(",+35840", ",+35850"))
    member_id = sqlite3.connect(db).execute("SELECT member_id FROM members LIMIT 1").fetchone()[0]
    show = bench_import.kss(db, key, "show", member_id, "--json")
    alone = statistics.median(timed(show) for _ in range(5))
    importer = subprocess.Popen(bench_import.kss(db, key, "import", str(csv_path)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    beside = []
    while importer.poll() is None and len(beside) < 20:
        beside.append(timed(show))
    out, err = importer.communicate()
    if importer.returncode != 0:
        raise SystemExit(f"the import beside the reads failed ({importer.returncode}):\n{out.decode(errors='replace')[-1000:]}"
                         f"{err.decode(errors='replace')[-2000:]}")
    return alone, statistics.median(beside) if beside else float("nan"), len(beside)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="members in the register (default 100000)")
    parser.add_argument("--commands", type=int, default=2_000, help="single-entry commands appended (default 2000)")
    parser.add_argument("--runs", type=int, default=2, help="verifications and rotations, each alternately with its floor (default 2)")
    parser.add_argument("--import-rows", type=int, default=20_000, help="rows of the import beside the reads (default 20000)")
    parser.add_argument("--seed", type=int, default=2025)
    args, ignored = parser.parse_known_args(argv)
    if ignored:
        print(f"(ignoring arguments meant for other scripts: {' '.join(ignored)})")
    with tempfile.TemporaryDirectory(prefix="kss-panel-bench-keys-") as tmp:
        workdir = Path(tmp)
        db, key = build(workdir, args.members, args.commands, args.seed)
        walks, wholes, floors = [], [], []
        for _ in range(args.runs):  # the check and its floor in turn, so both see the machine's drift
            walk, whole, verified = verify_in_process(db)
            floor, entries = floor_hash(db)
            assert verified == entries
            walks.append(walk)
            wholes.append(whole)
            floors.append(floor)
        walk, whole, floor = statistics.median(walks), statistics.median(wholes), statistics.median(floors)
        command = timed([str(bench_import.BIN / "kss-panel"), "--db", str(db), "audit", "verify"])
        print(f"\naudit verify, {entries:,} entries ({args.members:,} import entries in one command, {args.commands:,} single commands),"
              f" in-process, median of {args.runs} runs in turn with the floor:")
        print(f"  chain walk with signatures   {walk:7.2f} s  {entries / walk:10,.0f} entries/s   (target 200,000)")
        print(f"  walk and every row checked   {whole:7.2f} s  {entries / whole:10,.0f} entries/s")
        print(f"  floor: read and SHA-256      {floor:7.2f} s  {entries / floor:10,.0f} entries/s   walk / floor {walk / floor:.1f}x")
        print(f"  kss-panel audit verify       {command:7.2f} s  (a command: start-up included)")
        rotations, floors = [], []
        for _ in range(args.runs):
            rotations.append(timed(bench_import.kss(db, key, "key", "rotate")))
            floors.append(floor_rotate(db, key))
        rotate, bare = statistics.median(rotations), statistics.median(floors)
        print(f"\nkey rotate, {args.members:,} members (median of {args.runs}):")
        print(f"  kss-panel key rotate         {rotate:7.2f} s  {args.members / rotate:10,.0f} members/s")
        print(f"  floor: same crypto, UPDATEs  {bare:7.2f} s  {args.members / bare:10,.0f} members/s   ratio {rotate / bare:.1f}x")
        size = db.stat().st_size / args.members
        alone, beside, samples = reads_beside_an_import(workdir, db, key, args.import_rows, args.seed)
        print(f"\nkss-panel show (median wall time): alone {alone * 1000:.0f} ms; while an import of {args.import_rows:,} rows runs "
              f"{beside * 1000:.0f} ms ({samples} runs); ratio {beside / alone:.1f}x")
        print(f"register: {size:,.0f} bytes per member after {args.commands:,} commands and {args.runs} rotations "
              "(each rotation commits every re-keyed row to the trail)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
