"""key rotate, officer remove --rotate, officer passwd: keys that can change, without anyone's passphrase but the actor's.

Rotation gives every remaining slot the new keys and re-opens everything for
them; a removed officer holding an old copy of the file (and their key file
or passphrase) opens nothing the register holds afterwards. A rotation killed
half-way leaves the old keys or the new, never a mix. A passphrase change
touches only the officer's own slot.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
import pytest

from kss_panel import crypto, keyslots
from kss_panel.services import keys
from support import AINO, NOW, PASSPHRASE, ROOT, VEIKKO, Register, assert_clean_failure, canary_person

POPULATED = {"aino": AINO, "veikko": VEIKKO}
NEW_PASSPHRASE = "a new passphrase for aino"


def opened_keys(db: Path, name: str, credentials: keyslots.Credentials) -> keyslots.Keyring:
    """The register keys a slot's holder gets from a file (an old copy, say), straight from the slot."""
    conn = sqlite3.connect(db)
    try:
        [(register_id,)] = conn.execute("SELECT value FROM meta WHERE key = 'register_id'").fetchall()
        columns = ("name", "role", "kind", "kdf", "recipient", "verifier", "secrets", "grant", "legacy")
        [row] = conn.execute(f"SELECT {', '.join(columns)} FROM slots WHERE name = ?", (name,)).fetchall()
    finally:
        conn.close()
    slot = dict(zip(columns, row, strict=True))
    kek = keyslots.slot_kek(slot, credentials)
    assert kek is not None
    opened = keyslots.open_slot(register_id, slot, kek)
    assert opened is not None
    return opened.keys


def opens_nothing(reg: Register, register_id: str, keys: keyslots.Keyring) -> None:
    """No wrapped data key and no box of the register opens under ``keys``; no lookup digest is theirs."""
    assert keys.data is not None
    rows = reg.sql("SELECT member_id, wrapped_dek, box FROM members")
    assert rows
    for member_id, wrapped, _box in rows:
        with pytest.raises(crypto.InvalidToken):
            crypto.unwrap(keys.data, wrapped, ("dek", register_id, member_id))
    hasher = crypto.LookupHasher(keys.lookup)
    stored = {digest for (digest,) in reg.sql("SELECT digest FROM lookups")}
    for person in (AINO, VEIKKO):
        assert hasher.digest("email", person["contact"]["email"]) not in stored


@pytest.fixture
def panel(make_register: Callable[..., Register]) -> Register:
    return make_register(POPULATED, purger=True)


def register_id(reg: Register) -> str:
    return str(reg.sql("SELECT value FROM meta WHERE key = 'register_id'")[0][0])


# --- rotation -------------------------------------------------------------------------------------------------


def test_rotation_reopens_everything_for_the_remaining_officers(panel: Register) -> None:
    before = {name: panel.json("show", panel.ids[name]) for name in POPULATED}
    old_wrapped = {m: w for m, w in panel.sql("SELECT member_id, wrapped_dek FROM members")}
    old_keys = opened_keys(panel.db, "desk", keyslots.Credentials(key_secret=crypto.parse_key_file(panel.keys["desk"].read_text())))
    result = panel.run("key", "rotate")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "rotated the keys: 2 members re-keyed, granted to aino, cron, desk\n"
    assert [e["action"] for e in panel.audit_log()[-3:]] == ["rekey", "rekey", "key-rotate"]
    for name in POPULATED:
        assert panel.json("show", panel.ids[name]) == before[name]
        shown = json.loads(panel.run_as_aino("show", panel.ids[name], "--json").stdout)["data"]
        assert shown == before[name]
    assert panel.json("find", "--email", AINO["contact"]["email"])["member_id"] == panel.ids["aino"]
    assert panel.json("find", "--phone", "040 1234567")["member_id"] == panel.ids["aino"]
    # Every member has a new wrapped key; none of the old ones, wherever a copy lies, opens under the new keys.
    new_keys = opened_keys(panel.db, "desk", keyslots.Credentials(key_secret=crypto.parse_key_file(panel.keys["desk"].read_text())))
    assert new_keys.data != old_keys.data and len(new_keys.lookup) == 2
    for member_id, wrapped in old_wrapped.items():
        with pytest.raises(crypto.InvalidToken):
            crypto.unwrap(new_keys.data, wrapped, ("dek", register_id(panel), member_id))  # type: ignore[arg-type]
    opens_nothing(panel, register_id(panel), old_keys)
    assert panel.cli("audit", "verify").exit_code == 0


def test_a_data_key_wrapped_padded_by_an_earlier_build_opens_and_rotation_wraps_it_unpadded(panel: Register) -> None:
    """A member's DEK is wrapped unpadded (61 bytes: a key's length never varies); one wrapped padded (93 bytes), as
    builds before did, opens as ever, and the next rotation wraps it unpadded."""
    aino, veikko = panel.ids["aino"], panel.ids["veikko"]
    assert {len(wrapped) for (wrapped,) in panel.sql("SELECT wrapped_dek FROM members")} == {61}
    data = opened_keys(panel.db, "desk", keyslots.Credentials(key_secret=crypto.parse_key_file(panel.keys["desk"].read_text()))).data
    assert data is not None
    [(wrapped,)] = panel.sql("SELECT wrapped_dek FROM members WHERE member_id = ?", [aino])
    context = ("dek", register_id(panel), aino)
    padded = crypto.seal(data, crypto.unwrap(data, wrapped, context), context)
    panel.sql("UPDATE members SET wrapped_dek = ? WHERE member_id = ?", [padded, aino])  # not in the row's digest: rotation rewrites it
    assert len(padded) == 93 and panel.json("show", aino)["contact"] == AINO["contact"]
    assert panel.run("key", "rotate").exit_code == 0
    assert {len(wrapped) for (wrapped,) in panel.sql("SELECT wrapped_dek FROM members")} == {61}
    assert panel.json("show", aino)["contact"] == AINO["contact"] and panel.json("show", veikko)["contact"] == VEIKKO["contact"]


def test_a_removed_officer_with_an_old_copy_opens_nothing_afterwards(panel: Register) -> None:
    old_copy = panel.dir / "kept.db"
    shutil.copy(panel.db, old_copy)
    desk = keyslots.Credentials(key_secret=crypto.parse_key_file(panel.keys["desk"].read_text()))
    result = panel.run_as_aino("officer", "remove", "desk", "--rotate")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "removed slot desk; rotated the keys (2 members re-keyed)\n"
    # The key file no longer opens the register...
    assert_clean_failure(panel.run("list"), 3)
    # ...and the keys it opens in the old copy open nothing in the register now, old members or new.
    newcomer = panel.cli("enrol", "--file", "-", "--officer", "aino", env={"KSS_PANEL_PASSPHRASE": PASSPHRASE},
                         input=json.dumps(canary_person(7)))
    assert newcomer.exit_code == 0, newcomer.stderr
    kept = opened_keys(old_copy, "desk", desk)
    opens_nothing(panel, register_id(panel), kept)
    assert panel.run_as_aino("show", panel.ids["aino"]).exit_code == 0
    log = json.loads(panel.run_as_aino("audit", "log", "--json").stdout)["data"]
    removal = next(e for e in log if e["action"] == "officer-remove")
    assert removal["detail"] == {"officer": "desk", "rotate": True}
    assert [e["action"] for e in log[log.index(removal):]][:4] == ["officer-remove", "rekey", "rekey", "key-rotate"]


def test_rotation_keeps_suppressions_recognisable(panel: Register) -> None:
    assert panel.run("erase", panel.ids["veikko"], "--reason", "request", "--suppress").exit_code == 0
    assert panel.run("key", "rotate").exit_code == 0
    assert panel.run("key", "rotate").exit_code == 0
    again = panel.json("enrol", "--file", "-", input=json.dumps({**VEIKKO, "customer_number": "87650000"}))
    assert again["suppression_match"] is True


def test_only_an_officer_may_rotate(panel: Register) -> None:
    before = panel.tables()
    result = panel.run("key", "rotate", key="cron")
    assert_clean_failure(result, 3)
    assert result.stderr.splitlines()[0] == "kss-panel: error: the purger slot 'cron' may not rotate the register's keys"
    assert panel.tables() == before


def test_rotation_reports_progress(panel: Register) -> None:
    seen: list[tuple[int, int | None]] = []
    with panel.session() as session:
        done = keys.rotate(session, NOW, progress=lambda n, total: seen.append((n, total)))
    assert done["members"] == 2 and seen == [(2, 2)]


ROTATE = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime, UTC
    from pathlib import Path
    from kss_panel import crypto, keyslots
    from kss_panel.policy_files import load_policies
    from kss_panel.services import keys
    from kss_panel.services.session import unlock

    db, key_file, policies, kill_at = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    keys.BATCH = 5  # small batches: many points to die at
    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    credentials = keyslots.Credentials(key_secret=crypto.parse_key_file(key_file.read_text()))
    now = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
    with unlock(db, load_policies(policies), credentials, now=now) as session:
        keys.rotate(session, now, progress=progress)
""")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_rotation_killed_half_way_leaves_the_old_keys_or_the_new_never_a_mix(make_register: Callable[..., Register], seed: int) -> None:
    people = {n: canary_person(n) for n in range(1, 24)}
    reg = make_register(people)
    kill_at = random.Random(seed).randint(1, 5)
    before = {name: reg.json("show", reg.ids[name])["contact"] for name in (1, 12, 23)}
    old_data = opened_keys(reg.db, "desk", keyslots.Credentials(key_secret=crypto.parse_key_file(reg.keys["desk"].read_text()))).data
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.run([sys.executable, "-c", ROTATE, str(reg.db), str(reg.keys["desk"]), str(reg.policies_dir), str(kill_at)],
                             env=env, capture_output=True, timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()
    desk = opened_keys(reg.db, "desk", keyslots.Credentials(key_secret=crypto.parse_key_file(reg.keys["desk"].read_text())))
    assert desk.data == old_data  # killed before the commit: the old keys, everywhere
    wrapped = reg.sql("SELECT member_id, wrapped_dek FROM members")
    for member_id, box in wrapped:
        crypto.unwrap(desk.data, box, ("dek", register_id(reg), member_id))  # every member under the same (old) key
    assert reg.cli("audit", "verify").exit_code == 0
    for name, contact in before.items():
        assert reg.json("show", reg.ids[name])["contact"] == contact
    # The next rotation runs to the end, and then every member is under the new key.
    assert reg.run("key", "rotate").exit_code == 0
    new = opened_keys(reg.db, "desk", keyslots.Credentials(key_secret=crypto.parse_key_file(reg.keys["desk"].read_text())))
    assert new.data != old_data
    for member_id, box in reg.sql("SELECT member_id, wrapped_dek FROM members"):
        crypto.unwrap(new.data, box, ("dek", register_id(reg), member_id))  # type: ignore[arg-type]


# --- passphrase change ----------------------------------------------------------------------------------------


def test_an_officer_changes_their_own_passphrase(panel: Register) -> None:
    slots_before = {row[0]: row for row in panel.sql("SELECT * FROM slots")}
    result = panel.cli("officer", "passwd", "--officer", "aino", env={"KSS_PANEL_PASSPHRASE": PASSPHRASE, "KSS_PANEL_NEW_PASSPHRASE": NEW_PASSPHRASE})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "changed the passphrase of aino\n"
    assert NEW_PASSPHRASE not in result.output
    assert panel.run_as_aino("list", passphrase=NEW_PASSPHRASE).exit_code == 0
    assert_clean_failure(panel.run_as_aino("list"), 3)
    slots_after = {row[0]: row for row in panel.sql("SELECT * FROM slots")}
    assert {name for name in slots_before if slots_before[name] != slots_after[name]} == {"aino"}
    columns = [c[1] for c in panel.sql("PRAGMA table_info(slots)")]
    differs = {c for c, a, b in zip(columns, slots_before["aino"], slots_after["aino"], strict=True) if a != b}
    assert differs == {"kdf", "secrets"}  # a new salt and the same key pair sealed again: nothing else
    assert panel.audit_log()[-1]["action"] == "officer-passwd"
    assert panel.cli("audit", "verify").exit_code == 0
    assert NEW_PASSPHRASE.encode() not in panel.raw()


def test_passwd_refusals_change_nothing(panel: Register) -> None:
    before = panel.tables()
    short = panel.cli("officer", "passwd", "--officer", "aino", env={"KSS_PANEL_PASSPHRASE": PASSPHRASE, "KSS_PANEL_NEW_PASSPHRASE": "short"})
    assert_clean_failure(short, 5)
    assert short.stderr.splitlines() == ["kss-panel: error: passphrase too short", "  passphrase: must be at least 12 characters"]
    keyfile = panel.run("officer", "passwd", env={"KSS_PANEL_NEW_PASSPHRASE": NEW_PASSPHRASE})
    assert_clean_failure(keyfile, 3)
    assert keyfile.stderr.splitlines()[0] == "kss-panel: error: the slot 'desk' has no passphrase to change"
    wrong = panel.cli("officer", "passwd", "--officer", "aino", env={"KSS_PANEL_PASSPHRASE": "not the passphrase", "KSS_PANEL_NEW_PASSPHRASE": NEW_PASSPHRASE})
    assert_clean_failure(wrong, 3)
    no_terminal = panel.cli("officer", "passwd", "--officer", "aino", env={"KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert_clean_failure(no_terminal, 3)
    assert panel.tables() == before
