"""Commands that walk every member keep their memory flat in the register's size: SQLite hands the rows over
along an index, sorting nothing, and `list --json` writes its document as the rows come.

(The figures, peak memory at 10,000 and 300,000 members, are in benchmarks/bench_memory.py; these tests hold
the mechanism: what SQLite is asked, and how the output is written.)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from kss_panel.errors import IntegrityError
from kss_panel.services import disclosure, lifecycle, members
from support import AINO, NOW, VEIKKO, Register

POPULATED = {"aino": AINO, "veikko": VEIKKO}


def statements(reg: Register, work: Any) -> list[str]:
    """Every SQL statement ``work(session)`` runs on the register's connection."""
    seen: list[str] = []
    with reg.session() as session:
        session.store.conn.set_trace_callback(seen.append)
        try:
            work(session)
        finally:
            session.store.conn.set_trace_callback(None)
    return seen


def plans(reg: Register, queries: list[str]) -> list[str]:
    """SQLite's query plan of each SELECT (its parameters as NULL: the plan does not depend on them)."""
    conn = sqlite3.connect(reg.db)
    try:
        return [" | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}", [None] * query.count("?")))
                for query in queries if query.lstrip().upper().startswith("SELECT") and "FROM members" in query]
    finally:
        conn.close()


@pytest.mark.parametrize("work", [
    lambda session: list(members.list_members(session, NOW)),
    lambda session: list(members.list_members(session, NOW, status="applicant")),
    lambda session: disclosure.disclose(session, "panel-mailer", "communication", NOW),
    lambda session: lifecycle.plan_purge(session, NOW.date()),
], ids=["list", "list --status", "export disclosure (dry run)", "purge (dry run)"])
def test_walking_members_sorts_nothing(make_register: Any, work: Any) -> None:
    reg = make_register(POPULATED)
    walks = plans(reg, statements(reg, work))
    assert walks
    assert not [plan for plan in walks if "TEMP B-TREE" in plan], walks


def test_a_members_last_committed_row_is_found_through_the_index(populated: Register) -> None:
    queries = statements(populated, lambda session: members.show(session, populated.ids["aino"], NOW))
    trail = [query for query in queries if query.startswith("SELECT state FROM audit")]
    conn = sqlite3.connect(populated.db)
    try:
        found = [" | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {q}", [None] * q.count("?"))) for q in trail]
    finally:
        conn.close()
    assert found and all("USING INDEX audit_state" in plan for plan in found), found


def test_list_json_is_written_as_the_rows_come(populated: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    """The document is the one json.dumps would give; a failure part-way leaves it unfinished on stdout (no
    second document), the error on stderr and its exit code."""
    whole = populated.run("list", "--json")
    assert whole.exit_code == 0
    document = json.loads(whole.stdout)
    assert whole.stdout == json.dumps(document, ensure_ascii=False) + "\n"
    real = members.list_members

    def failing(*args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        yield from list(real(*args, **kwargs))[:1]
        raise IntegrityError("the register file is corrupt or not a kss-panel register")

    monkeypatch.setattr(members, "list_members", failing)
    broken = populated.run("list", "--json")
    assert broken.exit_code == 7
    assert broken.stderr.splitlines() == ["kss-panel: error: the register file is corrupt or not a kss-panel register"]
    assert broken.stdout.startswith('{"kss_panel": 1, "command": "list", "ok": true, "data": [') and '"error"' not in broken.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.stdout)
