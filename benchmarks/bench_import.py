"""Bulk intake and disclosure: `kss-panel import` against `sqlite-utils insert`, and an export.

    python benchmarks/bench_import.py [--rows N] [--million] [--seed S]

1. Generates a synthetic Finnish CSV of N applications (default 100,000),
   valid for policies/register.yaml: a pool of a few thousand Faker fi_FI
   names, streets and cities (made once, seeded) combined with unique emails,
   phones and customer numbers, so N rows are made fast and the same every run.
2. Measures, each as a subprocess in the same run, wall time and peak memory
   (maximum resident set size) of
   - `kss-panel import FILE` into a fresh register, unlocked by an
     officer-role key-file slot (HKDF, not Argon2id): validation, a DEK and
     one sealed box per member, lookup digests, duplicate checks, the signed
     audit chain, prepared in a staging file and copied in one transaction;
   - `sqlite-utils insert DB applications FILE --csv` of the same file into a
     plain SQLite file: the floor of "CSV into SQLite" in the same venv;
   and prints their ratio.
3. Admits every imported applicant (one transaction through the services,
   an audit entry each: a plain UPDATE would be refused by the trail) and times
   `kss-panel export disclosure panel-mailer --purpose communication --out FILE`
   of all N members (decrypts each member's contact section, logs N disclosures).
4. With --million: peak memory (and wall time) of `kss-panel import` of
   1,000,000 rows, to show memory stays flat in the number of rows.

Peak memory comes from `/usr/bin/time -v` when present, else from
resource.getrusage(RUSAGE_CHILDREN) in a fresh child process per command.
A plain script, not a timed test: it fails only if something is broken.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kss_panel import crypto, keyslots
from kss_panel.services import officers
from kss_panel.services.session import init_register, unlock
from kss_panel.record import RecordSchema
from kss_panel.policy_files import load_policies

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
BIN = Path(sys.executable).parent
NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
CHEAP_KDF = crypto.KdfParams(salt=b"kss-panel-bench!", memory_kib=1024, iterations=1, lanes=1)
PASSPHRASE = "benchmark passphrase, not secret"
GNU_TIME = Path("/usr/bin/time")
POOL = 3000

HEADER = [
    "customer_number", "contact.first_name", "contact.last_name", "contact.email", "contact.phone", "contact.street_address",
    "contact.postal_code", "contact.city", "contact.language", "demographics.birth_year", "demographics.gender",
    "demographics.household_size", "demographics.dwelling_type", "electricity.annual_consumption_kwh", "electricity.heating",
    "electricity.has_solar_panels", "electricity.has_electric_vehicle", "hobbies", "attitudes.environment",
    "attitudes.price_sensitivity", "consents.email_marketing", "consents.sms_marketing", "consents.partner_marketing", "applied_at",
]
HOBBIES = ["sauna", "kalastus", "retkeily", "mökkeily", "marjastus", "hiihto", "jääkiekko", "kuoro", "purjehdus", "metsästys",
           "puutarhanhoito", "lautapelit", "pesäpallo", "neulonta"]
FALLBACK_FIRST = ["Aino", "Veikko", "Juha", "Liisa", "Eero", "Sanna", "Mikko", "Helmi", "Ulla", "Pekka", "Kaisa", "Jari"]
FALLBACK_LAST = ["Mäkelä", "Virtanen", "Korhonen", "Nieminen", "Hämäläinen", "Lahtinen", "Heikkinen", "Lindqvist"]
FALLBACK_CITIES = [("Kouvola", "45100"), ("Kuusankoski", "45700"), ("Kotka", "48100"), ("Hamina", "49400"), ("Elimäki", "47200")]


# --- the synthetic file -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    street: str
    postal_code: str
    city: str


def _ascii(text: str) -> str:
    return re.sub(r"[^a-z]", "", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()) or "x"


def person_pool(seed: int, schema: RecordSchema) -> tuple[list[Person], str]:
    """A few thousand Faker fi_FI people, each checked against the register policy once."""
    rng = random.Random(seed)
    try:
        from faker import Faker
    except ImportError:
        people = [Person(rng.choice(FALLBACK_FIRST), rng.choice(FALLBACK_LAST), f"{rng.choice(FALLBACK_LAST)}ntie {rng.randint(1, 99)}",
                         *reversed(rng.choice(FALLBACK_CITIES))) for _ in range(POOL)]
        source = "a fixed list (Faker not installed)"
    else:
        fake = Faker("fi_FI")
        fake.seed_instance(seed)
        people = [Person(fake.first_name(), fake.last_name(), fake.street_address(), fake.postcode(), fake.city()) for _ in range(POOL)]
        source = "Faker fi_FI"
    today = NOW.date()
    valid = []
    for n, p in enumerate(people):
        probe = {"customer_number": "12345678", "contact": {"first_name": p.first, "last_name": p.last, "email": f"p{n}@example.fi",
                                                           "street_address": p.street, "postal_code": p.postal_code, "city": p.city,
                                                           "language": "fi"}}
        try:
            schema.validate(probe, today=today)
        except Exception:  # a generated value the policy does not take: leave it out of the pool
            continue
        valid.append(p)
    if not valid:
        raise SystemExit("no valid synthetic person could be generated")
    return valid, source


def write_applications(path: Path, rows: int, pool: list[Person], seed: int) -> None:
    """N valid, mutually distinct applications: pool people with unique email, phone and customer number."""
    rng = random.Random(seed + 1)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for i in range(rows):
            p = pool[rng.randrange(len(pool))]
            writer.writerow([
                f"{10_000_000 + i}", p.first, p.last, f"{_ascii(p.first)}.{_ascii(p.last)}.{i}@example.fi", f"+35840{i:07d}",
                p.street, p.postal_code, p.city, rng.choices(("fi", "sv", "en"), weights=(90, 8, 2))[0],
                rng.randint(1935, 2005), rng.choice(("female", "male", "other", "undisclosed")), rng.randint(1, 6),
                rng.choice(("detached", "semi_detached", "terraced", "apartment", "farm")), rng.randint(1500, 30000),
                rng.choice(("electric", "heat_pump", "district", "oil", "wood", "geothermal")),
                "true" if rng.random() < 0.15 else "false", "true" if rng.random() < 0.1 else "false",
                ";".join(rng.sample(HOBBIES, rng.randint(0, 3))), rng.randint(1, 5), rng.randint(1, 5),
                "true" if rng.random() < 0.6 else "false", "true" if rng.random() < 0.3 else "false",
                "true" if rng.random() < 0.2 else "false", f"2025-{rng.randint(1, 5):02d}-{rng.randint(1, 28):02d}",
            ])


# --- registers and measurement ----------------------------------------------------------------------------


def new_register(db: Path, key_path: Path) -> None:
    """A fresh register with an officer-role key-file slot (unlocking is one HKDF)."""
    text = crypto.new_key_file_text()
    with init_register(db, load_policies(POLICIES), "bench", PASSPHRASE, CHEAP_KDF, NOW) as session:
        officers.add_officer(session, "bench-key", "officer", NOW, key_secret=crypto.parse_key_file(text))
    fd = os.open(key_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    stdout: str


def measure(argv: list[str], workdir: Path) -> Run:
    """Wall time and peak RSS of one command run as a fresh child; raises if it fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSS_PANEL_")}
    if GNU_TIME.exists():
        stats = workdir / "time.txt"
        stats.unlink(missing_ok=True)
        wrapped = [str(GNU_TIME), "-v", "-o", str(stats), *argv]
    else:
        probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]);"
                 "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")
        wrapped = [sys.executable, "-c", probe, *argv]
    started = time.perf_counter()
    done = subprocess.run(wrapped, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stderr[-2000:]}")
    if GNU_TIME.exists():
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stats.read_text())
        peak_kb = int(match.group(1)) if match else 0
    else:
        peak_kb = int(done.stderr.strip().splitlines()[-1])
    return Run(seconds, peak_kb / 1024, done.stdout)


def kss(db: Path, key: Path, *args: str) -> list[str]:
    return [str(BIN / "kss-panel"), "--db", str(db), "--policies", str(POLICIES), *args, "--key-file", str(key)]


def bench_import(workdir: Path, csv_path: Path, rows: int, label: str) -> tuple[Run, Path, Path]:
    db, key = workdir / f"{label}.db", workdir / f"{label}.key"
    new_register(db, key)
    run = measure(kss(db, key, "import", str(csv_path)), workdir)
    expected = f"{rows} applicants imported, 0 rows invalid"
    if run.stdout.strip() != expected:
        raise SystemExit(f"unexpected import result: {run.stdout.strip()!r} (expected {expected!r})")
    return run, db, key


def bench_sqlite_utils(workdir: Path, csv_path: Path, rows: int) -> Run:
    db = workdir / "plain.db"
    run = measure([str(BIN / "sqlite-utils"), "insert", str(db), "applications", str(csv_path), "--csv"], workdir)
    conn = sqlite3.connect(db)
    try:
        inserted = conn.execute("SELECT count(*) FROM applications").fetchone()[0]
    finally:
        conn.close()
    if inserted != rows:
        raise SystemExit(f"sqlite-utils inserted {inserted} rows, expected {rows}")
    return run


def admit_all(db: Path, key: Path) -> int:
    """Benchmark shortcut: every applicant admitted in one transaction, each change audited as an admission.

    (A plain UPDATE would be a change by hand, which the trail refuses since format 2.)
    """
    secret = crypto.parse_key_file(key.read_text())
    with unlock(db, load_policies(POLICIES), keyslots.Credentials(key_secret=secret), now=NOW) as session:
        day = NOW.date().isoformat()
        with session.store.write():
            applicants = [row["member_id"] for row in session.store.iter_members("applicant")]
            for member_id in applicants:
                session.store.update_member(member_id, {"status": "member", "admitted_at": day, "updated_at": day})
                session.audit(NOW, "admit", member_id, ["customer_number"])
    return len(applicants)


def bench_disclosure(workdir: Path, db: Path, key: Path, members: int) -> Run:
    out = workdir / "panel-mailer.csv"
    run = measure(kss(db, key, "export", "disclosure", "panel-mailer", "--purpose", "communication", "--out", str(out)), workdir)
    if not run.stdout.startswith(f"disclosed {members} of {members} members"):
        raise SystemExit(f"unexpected disclosure result: {run.stdout.strip()!r}")
    with open(out, encoding="utf-8", newline="") as handle:
        lines = sum(1 for _ in csv.reader(handle)) - 1
    if lines != members:
        raise SystemExit(f"the disclosure file has {lines} rows, expected {members}")
    return run


# --- main -------------------------------------------------------------------------------------------------


def row(label: str, rows: int | str, run: Run | None = None, *, seconds: str = "", rate: str = "", peak: str = "") -> str:
    if run is not None:
        seconds, peak = f"{run.seconds:.1f}", f"{run.peak_mb:.0f}"
        rate = f"{rows / run.seconds:,.0f}" if isinstance(rows, int) else ""
    rows_text = f"{rows:,}" if isinstance(rows, int) else rows
    return f"{label:<46} {rows_text:>10} {seconds:>9} {rate:>9} {peak:>12}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="applications in the file (default 100000)")
    parser.add_argument("--million", action="store_true", help="also measure peak memory of importing 1,000,000 rows")
    parser.add_argument("--seed", type=int, default=2025, help="seed of the synthetic data (default 2025)")
    args, ignored = parser.parse_known_args(argv)  # run_all.py passes every script the same arguments
    if ignored:
        print(f"(ignoring arguments meant for other scripts: {' '.join(ignored)})")

    print(f"kss-panel import benchmark: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs; peak memory by "
          + ("/usr/bin/time -v" if GNU_TIME.exists() else "getrusage(RUSAGE_CHILDREN)"))
    schema = RecordSchema(load_policies(POLICIES))
    with tempfile.TemporaryDirectory(prefix="kss-panel-bench-import-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        pool, source = person_pool(args.seed, schema)
        csv_path = workdir / "applications.csv"
        write_applications(csv_path, args.rows, pool, args.seed)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"generated {args.rows:,} applications ({size_mb:.1f} MB CSV; {len(pool):,} {source} people combined with unique "
              f"emails, phones, customer numbers) in {time.perf_counter() - started:.1f} s", flush=True)

        print("running kss-panel import ...", flush=True)
        kss_run, db, key = bench_import(workdir, csv_path, args.rows, "register")
        register_mb = db.stat().st_size / 1e6
        print("running sqlite-utils insert --csv ...", flush=True)
        plain_run = bench_sqlite_utils(workdir, csv_path, args.rows)
        plain_mb = (workdir / "plain.db").stat().st_size / 1e6
        admitted = admit_all(db, key)
        print(f"running export disclosure of {admitted:,} members ...", flush=True)
        disclosure_run = bench_disclosure(workdir, db, key, admitted)

        million_run = None
        if args.million:
            big = workdir / "million.csv"
            print("generating 1,000,000 applications ...", flush=True)
            write_applications(big, 1_000_000, pool, args.seed)
            for stale in (csv_path, workdir / "plain.db"):
                stale.unlink(missing_ok=True)
            print("running kss-panel import of 1,000,000 rows ...", flush=True)
            million_run, big_db, _ = bench_import(workdir, big, 1_000_000, "million")
            million_db_mb = big_db.stat().st_size / 1e6

        print()
        print(row("command", "rows", seconds="wall s", rate="rows/s", peak="peak RSS MB"))
        print(row("kss-panel import FILE", args.rows, kss_run))
        print(row("sqlite-utils insert DB t FILE --csv", args.rows, plain_run))
        print(row("ratio kss-panel / sqlite-utils", "", seconds=f"{kss_run.seconds / plain_run.seconds:.1f}x",
                  peak=f"{kss_run.peak_mb / plain_run.peak_mb:.1f}x"))
        print(row("kss-panel export disclosure panel-mailer", admitted, disclosure_run))
        if million_run is not None:
            print(row("kss-panel import FILE (1M rows)", 1_000_000, million_run))
        print()
        print(f"register after import: {register_mb:.0f} MB ({register_mb * 1e6 / args.rows:,.0f} bytes per member; target 1,500); "
              f"plain sqlite-utils table {plain_mb * 1e6 / args.rows:,.0f} bytes per row; CSV {size_mb:.0f} MB")
        if million_run is not None:
            print(f"register after the 1M import: {million_db_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
