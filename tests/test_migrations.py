"""Named schema migrations run on registers made by earlier code.

tests/fixtures/pre-0004 holds a register made by the code before migration
0004_format_2, which keeps the rejection reason (its generate.py says how): two rejected applicants
whose reasons were kept only in the audit entries of their rejections.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kss_panel.migrations import MIGRATIONS, SCHEMA_VERSION
from support import invoke

FIXTURE = Path(__file__).parent / "fixtures" / "pre-0004"
IDS = json.loads((FIXTURE / "manifest.json").read_text())
NOW = datetime(2025, 6, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """A copy of the schema-3 register, and its desk.key beside it."""
    for name in ("register.db", "desk.key"):
        shutil.copy(FIXTURE / name, tmp_path / name)
        (tmp_path / name).chmod(0o600)
    return tmp_path


def columns(db: Path) -> dict[str, tuple]:
    conn = sqlite3.connect(db)
    try:
        return {
            "migrations": tuple(row[0] for row in conn.execute("SELECT name FROM migrations ORDER BY name")),
            "user_version": conn.execute("PRAGMA user_version").fetchone(),
            "members": tuple(row[1] for row in conn.execute("PRAGMA table_info(members)")),
            "reasons": tuple(conn.execute("SELECT member_id, status, rejection_reason FROM members ORDER BY member_id")
                             if "rejection_reason" in {r[1] for r in conn.execute("PRAGMA table_info(members)")} else ()),
        }
    finally:
        conn.close()


def run(directory: Path, *args: str) -> dict:
    result = invoke("--db", directory / "register.db", *args, "--key-file", directory / "desk.key", "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)["data"]


def test_the_fixture_was_made_before_migration_0004(old: Path) -> None:
    found = columns(old / "register.db")
    assert found["migrations"] == ("0001_create_register", "0002_lifecycle_and_erasure_ledger", "0003_data_subject_rights")
    assert found["user_version"] == (3,)
    assert "rejection_reason" not in found["members"]


def test_0004_keeps_each_rejection_reason_beside_the_status(old: Path) -> None:
    assert "0004_format_2" in [name for name, _ in MIGRATIONS]
    run(old, "list")  # opening the register migrates it
    found = columns(old / "register.db")
    assert "0004_format_2" in found["migrations"] and found["user_version"] == (SCHEMA_VERSION,)
    assert found["reasons"] == tuple(sorted([
        (IDS["aino"], "rejected", "not-a-customer"), (IDS["veikko"], "rejected", "outside-target-group"), (IDS["ulla"], "applicant", None),
    ]))
    assert run(old, "audit", "verify")["entries"] > 0  # the trail the reasons came from is untouched


def test_the_access_export_of_a_migrated_register_states_the_reason(old: Path) -> None:
    export = run(old, "export", "access", IDS["veikko"])
    assert export["rejection"] == {"reason": "outside-target-group", "text": "Sökanden hör inte till panelens målgrupp."}
    assert run(old, "export", "access", IDS["ulla"])["rejection"] is None
