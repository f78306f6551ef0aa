"""The objections and request subjects of format 2 (migration 0004_format_2) on a register written by the code before it.

tests/fixtures/before-objections/ holds a register made by that code (schema
version 3; see generate.py there): an admitted member who objected to direct
marketing (the one objection that code knew), one who consented to email
marketing, an open, an extended and a closed request. Its first opening by
this code migrates it in the same transaction as the command.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kss_panel.migrations import SCHEMA_VERSION
from support import CANARY_STRINGS, POLICIES_DIR, invoke, found

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "before-objections"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text(encoding="utf-8"))
NOW = datetime(2025, 6, 20, 12, 0, tzinfo=UTC)  # within the first month of the open request (received 2025-06-02)
CANARY_ID, VEIKKO_ID = MANIFEST["members"]["canary"], MANIFEST["members"]["veikko"]


class Old:
    """A copy of the fixture, run through the command line."""

    def __init__(self, directory: Path) -> None:
        self.db = directory / "register.db"
        self.key = directory / "desk.key"
        for name in ("register.db", "desk.key"):
            shutil.copy(FIXTURE / name, directory / name)
            os.chmod(directory / name, 0o600)

    def run(self, *args: str | Path) -> object:
        return invoke("--db", self.db, "--policies", POLICIES_DIR, *args, "--key-file", self.key)

    def json(self, *args: str | Path) -> object:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, (result.stdout, result.stderr)  # type: ignore[attr-defined]
        return json.loads(result.stdout)["data"]  # type: ignore[attr-defined]

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(statement).fetchall()
        finally:
            conn.close()


@pytest.fixture
def old(tmp_path: Path) -> Old:
    register = Old(tmp_path)
    assert register.sql("PRAGMA user_version") == [(3,)]
    assert "processing_objected_at" not in {row[1] for row in register.sql("PRAGMA table_info(members)")}
    return register


def test_the_first_command_migrates_the_file(old: Old) -> None:
    assert old.json("audit", "verify")["entries"] > 0
    assert old.sql("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert ("0004_format_2",) in old.sql("SELECT name FROM migrations")
    columns = {row[1]: row for row in old.sql("PRAGMA table_info(requests)")}
    assert {"subject", "subject_digest", "subject_box"} <= set(columns)
    assert columns["member_id"][3] == 0  # member_id may now be empty: a request about someone who is not a member
    assert old.sql("SELECT DISTINCT subject FROM requests") == [("member",)]


def test_the_old_objection_is_the_objection_to_direct_marketing(old: Old) -> None:
    shown = old.json("show", CANARY_ID)
    assert (shown["objected_at"], shown["processing_objected_at"]) == (MANIFEST["objected"][CANARY_ID], None)
    assert [row["member_id"] for row in old.json("list", "--objected")] == [CANARY_ID]
    refused = old.run("consent", CANARY_ID, "--give", "email_marketing")
    assert refused.exit_code == 9, refused.stderr  # type: ignore[attr-defined]


def test_an_old_direct_marketing_objector_now_hears_panel_communication(old: Old, tmp_path: Path) -> None:
    data = old.json("export", "disclosure", "panel-mailer", "--purpose", "communication", "--out", tmp_path / "mail.csv")
    assert (data["disclosed"], data["objected"]) == (2, 0)
    data = old.json("export", "disclosure", "direct-marketing", "--purpose", "marketing", "--out", tmp_path / "dm.csv")
    assert (data["disclosed"], data["objected"]) == (1, 1)


def test_old_requests_keep_their_member_deadlines_and_state(old: Old) -> None:
    requests = {row["id"]: row for row in old.json("request", "list")}
    ids = MANIFEST["requests"]
    assert (requests[ids["open"]]["member_id"], requests[ids["open"]]["subject"], requests[ids["open"]]["deadline"]) == (
        CANARY_ID, "member", "2025-07-02")
    assert (requests[ids["extended"]]["extended"], requests[ids["extended"]]["deadline"]) == (True, "2025-08-10")
    assert (requests[ids["closed"]]["status"], requests[ids["closed"]]["outcome"]) == ("closed", "fulfilled")
    refused = old.run("request", "extend", str(ids["extended"]), "--reason", "complexity")
    assert refused.exit_code == 9  # type: ignore[attr-defined]
    assert old.json("request", "extend", str(ids["open"]), "--reason", "complexity")["deadline"] == "2025-09-02"


def test_after_the_migration_requests_about_non_members_are_sealed(old: Old) -> None:
    opened = old.json("request", "open", "--type", "access", "--person", "Canaryfirstname Canarylastname, Canarycity")
    assert (opened["subject"], opened["member_id"]) == ("person", None)
    assert found(old.db.read_bytes(), CANARY_STRINGS) == []
