"""Bulk intake: `kss-panel import` against `sqlite-utils insert --csv`, run alternately, and its memory.

    python benchmarks/bench_import.py [--rows N] [--runs R] [--flat F] [--million] [--seed S] [--dir DIR]

1. Generates a synthetic Finnish CSV of N applications (default 100,000),
   valid for policies/register.yaml: a pool of a few thousand Faker fi_FI
   names, streets and cities (made once, seeded) combined with unique emails,
   phones and customer numbers, so N rows are made fast and the same every run.
2. Runs, alternately R times (default 3), each as a child process:
   A. `kss-panel import FILE` into a fresh register, unlocked by an
      officer-role key-file slot (HKDF, not Argon2id): validation, a DEK and
      one sealed box per member, lookup digests, duplicate checks, the signed
      audit chain, prepared in a staging file and copied in one transaction;
   B. `sqlite-utils insert DB applications FILE --csv` of the same file into a
      fresh plain SQLite file: the floor of "CSV into SQLite" in the same venv;
   and prints the medians of wall time, CPU time and peak memory (GNU time's
   maximum resident set size) of each, the median of the pair-by-pair ratios
   (target: wall time at most 1.5x), and the register's bytes per member
   (target: at most 1,500).
3. Flat memory: R imports of F rows (default 10,000; --flat 0 skips them)
   into fresh registers, their median peak memory against that of the N-row
   imports (target: at most 80 MiB, and the same at both sizes).
4. With --million: one import of 1,000,000 rows, its peak memory (and wall
   time) against the N-row imports'.

The time of `export disclosure` is bench_disclosure.py's, against its floor.
With --dir the generated CSV files are kept there and reused by a later run
(the same rows for the same --seed). A plain script, not a timed test: it
fails only if something is broken.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timing  # noqa: E402  (alternate runs of a command and its baseline)

from kss_panel import crypto, keyslots  # noqa: E402
from kss_panel.services import officers  # noqa: E402
from kss_panel.services.session import init_register, unlock  # noqa: E402
from kss_panel.record import RecordSchema  # noqa: E402
from kss_panel.policy_files import load_policies  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
BIN = Path(sys.executable).parent
NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
CHEAP_KDF = crypto.KdfParams(salt=b"kss-panel-bench!", memory_kib=1024, iterations=1, lanes=1)
PASSPHRASE = "benchmark passphrase, not secret"
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


def clean_env() -> dict[str, str]:
    """This environment without KSS_PANEL_* settings, so only the arguments given count."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KSS_PANEL_")}


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    stdout: str


def measure(argv: list[str], workdir: Path | None = None) -> Run:
    """Wall time and peak RSS (MiB) of one command run as a fresh child; raises if it fails (``workdir`` is unused)."""
    done = timing.run(argv, env=clean_env())
    return Run(done.wall, done.peak_mib, done.stdout)


def kss(db: Path, key: Path, *args: str) -> list[str]:
    return [str(BIN / "kss-panel"), "--db", str(db), "--policies", str(POLICIES), *args, "--key-file", str(key)]


def remove_register(db: Path, key: Path) -> None:
    """The register, its key file and anything beside it (the log, the ledger, a staging file)."""
    for path in db.parent.glob(db.name + "*"):
        path.unlink()
    key.unlink(missing_ok=True)


def import_once(workdir: Path, csv_path: Path, rows: int, label: str) -> tuple[timing.Run, Path, Path]:
    """``kss-panel import`` of ``csv_path`` into a fresh register (made before the clock starts)."""
    db, key = workdir / f"{label}.db", workdir / f"{label}.key"
    remove_register(db, key)
    new_register(db, key)
    run = timing.run(kss(db, key, "import", str(csv_path)), env=clean_env())
    expected = f"{rows} applicants imported, 0 rows invalid"
    if run.stdout.strip() != expected:
        raise SystemExit(f"unexpected import result: {run.stdout.strip()!r} (expected {expected!r})")
    return run, db, key


def bench_import(workdir: Path, csv_path: Path, rows: int, label: str) -> tuple[Run, Path, Path]:
    """``import_once``, its figures as a ``Run`` (for the other scripts that build a register this way)."""
    run, db, key = import_once(workdir, csv_path, rows, label)
    return Run(run.wall, run.peak_mib, run.stdout), db, key


def sqlite_utils_once(workdir: Path, csv_path: Path, rows: int) -> timing.Run:
    """``sqlite-utils insert --csv`` of the same file into a fresh plain SQLite file."""
    db = workdir / "plain.db"
    for path in workdir.glob("plain.db*"):
        path.unlink()
    run = timing.run([str(BIN / "sqlite-utils"), "insert", str(db), "applications", str(csv_path), "--csv"], env=clean_env())
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


def applications_file(workdir: Path, rows: int, pool: list[Person], seed: int) -> Path:
    """The CSV of ``rows`` applications, generated unless ``workdir`` has it from an earlier run."""
    path = workdir / f"applications-{rows}-{seed}.csv"
    if not path.exists():
        partial = path.with_suffix(".part")
        write_applications(partial, rows, pool, seed)
        partial.replace(path)
    return path


# --- main -------------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="applications in the file (default 100000)")
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs, kss-panel import and sqlite-utils in turn (default 3)")
    parser.add_argument("--flat", type=int, default=10_000, metavar="F",
                        help="also import F rows R times, to compare peak memory (default 10000; 0: skip)")
    parser.add_argument("--million", action="store_true", help="also measure peak memory of importing 1,000,000 rows")
    parser.add_argument("--seed", type=int, default=2025, help="seed of the synthetic data (default 2025)")
    parser.add_argument("--dir", type=Path, default=None, help="work directory; the generated CSV files are kept and reused")
    args, ignored = parser.parse_known_args(argv)  # run_all.py passes every script the same arguments
    if ignored:
        print(f"(ignoring arguments meant for other scripts: {' '.join(ignored)})")

    print(f"kss-panel import benchmark: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs; peak memory by "
          + ("GNU time" if timing.GNU_TIME.exists() else "getrusage(RUSAGE_CHILDREN)"))
    schema = RecordSchema(load_policies(POLICIES))
    with tempfile.TemporaryDirectory(prefix="kss-panel-bench-import-") as tmp:
        workdir = args.dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        pool, source = person_pool(args.seed, schema)
        csv_path = applications_file(workdir, args.rows, pool, args.seed)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"{args.rows:,} applications ({size_mb:.1f} MB CSV; {len(pool):,} {source} people combined with unique "
              f"emails, phones, customer numbers) ready in {time.perf_counter() - started:.1f} s", flush=True)

        sizes: list[int] = []

        def ours() -> timing.Run:
            run, db, _ = import_once(workdir, csv_path, args.rows, "register")
            sizes.append(db.stat().st_size)
            return run

        pairs = timing.alternate(ours, lambda: sqlite_utils_once(workdir, csv_path, args.rows), args.runs, progress="import")
        plain_size = (workdir / "plain.db").stat().st_size

        flat: list[timing.Run] = []
        if args.flat and args.flat != args.rows:
            small = applications_file(workdir, args.flat, pool, args.seed)
            for _ in range(args.runs):
                flat.append(import_once(workdir, small, args.flat, "flat")[0])
            print(f"  import of {args.flat:,} rows: {args.runs} runs done", file=sys.stderr, flush=True)

        million = None
        if args.million:
            print("importing 1,000,000 rows ...", file=sys.stderr, flush=True)
            big = applications_file(workdir, 1_000_000, pool, args.seed)
            million, big_db, _ = import_once(workdir, big, 1_000_000, "million")
            million_size = big_db.stat().st_size
            if args.dir is not None:
                big.unlink()  # 200 MB: not worth keeping
        for label in ("register", "flat", "million"):
            remove_register(workdir / f"{label}.db", workdir / f"{label}.key")

    print()
    print(f"{args.rows:,} rows, medians of {args.runs} alternate runs")
    print(timing.HEADER)
    print(timing.row("kss-panel import FILE", pairs, "a"))
    print(timing.row("sqlite-utils insert DB t FILE --csv", pairs, "b"))
    print(timing.ratio_row("ratio import / sqlite-utils (pairwise median)", pairs, "wall <= 1.5x"))
    print(f"{'  pair by pair, lowest to highest':<46} {pairs.spread('wall'):>9} {pairs.spread('cpu'):>9}")
    print(f"{'kss-panel import: rows per second':<46} {args.rows / pairs.median('a', 'wall'):9,.0f}")
    print()
    register = int(statistics.median(sizes))
    print(f"register after import: {register / 1e6:.1f} MB, {register / args.rows:,.0f} bytes per member (target <= 1,500); "
          f"plain sqlite-utils table {plain_size / args.rows:,.0f} bytes per row ({register / plain_size:.1f}x); CSV {size_mb:.1f} MB")
    at_rows = pairs.median("a", "peak_mib")
    if flat:
        low = statistics.median(r.peak_mib for r in flat)
        print(f"peak memory of import: {low:.0f} MiB at {args.flat:,} rows, {at_rows:.0f} MiB at {args.rows:,} rows "
              f"({at_rows / low:.2f}x; target <= 80 MiB and flat)")
    if million is not None:
        print(f"peak memory of import: {million.peak_mib:.0f} MiB at 1,000,000 rows ({million.peak_mib / at_rows:.2f}x that at "
              f"{args.rows:,}), {million.wall:.0f} s wall, {million.cpu:.0f} s CPU; register {million_size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
