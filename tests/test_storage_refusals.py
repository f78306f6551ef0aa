"""When the system refuses: permission denied, a full disk, a damaged page.

A refusal of the system is exit 10 naming the file, the cause and a hint, and
saying whether anything was changed; an erasure whose ledger line cannot be
written does not happen (a later restore would otherwise bring the member
back); a zeroed page is a corrupt file (exit 7), never an internal error.

Permissions are real: as root, kss-panel runs without the capabilities that
let root ignore file modes. The full disk is real: a small tmpfs in a private
mount namespace (root only; skipped elsewhere).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kss_panel import files
from kss_panel.services import rights
from support import AINO, NOW, VEIKKO, Register, assert_failure, person, process_env, table_rows

POPULATION = {"aino": AINO, "veikko": VEIKKO}


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register(POPULATION)


def unprivileged() -> list[str]:
    """The prefix that runs kss-panel bound by file modes: root drops the capabilities that override them."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux) to run without root's file-mode override")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def hint(where: Path, text: str) -> str:
    return "kss-panel: hint: " + text.format(where=where)


PERMISSION_HINT = "run kss-panel as the user that owns {where}: it must read and write the register and create files beside it"
FULL_HINT = "free space on the file system that holds {where}, then run the command again"


# --- the erasure ledger ---------------------------------------------------------------------------------------------


def test_an_erasure_whose_ledger_line_cannot_be_written_does_not_happen(reg: Register) -> None:
    """/dev/full refuses every write with ENOSPC, as a full disk does."""
    reg.ledger.symlink_to("/dev/full")
    before = reg.tables()
    result = reg.run("erase", reg.ids["aino"], "--reason", "request")
    assert_failure(result, 10, f"cannot write the erasure ledger {reg.ledger}: the disk is full; nothing was changed")
    assert result.stderr.splitlines()[1:] == [hint(reg.dir, FULL_HINT)]
    assert reg.tables() == before
    reg.json("show", reg.ids["aino"])  # whole, and readable


def test_a_purge_and_an_eligibility_removal_with_no_ledger_erase_no_one(make_register: Callable[..., Register]) -> None:
    reg = make_register({n: person(n) for n in (1, 2)}).unguarded()
    reg.ledger.symlink_to("/dev/full")
    roster = reg.roster(1, 2)
    for n in (1, 2):
        assert reg.run("admit", reg.ids[n], "--customers", roster).exit_code == 0
    before = reg.tables()
    result = reg.run("eligibility", "--customers", reg.roster(1), "--remove")
    assert_failure(result, 10, f"cannot write the erasure ledger {reg.ledger}: the disk is full; nothing was changed")
    assert reg.tables() == before  # the mark of the same transaction is not recorded either


def test_a_ledger_the_user_may_not_write(reg: Register) -> None:
    reg.ledger.write_text("")
    reg.ledger.chmod(0o400)
    before = reg.tables()
    done = reg.process("erase", reg.ids["aino"], "--reason", "request", prefix=unprivileged())
    assert done.returncode == 10, done.stderr
    assert done.stderr.decode().splitlines() == [
        f"kss-panel: error: cannot write the erasure ledger {reg.ledger}: permission denied; nothing was changed",
        hint(reg.dir, PERMISSION_HINT),
    ]
    assert reg.tables() == before


class FailingCommit:
    """A connection whose COMMIT fails as a full disk or an I/O error would make it fail; all else is the real one's."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, statement: str, *args: object) -> sqlite3.Cursor:
        if statement == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return self._conn.execute(statement, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


def test_a_commit_that_fails_takes_its_ledger_line_back(reg: Register) -> None:
    """The ledger line is on the disk before COMMIT. When the COMMIT then fails, the erasure rolls back and
    a 'rolled-back' line takes the ledger's line back. (In WAL mode a reader cannot make a COMMIT fail, so
    the failure is the connection's.)"""
    before = reg.tables()
    with reg.session() as session:
        real = session.store.conn
        session.store.conn = FailingCommit(real)  # type: ignore[assignment]
        with pytest.raises(sqlite3.OperationalError):
            rights.erase(session, reg.ids["aino"], "request", NOW)
        session.store.conn = real
    assert reg.tables() == before
    day = "2025-06-15"
    assert reg.ledger.read_text().splitlines() == [f"{day} {reg.ids['aino']} request", f"{day} {reg.ids['aino']} rolled-back"]
    assert files.read_ledger(reg.ledger) == {}
    # Erased for real later, the member is in the ledger again.
    assert reg.run("erase", reg.ids["aino"], "--reason", "request").exit_code == 0
    assert files.read_ledger(reg.ledger) == {reg.ids["aino"]: "request"}


# --- the register file ------------------------------------------------------------------------------------------------


def test_a_register_the_user_may_not_read(reg: Register) -> None:
    reg.db.chmod(0)
    done = reg.process("list", prefix=unprivileged())
    assert done.returncode == 10, done.stderr
    assert done.stderr.decode().splitlines() == [
        f"kss-panel: error: cannot open the register {reg.db}: permission denied; nothing was changed",
        hint(reg.dir, PERMISSION_HINT),
    ]


def test_a_register_the_user_may_read_but_not_write(reg: Register) -> None:
    reg.db.chmod(0o400)
    before = reg.tables()
    listed = reg.process("list", "--json", prefix=unprivileged())
    assert listed.returncode == 0, listed.stderr  # reading needs no write
    for args in (("erase", reg.ids["aino"], "--reason", "request"), ("update", reg.ids["aino"], "--set", "contact.city=Hamina")):
        done = reg.process(*args, prefix=unprivileged())
        assert done.returncode == 10, done.stderr
        assert done.stderr.decode().splitlines() == [
            f"kss-panel: error: cannot write the register {reg.db}: it is read-only to this user (permission denied,"
            " or a read-only file system); nothing was changed",
            f"kss-panel: hint: run kss-panel as the user that owns the register, on a writable file system ({reg.dir})",
        ]
    assert reg.tables() == before


def test_a_directory_where_the_journal_cannot_be_made(reg: Register) -> None:
    reg.dir.chmod(0o500)
    try:
        before = reg.tables()
        done = reg.process("update", reg.ids["aino"], "--set", "contact.city=Hamina", prefix=unprivileged())
    finally:
        reg.dir.chmod(0o700)
    assert done.returncode == 10, done.stderr
    assert done.stderr.decode().splitlines() == [
        f"kss-panel: error: cannot write the register {reg.db}: its directory is read-only to this user, so the journal cannot be"
        " created beside it; nothing was changed",
        f"kss-panel: hint: let the user that runs kss-panel write to {reg.dir} (the register's directory), or move the register",
    ]
    assert reg.tables() == before


# --- a full disk ------------------------------------------------------------------------------------------------------

FULL_DISK = r"""
set -u
dir=$1; out=$2; free=$3; shift 3
mount -t tmpfs -o size=2m tmpfs "$dir" || exit 99
cp "$out"/register.db "$out"/desk.key "$dir"/
dd if=/dev/zero of="$dir/filler" bs=4k 2>/dev/null
truncate -s "-$free" "$dir/filler"
"$@" > "$out/stdout" 2> "$out/stderr"
echo $? > "$out/rc"
rm "$dir/filler"
rm "$out"/register.db
cp "$dir"/register.db* "$out"/
"""


def on_a_full_disk(reg: Register, tmp_path: Path, free: str, *args: str) -> tuple[int, str, Path]:
    """Run kss-panel ARGS on a copy of the register on a 2 MB tmpfs with only ``free`` bytes left; the exit code,
    stderr and the directory holding the register (and anything beside it) afterwards."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a real full disk needs root and unshare (a tmpfs in a private mount namespace)")
    small, out = tmp_path / "small", tmp_path / "out"
    small.mkdir()
    out.mkdir()
    shutil.copy(reg.db, out / "register.db")
    shutil.copy(reg.key_file, out / "desk.key")
    db = small / "register.db"
    argv = [str(reg.argv()[0]), "--db", str(db), "--policies", str(reg.policies_dir), *args, "--key-file", str(small / "desk.key")]
    done = subprocess.run(["unshare", "-m", "bash", "-c", FULL_DISK, "full-disk", str(small), str(out), free, *argv],
                          capture_output=True, env=process_env(), timeout=60)
    if done.returncode == 99:
        pytest.skip("tmpfs cannot be mounted here")
    assert done.returncode == 0, done.stderr
    return int((out / "rc").read_text()), (out / "stderr").read_text(), out


def test_an_import_on_a_full_disk_changes_nothing(reg: Register, tmp_path: Path) -> None:
    rows = "".join(f"{40_000_000 + n},Aino,Mäkelä,aino.{n}@example.fi,fi\n" for n in range(400))
    applications = reg.file("customer_number,contact.first_name,contact.last_name,contact.email,contact.language\n" + rows)
    before = reg.tables()
    code, stderr, out = on_a_full_disk(reg, tmp_path, "32K", "import", str(applications))
    small = tmp_path / "small"
    assert code == 10, stderr
    # The import prepares its rows in a staging file beside the register: that is where the disk filled up.
    assert stderr.splitlines() == [
        f"kss-panel: error: cannot write the import's staging file {small / 'register.db.import'}: the disk is full; nothing was changed",
        hint(small, FULL_HINT),
    ]
    assert "register.db.import" not in {path.name for path in out.iterdir()}  # the staging file was wiped and removed
    assert table_rows(out / "register.db") == before


def test_an_erase_on_a_full_disk_changes_nothing(reg: Register, tmp_path: Path) -> None:
    before = reg.tables()
    code, stderr, out = on_a_full_disk(reg, tmp_path, "0", "erase", reg.ids["aino"], "--reason", "request")
    assert code == 10, stderr
    # In WAL mode the full disk may show first as the shared-memory file that cannot grow: an I/O error.
    assert stderr.splitlines()[0].endswith((": the disk is full; nothing was changed", "(the disk may be full or failing); nothing was changed")), stderr
    assert table_rows(out / "register.db") == before
    assert not (out / "register.db.erasures").exists() or reg.ids["aino"] not in (out / "register.db.erasures").read_text()


# --- damaged pages ----------------------------------------------------------------------------------------------------


def zero_page_of(db: Path, table: str) -> None:
    conn = sqlite3.connect(db)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db, "r+b") as handle:
        handle.seek((root - 1) * size)
        handle.write(b"\0" * size)


@pytest.mark.parametrize(("table", "args"), [("slots", ("list",)), ("slots", ("officer", "list")), ("members", ("show", "aino"))])
def test_a_zeroed_page_is_a_corrupt_register(reg: Register, table: str, args: tuple[str, ...]) -> None:
    zero_page_of(reg.db, table)
    argv = [reg.ids.get(arg, arg) for arg in args]
    result = reg.run(*argv)
    assert_failure(result, 7, "the register file is corrupt or not a kss-panel register")
