"""Erasure leaves nothing on the disk: not in the register, not in its side files, not in freed blocks.

The register runs in WAL mode; after every write the log is checkpointed,
the unused space of the pages it held is zeroed in the file (free_space: a
rebalance leaves copies of moved cells there), and the log is overwritten with
zeros where it lies (storage.Store.scrub); secure_delete zeroes deleted cells
and freed pages. So after a command that erased or replaced
personal data, no erased member's wrapped key or box, and no replaced box,
is left anywhere a carving tool looks. The first tests inspect the side files
directly and always run; the last builds a small ext4 image without discard
on a loop device (root only, as on CI) and searches every block of it.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterable
from typing import Any
from pathlib import Path

import pytest

from kss_panel.storage import Store
from support import AINO, VEIKKO, Builder, Register, assert_clean_failure, canary_person

POPULATED = {"aino": AINO, "veikko": VEIKKO}


def ciphertexts(reg: Register, member_id: str) -> list[bytes]:
    """Everything of a member a carving tool could look for: wrapped key, box, lookup digests."""
    return reg.sealed(member_id)


def present(blobs: Iterable[bytes], haystack: bytes) -> list[bytes]:
    return [blob for blob in blobs if blob in haystack]


def side_files(reg: Register) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in reg.dir.glob(reg.db.name + "-*") if path.is_file()}


@pytest.fixture
def panel(make_register: Callable[..., Register]) -> Register:
    return make_register({**POPULATED, **{f"p{n}": canary_person(n) for n in range(1, 6)}}, purger=True)


def test_an_erasure_leaves_nothing_in_the_file_or_its_side_files(panel: Register) -> None:
    victim = panel.ids["p3"]
    secrets = ciphertexts(panel, victim)
    assert present(secrets, panel.raw()) == secrets  # they are there to be found before
    assert panel.run("erase", victim, "--reason", "request").exit_code == 0
    assert present(secrets, panel.raw()) == []
    for name, blob in side_files(panel).items():
        assert not any(blob[:32]), name  # a wiped log, if one is left at all
    # The other members are intact.
    assert panel.run("show", panel.ids["p4"]).exit_code == 0


def test_a_replaced_record_leaves_no_old_box_behind(panel: Register) -> None:
    aino = panel.ids["aino"]
    [old] = panel.boxes(aino)
    assert panel.run("update", aino, "--set", "contact.street_address=Uusikatu 1").exit_code == 0
    assert panel.run("consent", aino, "--give", "sms_marketing").exit_code == 0
    assert present([old], panel.raw()) == []


def test_replaced_consent_receipts_leave_no_old_box_behind(panel: Register) -> None:
    aino = panel.ids["aino"]
    [(old,)] = panel.sql("SELECT receipts FROM members WHERE member_id = ?", (aino,))
    assert old is not None  # Aino gave consents when she enrolled
    assert panel.run("consent", aino, "--withdraw", "email_marketing").exit_code == 0
    assert panel.run("update", aino, "--set", "consents.sms_marketing=true").exit_code == 0
    assert present([old], panel.raw()) == []


def test_a_purge_and_a_rotation_leave_nothing_behind(panel: Register) -> None:
    victims = [panel.ids[f"p{n}"] for n in (1, 2)]
    secrets = [blob for member_id in victims for blob in ciphertexts(panel, member_id)]
    old_keys = [w for (w,) in panel.sql("SELECT wrapped_dek FROM members")]
    for member_id in victims:
        assert panel.run("erase", member_id, "--reason", "request").exit_code == 0
    assert panel.run("key", "rotate").exit_code == 0
    raw = panel.raw()
    assert present(secrets, raw) == []
    assert present(old_keys, raw) == []  # after rotation no wrapped key of before is left, erased or not


def test_a_reader_holding_the_log_delays_the_wipe_and_the_command_says_it_committed(panel: Register) -> None:
    victim = panel.ids["p5"]
    secrets = ciphertexts(panel, victim)
    reader = sqlite3.connect(panel.db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM members").fetchone()  # a snapshot from before the erasure
    try:
        result = panel.run("erase", victim, "--reason", "request", env={"KSS_PANEL_BUSY_TIMEOUT": "0"})
        assert_clean_failure(result, 8)
        assert result.stderr.splitlines()[0] == (
            "kss-panel: error: the change was committed, but the write-ahead log could not be wiped: "
            "another command kept reading past the busy timeout"
        )
        assert "nothing was changed" not in result.stderr
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    assert panel.member(victim) is None  # the erasure did commit
    assert panel.run("show", panel.ids["p4"]).exit_code == 0  # the next write wipes the log
    assert present(secrets, panel.raw()) == []


class CheckpointHeldElsewhere:
    """A register's connection whose first ``times`` RESTART checkpoints find another connection checkpointing:
    SQLite answers busy at once for that lock, whatever the busy timeout."""

    def __init__(self, conn: sqlite3.Connection, times: int) -> None:
        self.conn, self.times, self.tried = conn, times, 0

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "PRAGMA wal_checkpoint(RESTART)":
            self.tried += 1
            if self.tried <= self.times:
                return self.conn.execute("SELECT 1, -1, -1")
        return self.conn.execute(sql, *args)


@pytest.mark.parametrize(("timeout", "held", "wiped"), [(30.0, 3, True), (0.0, 1, False)], ids=["waits-for-it", "no-timeout"])
def test_a_checkpoint_running_elsewhere_delays_the_wipe_within_the_busy_timeout(
    panel: Register, timeout: float, held: int, wiped: bool
) -> None:
    secrets = ciphertexts(panel, panel.ids["p2"])
    log = panel.db.with_name(panel.db.name + "-wal")
    store = Store.open(panel.db, busy_timeout=timeout)
    try:
        with store.write(counted=False):
            store.conn.execute("DELETE FROM lookups WHERE member_id = ?", (panel.ids["p2"],))
            store.conn.execute("DELETE FROM members WHERE member_id = ?", (panel.ids["p2"],))
        # The wipe after that write succeeded; write again and wipe through a connection that finds the lock held.
        store.conn.execute("BEGIN IMMEDIATE")
        store.conn.execute("INSERT INTO meta (key, value) VALUES ('test-note', 'a page for the log')")
        store.conn.execute("COMMIT")
        assert any(log.read_bytes()[:32])
        real, store.conn = store.conn, CheckpointHeldElsewhere(store.conn, held)  # type: ignore[assignment]
        try:
            assert store.scrub() is wiped
            assert store.conn.tried == (held + 1 if wiped else held)  # type: ignore[attr-defined]
            assert (not any(log.read_bytes()[:32])) is wiped
        finally:
            store.conn = real
    finally:
        store.close()
    assert present(secrets, panel.raw()) == []


def test_a_wipe_the_system_refuses_is_named_as_such_and_the_change_stands(panel: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(log: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    victim = panel.ids["p1"]
    secrets = ciphertexts(panel, victim)
    monkeypatch.setattr("kss_panel.storage.zero", failing)
    result = panel.run("erase", victim, "--reason", "request")
    assert_clean_failure(result, 10)
    lines = result.stderr.splitlines()
    log = panel.db.with_name(panel.db.name + "-wal")
    assert lines[0] == (
        f"kss-panel: error: cannot wipe the write-ahead log {log}: an I/O error (the disk may be full or failing); "
        "what the command had done before the failure was committed and stands"
    )
    assert "kss-panel: hint: the next command that writes wipes it" in lines
    assert "busy timeout" not in result.stderr and "nothing was changed" not in result.stderr
    assert panel.member(victim) is None  # the erasure committed
    monkeypatch.undo()
    assert panel.run("show", panel.ids["p4"]).exit_code == 0  # the next command wipes the log
    assert present(secrets, panel.raw()) == []
    assert all(not any(blob[:32]) for blob in side_files(panel).values())


# --- a real file system --------------------------------------------------------------------------------------


def loop_mount_available() -> str | None:
    """None when an ext4 image can be made and loop-mounted here, else why not."""
    if os.geteuid() != 0:
        return "needs root to mount a loop device (CI runs as root)"
    for tool in ("mkfs.ext4", "mount", "umount", "losetup"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path("/dev/loop-control").exists():
        return "no loop device support (/dev/loop-control)"
    return None


@pytest.fixture
def ext4(tmp_path: Path) -> Iterable[tuple[Path, Path]]:
    """A 24 MiB ext4 image without discard, mounted at a directory: (image, mount point)."""
    reason = loop_mount_available()
    if reason is not None:
        pytest.skip(reason)
    image, mount = tmp_path / "disk.img", tmp_path / "mnt"
    mount.mkdir()
    with image.open("wb") as handle:
        handle.truncate(24 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", str(image)], check=True, capture_output=True)
    mounted = subprocess.run(["mount", "-o", "loop,nodiscard", str(image), str(mount)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield image, mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


PEOPLE = {n: canary_person(n) for n in range(1, 41)}


def admit_everyone(builder: Builder) -> None:
    builder.admit(*PEOPLE)


def test_no_erased_ciphertext_survives_on_an_ext4_file_system_without_discard(
    ext4: tuple[Path, Path], make_register: Callable[..., Register]
) -> None:
    image, mount = ext4
    panel = make_register(PEOPLE, populate=admit_everyone, purger=True, directory=mount)
    # A file deleted the ordinary way leaves its bytes in free blocks here: the scan below can find things.
    marker = os.urandom(48)
    (mount / "scratch").write_bytes(marker * 200)
    os.sync()
    (mount / "scratch").unlink()

    erased, kept = [panel.ids[n] for n in range(1, 21)], [panel.ids[n] for n in range(21, 41)]
    secrets = [blob for member_id in erased for blob in ciphertexts(panel, member_id)]
    replaced = [blob for n in range(21, 26) for blob in panel.boxes(panel.ids[n])]
    for member_id in erased[:10]:
        assert panel.run("erase", member_id, "--reason", "request").exit_code == 0
    roster = panel.roster(*(PEOPLE[n]["customer_number"] for n in range(21, 41)))
    assert panel.run("eligibility", "--customers", str(roster), "--remove", "--expect", "10").exit_code == 0  # the other ten, in one command
    for n in range(21, 26):
        assert panel.run("update", panel.ids[n], "--set", "contact.city=Muualla").exit_code == 0
    live = [blob for member_id in kept for blob in panel.boxes(member_id)]
    assert panel.cli("audit", "verify").exit_code == 0

    subprocess.run(["umount", str(mount)], check=True, capture_output=True)
    disk = image.read_bytes()
    subprocess.run(["mount", "-o", "loop,nodiscard", str(image), str(mount)], check=True, capture_output=True)
    assert marker in disk, "the file system zeroes or discards freed blocks: this test would prove nothing here"
    assert present(live, disk) == live  # the scan finds what is there
    assert present(secrets, disk) == [], f"{len(present(secrets, disk))} of {len(secrets)} erased ciphertexts recoverable"
    assert present(replaced, disk) == [], "a replaced record's old box is recoverable"
