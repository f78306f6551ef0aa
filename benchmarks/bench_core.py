"""Core figures: enrolment throughput and command start-up time.

    python benchmarks/bench_core.py [--members N] [--runs R]

(a) Enrols N synthetic members (default 10,000) through the service layer
    into fresh registers in a temporary directory, once with one transaction
    per member (members.enrol) and once with one transaction for all
    (members.enrol_many), and prints members per second and total seconds.
    Validation, encryption (a DEK and seven sealed sections per member),
    lookup hashes, the audit chain and SQLite commits are all included;
    unlocking is not (the register is created with cheap Argon2id parameters).
(b) Start-up, each command run as a child process alternately with its
    yardstick R times (default 21), medians and the median of the pair-by-pair
    ratios:
    - `kss-panel --help` against `sqlite-utils --help` (target: at most 1.2x);
    - `kss-panel show MEMBER --json --key-file K` on the register from (a),
      unlocked by an officer-role key-file slot (HKDF, no Argon2id), against
      `sqlite-utils --help` (target: at most 1.5x).
    `sqlite-utils --help` is what Python start-up and a small Click CLI's
    imports cost anyway. Before timing, the project's own source is
    byte-compiled (`python -m compileall -q` on the kss_panel package): an
    editable install under PYTHONDONTWRITEBYTECODE=1 never caches bytecode, so
    every run would compile the package again, while the yardstick (installed
    by pip) has its .pyc files, as an installed kss-panel would.

A plain script, not a timed test: it prints figures and fails only if
something is broken.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timing  # noqa: E402  (alternate runs of a command and its yardstick)

import kss_panel  # noqa: E402
from kss_panel import crypto, keyslots  # noqa: E402
from kss_panel.services import members, officers  # noqa: E402
from kss_panel.services.session import Session, init_register, unlock  # noqa: E402
from kss_panel.policy_files import load_policies  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
BIN = Path(sys.executable).parent
NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
SEED = 2025

# Cheap key derivation: the benchmark measures enrolment, not unlocking.
CHEAP_KDF = crypto.KdfParams(salt=b"kss-panel-bench!", memory_kib=1024, iterations=1, lanes=1)
PASSPHRASE = "benchmark passphrase, not secret"

CITIES = [
    ("Kouvola", "45100"), ("Kouvola", "45200"), ("Kuusankoski", "45700"), ("Valkeala", "45370"),
    ("Myllykoski", "46800"), ("Inkeroinen", "46900"), ("Kotka", "48100"), ("Karhula", "48600"),
    ("Hamina", "49400"), ("Elimäki", "47200"), ("Jaala", "47710"), ("Miehikkälä", "49700"),
]
HOBBIES = ["sauna", "fishing", "hiking", "mökkeily", "berry picking", "cross-country skiing", "ice hockey",
           "choir", "sailing", "hunting", "gardening", "board games", "pesäpallo", "knitting"]
FIRST = ["Aino", "Veikko", "Juha", "Liisa", "Eero", "Sanna", "Mikko", "Helmi", "Ulla", "Pekka", "Kaisa", "Jari"]
LAST = ["Mäkelä", "Virtanen", "Korhonen", "Nieminen", "Hämäläinen", "Lahtinen", "Heikkinen", "Lindqvist"]


def _names(count: int) -> list[tuple[str, str, str]]:
    """(first name, last name, street address) per member: Faker fi_FI if installed."""
    try:
        from faker import Faker
    except ImportError:
        rng = random.Random(SEED)
        return [(rng.choice(FIRST), rng.choice(LAST), f"{rng.choice(LAST)}ntie {rng.randint(1, 99)}") for _ in range(count)]
    fake = Faker("fi_FI")
    fake.seed_instance(SEED)
    return [(fake.first_name(), fake.last_name(), fake.street_address()) for _ in range(count)]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


def synthetic_members(count: int, offset: int = 0) -> list[dict[str, Any]]:
    """Deterministic, valid, mutually distinct member records (lookups never clash)."""
    rng = random.Random(SEED + offset)
    records = []
    for i, (first, last, street) in enumerate(_names(count)):
        n = offset + i
        city, postal_code = rng.choice(CITIES)
        records.append({
            "customer_number": f"{20_000_000 + n}",
            "contact": {
                "first_name": first, "last_name": last,
                "email": f"{_ascii(first)}.{_ascii(last)}.{n}@example.fi",
                "phone": f"+35840{n:07d}",
                "street_address": street, "postal_code": postal_code, "city": city,
                "language": rng.choices(["fi", "sv", "en"], weights=[90, 8, 2])[0],
            },
            "demographics": {
                "birth_year": rng.randint(1935, 2005),
                "gender": rng.choice(["female", "male", "other", "undisclosed"]),
                "household_size": rng.randint(1, 6),
                "dwelling_type": rng.choice(["detached", "semi_detached", "terraced", "apartment", "farm"]),
            },
            "electricity": {
                "annual_consumption_kwh": rng.randint(1500, 30000),
                "heating": rng.choice(["electric", "heat_pump", "district", "oil", "wood", "geothermal"]),
                "has_solar_panels": rng.random() < 0.15,
                "has_electric_vehicle": rng.random() < 0.1,
            },
            "hobbies": rng.sample(HOBBIES, rng.randint(0, 4)),
            "attitudes": {"environment": rng.randint(1, 5), "price_sensitivity": rng.randint(1, 5)},
            "consents": {"email_marketing": rng.random() < 0.6, "sms_marketing": rng.random() < 0.3,
                         "partner_marketing": rng.random() < 0.2},
        })
    return records


def new_register(path: Path) -> Session:
    return init_register(path, load_policies(POLICIES), "bench", PASSPHRASE, CHEAP_KDF, NOW)


def bench_enrolment(workdir: Path, count: int) -> tuple[Path, str]:
    print(f"generating {count:,} synthetic members ...", flush=True)
    records = synthetic_members(count)
    print()
    print(f"enrolment of {count:,} members through the service layer")
    print(f"{'mode':<34} {'seconds':>9} {'cpu s':>7} {'members/s':>11}")

    one_each = workdir / "one-each.db"
    with new_register(one_each) as session:
        started, cpu = time.perf_counter(), time.process_time()
        for record in records:
            members.enrol(session, record, NOW)["member_id"]
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{'one transaction per member':<34} {elapsed:>9.2f} {cpu:>7.2f} {count / elapsed:>11,.0f}", flush=True)

    all_in_one = workdir / "all-in-one.db"
    with new_register(all_in_one) as session:
        started, cpu = time.perf_counter(), time.process_time()
        ids = members.enrol_many(session, records, NOW)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{'one transaction for all':<34} {elapsed:>9.2f} {cpu:>7.2f} {count / elapsed:>11,.0f}", flush=True)

    size = all_in_one.stat().st_size
    print(f"register file: {size / 1e6:.1f} MB, {size / count:,.0f} bytes per member")
    return all_in_one, ids[len(ids) // 2]


def add_key_file_slot(db: Path, key_path: Path) -> None:
    """An officer-role machine slot, so `show` unlocks without Argon2id."""
    text = crypto.new_key_file_text()
    session = unlock(db, load_policies(POLICIES), keyslots.Credentials(officer="bench", passphrase=PASSPHRASE))
    with session:
        officers.add_officer(session, "bench-key", "officer", NOW, key_secret=crypto.parse_key_file(text))
    fd = os.open(key_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def compile_package() -> Path:
    """Byte-compile kss_panel's source, as pip does for an installed package.

    This environment may set PYTHONDONTWRITEBYTECODE=1: an editable install then
    never caches its bytecode and every run compiles the whole package again,
    while the yardstick's installed package has the .pyc files pip wrote. An
    installed kss-panel would have them too, so the start-up compared is with them.
    """
    package = Path(kss_panel.__file__).resolve().parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True, stdin=subprocess.DEVNULL)
    return package


def bench_startup(db: Path, member_id: str, key_path: Path, runs: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSS_PANEL_")}
    kss = str(BIN / "kss-panel")
    package = compile_package()
    yardstick = [str(BIN / "sqlite-utils"), "--help"]
    commands: list[tuple[str, list[str], float]] = [
        ("kss-panel --help", [kss, "--help"], 1.2),
        ("kss-panel show MEMBER --json --key-file K",
         [kss, "--db", str(db), "--policies", str(POLICIES), "show", member_id, "--json", "--key-file", str(key_path)], 1.5),
    ]
    print()
    print(f"start-up: each command alternately with sqlite-utils --help, {runs} runs each (child processes; "
          f"{package.name} byte-compiled first)")
    print(f"{'command (median of the runs)':<44} {'wall ms':>8} {'CPU ms':>8} {'peak MiB':>9}")
    found = []
    for label, argv, target in commands:
        pairs = timing.alternate(lambda argv=argv: timing.run(argv, env=env), lambda: timing.run(yardstick, env=env), runs,
                                 progress=label)
        found.append((label, pairs, target))
        for name, side in ((label, "a"), ("  sqlite-utils --help, alternately", "b")):
            print(f"{name:<44} {pairs.median(side, 'wall') * 1000:8.0f} {pairs.median(side, 'cpu') * 1000:8.0f} "
                  f"{pairs.median(side, 'peak_mib'):9.0f}", flush=True)
    for label, pairs, target in found:
        print(f"{'ratio ' + label + ' / sqlite-utils --help':<66} {pairs.ratio('wall'):5.2f}x wall {pairs.ratio('cpu'):5.2f}x CPU"
              f"   (target: wall <= {target}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000, help="members to enrol (default 10000)")
    parser.add_argument("--runs", type=int, default=21, help="runs of each start-up command and its yardstick, in turn (default 21)")
    # run_all.py passes its arguments to every script: ignore another script's options.
    args, ignored = parser.parse_known_args()
    if ignored:
        print(f"ignoring options meant for other benchmarks: {' '.join(ignored)}", file=sys.stderr)
    print(f"kss-panel core benchmark: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {platform.machine()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="kss-panel-bench-") as tmp:
        workdir = Path(tmp)
        db, member_id = bench_enrolment(workdir, args.members)
        key_path = workdir / "bench.key"
        add_key_file_slot(db, key_path)
        bench_startup(db, member_id, key_path, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
