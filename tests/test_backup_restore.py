"""Backup and restore: `backup PATH` makes a consistent, still-encrypted 0600
copy; `restore PATH --yes` puts it back and erases again everyone erased since,
from the register's `erasures` table and the ledger file `<db>.erasures`, so an
old backup never brings an erased member back.

The command line runs at a fixed instant (the ``clock`` fixture pins the CLI's clock to NOW).
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from kss_panel import crypto
from kss_panel.services import members, trail
from kss_panel import keyslots
from kss_panel.services.session import unlock
from support import Register, assert_failure, canaries, found, person, query

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # noon UTC: the same day in Helsinki
TODAY = "2026-06-15"


MEMBERS = {
    "ilma": person(1, "Ilmatarvika", "Kanervistöläinen", contact__street_address="Kanarialinnuntie 17 B", hobbies=["ilmatarvikaharrastus"]),
    "bror": person(2, "Brorgunnar", "Zetterqvistsson", contact__street_address="Fyrmästargränd 9", hobbies=["brorgunnarharrastus"]),
    "otso": person(3, "Otsomielikki", "Karhunkierros", contact__street_address="Pesäpuunpolku 44", hobbies=["otsomielikkiharrastus"]),
}


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register({"ilma": MEMBERS["ilma"], "bror": MEMBERS["bror"]}, NOW)


# --- backup -------------------------------------------------------------------------------------------------


def test_backup_is_a_0600_still_encrypted_copy(reg: Register) -> None:
    path = reg.dir / "backup.db"
    data = reg.json("backup", str(path))
    assert data["backup"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    blob = path.read_bytes()
    for name in ("ilma", "bror"):
        assert found(blob, canaries(MEMBERS[name])) == []
        assert found(blob, reg.boxes(reg.ids[name])) == reg.boxes(reg.ids[name])  # the sealed data is all there
    assert reg.sql("SELECT action FROM audit ORDER BY seq DESC LIMIT 1") == [("backup",)]
    assert query(path, "SELECT count(*) FROM members") == [(2,)]


def test_backup_human_output(reg: Register) -> None:
    path = reg.dir / "backup.db"
    result = reg.run("backup", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"backed up to {path}\n"


def test_backup_refuses_to_overwrite_a_file(reg: Register) -> None:
    path = reg.dir / "existing.db"
    path.write_bytes(b"keep me")
    before = reg.tables()
    assert_failure(reg.run("backup", str(path)), 5)
    assert path.read_bytes() == b"keep me"
    assert reg.tables() == before  # not even the audit entry


def test_backup_refuses_to_overwrite_an_earlier_backup(reg: Register) -> None:
    path = reg.backup()
    content = path.read_bytes()
    assert_failure(reg.run("backup", str(path)), 5)
    assert path.read_bytes() == content


def test_backup_opens_with_the_same_credentials(reg: Register) -> None:
    path = reg.backup()
    secret = crypto.parse_key_file(reg.key_file.read_text())
    with unlock(path, reg.policies, keyslots.Credentials(key_secret=secret)) as session:
        assert members.show(session, reg.ids["bror"], NOW)["contact"] == MEMBERS["bror"]["contact"]
        trail.audit_verify(session)


# --- restore ------------------------------------------------------------------------------------------------


def test_restoring_a_pre_erasure_backup_does_not_bring_erased_members_back(reg: Register) -> None:
    ilma, bror = reg.ids["ilma"], reg.ids["bror"]
    ilma_boxes, bror_boxes = reg.boxes(ilma), reg.boxes(bror)
    backup = reg.backup()
    reg.erase("ilma")
    kept = backup.read_bytes()

    result = reg.run("restore", str(backup), "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert (data["restored_from"], data["erasures_reapplied"]) == (str(backup), 1)
    assert backup.read_bytes() == kept  # the backup itself is only read

    assert_failure(reg.run("show", ilma), 4)
    assert_failure(reg.run("find", "--email", MEMBERS["ilma"]["contact"]["email"]), 4)
    assert reg.json("show", bror)["contact"] == MEMBERS["bror"]["contact"]
    raw = reg.raw()
    assert found(raw, canaries(MEMBERS["ilma"])) == []
    assert found(raw, ilma_boxes) == []  # the copy's sealed data was securely deleted too
    assert found(raw, bror_boxes) == bror_boxes
    assert reg.sql("SELECT member_id, reason, rule FROM erasures") == [(ilma, "request", "restore")]


def test_restored_register_has_a_restore_entry_and_a_verified_audit_trail(reg: Register) -> None:
    backup = reg.backup()
    reg.erase("ilma")
    result = reg.run("restore", str(backup), "--yes")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"restored {reg.db} from {backup}; 1 erasures re-applied; new audit head ")
    entries = reg.json("audit", "log")
    assert entries[-1]["action"] == "restore"
    assert entries[-1]["detail"]["erasures_reapplied"] == 1
    assert (entries[-2]["action"], entries[-2]["member_id"]) == ("erase", reg.ids["ilma"])
    verified = reg.json("audit", "verify")
    assert verified["entries"] == entries[-1]["seq"]
    assert result.stdout.strip().endswith(verified["head"])


def test_every_erased_member_stays_erased(reg: Register) -> None:
    """Erased before the backup, after it, and enrolled and erased after it: none comes back."""
    reg.erase("ilma")  # before the backup
    backup = reg.backup()
    reg.erase("bror")  # after it
    with reg.session() as session:
        reg.ids["otso"] = members.enrol(session, MEMBERS["otso"], NOW)["member_id"]
    reg.erase("otso")  # never in the backup
    result = reg.run("restore", str(backup), "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"]["erasures_reapplied"] == 1
    assert reg.sql("SELECT count(*) FROM members") == [(0,)]
    for name in ("ilma", "bror", "otso"):
        assert_failure(reg.run("show", reg.ids[name]), 4)
        assert found(reg.raw(), canaries(MEMBERS[name])) == []
    assert sorted(row[0] for row in reg.sql("SELECT member_id FROM erasures")) == sorted(reg.ids.values())
    assert reg.run("audit", "verify").exit_code == 0


def test_restore_brings_back_members_not_erased(reg: Register) -> None:
    backup = reg.backup()
    assert reg.run("update", reg.ids["bror"], "--set", "contact.city=Kotka").exit_code == 0
    assert reg.run("restore", str(backup), "--yes").exit_code == 0
    shown = reg.json("show", reg.ids["bror"])
    assert shown["contact"] == MEMBERS["bror"]["contact"]  # as it was in the backup
    assert reg.json("show", reg.ids["ilma"])["contact"] == MEMBERS["ilma"]["contact"]


def test_restore_without_yes_is_invalid_and_changes_nothing(reg: Register) -> None:
    backup = reg.backup()
    reg.erase("ilma")
    before = reg.tables()
    assert_failure(reg.run("restore", str(backup)), 5)
    assert reg.tables() == before


def test_restore_from_a_missing_backup_is_not_found(reg: Register) -> None:
    before = reg.tables()
    assert_failure(reg.run("restore", str(reg.dir / "nope.db"), "--yes"), 4)
    assert reg.tables() == before


def test_restore_from_a_backup_of_another_register_is_invalid(make_register: Callable[..., Register], reg: Register) -> None:
    # The other register opens with the very same key file, so only the register id tells them apart.
    other = make_register({"otso": MEMBERS["otso"]}, NOW, directory=reg.dir / "other", key_text=reg.key_file.read_text())
    foreign = other.backup()
    before = reg.tables()
    assert_failure(reg.run("restore", str(foreign), "--yes"), 5)
    assert reg.tables() == before
    assert reg.json("show", reg.ids["ilma"])["contact"] == MEMBERS["ilma"]["contact"]
    assert sorted(p.name for p in reg.dir.iterdir() if p.name.startswith("register.db")) == ["register.db"]


def test_restore_after_the_register_file_was_lost_reapplies_the_ledger(reg: Register) -> None:
    ilma = reg.ids["ilma"]
    backup = reg.backup()
    reg.erase("ilma")
    assert reg.ledger.read_text(encoding="ascii").split() == [TODAY, ilma, "request"]
    reg.db.unlink()
    result = reg.run("restore", str(backup), "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"]["erasures_reapplied"] == 1
    assert stat.S_IMODE(reg.db.stat().st_mode) == 0o600
    assert_failure(reg.run("show", ilma), 4)
    assert reg.json("show", reg.ids["bror"])["contact"] == MEMBERS["bror"]["contact"]
    assert found(reg.raw(), canaries(MEMBERS["ilma"])) == []
    assert reg.sql("SELECT member_id, reason FROM erasures") == [(ilma, "request")]
    assert reg.run("audit", "verify").exit_code == 0


def test_restore_leaves_no_stray_files_and_keeps_the_ledger(reg: Register) -> None:
    ilma = reg.ids["ilma"]
    backup = reg.backup()
    reg.erase("ilma")
    assert reg.run("restore", str(backup), "--yes").exit_code == 0
    names = sorted(path.name for path in reg.dir.iterdir())
    assert names == sorted(["register.db", "register.db.erasures", "backup.db", "desk.key"])
    assert ilma in reg.ledger.read_text(encoding="ascii")


def test_restore_twice_is_idempotent(reg: Register) -> None:
    backup = reg.backup()
    reg.erase("ilma")
    assert reg.run("restore", str(backup), "--yes").exit_code == 0
    result = reg.run("restore", str(backup), "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"]["erasures_reapplied"] == 1
    assert_failure(reg.run("show", reg.ids["ilma"]), 4)
    assert reg.json("show", reg.ids["bror"])["contact"] == MEMBERS["bror"]["contact"]
    assert reg.run("audit", "verify").exit_code == 0


def test_restore_writes_reapplied_erasures_to_the_ledger_beside_the_register(reg: Register) -> None:
    """With the ledger file lost, the current register's own table names the erasure;
    restore must write it to `<db>.erasures` again, or losing the register next
    would bring the member back from the same backup."""
    ilma = reg.ids["ilma"]
    backup = reg.backup()
    reg.erase("ilma")
    reg.ledger.unlink()
    assert reg.run("restore", str(backup), "--yes").exit_code == 0
    assert_failure(reg.run("show", ilma), 4)
    assert reg.ledger.exists() and ilma in reg.ledger.read_text(encoding="ascii")

    reg.db.unlink()
    assert reg.run("restore", str(backup), "--yes").exit_code == 0
    assert_failure(reg.run("show", ilma), 4)
    assert found(reg.raw(), canaries(MEMBERS["ilma"])) == []


def test_restore_from_a_file_that_is_not_a_register_changes_nothing(reg: Register) -> None:
    junk = reg.dir / "junk.db"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    before = reg.tables()
    result = reg.run("restore", str(junk), "--yes")
    assert result.exit_code == 7, (result.stdout, result.stderr)
    assert reg.tables() == before
    assert not list(reg.dir.glob("register.db.restoring*"))


# --- roles ------------------------------------------------------------------------------------------------------


@pytest.fixture
def machines(make_register: Callable[..., Register]) -> Register:
    """The register with a purger slot 'cron' and a backup slot 'vault'."""
    panel = make_register({"ilma": MEMBERS["ilma"], "bror": MEMBERS["bror"]}, NOW, purger=True)
    key = panel.dir / "vault.key"
    result = panel.cli("officer", "add", "vault", "--role", "backup", "--key-file", str(key), "--unlock-key-file", str(panel.key_file))
    assert result.exit_code == 0, result.stderr
    panel.keys["vault"] = key
    return panel


@pytest.mark.parametrize("slot", ["cron", "vault"])
def test_a_machine_that_cannot_decrypt_takes_a_backup(machines: Register, slot: str) -> None:
    path = machines.dir / f"{slot}.db"
    result = machines.run("backup", str(path), key=slot)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert found(path.read_bytes(), canaries(MEMBERS["ilma"])) == []
    assert machines.audit("actor")[-1] == {"action": "backup", "member_id": None, "fields": [], "detail": {}, "actor": slot}
    # It copied ciphertext only: the machine's own slot reads nothing, in the copy or in the register.
    refused = machines.cli("--db", str(path), "show", machines.ids["ilma"], "--key-file", str(machines.keys[slot]))
    assert refused.exit_code == 3
    with unlock(path, machines.policies, keyslots.Credentials(key_secret=crypto.parse_key_file(machines.key_file.read_text()))) as session:
        assert members.show(session, machines.ids["ilma"], NOW)["contact"] == MEMBERS["ilma"]["contact"]


def test_a_backup_slot_may_do_nothing_but_back_up_and_read_the_trail(machines: Register) -> None:
    for args in (("show", machines.ids["ilma"]), ("purge", "--apply"), ("erase", machines.ids["ilma"], "--reason", "request"),
                 ("key", "rotate"), ("restore", str(machines.dir / "x.db"), "--yes")):
        result = machines.run(*args, key="vault")
        assert result.exit_code in (3, 4), (args, result.stderr)
    assert machines.run("audit", "log", key="vault").exit_code == 0


@pytest.mark.parametrize("slot", ["cron", "vault"])
def test_restore_is_an_officers_act(machines: Register, slot: str) -> None:
    backup = machines.backup()
    machines.erase("ilma")
    before, files = machines.tables(), sorted(p.name for p in machines.dir.iterdir())
    result = machines.run("restore", str(backup), "--yes", key=slot)
    assert_failure(result, 3)
    role = "purger" if slot == "cron" else "backup"
    assert result.stderr.splitlines()[0] == f"kss-panel: error: the {role} slot '{slot}' may not restore the register"
    assert machines.tables() == before
    assert sorted(p.name for p in machines.dir.iterdir()) == files  # no staging file left behind


def test_restore_removes_again_every_slot_removed_since_and_rotates(machines: Register) -> None:
    backup = machines.backup()
    desk_keys_before = machines.keys["desk"].read_text()
    assert machines.run_as_aino("officer", "remove", "desk").exit_code == 0
    result = machines.run_as_aino("restore", str(backup), "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"]["slots_removed"] == ["desk"]
    assert [s["name"] for s in json.loads(machines.run_as_aino("officer", "list", "--json").stdout)["data"]] == ["aino", "cron", "vault"]
    assert machines.run("list").exit_code == 3  # desk's key file opens nothing
    # The backup's keys, which desk knew, open nothing now: the restore rotated them.
    with unlock(backup, machines.policies, keyslots.Credentials(key_secret=crypto.parse_key_file(desk_keys_before))) as old:
        old_data = old.keys.data
    assert old_data is not None
    for member_id, wrapped in machines.sql("SELECT member_id, wrapped_dek FROM members"):
        with pytest.raises(crypto.InvalidToken):
            crypto.unwrap(old_data, wrapped, ("dek", str(machines.sql("SELECT value FROM meta WHERE key = 'register_id'")[0][0]), member_id))
    assert machines.cli("audit", "verify").exit_code == 0
    assert machines.run("backup", str(machines.dir / "after.db"), key="cron").exit_code == 0


def test_restore_of_a_lost_register_removes_slots_from_the_ledger(machines: Register) -> None:
    backup = machines.backup()
    assert machines.run_as_aino("officer", "remove", "desk").exit_code == 0
    assert "slot:desk removed" in machines.ledger.read_text()
    machines.db.unlink()
    result = machines.run_as_aino("restore", str(backup), "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"]["slots_removed"] == ["desk"]
    assert machines.run("list").exit_code == 3
