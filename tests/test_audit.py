"""audit log|verify|head: the HMAC chain catches edits, deletions, reordering and truncation."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kss_panel import audit
from kss_panel.services import members
from kss_panel.errors import IntegrityError
from kss_panel.record import flatten
from kss_panel.policy import Policies
from support import AINO, NOW, Register, assert_clean_failure

HEAD = re.compile(r"^(\d+)-[0-9a-f]{64}$")


@pytest.fixture
def busy(populated: Register, policies: Policies) -> Register:
    """A register with six audit entries: init, officer-add, enrol x2, show, find."""
    with populated.session(policies) as session:
        members.show(session, populated.ids["aino"], NOW)
        members.find(session, "email", "veikko.virtanen@example.fi", NOW)
    assert populated.count("audit") == 6
    return populated


def verify_fails(reg: Register, *args: str) -> str:
    before = reg.tables()
    result = reg.run("audit", "verify", *args)
    assert_clean_failure(result, 7)
    [line] = result.stderr.splitlines()
    assert result.stdout == ""
    assert reg.tables() == before
    return line


# --- reading ------------------------------------------------------------------------------------------------


def test_audit_log_lists_every_entry(busy: Register) -> None:
    entries = busy.json("audit", "log")
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [e["action"] for e in entries] == ["init", "officer-add", "enrol", "enrol", "show", "find"]
    assert set(entries[0]) == set(audit.ENTRY_FIELDS)
    assert entries[0]["actor"] == "aino" and entries[-1]["actor"] == "desk"
    assert entries[0]["at"] == "2025-06-15T09:30:00+00:00"
    assert len({e["policy_hash"] for e in entries}) == 1
    human = busy.run("audit", "log")
    assert human.exit_code == 0, human.stderr
    for action in ("init", "officer-add", "enrol", "show", "find"):
        assert action in human.stdout
    assert f"{len(flatten(AINO))} fields" in human.stdout  # long field lists are summarised


def test_audit_log_for_one_member(busy: Register) -> None:
    aino = busy.ids["aino"]
    entries = busy.json("audit", "log", "--member", aino)
    assert [(e["action"], e["member_id"]) for e in entries] == [("enrol", aino), ("show", aino)]


def test_audit_verify_and_head_agree(busy: Register) -> None:
    result = busy.run("audit", "verify")
    assert result.exit_code == 0, result.stderr
    head = busy.run("audit", "head")
    assert head.exit_code == 0, head.stderr
    token = head.stdout.strip()
    assert head.stdout == token + "\n"
    assert HEAD.match(token) and token.startswith("6-")
    assert result.stdout == f"audit trail verified: 6 entries, head {token}\n"
    assert busy.json("audit", "verify") == {"entries": 6, "head": token}
    assert busy.json("audit", "head") == {"head": token, "entries": 6}
    ok = busy.run("audit", "verify", "--head", token)
    assert ok.exit_code == 0, ok.stderr
    # An older head is still on a valid chain.
    [(mac,)] = busy.sql("SELECT mac FROM audit WHERE seq = 3")
    older = busy.run("audit", "verify", "--head", f"3-{mac}")
    assert older.exit_code == 0, older.stderr


def test_reading_the_audit_trail_writes_nothing(busy: Register) -> None:
    before = busy.tables()
    for args in (("audit", "log"), ("audit", "verify"), ("audit", "head")):
        assert busy.run(*args).exit_code == 0
    assert busy.tables() == before


# --- tampering ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("at", "2025-06-15T09:31:00+00:00"),
        ("actor", "mallory"),
        ("action", "init"),
        ("member_id", "Mzzzzzzzzzzzzzzzz"),
        ("member_id", None),
        ("fields", "[]"),
        ("fields", '["contact.email"]'),
        ("policy_hash", "0000000000000000"),
        ("detail", '{"officer": "mallory"}'),
        ("mac", "0" * 64),
    ],
)
def test_an_edited_entry_is_named(busy: Register, column: str, value: str | None) -> None:
    busy.sql(f"UPDATE audit SET {column} = ? WHERE seq = 3", [value])
    line = verify_fails(busy)
    assert line == "kss-panel: error: audit entry 3 does not verify: it was edited, deleted or reordered"


@pytest.mark.parametrize(("column", "value"), [("fields", "not json"), ("detail", "{"), ("mac", "not hex")])
def test_a_mangled_entry_is_named(busy: Register, column: str, value: str) -> None:
    busy.sql(f"UPDATE audit SET {column} = ? WHERE seq = 4", [value])
    line = verify_fails(busy)
    assert line.startswith("kss-panel: error: audit entry 4 ")


def test_an_edit_of_the_last_entry_is_named(busy: Register) -> None:
    busy.sql("UPDATE audit SET actor = 'aino' WHERE seq = 6")
    assert verify_fails(busy).startswith("kss-panel: error: audit entry 6 ")


def test_a_deleted_entry_is_named(busy: Register) -> None:
    busy.sql("DELETE FROM audit WHERE seq = 3")
    assert verify_fails(busy) == "kss-panel: error: audit entry 3 is missing or out of order (found 4)"


def test_a_deleted_and_renumbered_entry_is_named(busy: Register) -> None:
    busy.sql("DELETE FROM audit WHERE seq = 3")
    for seq in (4, 5, 6):
        busy.sql("UPDATE audit SET seq = ? WHERE seq = ?", [seq - 1, seq])
    assert verify_fails(busy).startswith("kss-panel: error: audit entry 3 ")


def test_reordered_entries_are_named(busy: Register) -> None:
    busy.sql("UPDATE audit SET seq = 100 WHERE seq = 3")
    busy.sql("UPDATE audit SET seq = 3 WHERE seq = 4")
    busy.sql("UPDATE audit SET seq = 4 WHERE seq = 100")
    assert verify_fails(busy) == "kss-panel: error: audit entry 3 does not verify: it was edited, deleted or reordered"


def test_swapped_contents_are_named(busy: Register) -> None:
    rows = busy.sql("SELECT at, actor, action, member_id, fields, policy_hash, detail, mac FROM audit WHERE seq IN (4, 5) ORDER BY seq")
    columns = "at = ?, actor = ?, action = ?, member_id = ?, fields = ?, policy_hash = ?, detail = ?, mac = ?"
    busy.sql(f"UPDATE audit SET {columns} WHERE seq = 4", rows[1])
    busy.sql(f"UPDATE audit SET {columns} WHERE seq = 5", rows[0])
    assert verify_fails(busy).startswith("kss-panel: error: audit entry 4 ")


def test_truncation_passes_without_a_head_but_not_with_one(busy: Register) -> None:
    token = busy.run("audit", "head").stdout.strip()
    busy.sql("DELETE FROM audit WHERE seq > 4")
    assert busy.run("audit", "verify").exit_code == 0  # a shorter valid chain: what the head is for
    line = verify_fails(busy, "--head", token)
    assert line.startswith("kss-panel: error: ")
    assert "truncated" in line or "rolled back" in line
    # The first bad entry is the first one missing.
    assert "audit entry 5" in line, line


def test_an_emptied_trail_is_caught(busy: Register) -> None:
    busy.sql("DELETE FROM audit")
    assert verify_fails(busy) == "kss-panel: error: the audit trail is empty: the register's entries were removed"


def test_a_rolled_back_file_is_caught_by_the_head(busy: Register) -> None:
    saved = busy.dir / "saved.db"
    shutil.copy(busy.db, saved)
    busy.json("show", busy.ids["veikko"])
    token = busy.json("audit", "head")["head"]
    assert token.startswith("7-")
    shutil.copy(saved, busy.db)
    line = verify_fails(busy, "--head", token)
    assert "truncated or rolled back" in line


def test_a_rolled_back_file_with_new_entries_is_caught_by_the_head(busy: Register) -> None:
    saved = busy.dir / "saved.db"
    shutil.copy(busy.db, saved)
    busy.json("show", busy.ids["veikko"])
    token = busy.json("audit", "head")["head"]
    shutil.copy(saved, busy.db)
    busy.json("show", busy.ids["aino"])  # entry 7 again, but a different one
    assert verify_fails(busy, "--head", token) == "kss-panel: error: audit entry 7 differs from the head kept outside the file"


@pytest.mark.parametrize(
    "token",
    ["", "junk", "6", "6-", "-" + "a" * 64, "6-" + "a" * 63, "6-" + "A" * 64, "6-" + "g" * 64, "x-" + "a" * 64, "²-" + "a" * 64],
)
def test_a_junk_head_is_invalid_input(busy: Register, token: str) -> None:
    result = busy.run("audit", "verify", "--head", token)
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == [
        "kss-panel: error: invalid audit head",
        "  --head: must be a token printed by 'kss-panel audit head'",
    ]


# --- the chain itself, without a register -------------------------------------------------------------------

KEY = bytes(range(32))
REGISTER = "r" * 32


def chain(actions: list[str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i, action in enumerate(actions):
        entry = {
            "at": f"2025-06-15T09:{i % 60:02d}:00+00:00", "actor": "aino", "action": action,
            "member_id": None, "fields": ["contact.city"], "policy_hash": "p" * 16, "detail": {},
        }
        rows.append(audit.seal_entry(KEY, REGISTER, rows[-1] if rows else None, entry))
    return rows


actions = st.lists(st.sampled_from(["enrol", "show", "find", "update", "list-names"]), min_size=2, max_size=12)


@settings(max_examples=50, deadline=None)
@given(actions, st.data())
def test_verify_names_the_first_edited_entry(names: list[str], data: st.DataObject) -> None:
    rows = chain(names)
    victim = data.draw(st.integers(0, len(rows) - 1))
    rows[victim] = {**rows[victim], "actor": "mallory"}
    with pytest.raises(IntegrityError, match=rf"^audit entry {victim + 1} "):
        audit.verify(KEY, REGISTER, rows)


@settings(max_examples=50, deadline=None)
@given(actions, st.data())
def test_verify_names_the_first_deleted_entry(names: list[str], data: st.DataObject) -> None:
    rows = chain(names)
    victim = data.draw(st.integers(0, len(rows) - 2))  # deleting the last is truncation
    del rows[victim]
    with pytest.raises(IntegrityError, match=rf"^audit entry {victim + 1} "):
        audit.verify(KEY, REGISTER, rows)


@settings(max_examples=50, deadline=None)
@given(actions, st.data())
def test_verify_with_head_catches_any_truncation(names: list[str], data: st.DataObject) -> None:
    rows = chain(names)
    head = audit.verify(KEY, REGISTER, rows)
    assert head == audit.Head(len(rows), str(rows[-1]["mac"]))
    keep = data.draw(st.integers(1, len(rows) - 1))
    with pytest.raises(IntegrityError):
        audit.verify(KEY, REGISTER, rows[:keep], head)


def test_verify_rejects_another_registers_or_keys_chain() -> None:
    rows = chain(["enrol", "show"])
    with pytest.raises(IntegrityError, match="^audit entry 1 "):
        audit.verify(KEY, "another register", rows)
    with pytest.raises(IntegrityError, match="^audit entry 1 "):
        audit.verify(bytes(32), REGISTER, rows)


def test_audit_entries_hold_no_values(populated: Register) -> None:
    raw = json.dumps(populated.sql("SELECT * FROM audit"), ensure_ascii=False)
    for value in ("Aino", "Mäkelä", "aino@example.fi", "+358401234567", "12345678", "Kouvola", "fishing"):
        assert value not in raw
    assert AINO["contact"]["email"] not in json.dumps(populated.json("audit", "log"))
