"""audit log|verify|head: a hash chain signed command by command, verified with no key at all.

Verification names the first entry edited, deleted, reordered or truncated
(with a head), and the first signed by a slot that did not exist, had been
removed, or did not write it. The trail vectors in tests/vectors/trail.json
pin the same rules without a register.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kss_panel import audit, crypto, keyslots
from kss_panel.audit_verify import verify_chain
from kss_panel.crypto_pk import SlotKeyPair
from kss_panel.errors import IntegrityError
from kss_panel.policy import Policies
from kss_panel.record import flatten
from kss_panel.services import members
from support import AINO, NOW, PASSPHRASE, Register, assert_clean_failure

HEAD = re.compile(r"^(\d+)-[0-9a-f]{64}$")
VECTORS = Path(__file__).parent / "vectors" / "trail.json"
TRAIL_COLUMNS = ("seq", "at", "actor", "action", "member_id", "fields", "policy", "detail", "state", "hash", "sig", "mac")


@pytest.fixture
def busy(populated: Register, policies: Policies) -> Register:
    """A register with six audit entries: init, officer-add, enrol x2, show, find."""
    with populated.session(policies) as session:
        members.show(session, populated.ids["aino"], NOW)
        members.find(session, "email", "veikko.virtanen@example.fi", NOW)
    assert populated.count("audit") == 6
    return populated


def verify_fails(reg: Register, *args: str) -> str:
    """``audit verify`` with no credentials at all exits 7 with one line; nothing is written."""
    before = reg.tables()
    result = reg.cli("audit", "verify", *args)
    assert_clean_failure(result, 7)
    [line] = result.stderr.splitlines()
    assert result.stdout == ""
    assert reg.tables() == before
    return line


def slot_pair(reg: Register, name: str, credentials: keyslots.Credentials) -> SlotKeyPair:
    """A slot's private key pair, as its holder (an officer, a machine, one removed since) can open it."""
    [(register_id,)] = reg.sql("SELECT value FROM meta WHERE key = 'register_id'")
    columns = ("name", "role", "kind", "kdf", "recipient", "verifier", "secrets", "grant", "legacy")
    [row] = [dict(zip(columns, r, strict=True)) for r in reg.sql(f"SELECT {', '.join(columns)} FROM slots WHERE name = ?", [name])]
    kek = keyslots.slot_kek(row, credentials)
    assert kek is not None
    opened = keyslots.open_slot(register_id, row, kek)
    assert opened is not None and opened.pair is not None
    return opened.pair


def forge(reg: Register, actor: str, pair: SlotKeyPair, action: str = "show") -> int:
    """Append one signed command to the file by hand, as whoever holds ``pair`` could; its entry number."""
    [(register_id,)] = reg.sql("SELECT value FROM meta WHERE key = 'register_id'")
    [(seq, at, chain_hash)] = reg.sql("SELECT seq, at, hash FROM audit ORDER BY seq DESC LIMIT 1")
    [(policy,)] = reg.sql("SELECT policy FROM audit WHERE seq = 1")
    writer = audit.Writer(register_id, actor, policy.hex(), audit.Link(seq, at, chain_hash, None), lambda paths: None, signer=pair.signer())
    row = writer.entry(NOW, action, reg.ids["aino"])
    sealed = writer.seal()
    assert sealed is not None
    reg.sql("INSERT INTO audit (seq, at, actor, action, member_id, fields, policy, detail, state, hash, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [row["seq"], row["at"], actor, action, row["member_id"], None, row["policy"], None, None, sealed[1], sealed[2]])
    return int(row["seq"])


def desk_credentials(reg: Register) -> keyslots.Credentials:
    return keyslots.Credentials(key_secret=crypto.parse_key_file(reg.key_file.read_text()))


# --- reading ------------------------------------------------------------------------------------------------


def test_audit_log_lists_every_entry(busy: Register) -> None:
    entries = busy.json("audit", "log")
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [e["action"] for e in entries] == ["init", "officer-add", "enrol", "enrol", "show", "find"]
    assert set(entries[0]) == set(audit.ENTRY_FIELDS)
    assert entries[0]["actor"] == "aino" and entries[-1]["actor"] == "desk"
    assert entries[0]["at"] == "2025-06-15T09:30:00+00:00"
    assert len({e["policy_hash"] for e in entries}) == 1
    assert entries[2]["fields"] == sorted(flatten(AINO))
    human = busy.run("audit", "log")
    assert human.exit_code == 0, human.stderr
    for action in ("init", "officer-add", "enrol", "show", "find"):
        assert action in human.stdout
    assert f"{len(flatten(AINO))} fields" in human.stdout  # long field lists are summarised


def test_audit_log_for_one_member(busy: Register) -> None:
    aino = busy.ids["aino"]
    entries = busy.json("audit", "log", "--member", aino)
    assert [(e["action"], e["member_id"]) for e in entries] == [("enrol", aino), ("show", aino)]


def test_audit_verify_needs_no_credentials_and_agrees_with_head(busy: Register) -> None:
    result = busy.cli("audit", "verify")  # no --officer, no --key-file, nothing in the environment
    assert result.exit_code == 0, result.stderr
    head = busy.cli("audit", "head")
    assert head.exit_code == 0, head.stderr
    token = head.stdout.strip()
    assert head.stdout == token + "\n"
    assert HEAD.match(token) and token.startswith("6-")
    assert result.stdout == f"audit trail verified: 6 entries, head {token}\n"
    assert busy.json("audit", "verify") == {"entries": 6, "head": token}
    assert busy.cli("audit", "verify", "--head", token).exit_code == 0
    # Credentials, if given, change nothing: the file alone is enough.
    assert busy.run("audit", "verify").stdout == result.stdout


def test_an_older_head_is_still_on_the_chain(busy: Register) -> None:
    first = busy.cli("audit", "head").stdout.strip()
    busy.json("show", busy.ids["veikko"])
    assert busy.cli("audit", "verify", "--head", first).exit_code == 0


def test_reading_the_audit_trail_writes_nothing(busy: Register) -> None:
    before = busy.tables()
    for args in (("audit", "log"), ("audit", "verify"), ("audit", "head")):
        assert busy.run(*args).exit_code == 0
    assert busy.tables() == before


# --- the vectors ----------------------------------------------------------------------------------------------


def trail_vectors() -> list[Any]:
    cases = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert any("head" in case for case in cases) and any("error" in case for case in cases)
    return [pytest.param(case, id=f"{index}-{case['desc']}") for index, case in enumerate(cases)]


def early_signatures(register_id: str, rows: list[tuple[Any, ...]], *, wrong: bool) -> list[tuple[int, bytes, bytes, bytes]]:
    """What Store.early_signatures hands over for these rows: each signed entry with the last key the trail gives
    its slot and the message its stored hash makes; with ``wrong``, each with another slot's key."""
    keys: dict[str, bytes] = {}
    for _, _, actor, _, _, _, _, detail, *_ in rows:
        parsed = json.loads(detail) if detail else {}
        if isinstance(parsed, dict) and "verifier" in parsed:
            keys[parsed.get("officer", actor)] = bytes.fromhex(parsed["verifier"])
        if isinstance(parsed, dict) and isinstance(parsed.get("slots"), dict):
            keys.update((name, bytes.fromhex(slot["verifier"])) for name, slot in parsed["slots"].items())
    names = sorted(keys)
    if wrong:
        keys = {name: keys[names[(names.index(name) + 1) % len(names)]] for name in names}
    return [(row[0], keys[row[2]], row[10], audit.signed_message(register_id, row[0], row[9]))
            for row in rows if row[10] is not None and row[9] is not None and row[2] in keys]


@pytest.mark.parametrize(
    ("parallel_from", "early"), [(512, None), (0, None), (0, "right"), (0, "wrong")],
    ids=["here", "second-process", "early", "early-with-other-keys"],
)
@pytest.mark.parametrize("case", trail_vectors())
def test_trail_vector(case: dict[str, Any], parallel_from: int, early: str | None) -> None:
    """The same verdict whether each signature is checked as the walk meets it, by a second process, or handed to
    it before the walk (with the keys the slots have, or with other slots' keys: then the walk checks again)."""
    rows = [tuple(bytes.fromhex(e[k]) if k in ("policy", "state", "hash", "sig", "mac") and e[k] else e[k] for k in TRAIL_COLUMNS)
            for e in case["entries"]]
    fieldsets = {int(k): v for k, v in case["fieldsets"].items()}
    ahead = early_signatures(case["register_id"], rows, wrong=early == "wrong") if early else []
    assert not early or ahead or not any(row[10] for row in rows)
    if "head" in case:
        trail = verify_chain(case["register_id"], rows, fieldsets, parallel_from=parallel_from, early=ahead)
        assert trail.head.token() == case["head"]
        assert verify_chain(case["register_id"], rows, fieldsets, head=audit.Head.parse(case["head"])).head == trail.head
        with pytest.raises(IntegrityError, match="^audit entry 1 "):
            verify_chain("0" * 32, rows, fieldsets, parallel_from=parallel_from, early=ahead)  # another register's trail
    else:
        with pytest.raises(IntegrityError) as caught:
            verify_chain(case["register_id"], rows, fieldsets, parallel_from=parallel_from, early=ahead)
        assert caught.value.message == case["error"]


# --- tampering with the file ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("at", 1750000000),
        ("actor", "mallory"),
        ("action", "find"),
        ("member_id", "Mzzzzzzzzzzzzzzzz"),
        ("member_id", None),
        ("fields", None),
        ("policy", bytes(8)),
        ("detail", '{"officer":"mallory"}'),
        ("state", bytes(32)),
    ],
)
def test_an_edited_entry_is_named(busy: Register, column: str, value: Any) -> None:
    busy.sql(f"UPDATE audit SET {column} = ? WHERE seq = 3", [value])
    assert verify_fails(busy).startswith("kss-panel: error: audit entry 3 ")


@pytest.mark.parametrize(("column", "value"), [("fields", 999), ("detail", "{"), ("sig", b"junk"), ("hash", b"junk")])
def test_a_mangled_entry_is_named(busy: Register, column: str, value: Any) -> None:
    busy.sql(f"UPDATE audit SET {column} = ? WHERE seq = 4", [value])
    assert verify_fails(busy).startswith("kss-panel: error: audit entry 4 ")


def test_an_edit_of_the_last_entry_is_named(busy: Register) -> None:
    busy.sql("UPDATE audit SET member_id = ? WHERE seq = 6", [busy.ids["aino"]])
    assert verify_fails(busy).startswith("kss-panel: error: audit entry 6 ")


def test_an_edit_with_every_hash_recomputed_is_caught_by_the_signature(busy: Register) -> None:
    """A forger who knows the format recomputes the stored hashes; only the slot's signature is left, and holds."""
    busy.sql("UPDATE audit SET action = 'find' WHERE seq = 5")
    [(register_id,)] = busy.sql("SELECT value FROM meta WHERE key = 'register_id'")
    fieldsets = dict(busy.sql("SELECT id, paths FROM fieldsets"))
    chain = audit.genesis(register_id)
    for seq, at, actor, action, member_id, fields, policy, detail, state, stored in busy.sql(
        "SELECT seq, at, actor, action, member_id, fields, policy, detail, state, hash FROM audit ORDER BY seq"
    ):
        chain = audit.sha256(chain + audit.canonical(seq, at, actor, action, member_id, fieldsets.get(fields, ""), policy, detail, state))
        busy.sql("UPDATE audit SET hash = ? WHERE seq = ?", [chain[: len(stored)], seq])
    assert verify_fails(busy) == "kss-panel: error: audit entry 5 was edited, deleted or reordered: the signature does not verify"


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
    assert verify_fails(busy).startswith("kss-panel: error: audit entry 3 was edited, deleted or reordered")


def test_truncation_passes_without_a_head_but_not_with_one(busy: Register) -> None:
    token = busy.cli("audit", "head").stdout.strip()
    busy.sql("DELETE FROM audit WHERE seq > 4")
    assert busy.cli("audit", "verify").exit_code == 0  # a shorter valid chain: what the head is for
    line = verify_fails(busy, "--head", token)
    assert line == "kss-panel: error: audit entry 5 is missing: the trail ends at entry 4 but the head is entry 6 (truncated or rolled back)"


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
    assert "truncated or rolled back" in verify_fails(busy, "--head", token)


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
    result = busy.cli("audit", "verify", "--head", token)
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == [
        "kss-panel: error: invalid audit head",
        "  --head: must be a token printed by 'kss-panel audit head'",
    ]


# --- forgeries by slot holders --------------------------------------------------------------------------------


def test_no_slot_can_sign_in_another_slots_name(busy: Register) -> None:
    """An officer's key file cannot write an entry as another officer: the signature names the signer."""
    seq = forge(busy, "aino", slot_pair(busy, "desk", desk_credentials(busy)))
    assert verify_fails(busy) == f"kss-panel: error: audit entry {seq} is signed by 'desk', not by 'aino' who wrote it"


def test_a_purger_can_append_only_its_own_entries(make_register: Any) -> None:
    reg = make_register({"aino": AINO}, purger=True)
    cron = keyslots.Credentials(key_secret=crypto.parse_key_file(reg.keys["cron"].read_text()))
    seq = forge(reg, "aino", slot_pair(reg, "cron", cron), "officer-add")
    assert verify_fails(reg) == f"kss-panel: error: audit entry {seq} is signed by 'cron', not by 'aino' who wrote it"


def test_a_removed_officer_cannot_sign_any_more(busy: Register) -> None:
    pair = slot_pair(busy, "desk", desk_credentials(busy))  # kept from before the removal
    assert busy.run_as_aino("officer", "remove", "desk").exit_code == 0
    seq = forge(busy, "desk", pair)
    assert verify_fails(busy) == f"kss-panel: error: audit entry {seq} is signed by 'desk', a slot that had been removed (entry {seq - 1})"


def test_a_slot_that_never_existed_cannot_sign(busy: Register) -> None:
    seq = forge(busy, "ghost", SlotKeyPair.generate())
    assert verify_fails(busy) == f"kss-panel: error: audit entry {seq} is signed by 'ghost', a slot that did not exist"


def test_an_unsigned_entry_appended_is_named(busy: Register) -> None:
    busy.sql("INSERT INTO audit (seq, at, actor, action, member_id, fields, policy, detail) "
             "SELECT 7, at, actor, 'show', member_id, fields, policy, NULL FROM audit WHERE seq = 5")
    assert verify_fails(busy) == "kss-panel: error: audit entry 7 is not signed: the trail was cut or edited after it"
    # And no command signs over it: the next writer refuses to chain after an unsigned entry.
    result = busy.run("show", busy.ids["aino"])
    assert_clean_failure(result, 7)


# --- the chain alone, hostile edits ---------------------------------------------------------------------------

REGISTER = "r" * 32
SIGNER = SlotKeyPair(bytes(range(32)), bytes(range(32, 64)))


def chain(actions: list[str]) -> list[tuple[Any, ...]]:
    """A trail of ``init`` then one single-entry command per action, as stored (tuples)."""
    rows: list[dict[str, Any]] = []
    for i, action in enumerate(["init", *actions]):
        last = rows[-1] if rows else None
        link = audit.Link(last["seq"], last["at"], last["hash"], None) if last else None
        writer = audit.Writer(REGISTER, "aino", "0123456789abcdef", link, lambda paths: 1 if paths else None, signer=SIGNER.signer())
        detail = {"officer": "aino", "role": "officer", "kind": "passphrase", "verifier": SIGNER.verifier.hex()} if i == 0 else None
        row = writer.entry(NOW, action, None, ["contact.city"], detail)
        sealed = writer.seal()
        assert sealed is not None
        rows.append({**row, "hash": sealed[1], "sig": sealed[2], "mac": None})
    return [tuple(row[k] for k in TRAIL_COLUMNS) for row in rows]


FIELDSETS = {1: "contact.city"}
actions = st.lists(st.sampled_from(["enrol", "show", "find", "update", "list-names"]), min_size=2, max_size=12)


@settings(max_examples=40, deadline=None)
@given(actions, st.data())
def test_verify_names_the_first_edited_entry(names: list[str], data: st.DataObject) -> None:
    rows = chain(names)
    victim = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.sampled_from([1, 2, 3, 4]))
    value = data.draw(st.one_of(st.integers(0, 2**40), st.text(max_size=12)))
    edited = list(rows[victim])
    if edited[column] == value:
        return
    edited[column] = value
    rows[victim] = tuple(edited)
    with pytest.raises(IntegrityError, match=rf"^audit entry {victim + 1} "):
        verify_chain(REGISTER, rows, FIELDSETS)


@settings(max_examples=40, deadline=None)
@given(actions, st.data())
def test_verify_names_the_first_deleted_entry(names: list[str], data: st.DataObject) -> None:
    rows = chain(names)
    victim = data.draw(st.integers(0, len(rows) - 2))  # deleting the last is truncation
    del rows[victim]
    with pytest.raises(IntegrityError, match=rf"^audit entry {victim + 1} "):
        verify_chain(REGISTER, rows, FIELDSETS)


@settings(max_examples=40, deadline=None)
@given(actions, st.data())
def test_verify_with_head_catches_any_truncation(names: list[str], data: st.DataObject) -> None:
    rows = chain(names)
    head = verify_chain(REGISTER, rows, FIELDSETS).head
    keep = data.draw(st.integers(1, len(rows) - 1))
    with pytest.raises(IntegrityError):
        verify_chain(REGISTER, rows[:keep], FIELDSETS, head=head)


def test_audit_entries_hold_no_values(populated: Register) -> None:
    raw = repr(populated.sql("SELECT * FROM audit")) + repr(populated.sql("SELECT * FROM fieldsets"))
    for value in ("Aino", "Mäkelä", "aino@example.fi", "+358401234567", "12345678", "Kouvola", "fishing"):
        assert value not in raw
    assert AINO["contact"]["email"] not in json.dumps(populated.json("audit", "log"))


def test_a_passphrase_slot_holder_opens_their_own_key_pair(busy: Register) -> None:
    """(The helper above, checked: an officer's passphrase opens their own key pair, which the trail names.)"""
    pair = slot_pair(busy, "aino", keyslots.Credentials(officer="aino", passphrase=PASSPHRASE))
    [(detail,)] = busy.sql("SELECT detail FROM audit WHERE seq = 1")
    assert json.loads(detail)["verifier"] == pair.verifier.hex()


COLUMN_VALUES = st.none() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12) | st.binary(max_size=40)
ROWS = st.dictionaries(st.sampled_from(["member_id", "status", "box", "wrapped_dek", "lookup_digests", "receipts", "admitted_at", "x"]),
                       COLUMN_VALUES, min_size=1)


@given(ROWS, COLUMN_VALUES)
def test_a_row_read_as_a_tuple_has_the_digest_of_the_same_row_read_as_a_dict(row: dict[str, Any], extra: Any) -> None:
    """A pass over every member (a disclosure) digests tuples, with the trail's state after the columns: the digest
    is the one the trail committed to; the wrapped key and lookup digests (re-written by key rotation) are left out."""
    columns = list(row)
    assert audit.member_digester(columns)((*row.values(), extra)) == audit.member_digest(row)
    assert audit.member_digest({**row, "wrapped_dek": b"rotated", "lookup_digests": b"rehashed"}) == audit.member_digest(
        {**row, "wrapped_dek": None, "lookup_digests": None})
