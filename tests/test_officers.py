"""officer add|list|remove: passphrase and key-file slots, roles, and their audit entries."""

from __future__ import annotations

import json
import re
import stat

from kss_panel import crypto
from support import PASSPHRASE, Register, assert_clean_failure

NEW_PASSPHRASE = "another long passphrase"


def audit_count(reg: Register) -> int:
    return reg.count("audit")


def officer_entries(reg: Register, after: int) -> list[tuple[str, dict[str, str]]]:
    """(action, detail) of the officer entries after ``after``; a new slot's public signing key is checked
    for shape and left out (the trail names every slot's key: docs/crypto.md §6)."""
    entries = reg.json("audit", "log")[after:]
    found = []
    for e in entries:
        if e["action"].startswith("officer-"):
            detail = dict(e["detail"])
            if e["action"] == "officer-add":
                assert re.fullmatch(r"[0-9a-f]{64}", detail.pop("verifier"))
            found.append((e["action"], detail))
    return found


def test_officer_list_shows_names_roles_kinds_and_created(reg: Register) -> None:
    slots = reg.json("officer", "list")
    assert slots == [
        {"name": "aino", "role": "officer", "kind": "passphrase", "created_at": "2025-06-15T09:30:00+00:00"},
        {"name": "desk", "role": "officer", "kind": "keyfile", "created_at": "2025-06-15T09:30:00+00:00"},
    ]
    human = reg.run("officer", "list")
    assert human.exit_code == 0, human.stderr
    for word in ("aino", "desk", "officer", "passphrase", "keyfile", "2025-06-15T09:30:00+00:00"):
        assert word in human.stdout


def test_officer_add_with_passphrase_from_environment(reg: Register) -> None:
    start = audit_count(reg)
    result = reg.cli(
        "officer", "add", "ritva", "--unlock-key-file", str(reg.key_file), env={"KSS_PANEL_NEW_PASSPHRASE": NEW_PASSPHRASE}
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "added passphrase slot ritva with role officer\n"
    assert NEW_PASSPHRASE not in result.output

    [ritva] = [slot for slot in reg.json("officer", "list") if slot["name"] == "ritva"]
    assert (ritva["role"], ritva["kind"]) == ("officer", "passphrase")
    [(kdf_text,)] = reg.sql("SELECT kdf FROM slots WHERE name = 'ritva'")
    kdf = json.loads(kdf_text)
    assert kdf["alg"] == "argon2id" and kdf["iterations"] >= crypto.ARGON2_MIN_ITERATIONS

    # The new officer can unlock with the new passphrase, and not with another.
    ok = reg.cli("officer", "list", "--officer", "ritva", env={"KSS_PANEL_PASSPHRASE": NEW_PASSPHRASE})
    assert ok.exit_code == 0, ok.stderr
    wrong = reg.cli("officer", "list", "--officer", "ritva", env={"KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert_clean_failure(wrong, 3)
    assert officer_entries(reg, start) == [("officer-add", {"officer": "ritva", "role": "officer", "kind": "passphrase"})]


def test_officer_add_without_new_passphrase_or_terminal_fails(reg: Register) -> None:
    before = reg.tables()
    result = reg.cli("officer", "add", "ritva", "--unlock-key-file", str(reg.key_file))
    assert_clean_failure(result, 3)
    assert result.stderr.splitlines()[0] == "kss-panel: error: no passphrase given and no terminal to ask on"
    assert reg.tables() == before


def test_officer_add_key_file_slot_writes_a_0600_key_file(reg: Register) -> None:
    start = audit_count(reg)
    key = reg.dir / "cron.key"
    result = reg.run_as_aino("officer", "add", "cron", "--role", "purger", "--key-file", str(key))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "added keyfile slot cron with role purger\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    secret = crypto.parse_key_file(key.read_text())
    assert len(secret) == 32
    assert key.read_text().strip() not in result.output
    assert key.read_text().encode() not in reg.db.read_bytes()

    slots = {slot["name"]: slot for slot in reg.json("officer", "list")}
    assert (slots["cron"]["role"], slots["cron"]["kind"]) == ("purger", "keyfile")
    verified = reg.cli("audit", "verify", "--key-file", str(key))
    assert verified.exit_code == 0, verified.stderr
    assert officer_entries(reg, start) == [("officer-add", {"officer": "cron", "role": "purger", "kind": "keyfile"})]


def test_officer_add_refuses_to_overwrite_a_key_file(reg: Register) -> None:
    key = reg.dir / "existing.key"
    key.write_text("precious\n")
    before = reg.tables()
    # officer add's own --key-file names the new file; --unlock-key-file unlocks.
    result = reg.cli("officer", "add", "cron", "--role", "purger", "--key-file", str(key), "--unlock-key-file", str(reg.key_file))
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == [
        f"kss-panel: error: {key} already exists: refusing to overwrite it",
        "  --key-file: file exists",
    ]
    assert key.read_text() == "precious\n"
    assert reg.tables() == before  # no slot without its key file, no audit entry


def test_officer_add_rejects_duplicate_names_bad_names_and_roles(reg: Register) -> None:
    before = reg.tables()
    unlock = ("--unlock-key-file", str(reg.key_file))
    duplicate = reg.cli("officer", "add", "desk", "--key-file", str(reg.dir / "a.key"), *unlock)
    assert_clean_failure(duplicate, 5)
    assert duplicate.stderr.splitlines()[0] == "kss-panel: error: an officer named 'desk' already exists"
    bad_name = reg.cli("officer", "add", "Bad Name", "--key-file", str(reg.dir / "b.key"), *unlock)
    assert_clean_failure(bad_name, 5)
    bad_role = reg.cli("officer", "add", "cron", "--role", "admin", "--key-file", str(reg.dir / "c.key"), *unlock)
    assert_clean_failure(bad_role, 5)
    assert bad_role.stderr.splitlines() == ["kss-panel: error: invalid role", "  --role: must be one of officer, purger, backup"]
    assert reg.tables() == before
    assert not any((reg.dir / name).exists() for name in ("a.key", "b.key", "c.key"))


def test_officer_remove_then_the_removed_slot_cannot_unlock(reg: Register) -> None:
    result = reg.run_as_aino("officer", "remove", "desk")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "removed slot desk\n"
    assert [slot["name"] for slot in json.loads(reg.run_as_aino("officer", "list", "--json").stdout)["data"]] == ["aino"]

    count = audit_count(reg)
    locked_out = reg.run("list")
    assert_clean_failure(locked_out, 3)
    assert locked_out.stderr.splitlines() == ["kss-panel: error: the key file does not open any key slot of this register"]
    assert audit_count(reg) == count

    entries = json.loads(reg.run_as_aino("audit", "log", "--json").stdout)["data"]
    assert [(e["action"], e["actor"], e["detail"]) for e in entries if e["action"] == "officer-remove"] == [
        ("officer-remove", "aino", {"officer": "desk", "rotate": False})
    ]


def test_removed_passphrase_officer_cannot_unlock(reg: Register) -> None:
    assert reg.run("officer", "remove", "aino").exit_code == 0
    result = reg.run_as_aino("list")
    assert_clean_failure(result, 3)
    assert result.stderr.splitlines() == ["kss-panel: error: no officer 'aino' with a passphrase in this register"]


def test_officer_remove_refuses_the_last_officer_role_slot(reg: Register) -> None:
    key = reg.dir / "cron.key"
    assert reg.run_as_aino("officer", "add", "cron", "--role", "purger", "--key-file", str(key)).exit_code == 0
    assert reg.run_as_aino("officer", "remove", "desk").exit_code == 0
    before = reg.tables()
    result = reg.run_as_aino("officer", "remove", "aino")
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == [
        "kss-panel: error: refusing to remove the last officer",
        "  name: is the only officer-role slot",
    ]
    assert reg.tables() == before
    # The purger slot is no officer and cannot remove anyone either.
    by_purger = reg.cli("officer", "remove", "aino", "--key-file", str(key))
    assert_clean_failure(by_purger, 3)
    assert reg.tables() == before


def test_officer_remove_unknown_is_not_found(reg: Register) -> None:
    before = reg.tables()
    result = reg.run("officer", "remove", "nobody")
    assert_clean_failure(result, 4)
    assert result.stderr.splitlines() == ["kss-panel: error: no officer 'nobody'"]
    assert reg.tables() == before


def test_every_officer_change_is_audited_in_order(reg: Register) -> None:
    start = audit_count(reg)
    key = reg.dir / "cron.key"
    assert reg.run_as_aino("officer", "add", "cron", "--role", "purger", "--key-file", str(key)).exit_code == 0
    assert reg.run_as_aino("officer", "remove", "cron").exit_code == 0
    entries = [e for e in reg.json("audit", "log")[start:] if e["action"].startswith("officer-")]
    assert [(e["action"], e["actor"], e["detail"]["officer"]) for e in entries] == [
        ("officer-add", "aino", "cron"),
        ("officer-remove", "aino", "cron"),
    ]
    assert all(e["member_id"] is None and e["fields"] == [] for e in entries)
    assert reg.run("audit", "verify").exit_code == 0


def test_officer_add_rejects_a_short_new_passphrase(reg: Register) -> None:
    before = reg.tables()
    result = reg.cli("officer", "add", "ritva", "--unlock-key-file", str(reg.key_file), env={"KSS_PANEL_NEW_PASSPHRASE": "tooshort"})
    assert_clean_failure(result, 5)
    assert result.stderr.splitlines() == ["kss-panel: error: passphrase too short", "  passphrase: must be at least 12 characters"]
    assert "tooshort" not in result.output
    assert reg.tables() == before
