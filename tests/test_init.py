"""init: a new register, 0600, never over an existing file, passphrase from env, file or nowhere."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

from typer.testing import Result

from kss_panel import crypto
from kss_panel.services.session import init_register
from kss_panel.policy import Policies
from support import FAST_KDF, NOW, PASSPHRASE, POLICIES_DIR, Register, assert_clean_failure, invoke


def init(db: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return invoke("--db", db, "--policies", POLICIES_DIR, "init", "--unlock-time", "0", *args, env=env)


def slot_rows(db: Path) -> list[dict[str, object]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute("SELECT * FROM slots ORDER BY name")]
    finally:
        conn.close()


def audit_actions(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[0] for row in conn.execute("SELECT action FROM audit ORDER BY seq")]
    finally:
        conn.close()


def test_init_with_passphrase_from_environment(tmp_path: Path) -> None:
    db = tmp_path / "panel.db"
    result = init(db, "--officer", "aino", env={"KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"created register {db} with officer aino\n"
    assert result.stderr == ""
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert audit_actions(db) == ["init"]

    [slot] = slot_rows(db)
    assert (slot["name"], slot["role"], slot["kind"]) == ("aino", "officer", "passphrase")
    kdf = json.loads(str(slot["kdf"]))
    assert kdf["alg"] == "argon2id"
    assert set(kdf) == {"alg", "salt", "memory_kib", "iterations", "lanes"}
    assert len(crypto.b64decode(kdf["salt"])) == 16
    assert kdf["memory_kib"] >= crypto.ARGON2_MEMORY_KIB
    assert kdf["iterations"] >= crypto.ARGON2_MIN_ITERATIONS
    assert kdf["lanes"] == crypto.ARGON2_LANES
    assert PASSPHRASE.encode() not in db.read_bytes()

    # The passphrase opens the new slot; another one does not.
    base = ["--db", str(db), "--policies", str(POLICIES_DIR), "officer", "list", "--officer", "aino"]
    ok = invoke(*base, env={"KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert ok.exit_code == 0, ok.stderr
    assert "aino" in ok.stdout
    wrong = invoke(*base, env={"KSS_PANEL_PASSPHRASE": PASSPHRASE + "x"})
    assert_clean_failure(wrong, 3)


def test_a_new_register_has_8_kib_pages(tmp_path: Path) -> None:
    """A member's row (about 1.1 KB) fills an 8 KiB page to some 95%; a 4 KiB page holds three of them."""
    db = tmp_path / "panel.db"
    assert init(db, "--officer", "aino", env={"KSS_PANEL_PASSPHRASE": PASSPHRASE}).exit_code == 0
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA page_size").fetchone() == (8192,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_init_with_passphrase_file_and_officer_from_environment(tmp_path: Path) -> None:
    db = tmp_path / "panel.db"
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\nsecond line is ignored\n")
    result = init(db, "--passphrase-file", str(secret), env={"KSS_PANEL_OFFICER": "ritva"})
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert [slot["name"] for slot in slot_rows(db)] == ["ritva"]
    # The first line, without its newline, is the passphrase.
    argv = ["--db", str(db), "--policies", str(POLICIES_DIR), "audit", "head", "--officer", "ritva"]
    opened = invoke(*argv, env={"KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert opened.exit_code == 0, opened.stderr


def test_init_without_terminal_or_passphrase_fails_with_exit_3(tmp_path: Path) -> None:
    db = tmp_path / "panel.db"
    result = init(db, "--officer", "aino")
    assert_clean_failure(result, 3)
    assert result.stderr.splitlines() == [
        "kss-panel: error: no passphrase given and no terminal to ask on",
        "kss-panel: hint: set KSS_PANEL_PASSPHRASE, or pass --passphrase-file",
    ]
    assert result.stdout == ""
    assert not db.exists()


def test_init_refuses_to_overwrite_a_register(reg: Register) -> None:
    before = reg.db.read_bytes()
    result = init(reg.db, "--officer", "ritva", env={"KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == [
        f"kss-panel: error: {reg.db} already exists: refusing to overwrite it",
        "  --db: file exists",
    ]
    assert reg.db.read_bytes() == before


def test_init_rejects_a_short_passphrase_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "panel.db"
    result = init(db, "--officer", "aino", env={"KSS_PANEL_PASSPHRASE": "short"})
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == [
        "kss-panel: error: passphrase too short",
        "  passphrase: must be at least 12 characters",
    ]
    assert "short" not in result.stderr.replace("passphrase too short", "")
    assert not db.exists()


def test_init_rejects_a_bad_officer_name_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "panel.db"
    result = init(db, "--officer", "Aino Mäkelä", env={"KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines()[0] == "kss-panel: error: invalid officer name"
    assert not db.exists()


def test_init_requires_an_officer(tmp_path: Path) -> None:
    db = tmp_path / "panel.db"
    result = init(db, env={"KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert_clean_failure(result, 5)
    assert not db.exists()


def test_init_register_service_stores_its_kdf_parameters(tmp_path: Path, policies: Policies) -> None:
    db = tmp_path / "svc.db"
    with init_register(db, policies, "aino", PASSPHRASE, FAST_KDF, NOW) as session:
        assert session.role == "officer"
        assert session.actor == "aino"
    [slot] = slot_rows(db)
    assert crypto.KdfParams.from_dict(json.loads(str(slot["kdf"]))) == FAST_KDF
    assert slot["created_at"] == "2025-06-15T09:30:00+00:00"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
