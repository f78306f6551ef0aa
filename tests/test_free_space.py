"""The unused space inside the register's pages is cleared after every write (free_space; docs/crypto.md §8).

secure_delete zeroes a cell SQLite deletes and a page it frees, but a
rebalance rebuilds a page's cells towards its end and leaves the bytes below
them: copies of cells that moved, which a later erasure or rectification does
not reach. tests/fixtures/pre-0005 holds a register made by the code before
migration 0005_clear_unused_page_space (its generate.py says how) in which a
rectified member's old box is left so; tests/test_forensics.py shows none is
left on a real file system now.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kss_panel import free_space
from kss_panel.database import wal_path
from kss_panel.migrations import SCHEMA_VERSION
from support import AINO, VEIKKO, Register, invoke

FIXTURE = Path(__file__).parent / "fixtures" / "pre-0005"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text())
POISON = 0xA5


def pages(db: Path) -> list[tuple[int, bytes]]:
    raw = db.read_bytes()
    size = struct.unpack_from(">H", raw, 16)[0]
    return [(n + 1, raw[n * size : (n + 1) * size]) for n in range(len(raw) // size)]


def spans(db: Path) -> list[tuple[int, int]]:
    """Every unused span of the file, as absolute (start, end) offsets."""
    found = []
    for number, page in pages(db):
        base = (number - 1) * len(page)
        found += [(base + a, base + b) for a, b in free_space.unused_spans(page, 100 if number == 1 else 0, len(page))]
    return found


def fill(db: Path, where: list[tuple[int, int]], byte: int) -> int:
    with db.open("r+b") as handle:
        for start, end in where:
            handle.seek(start)
            handle.write(bytes([byte]) * (end - start))
    return sum(end - start for start, end in where)


def content(db: Path) -> tuple[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = [*conn.execute("SELECT * FROM t ORDER BY id"), *conn.execute("SELECT * FROM w ORDER BY k")]
        return check, rows
    finally:
        conn.close()


# --- the page parser --------------------------------------------------------------------------------------------


@st.composite
def hostile_pages(draw: st.DrawFn) -> tuple[bytes, int]:
    """512 bytes, often with a plausible b-tree header: a page type, a free block chain, a content start."""
    page = bytearray(draw(st.binary(min_size=512, max_size=512)))
    at = draw(st.sampled_from([0, 100]))
    if draw(st.booleans()):
        page[at] = draw(st.sampled_from([2, 5, 10, 13]))
        struct.pack_into(">HHH", page, at + 1, draw(st.integers(0, 520)), draw(st.integers(0, 300)), draw(st.integers(0, 520)))
        for _ in range(draw(st.integers(0, 3))):
            block = draw(st.integers(0, 508))
            struct.pack_into(">HH", page, block, draw(st.integers(0, 520)), draw(st.integers(0, 520)))
    return bytes(page), at


@settings(max_examples=500, deadline=None)
@given(hostile_pages())
def test_the_unused_spans_of_any_bytes_lie_inside_the_page_past_its_header(case: tuple[bytes, int]) -> None:
    page, at = case
    found = free_space.unused_spans(page, at, len(page))
    assert found == sorted(found)
    for (start, end), following in zip(found, [*found[1:], (len(page), len(page))], strict=False):
        assert at + 8 <= start < end <= following[0] <= len(page)


def test_a_page_that_is_not_a_b_tree_page_has_no_unused_span() -> None:
    overflow = struct.pack(">I", 7) + b"\xff" * 508  # an overflow page: the next page's number first
    assert free_space.unused_spans(overflow, 0, 512) == []
    assert free_space.unused_spans(bytes(512), 0, 512) == []  # a zeroed free page
    looping = bytearray(512)
    looping[0] = 13
    struct.pack_into(">HHH", looping, 1, 400, 0, 300)
    struct.pack_into(">HH", looping, 400, 300, 8)  # a free block chain that goes back down
    assert free_space.unused_spans(bytes(looping), 0, 512) == []


OPS = st.lists(
    st.tuples(st.sampled_from(["insert", "update", "delete"]), st.integers(0, 60), st.integers(1, 2500)),
    min_size=1,
    max_size=120,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPS)
def test_poisoning_every_unused_span_changes_nothing_sqlite_reads_and_clearing_zeroes_them(tmp_path: Path, ops: list[tuple[str, int, int]]) -> None:
    db = tmp_path / "t.db"
    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA page_size = 1024")  # small pages: many of them, rebalanced often, and overflow pages
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, tag TEXT, v BLOB)")
    conn.execute("CREATE INDEX t_tag ON t (tag)")
    conn.execute("CREATE TABLE w (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID")
    for n, (op, key, size) in enumerate(ops):
        value = bytes([n % 251 + 1]) * size
        if op == "insert":
            conn.execute("INSERT OR REPLACE INTO t VALUES (?, ?, ?)", (key, f"tag{size}" * (size % 7 + 1), value))
            conn.execute("INSERT OR REPLACE INTO w VALUES (?, ?)", (f"k{key:04}", value[: size // 3 + 1]))
        elif op == "update":
            conn.execute("UPDATE t SET v = ?, tag = ? WHERE id >= ? AND id < ?", (value, f"u{size}", key, key + 5))
        else:
            conn.execute("DELETE FROM t WHERE id % 61 BETWEEN ? AND ?", (key, key + size % 9))
            conn.execute("DELETE FROM w WHERE k < ?", (f"k{key // 2:04}",))
    conn.close()
    before = content(db)
    assert before[0] == "ok"

    poisoned = fill(db, spans(db), POISON)
    assert poisoned > 0  # there is unused space to poison: the header's first page alone has some
    assert content(db) == before  # nothing SQLite reads was in an unused span

    assert free_space.clear(db) == poisoned  # each poisoned span, whole
    assert all(not any(db.read_bytes()[a:b]) for a, b in spans(db))
    assert content(db) == before
    assert free_space.clear(db) == 0  # nothing left to clear


def test_logged_pages_names_every_page_the_log_holds_a_frame_of(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE a (v BLOB)")
    conn.execute("CREATE TABLE b (v BLOB)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    roots = dict(conn.execute("SELECT name, rootpage FROM sqlite_master"))
    conn.execute("INSERT INTO b VALUES (x'00')")
    assert free_space.logged_pages(wal_path(db)) == {roots["b"]}  # the empty table's root only
    conn.execute("INSERT INTO a VALUES (x'00')")
    assert free_space.logged_pages(wal_path(db)) == {roots["a"], roots["b"]}
    conn.close()
    log = tmp_path / "garbage-wal"
    for text in (b"", bytes(4096), b"\x37\x7f\x06\x82" + bytes(28), b"\x37\x7f\x06\x82\x00\x2d\xe2\x18\x00\x00\x03\x00" + bytes(5000)):
        log.write_bytes(text)
        assert free_space.logged_pages(log) == set()  # no header, a zeroed one, a page size of 0, of 768


# --- the register ------------------------------------------------------------------------------------------------


def member_page(reg: Register, member_id: str) -> list[tuple[int, int]]:
    """The unused spans (absolute offsets) of the page holding a member's box."""
    [box] = reg.boxes(member_id)
    raw = reg.raw()
    size = struct.unpack_from(">H", raw, 16)[0]
    base = raw.find(box) // size * size
    return [(start, end) for start, end in spans(reg.db) if base <= start < base + size]


def test_a_write_clears_what_lies_in_the_unused_space_of_the_pages_it_changed(make_register: Callable[..., Register]) -> None:
    reg = make_register({"aino": AINO, "veikko": VEIKKO})
    aino = reg.ids["aino"]
    unused = member_page(reg, aino)
    canary = b"stale-copy-of-a-cell-" * 3
    where = [(start, start + len(canary)) for start, end in unused if end - start >= len(canary)][:1]
    assert where, "the page has room for the canary"
    with reg.db.open("r+b") as handle:
        handle.seek(where[0][0])
        handle.write(canary)
    assert canary in reg.raw()
    assert reg.run("show", aino).exit_code == 0  # SQLite reads past it: it is in unused space

    assert reg.run("update", aino, "--set", "contact.city=Muualla").exit_code == 0
    assert canary not in reg.raw()
    assert reg.run("audit", "verify").exit_code == 0
    assert reg.sql("PRAGMA integrity_check") == [("ok",)]


# --- migration 0005 on a register made by the code before it -----------------------------------------------------


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """A copy of the schema-4 register, with its erasure ledger and desk.key beside it."""
    for name in ("register.db", "register.db.erasures", "desk.key"):
        shutil.copy(FIXTURE / name, tmp_path / name)
        (tmp_path / name).chmod(0o600)
    return tmp_path


def run(directory: Path, *args: str) -> tuple[int, str]:
    result = invoke("--db", directory / "register.db", *args, "--key-file", directory / "desk.key", "--json")
    return result.exit_code, result.stdout


def test_the_fixture_was_made_before_0005_and_holds_an_old_box_in_unused_space(old: Path) -> None:
    db = old / "register.db"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (4,)
        assert "0005_clear_unused_page_space" not in {row[0] for row in conn.execute("SELECT name FROM migrations")}
    finally:
        conn.close()
    raw = db.read_bytes()
    stale = [bytes.fromhex(text) for text in MANIFEST["stale"]]
    assert stale and all(blob in raw for blob in stale)
    inside = spans(db)
    assert all(any(a <= raw.find(blob) and raw.find(blob) + len(blob) <= b for a, b in inside) for blob in stale)


def test_0005_clears_what_earlier_writes_left_and_keeps_every_member(old: Path) -> None:
    db = old / "register.db"
    code, out = run(old, "audit", "verify")  # opening the register migrates it
    assert code == 0, out
    raw = db.read_bytes()
    assert [text for text in MANIFEST["stale"] if bytes.fromhex(text) in raw] == []
    assert not any(raw[a:b].strip(b"\0") for a, b in spans(db))  # every unused span is zeros, not only the one known
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (5,)
        assert "0005_clear_unused_page_space" in {row[0] for row in conn.execute("SELECT name FROM migrations")}
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    for member_id in MANIFEST["kept"]:
        assert run(old, "show", member_id)[0] == 0
    for member_id in MANIFEST["erased"]:
        assert run(old, "show", member_id)[0] == 4
    assert not wal_path(db).exists() or not any(wal_path(db).read_bytes()[:32])
