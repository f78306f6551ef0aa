"""Crashes and concurrency: kill -9 at any point leaves a sound register, and two writers never fail each other.

An import or a purge runs in a real process and is killed (SIGKILL) at a seeded point of its
write; afterwards the file is sound (SQLite's integrity check, the audit chain), the import is
all or nothing, every member is whole or gone (no orphan row, no member without its sections),
and every committed erasure is in the ledger beside the register. The point each run is killed
at is chosen by the seed and lands wherever the process happens to be then; the assertions hold
for any point, so no test depends on where it lands.

Then an officer's commands run beside nightly purges, each in its own process with the default
busy timeout: none of them may fail as busy.

Real processes run at the wall clock, so the registers here are due under any clock (applicants
of 2019) or never due (restricted members, whom purges hold).
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from kss_panel import files
from kss_panel.services import intake, trail
from support import Builder, Register, noon, person, process_env

DUE = 1200  # applicants of 2019: purged in three batches of 500
KEPT = 4  # restricted members: held by every purge, the officer's to work on
IMPORT_ROWS = 1500


def populate(b: Builder) -> None:
    rows = ((n, {**person(n), "applied_at": "2019-01-02"}, []) for n in range(1, DUE + 1))
    intake.import_applications(b.session, rows, noon(date(2019, 1, 3)), report=lambda *problem: None)
    for n in range(DUE + 1, DUE + KEPT + 1):
        b.enrol(f"kept{n}", person(n))
        b.restrict(f"kept{n}", "legal-claims")


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register({}, noon(date(2019, 1, 3)), populate=populate, purger=True).unguarded()


def applications(reg: Register) -> Path:
    header = "customer_number,contact.first_name,contact.last_name,contact.email,contact.phone,contact.language,hobbies\n"
    rows = "".join(f"{50_000_000 + n},Eero,Nieminen,eero.{n}@example.fi,+35850{3_000_000 + n},fi,sauna;hiihto\n" for n in range(IMPORT_ROWS))
    return reg.file(header + rows)


def wait_for(ready: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)


def kill_at_a_seeded_point(process: subprocess.Popen[bytes], reg: Register, seed: int, window: float) -> None:
    """SIGKILL ``process`` at a point the seed chooses, by one of three ways (seed % 3): a random time before
    its first write could have begun; a random time within ``window`` after the write-ahead log appears (a
    write has begun); or as soon as the erasure ledger holds a seeded number of lines (written just
    before a batch's COMMIT: the kill lands on either side of it)."""
    rng = random.Random(seed)
    journal = reg.db.with_name(reg.db.name + "-wal")  # the write-ahead log: wiped, never removed, while a write goes on
    if seed % 3 == 0:
        time.sleep(rng.uniform(0, 0.6))
    elif seed % 3 == 1:
        wait_for(journal.exists, process)
        time.sleep(rng.uniform(0, window))
    else:
        lines = rng.randint(1, DUE)
        wait_for(lambda: reg.ledger.exists() and reg.ledger.stat().st_size >= lines * LEDGER_LINE, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=20)


LEDGER_LINE = len("2026-06-15 Mabcdefghijklmnop retention\n")


def assert_sound(reg: Register) -> dict[str, int]:
    """Integrity, whole members and a verified audit chain; returns each member's number of lookup digests."""
    assert reg.sql("PRAGMA integrity_check") == [("ok",)]  # also recovers what the log holds of a killed write
    members = reg.member_ids()
    for table in ("lookups", "disclosures"):
        orphans = {row[0] for row in reg.sql(f"SELECT member_id FROM {table}")} - members
        assert not orphans, (table, orphans)
    assert not reg.sql("SELECT member_id FROM members WHERE wrapped_dek IS NULL OR box IS NULL"), "a member without its record"
    lookups = dict(reg.sql("SELECT m.member_id, count(l.digest) FROM members m LEFT JOIN lookups l USING (member_id) GROUP BY m.member_id"))
    assert all(lookups.values()), "a member without its lookups"
    assert reg.json("audit", "verify")["entries"] > 0
    return lookups


@pytest.mark.parametrize("seed", [0, 1, 3, 4])  # an import writes no ledger: the ways of seed % 3 == 0 and 1
def test_an_import_killed_at_any_point_is_all_or_nothing(reg: Register, seed: int) -> None:
    before = reg.member_ids()
    path = applications(reg)
    process = subprocess.Popen(reg.argv("import", path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=process_env())
    kill_at_a_seeded_point(process, reg, seed, window=0.8)
    lookups = assert_sound(reg)
    after = reg.member_ids()
    assert after == before or (after > before and len(after - before) == IMPORT_ROWS), (len(before), len(after))
    new = after - before
    assert len({lookups[member_id] for member_id in new}) <= 1  # every imported member has the same lookups
    enrolled = [e for e in reg.audit() if e["action"] == "enrol" and e["member_id"] in new]
    assert len(enrolled) == len(new)
    # The file works on: the same import now runs to its end, or finds every row a duplicate.
    again = reg.process("import", path, "--json")
    assert again.returncode in (0, 5), again.stderr
    assert len(reg.member_ids() - before) == IMPORT_ROWS
    assert_sound(reg)


@pytest.mark.parametrize("seed", range(6))
def test_a_purge_killed_at_any_point_erases_whole_members_and_the_ledger_holds_them(reg: Register, seed: int) -> None:
    everyone = reg.member_ids()
    kept = {reg.ids[f"kept{n}"] for n in range(DUE + 1, DUE + KEPT + 1)}
    process = subprocess.Popen(reg.argv("purge", "--apply", key="cron"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=process_env())
    kill_at_a_seeded_point(process, reg, seed, window=0.4)
    assert_sound(reg)
    present, erased = reg.member_ids(), set(reg.erasures())
    assert kept <= present
    assert present | erased == everyone and not present & erased  # each member erased whole, or untouched
    assert len(erased) % 500 == 0 or len(erased) == DUE  # batches commit whole
    ledger = set(files.read_ledger(reg.ledger))
    assert erased <= ledger  # no committed erasure the ledger lacks: a restore cannot bring anyone back
    assert ledger - erased <= present  # a line written for a batch the kill cut short names a member still here
    erase_entries = {e["member_id"] for e in reg.audit() if e["action"] == "erase"}
    assert erase_entries == erased
    # The next night finishes the job.
    done = reg.process("purge", "--apply", "--quiet", key="cron")
    assert done.returncode == 0, done.stderr
    assert reg.member_ids() == kept
    assert set(reg.erasures()) == everyone - kept <= set(files.read_ledger(reg.ledger))
    assert_sound(reg)


def test_an_officer_beside_the_nightly_purges_never_waits_in_vain(reg: Register) -> None:
    """Purges (three batches each, then nothing due) and an officer's updates, consents and reads, all at once,
    in their own processes with the default busy timeout: no command fails as busy."""
    kept = [reg.ids[f"kept{n}"] for n in range(DUE + 1, DUE + KEPT + 1)]
    turns = [
        ("update", kept[0], "--set", "contact.city=Anjala"), ("consent", kept[1], "--give", "sms_marketing"), ("show", kept[2]),
        ("update", kept[3], "--set", "contact.city=Elimäki"), ("list", "--names"), ("update", kept[0], "--set", "contact.city=Inkeroinen"),
    ]
    officer: list[subprocess.CompletedProcess[bytes]] = []
    thread = threading.Thread(target=lambda: officer.extend(reg.process(*args, "--json") for args in turns))
    thread.start()
    purges = [reg.process("purge", "--apply", "--json", key="cron") for _ in range(3)]
    thread.join(timeout=120)
    assert not thread.is_alive()
    failures = [(run.args, run.returncode, run.stderr) for run in [*purges, *officer] if run.returncode != 0]
    assert failures == []
    assert len(officer) == len(turns)
    assert reg.member_ids() == set(kept)
    assert_sound(reg)
    assert [reg.json("show", kept[n])["contact"]["city"] for n in (0, 3)] == ["Inkeroinen", "Elimäki"]
    assert reg.json("show", kept[1])["consents"]["sms_marketing"] is True
