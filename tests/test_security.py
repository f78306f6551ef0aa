"""Security: canaries never leak, moved or flipped ciphertext is caught, slots and roles hold."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from kss_panel import crypto
from kss_panel.services import members
from kss_panel import keyslots
from kss_panel.services.session import unlock
from kss_panel.errors import AuthError, IntegrityError
from kss_panel.policy import Policies
from support import (
    AINO,
    CANARY,
    CANARY_STRINGS,
    NOW,
    PASSPHRASE,
    VEIKKO,
    Register,
    assert_clean_failure,
    record,
    tamper_connection,
)

POPULATED = {"aino": AINO, "veikko": VEIKKO}


def leaked(blob: bytes | str) -> list[str]:
    """The canaries found in ``blob``, compared case-insensitively."""
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    text = text.lower()
    return [canary for canary in CANARY_STRINGS if canary.lower() in text]


def leaked_bytes(blob: bytes) -> list[str]:
    lowered = blob.lower()
    return [canary for canary in CANARY_STRINGS if canary.lower().encode("utf-8") in lowered]


def flip(blob: bytes, position: int) -> bytes:
    changed = bytearray(blob)
    changed[position] ^= 0x01
    return bytes(changed)


# --- canaries -----------------------------------------------------------------------------------------------


def test_canaries_never_reach_the_file_journal_audit_or_non_reading_output(reg: Register) -> None:
    applicant = reg.dir / "canary.json"
    applicant.write_text(json.dumps(CANARY))
    enrolled = reg.run("enrol", "--file", str(applicant))
    assert enrolled.exit_code == 0, enrolled.stderr
    member_id = enrolled.stdout.strip()
    outputs = [enrolled]

    # Commands that read personal data may print it; they still must not write it anywhere.
    for args in (("show", member_id), ("show", member_id, "--json"), ("list", "--names"), ("list", "--names", "--json")):
        result = reg.run(*args)
        assert result.exit_code == 0, result.stderr
        assert leaked(result.stdout)  # the canaries are really there to be found
        assert not leaked(result.stderr)

    # Commands that do not read personal data must print none of it.
    for args in (
        ("find", "--email", "CANARY.MAIL@example.fi"),
        ("find", "--phone", "040 1234 999"),
        ("find", "--customer-number", "98765432"),
        ("find", "--email", "canary.mail@example.fi", "--json"),
        ("list",),
        ("list", "--json"),
        ("update", member_id, "--set", "contact.city=Canarycitytwo", "--set", "hobbies=canaryhobby;canarythirdhobby"),
        ("update", member_id, "--file", "-", "--json"),
        ("audit", "log"),
        ("audit", "log", "--json"),
        ("audit", "log", "--member", member_id, "--json"),
        ("audit", "verify"),
        ("audit", "head", "--json"),
        ("officer", "list"),
        # consent receipts, re-consent lists, notifications and breaches name fields, versions and ids, never values
        ("consent", member_id, "--give", "sms_marketing", "--withdraw", "email_marketing"),
        ("consent", member_id, "--object", "--json"),
        ("list", "--consent-outdated", "sms_marketing"),
        ("list", "--consent-outdated", "sms_marketing", "--json"),
        ("notify", "list", "--sent"),
        ("breach", "open", "--title", "Lost laptop", "--discovered", "2025-06-15T10:00"),
        ("breach", "affected", "1", "--recipient", "direct-marketing", "--from", "2025-06-01", "--to", "2025-06-15"),
        ("breach", "list", "--json"),
    ):
        result = reg.run(*args, input=json.dumps({"contact": {"street_address": "Canarystreet 8"}}))
        assert result.exit_code == 0, (args, result.stderr)
        outputs.append(result)
    for result in outputs:
        assert not leaked(result.output), result.output

    for path, blob in reg.raw_files().items():
        assert not leaked_bytes(blob), path
    # Nor does any other file beside the register (a temp file, a journal left behind, a ledger).
    for path in reg.dir.rglob("*"):
        if path.is_file() and path.name != "canary.json":
            assert not leaked_bytes(path.read_bytes()), path

    audit_rows = reg.sql("SELECT * FROM audit")
    assert not leaked(repr(audit_rows)) and not leaked(json.dumps(reg.audit_log(), ensure_ascii=False))
    for table in ("members", "lookups", "slots", "meta"):
        assert not leaked(repr(reg.sql(f"SELECT * FROM {table}"))), table


def test_canaries_never_appear_in_error_output(reg: Register) -> None:
    assert reg.run("enrol", "--file", "-", input=json.dumps(CANARY)).exit_code == 0
    member_id = reg.json("list")[0]["member_id"]
    failing = [
        # the same applicant again: a duplicate
        (("enrol", "--file", "-"), json.dumps(CANARY), 5),
        (("enrol", "--file", "-", "--json"), json.dumps(CANARY), 5),
        # a record full of canaries, one field invalid
        (("enrol", "--file", "-"), json.dumps(record(CANARY, contact__postal_code="4519x", customer_number="98765433")), 5),
        # every text field invalid, each still holding a canary
        (("enrol", "--file", "-", "--json"), json.dumps(record(
            CANARY,
            customer_number="Canary98765432",
            contact__first_name="Canaryfirstname2",
            contact__last_name="Canarylastname_",
            contact__email="canary.mail@@example.fi",
            contact__phone="+358401234999canary",
            contact__street_address="Canarystreet\x07 7",
            contact__city="Canarycity" * 10,
            hobbies=["canaryhobby" * 5, "canarysecondhobby\x00"],
        )), 5),
        (("update", member_id, "--set", "contact.first_name=Canaryfirstname3"), None, 5),
        (("update", member_id, "--set", "contact.email=canary.mail@"), None, 5),
        (("update", member_id, "--file", "-"), '{"contact": {"city": "Canarycity\\u0000"}}', 5),
        (("find", "--email", "canary.mail@example.fi.invalid@"), None, 5),
        (("find", "--email", "canary.mail@example.com"), None, 4),
        (("find", "--phone", "+358401234998"), None, 4),
        (("find", "--customer-number", "98765431"), None, 4),
    ]
    for args, stdin, code in failing:
        result = reg.run(*args, input=stdin)
        assert_clean_failure(result, code)
        assert not leaked(result.output), (args, result.output)
        assert "Canary98765432" not in result.output and "4519x" not in result.output


def test_a_wrong_passphrase_is_never_echoed(reg: Register) -> None:
    result = reg.run_as_aino("list", passphrase="Canarypassphrase-wrong")
    assert_clean_failure(result, 3)
    assert "Canarypassphrase" not in result.output


# --- moved ciphertext ---------------------------------------------------------------------------------------


def show_fails(reg: Register, member_id: str) -> str:
    before = reg.tables()
    result = reg.run("show", member_id)
    assert_clean_failure(result, 7)
    [line] = result.stderr.splitlines()
    assert result.stdout == ""
    assert reg.tables() == before  # not even an audit entry
    return line


def test_a_box_moved_to_another_member_fails(populated: Register) -> None:
    aino, veikko = populated.ids["aino"], populated.ids["veikko"]
    [(box,)] = populated.sql("SELECT box FROM members WHERE member_id = ?", [aino])
    populated.sql("UPDATE members SET box = ? WHERE member_id = ?", [box, veikko])
    show_fails(populated, veikko)
    assert_clean_failure(populated.run("list", "--names"), 7)
    assert_clean_failure(populated.run("update", veikko, "--set", "contact.city=Hamina"), 7)
    assert populated.run("show", aino).exit_code == 0


def test_an_older_box_of_the_same_member_is_refused(populated: Register) -> None:
    """The same member's box from before a rectification opens under their key: the trail refuses it."""
    aino = populated.ids["aino"]
    [(old,)] = populated.sql("SELECT box FROM members WHERE member_id = ?", [aino])
    assert populated.run("update", aino, "--set", "contact.city=Hamina").exit_code == 0
    populated.sql("UPDATE members SET box = ? WHERE member_id = ?", [old, aino])
    line = show_fails(populated, aino)
    assert line == f"kss-panel: error: the row of {aino} does not match the audit trail: it was changed by hand since its last entry"


def test_a_wrapped_data_key_moved_to_another_member_fails(populated: Register) -> None:
    aino, veikko = populated.ids["aino"], populated.ids["veikko"]
    [(wrapped,)] = populated.sql("SELECT wrapped_dek FROM members WHERE member_id = ?", [aino])
    populated.sql("UPDATE members SET wrapped_dek = ? WHERE member_id = ?", [wrapped, veikko])
    show_fails(populated, veikko)
    assert_clean_failure(populated.run("list", "--names"), 7)


def test_a_box_from_another_register_fails(make_register: Callable[..., Register], populated: Register) -> None:
    """Same member id in a second register: the register id in the context tells them apart."""
    other = make_register({}, directory=populated.dir / "other")
    aino = populated.ids["aino"]
    with other.session() as session:
        dek = crypto.random_key()
        forged = crypto.seal(dek, b'{"customer_number":"12345678"}', ("record", session.register_id, aino))
        wrapped = crypto.wrap(session.keys.data, dek, ("dek", session.register_id, aino))  # type: ignore[arg-type]
    populated.sql("UPDATE members SET wrapped_dek = ? WHERE member_id = ?", [wrapped, aino])
    with populated.session() as session:
        with pytest.raises(IntegrityError):  # the wrapped key, not covered by the row digest, does not open
            members.show(session, aino, NOW)
    populated.sql("UPDATE members SET box = ? WHERE member_id = ?", [forged, aino])
    show_fails(populated, aino)


# --- flipped bytes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("position", [0, 1, 12, 13, 40, -17, -1])
def test_a_flipped_byte_in_a_box_fails_show(populated: Register, position: int) -> None:
    aino = populated.ids["aino"]
    [(box,)] = populated.sql("SELECT box FROM members WHERE member_id = ?", [aino])
    populated.sql("UPDATE members SET box = ? WHERE member_id = ?", [flip(box, position), aino])
    show_fails(populated, aino)


@pytest.mark.parametrize("position", [0, 5, 13, -1])
def test_a_flipped_byte_in_a_wrapped_data_key_fails_show(populated: Register, position: int) -> None:
    aino = populated.ids["aino"]
    [(wrapped,)] = populated.sql("SELECT wrapped_dek FROM members WHERE member_id = ?", [aino])
    populated.sql("UPDATE members SET wrapped_dek = ? WHERE member_id = ?", [flip(wrapped, position), aino])
    line = show_fails(populated, aino)
    assert line == f"kss-panel: error: the record of {aino} does not open: it was changed, moved or damaged"


def test_every_flipped_byte_of_the_box_and_data_key_is_caught(populated: Register, policies: Policies) -> None:
    aino = populated.ids["aino"]
    [(box, wrapped)] = populated.sql("SELECT box, wrapped_dek FROM members WHERE member_id = ?", [aino])
    conn = tamper_connection(populated.db)
    conn.isolation_level = None
    with populated.session(policies) as session:
        for column, blob in (("box", box), ("wrapped_dek", wrapped)):
            for position in range(len(blob)):
                conn.execute(f"UPDATE members SET {column} = ? WHERE member_id = ?", (flip(blob, position), aino))
                with pytest.raises(IntegrityError):
                    members.show(session, aino, NOW)
            conn.execute(f"UPDATE members SET {column} = ? WHERE member_id = ?", (blob, aino))
        assert members.show(session, aino, NOW)["contact"] == AINO["contact"]
    conn.close()


def test_every_flipped_byte_of_a_slot_stops_it_opening(populated: Register) -> None:
    """Below the trail's check of the slot table, a slot's own boxes hold too: no flipped byte opens."""
    secret = crypto.parse_key_file(populated.keys["desk"].read_text())
    [(register_id,)] = populated.sql("SELECT value FROM meta WHERE key = 'register_id'")
    for name, credentials in (
        ("desk", keyslots.Credentials(key_secret=secret)),
        ("aino", keyslots.Credentials(officer="aino", passphrase=PASSPHRASE)),
    ):
        [row] = [dict(zip(("name", "role", "kind", "kdf", "recipient", "verifier", "secrets", "grant", "legacy"), r, strict=True))
                 for r in populated.sql("SELECT name, role, kind, kdf, recipient, verifier, secrets, grant, legacy FROM slots WHERE name = ?", [name])]
        kek = keyslots.slot_kek(row, credentials)
        assert kek is not None and keyslots.open_slot(register_id, row, kek) is not None
        for column in ("secrets", "recipient", "verifier"):
            for position in range(len(row[column])):
                assert keyslots.open_slot(register_id, {**row, column: flip(row[column], position)}, kek) is None, (column, position)
        for position in range(len(row["grant"])):
            with pytest.raises(IntegrityError):
                keyslots.open_slot(register_id, {**row, "grant": flip(row["grant"], position)}, kek)


SLOT_CHANGED = "kss-panel: error: the key slot table does not match audit entry {n}: a slot row was changed by hand"


@pytest.mark.parametrize("position", [0, 1, 20, -1])
def test_a_flipped_byte_in_a_key_file_slot_means_exit_7(populated: Register, position: int) -> None:
    [(secrets,)] = populated.sql("SELECT secrets FROM slots WHERE name = 'desk'")
    populated.sql("UPDATE slots SET secrets = ? WHERE name = 'desk'", [flip(secrets, position)])
    before = populated.tables()
    result = populated.run("list")
    assert_clean_failure(result, 7)
    assert result.stderr.splitlines() == [SLOT_CHANGED.format(n=2)]
    assert populated.tables() == before


def test_a_flipped_byte_in_a_passphrase_slot_means_exit_7(populated: Register) -> None:
    [(secrets,)] = populated.sql("SELECT secrets FROM slots WHERE name = 'aino'")
    populated.sql("UPDATE slots SET secrets = ? WHERE name = 'aino'", [flip(secrets, 30)])
    result = populated.run_as_aino("list")
    assert_clean_failure(result, 7)
    assert result.stderr.splitlines() == [SLOT_CHANGED.format(n=2)]


def test_a_slot_renamed_or_given_another_role_is_refused(populated: Register) -> None:
    populated.sql("UPDATE slots SET name = 'aino2' WHERE name = 'aino'")
    result = populated.cli("list", "--officer", "aino2", env={"KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert_clean_failure(result, 7)
    assert result.stderr.splitlines() == ["kss-panel: error: key slot 'aino2' is not in the audit trail: it was added by hand"]
    populated.sql("UPDATE slots SET name = 'aino' WHERE name = 'aino2'")
    populated.sql("UPDATE slots SET role = 'purger' WHERE name = 'desk'")
    result = populated.run("list")
    assert_clean_failure(result, 7)
    assert result.stderr.splitlines() == ["kss-panel: error: key slot 'desk' is not the one the audit trail says exists"]


def test_a_corrupt_slot_kdf_is_an_integrity_failure(populated: Register) -> None:
    populated.sql("UPDATE slots SET kdf = 'not json' WHERE name = 'desk'")
    result = populated.run("list")
    assert_clean_failure(result, 7)
    assert result.stderr.splitlines() == [SLOT_CHANGED.format(n=2)]


# --- unlocking ----------------------------------------------------------------------------------------------


def test_wrong_passphrase_exit_3_one_line_nothing_changed(populated: Register) -> None:
    before = populated.tables()
    result = populated.run_as_aino("show", populated.ids["aino"], passphrase="wrong passphrase, long enough")
    assert_clean_failure(result, 3)
    assert result.stderr.splitlines() == ["kss-panel: error: wrong passphrase for officer 'aino'"]
    assert result.stdout == ""
    assert populated.tables() == before


@pytest.mark.parametrize("officer", ["nobody", "desk"])
def test_unknown_officer_exit_3(populated: Register, officer: str) -> None:
    before = populated.tables()
    result = populated.cli("list", "--officer", officer, env={"KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert_clean_failure(result, 3)
    assert result.stderr.splitlines() == [f"kss-panel: error: no officer '{officer}' with a passphrase in this register"]
    assert populated.tables() == before


def test_officer_and_passphrase_from_environment(populated: Register) -> None:
    result = populated.cli("list", "--json", env={"KSS_PANEL_OFFICER": "aino", "KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 0, result.stderr
    key = populated.cli("list", "--json", env={"KSS_PANEL_KEY_FILE": str(populated.key_file)})
    assert key.exit_code == 0, key.stderr


def test_passphrase_from_a_file(populated: Register) -> None:
    secret = populated.dir / "pass.txt"
    secret.write_text(PASSPHRASE + "\n")
    result = populated.cli("list", "--officer", "aino", "--passphrase-file", str(secret))
    assert result.exit_code == 0, result.stderr
    missing = populated.cli("list", "--officer", "aino", "--passphrase-file", str(populated.dir / "none.txt"))
    assert_clean_failure(missing, 4)


def test_no_credentials_at_all(populated: Register) -> None:
    result = populated.cli("list")
    assert_clean_failure(result, 3)
    assert result.stderr.splitlines() == [
        "kss-panel: error: no officer given",
        "kss-panel: hint: pass --officer or set KSS_PANEL_OFFICER, or use --key-file",
    ]


def test_no_passphrase_and_no_terminal(populated: Register) -> None:
    result = populated.cli("list", "--officer", "aino")
    assert_clean_failure(result, 3)
    assert result.stderr.splitlines()[0] == "kss-panel: error: no passphrase given and no terminal to ask on"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "{path} is not a kss-panel key file"),
        (b"hello\n", "{path} is not a kss-panel key file"),
        (b"kss-panel-key-v1:tooshort\n", "{path} is not a kss-panel key file"),
        (b"kss-panel-key-v1:!!!!\n", "{path} is not a kss-panel key file"),
        (b"\xff\xfe\xfd", "cannot read the key file {path}"),
        (crypto.new_key_file_text().encode(), "the key file does not open any key slot of this register"),
    ],
    ids=["empty", "junk", "short", "bad-base64", "binary", "other-key"],
)
def test_a_bad_key_file_exit_3(populated: Register, content: bytes, message: str) -> None:
    bad = populated.dir / "bad.key"
    bad.write_bytes(content)
    before = populated.tables()
    result = populated.cli("show", populated.ids["aino"], "--key-file", str(bad))
    assert_clean_failure(result, 3)
    assert result.stderr.splitlines() == ["kss-panel: error: " + message.format(path=bad)]
    assert populated.tables() == before


def test_a_missing_key_file_is_not_found(populated: Register) -> None:
    missing = populated.dir / "missing.key"
    result = populated.cli("list", "--key-file", str(missing))
    assert_clean_failure(result, 4)
    assert result.stderr.splitlines() == [f"kss-panel: error: key file not found: {missing}"]


# --- the purger role ----------------------------------------------------------------------------------------


@pytest.fixture
def guarded(make_register: Callable[..., Register]) -> Register:
    """The populated register with a purger key-file slot 'cron' too (its key file: ``keys["cron"]``)."""
    return make_register(POPULATED, purger=True)


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("show", "{aino}"), "read personal data"),
        (("list", "--names"), "read members' names"),
        (("enrol", "--file", "-"), "enrol members"),
        (("update", "{aino}", "--set", "contact.city=Hamina"), "rectify personal data"),
        (("find", "--email", "aino@example.fi"), "look up members"),
        (("officer", "remove", "desk"), "manage officers"),
        (("officer", "add", "evil", "--key-file", "{dir}/evil.key", "--unlock-key-file", "{cron}"), "manage officers"),
        (("list", "--consent-outdated", "email_marketing"), "read members' consents"),
        (("export", "portable", "{aino}", "--out", "{dir}/portable"), "export personal data"),
        (("notify", "export", "direct-marketing", "--out", "{dir}/n.json"), "notify recipients"),
        (("breach", "open", "--title", "x", "--discovered", "2025-06-15T10:00"), "record breaches"),
    ],
    ids=["show", "list-names", "enrol", "update", "find", "officer-remove", "officer-add", "consent-outdated", "portable", "notify-export",
         "breach-open"],
)
def test_a_purger_may_not_touch_personal_data(guarded: Register, args: tuple[str, ...], what: str) -> None:
    cron = guarded.keys["cron"]
    argv = [a.format(aino=guarded.ids["aino"], dir=guarded.dir, cron=cron) for a in args]
    if argv[:2] != ["officer", "add"]:
        argv += ["--key-file", str(cron)]
    before = guarded.tables()
    result = guarded.cli(*argv, input=json.dumps(AINO))
    assert_clean_failure(result, 3)
    assert result.stderr.splitlines() == [
        f"kss-panel: error: the purger slot 'cron' may not {what}",
        "kss-panel: hint: use an officer's passphrase or key file",
    ]
    assert result.stdout == ""
    assert guarded.tables() == before
    assert not (guarded.dir / "evil.key").exists()


@pytest.mark.parametrize("args", [("audit", "verify"), ("audit", "log"), ("audit", "head"), ("list",), ("list", "--status", "applicant"),
                                  ("notify", "list"), ("breach", "list")])
def test_a_purger_may_audit_and_list(guarded: Register, args: tuple[str, ...]) -> None:
    result = guarded.cli(*args, "--json", "--key-file", str(guarded.keys["cron"]))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_a_purger_slot_holds_no_data_or_lookup_key(guarded: Register, policies: Policies) -> None:
    cron = guarded.keys["cron"]
    credentials = keyslots.Credentials(key_secret=crypto.parse_key_file(cron.read_text()))
    with unlock(guarded.db, policies, credentials) as session:
        assert (session.actor, session.role) == ("cron", "purger")
        assert session.keys.data is None and session.keys.lookup == () and session.keys.audit is None
        with pytest.raises(AuthError):
            members.show(session, guarded.ids["aino"], NOW)
        # Even opened with its own key pair, the slot's grant holds no key at all.
        slot = guarded.sql("SELECT grant FROM slots WHERE name = 'cron'")[0][0]
        assert session.slot.pair is not None
        assert session.slot.pair.open_grant(slot, ("grant", session.register_id, "cron", "purger")) == b"{}"


def test_a_purger_promoted_in_the_file_gains_nothing(guarded: Register, policies: Policies) -> None:
    guarded.sql("UPDATE slots SET role = 'officer' WHERE name = 'cron'")
    result = guarded.cli("show", guarded.ids["aino"], "--key-file", str(guarded.keys["cron"]))
    # The trail says what role the slot has: a relabelled slot is refused before anything opens.
    assert_clean_failure(result, 7)
    assert result.stderr.splitlines() == ["kss-panel: error: key slot 'cron' is not the one the audit trail says exists"]
    # And below that check the role is part of the slot's contexts: it would not open anyway.
    [row] = guarded.sql("SELECT kdf FROM slots WHERE name = 'cron'")
    slot = {"name": "cron", "role": "officer", "kind": "keyfile", "kdf": row[0]}
    kek = keyslots.slot_kek(slot, keyslots.Credentials(key_secret=crypto.parse_key_file(guarded.keys["cron"].read_text())))
    full = dict(zip(("recipient", "verifier", "secrets", "grant", "legacy"),
                    guarded.sql("SELECT recipient, verifier, secrets, grant, legacy FROM slots WHERE name = 'cron'")[0], strict=True))
    [(register_id,)] = guarded.sql("SELECT value FROM meta WHERE key = 'register_id'")
    assert kek is not None and keyslots.open_slot(register_id, {**slot, **full}, kek) is None
    assert not any(value in result.output for value in ("Aino", "aino@example.fi"))
