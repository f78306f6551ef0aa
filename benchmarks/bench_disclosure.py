"""Export disclosure against its floor: the same rows, boxes and log, with nothing but the work itself.

    python benchmarks/bench_disclosure.py [--members N] [--runs R] [--seed S] [--dir DIR]

1. Builds a register of N members (default 100,000) from bench_import.py's
   synthetic applications (`kss-panel import`), every one admitted through
   the services (an audit entry each). Not measured.
2. Alternately R times (default 3), each on a fresh copy of the register:
   A. `kss-panel export disclosure panel-mailer --purpose communication --out
      FILE` with an officer's key file, as an officer runs it: every admitted
      member's row checked against the trail, the restricted and objecting
      ones left out, the box opened, the recipient's fields written, a
      disclosure-log row each and an audit entry, in one transaction;
   B. the floor, a plain script (sqlite3, cryptography, zlib, json and csv
      only, none of kss-panel's code) given the register's data key and the
      packing dictionaries: one query of the admitted members' rows, the same
      members left out, each data key unwrapped, box opened and record
      unpacked (raw DEFLATE against the preset dictionary), the same CSV
      rows and disclosure-log rows in one transaction. No trail, no checks,
      no policy.
   It prints the median wall and CPU seconds and peak memory of each, and the
   median of the pairwise ratios (target: wall time at most 1.5x).

With --dir the register is built there, kept, and reused by a later run of
the same --members and --seed; each run works on a fresh copy of it.

A plain script, not a timed test: it fails only if something is broken.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sqlite3
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timing  # noqa: E402

# bench_import and kss-panel's own modules are imported where the set-up needs them, not here: the floor runs
# this file as its own process, and importing them would add their start-up to the floor's time.

RECIPIENT, PURPOSE = "panel-mailer", "communication"


def floor(db: Path, spec_file: Path, out: Path) -> None:
    """The same disclosure with plain tools: ``spec_file`` holds the data key, the fields, the consent and objections."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    spec = json.loads(spec_file.read_text())
    data = AESGCM(bytes.fromhex(spec["data_key"]))
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA secure_delete = ON")
    register_id = conn.execute("SELECT value FROM meta WHERE key = 'register_id'").fetchone()[0]

    def ad(*parts: str) -> bytes:
        return b"kss-panel\x02" + b"".join(struct.pack(">H", len(p.encode())) + p.encode() for p in parts)

    def opened(key: AESGCM, box: bytes, context: bytes) -> bytes:
        return key.decrypt(box[1:13], box[13:], context).rstrip(b"\x00")[:-1]

    def unwrapped(box: bytes, context: bytes) -> bytes:
        """A member's 256-bit DEK: wrapped unpadded (or padded, as builds before wrapping sealed it)."""
        key = data.decrypt(box[1:13], box[13:], context)
        return key if len(key) == 32 else key.rstrip(b"\x00")[:-1]

    dictionaries = {int(tag): bytes.fromhex(text) for tag, text in spec.get("dictionaries", {}).items()}

    def unpacked(plaintext: bytes) -> bytes:
        """The record's JSON: raw DEFLATE against the tag's preset dictionary (or the JSON itself, as sealed before packing)."""
        if plaintext[:1] in (b"{", b"["):
            return plaintext
        return zlib.decompressobj(-15, zdict=dictionaries[plaintext[0]]).decompress(plaintext[1:])

    fields, consent, objections = spec["fields"], spec["consent"], spec["objections"]
    log, day = [], time.strftime("%Y-%m-%d")
    conn.execute("BEGIN IMMEDIATE")
    with open(out, "x", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["member_id", *fields])
        query = f"SELECT member_id, wrapped_dek, box, restricted_at, {', '.join(objections) or 'NULL'} FROM members WHERE status = 'member'"
        for member_id, wrapped, box, restricted, *objected in conn.execute(query):
            if restricted or any(objected):
                continue
            dek = unwrapped(wrapped, ad("dek", register_id, member_id))
            record = json.loads(unpacked(opened(AESGCM(dek), box, ad("record", register_id, member_id))))
            if consent and not record.get("consents", {}).get(consent):
                continue
            writer.writerow([member_id, *(record.get(f.partition(".")[0], {}).get(f.partition(".")[2]) for f in fields)])
            log.append((member_id, RECIPIENT, PURPOSE, json.dumps(fields), day))
            if len(log) >= 1000:
                conn.executemany("INSERT INTO disclosures (member_id, recipient, purpose, fields, disclosed_on) VALUES (?, ?, ?, ?, ?)", log)
                log = []
    conn.executemany("INSERT INTO disclosures (member_id, recipient, purpose, fields, disclosed_on) VALUES (?, ?, ?, ?, ?)", log)
    conn.execute("COMMIT")
    conn.close()


def spec_of(db: Path, key: Path) -> dict[str, object]:
    """What the floor is given: the data key (from the officer's slot), the recipient's fields, consent and objections."""
    import bench_import

    from kss_panel import crypto, keyslots
    from kss_panel.policy_files import load_policies
    from kss_panel.services.session import unlock

    policies = load_policies(bench_import.POLICIES)
    recipient = policies.disclosure.recipients[RECIPIENT]
    consent = recipient.purposes[PURPOSE].consent
    purpose = policies.register.purposes[PURPOSE]
    objections = (["objected_at"] if purpose.direct_marketing else []) + (
        ["processing_objected_at"] if purpose.legal_basis == "legitimate-interests" else [])
    with unlock(db, policies, keyslots.Credentials(key_secret=crypto.parse_key_file(key.read_text()))) as session:
        assert session.keys.data is not None
        data_key = session.keys.data.hex()
    try:  # the preset dictionaries records are packed with (docs/crypto.md §4.1), given as the data key is
        from kss_panel import packing
    except ImportError:  # a build that sealed the JSON itself
        dictionaries = {}
    else:
        dictionaries = {str(tag): text.hex() for tag, text in packing.DICTIONARIES.items()}
    return {"data_key": data_key, "fields": list(recipient.fields), "consent": None if consent == "none" else consent, "objections": objections,
            "dictionaries": dictionaries}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="admitted members (default 100000)")
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs, the command and its floor in turn (default 3)")
    parser.add_argument("--seed", type=int, default=2025, help="seed of the synthetic data (default 2025)")
    parser.add_argument("--dir", type=Path, default=None, help="build the register here, keep it and reuse it in a later run")
    parser.add_argument("--floor", nargs=3, type=Path, metavar=("DB", "SPEC", "OUT"), help=argparse.SUPPRESS)
    args, ignored = parser.parse_known_args(argv)
    if args.floor:
        floor(*args.floor)
        return 0
    if ignored:
        print(f"(ignoring arguments meant for other scripts: {' '.join(ignored)})")
    import bench_import

    from kss_panel.policy_files import load_policies
    from kss_panel.record import RecordSchema

    with tempfile.TemporaryDirectory(prefix="kss-panel-bench-disclosure-") as tmp:
        work = args.dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        size = f"{args.members}-{args.seed}"
        template, key, spec = work / f"template-{size}.db", work / f"officer-{size}.key", work / f"floor-{size}.json"
        db, out = work / "run" / "register.db", work / "run" / "out.csv"
        db.parent.mkdir(exist_ok=True)
        if args.dir is not None and template.exists() and key.exists() and spec.exists():
            admitted = args.members
            print(f"reusing {template} ({admitted:,} admitted members)", flush=True)
        else:
            for path in (*work.glob(template.name + "*"), key, spec):
                path.unlink(missing_ok=True)
            started = time.perf_counter()
            pool, _ = bench_import.person_pool(args.seed, RecordSchema(load_policies(bench_import.POLICIES)))
            source = work / "applications.csv"
            bench_import.write_applications(source, args.members, pool, args.seed)
            bench_import.new_register(template, key)
            timing.run(bench_import.kss(template, key, "import", str(source)))
            source.unlink()
            admitted = bench_import.admit_all(template, key)
            fd = os.open(spec, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # it holds the data key: a synthetic register's
            with os.fdopen(fd, "w") as handle:
                json.dump(spec_of(template, key), handle)
            print(f"built a register of {admitted:,} admitted members in {time.perf_counter() - started:.0f} s (not measured)", flush=True)

        def fresh() -> None:
            for path in db.parent.iterdir():
                path.unlink()
            shutil.copy(template, db)

        def command() -> timing.Run:
            fresh()
            done = timing.run(bench_import.kss(db, key, "export", "disclosure", RECIPIENT, "--purpose", PURPOSE, "--out", str(out)))
            assert done.stdout.startswith(f"disclosed {admitted} of {admitted} members"), done.stdout
            return done

        def plain() -> timing.Run:
            fresh()
            return timing.run([sys.executable, __file__, "--floor", str(db), str(spec), str(out)])

        pairs = timing.alternate(command, plain, args.runs, progress="export disclosure")
        with open(out, encoding="utf-8", newline="") as handle:
            assert sum(1 for _ in csv.reader(handle)) == admitted + 1
        print()
        print(timing.HEADER)
        print(timing.row(f"kss-panel export disclosure ({admitted:,})", pairs, "a"))
        print(timing.row("floor: one query, open, CSV, log", pairs, "b"))
        print(timing.ratio_row("ratio export disclosure / floor (pairwise)", pairs, "wall <= 1.5x"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
