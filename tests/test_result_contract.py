"""The --json contract: one versioned envelope on stdout, for results and for errors, from every command.

    {"kss_panel": 1, "command": ..., "ok": true,  "data": ...}
    {"kss_panel": 1, "command": ..., "ok": false, "error": {"code", "type", "message"[, "problems"]}}

Scripts depend on these keys; changing them is a breaking change. CASES holds,
for every command of the command line, a run that succeeds and one that fails;
a command added without its cases fails test_every_command_has_its_cases.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import Result

from kss_panel.cli import app
from support import AINO, PASSPHRASE, VEIKKO, Register, record

RESULT_KEYS = {"kss_panel", "command", "ok", "data"}
ERROR_KEYS = {"kss_panel", "command", "ok", "error"}
ERROR_TYPES = {3: "auth", 4: "not_found", 5: "invalid_input", 6: "invalid_policy", 7: "integrity", 8: "busy", 9: "refused"}
UNKNOWN = "Mcccccccccccccccc"  # a well-formed member id no member has


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command under ``command`` (groups are walked into, not listed)."""
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path
    for name, sub in sorted((subcommands or {}).items()):
        yield from walk(sub, (*path, name))


COMMANDS = [" ".join(path) for path in walk(typer.main.get_command(app))]


def one_document(result: Result) -> dict[str, Any]:
    """stdout holds exactly one JSON document, on one line, and nothing else."""
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1, result.stdout
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


Args = Callable[[Register], Sequence[str | Path]]
Setup = Callable[[Register], None]


@dataclass(frozen=True)
class Run:
    """One run of a command on the populated register (members aino and veikko), with --json.

    ``unlock`` is the option that takes the 'desk' key file (None: the command
    unlocks nothing, or the run gives its own credentials in ``env``).
    """

    args: Args
    setup: Setup | None = None
    input: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    unlock: str | None = "--key-file"

    def __call__(self, reg: Register) -> Result:
        if self.setup is not None:
            self.setup(reg)
        credentials = () if self.unlock is None else (self.unlock, reg.key_file)
        return reg.cli(*self.args(reg), "--json", *credentials, input=self.input, env=self.env)


@dataclass(frozen=True)
class Ok(Run):
    """A run that succeeds; ``data`` is the type of the envelope's data, ``expect`` some of its items."""

    data: type = dict
    expect: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fails(Run):
    """A run that fails with exit ``code``; ``problems``: the error lists problems."""

    code: int = 0
    problems: bool = False


def tamper_audit(r: Register) -> None:
    r.sql("UPDATE audit SET actor = 'mallory' WHERE seq = 2")


def not_a_register(r: Register) -> None:
    r.db.write_bytes(b"\x00not a database" * 100)


def no_register(r: Register) -> None:
    r.db.unlink()


def broken_policy(r: Register) -> None:
    r.custom_policies("surprise: true\n", "retention.yaml")


def an_open_request(r: Register) -> None:
    assert r.open_request("access", "aino")["id"] == 1


def a_backup(r: Register) -> None:
    r.backup()


def a_breach(r: Register) -> None:
    assert r.json("breach", "open", "--title", "Laptop lost", "--discovered", "2025-06-15T08:00")["id"] == 1


def a_pending_notification(r: Register) -> None:
    """Aino disclosed to the mailer, then her city rectified: the mailer is owed nothing (no city), her email is."""
    r.admit("aino")
    assert r.disclose("panel-mailer", "communication")[0].exit_code == 0
    assert r.json("update", r.ids["aino"], "--set", "contact.email=aino.m@example.fi")["notify"] == ["panel-mailer"]


def roster(r: Register) -> Path:
    return r.roster(AINO["customer_number"], VEIKKO["customer_number"])


def a_survey(r: Register) -> None:
    assert r.run("survey", "create", "spring-2026", "--title", "Spring 2026").exit_code == 0


def an_invitation(r: Register) -> None:
    """Survey spring-2026, with aino (admitted) invited."""
    a_survey(r)
    r.admit("aino")
    assert r.run("survey", "sample", "spring-2026", "--size", "1", "--apply", "--out", r.dir / "invitations.csv").exit_code == 0


def a_commitment(r: Register) -> None:
    """aino invited to spring-2026 and answered; the draw committed to."""
    an_invitation(r)
    assert r.run("survey", "responses", "spring-2026", r.file(f"member_id\n{r.ids['aino']}\n")).exit_code == 0
    assert r.run("draw", "commit", "spring-2026").exit_code == 0


def a_draw(r: Register) -> None:
    a_commitment(r)
    assert r.run("draw", "run", "spring-2026", "--prizes", "1").exit_code == 0


NEW_APPLICANT = json.dumps(record(VEIKKO, customer_number="55556666", contact__email="n@example.fi", contact__phone=None))
INIT = Ok(lambda r: ("init", "--officer", "aino", "--unlock-time", "0"), no_register, unlock=None, env={"KSS_PANEL_PASSPHRASE": PASSPHRASE},
          expect={"officer": "aino"})

# Every command: a run that succeeds, and a run that fails.
CASES: dict[str, tuple[Ok, Fails]] = {
    "activity import": (
        Ok(lambda r: ("activity", "import", r.file(f"member_id,date\n{r.ids['aino']},2025-06-01\n"))),
        Fails(lambda r: ("activity", "import", r.file(f"member_id,date\n{UNKNOWN},2025-06-01\n")), code=5, problems=True),
    ),
    "admit": (
        Ok(lambda r: ("admit", r.ids["aino"], "--customers", roster(r))),
        Fails(lambda r: ("admit", UNKNOWN, "--customers", roster(r)), code=4),
    ),
    "audit head": (Ok(lambda r: ("audit", "head")), Fails(lambda r: ("audit", "head"), tamper_audit, code=7)),
    "audit log": (Ok(lambda r: ("audit", "log"), data=list), Fails(lambda r: ("audit", "log"), not_a_register, code=7)),
    "audit verify": (Ok(lambda r: ("audit", "verify")), Fails(lambda r: ("audit", "verify"), tamper_audit, code=7)),
    "backup": (
        Ok(lambda r: ("backup", r.dir / "backup.db")),
        Fails(lambda r: ("backup", r.file("not a register")), code=5, problems=True),
    ),
    "breach affected": (
        Ok(lambda r: ("breach", "affected", "1", "--recipient", "panel-mailer", "--from", "2025-06-01", "--to", "2025-06-15"), a_breach,
           expect={"members": 0}),
        Fails(lambda r: ("breach", "affected", "1", "--recipient", "panel-mailer", "--from", "2025-06-15", "--to", "2025-06-01"), a_breach,
              code=5, problems=True),
    ),
    "breach close": (
        Ok(lambda r: ("breach", "close", "1", "--notified-authority", "2025-06-15"), a_breach, expect={"status": "notified"}),
        Fails(lambda r: ("breach", "close", "2", "--notified-authority", "2025-06-15"), a_breach, code=4),
    ),
    "breach list": (Ok(lambda r: ("breach", "list"), a_breach, data=list), Fails(lambda r: ("breach", "list"), no_register, code=4)),
    "breach notify-members": (
        Ok(lambda r: ("breach", "notify-members", "1", "--out", r.dir / "members.csv"), a_breach, expect={"listed": 0, "file": None}),
        Fails(lambda r: ("breach", "notify-members", "1", "--out", r.dir / "members.csv", "--format", "xls"), a_breach, code=5, problems=True),
    ),
    "breach open": (
        Ok(lambda r: ("breach", "open", "--title", "Laptop lost", "--discovered", "2025-06-15T08:00"), expect={"id": 1, "status": "open"}),
        Fails(lambda r: ("breach", "open", "--title", "", "--discovered", "tomorrow"), code=5, problems=True),
    ),
    "consent": (
        Ok(lambda r: ("consent", r.ids["aino"], "--give", "sms_marketing")),
        Fails(lambda r: ("consent", UNKNOWN, "--give", "sms_marketing"), code=4),
    ),
    "eligibility": (
        Ok(lambda r: ("eligibility", "--customers", roster(r))),
        Fails(lambda r: ("eligibility", "--customers", r.dir / "missing.csv"), code=4),
    ),
    "enrol": (
        Ok(lambda r: ("enrol", "--file", "-"), input=NEW_APPLICANT),
        Fails(lambda r: ("enrol", "--file", "-"), input=json.dumps(record(AINO, contact__language="de")), code=5, problems=True),
    ),
    "erase": (
        Ok(lambda r: ("erase", r.ids["aino"], "--reason", "request")),
        Fails(lambda r: ("erase", UNKNOWN, "--reason", "request"), code=4),
    ),
    "export access": (Ok(lambda r: ("export", "access", r.ids["aino"])), Fails(lambda r: ("export", "access", UNKNOWN), code=4)),
    "export portable": (
        Ok(lambda r: ("export", "portable", r.ids["aino"], "--out", r.dir / "portable"), expect={"fields": ["customer_number", "contact.first_name", "contact.last_name", "contact.email", "contact.phone",
                                        "contact.street_address", "contact.postal_code", "contact.city", "contact.language",
                                        "demographics.birth_year", "demographics.gender", "demographics.household_size",
                                        "demographics.dwelling_type", "electricity.annual_consumption_kwh", "electricity.heating",
                                        "electricity.has_solar_panels", "electricity.has_electric_vehicle", "hobbies", "attitudes.environment",
                                        "attitudes.price_sensitivity", "attitudes.local_energy", "attitudes.digital_services"]}),
        Fails(lambda r: ("export", "portable", UNKNOWN, "--out", r.dir / "portable"), code=4),
    ),
    "export disclosure": (
        Ok(lambda r: ("export", "disclosure", "panel-mailer", "--purpose", "communication", "--out", r.dir / "out.csv")),
        Fails(lambda r: ("export", "disclosure", "nobody-we-know", "--purpose", "communication", "--out", r.dir / "out.csv"), code=9),
    ),
    "find": (Ok(lambda r: ("find", "--email", "aino@example.fi")), Fails(lambda r: ("find", "--email", "nobody@example.fi"), code=4)),
    "import": (
        Ok(lambda r: ("import", r.file("customer_number,contact.first_name,contact.last_name,contact.email,contact.language\n"
                                       "55556666,Eero,Nieminen,eero@example.fi,fi\n"))),
        Fails(lambda r: ("import", r.file("")), code=5, problems=True),
    ),
    "init": (INIT, Fails(INIT.args, no_register, unlock=None, env={"KSS_PANEL_PASSPHRASE": "short"}, code=5, problems=True)),
    "key rotate": (
        Ok(lambda r: ("key", "rotate"), expect={"members": 2, "slots": ["aino", "desk"]}),
        Fails(lambda r: ("key", "rotate"), tamper_audit, code=7),
    ),
    "list": (Ok(lambda r: ("list",), data=list), Fails(lambda r: ("list", "--status", "vip"), code=5, problems=True)),
    "notice": (
        Ok(lambda r: ("notice", "--record", "--lang", "sv"), unlock=None, expect={"document": "record", "language": "sv"}),
        Fails(lambda r: ("notice", "--lang", "de"), unlock=None, code=5, problems=True),
    ),
    "notify export": (
        Ok(lambda r: ("notify", "export", "panel-mailer", "--out", r.dir / "n.json"), a_pending_notification, expect={"notifications": 1}),
        Fails(lambda r: ("notify", "export", "nobody-we-know", "--out", r.dir / "n.json"), code=4),
    ),
    "notify list": (
        Ok(lambda r: ("notify", "list"), a_pending_notification, data=list),
        Fails(lambda r: ("notify", "list"), no_register, code=4),
    ),
    "officer add": (
        Ok(lambda r: ("officer", "add", "cron", "--role", "purger", "--key-file", r.dir / "cron.key"), unlock="--unlock-key-file"),
        Fails(lambda r: ("officer", "add", "desk", "--key-file", r.dir / "desk2.key"), unlock="--unlock-key-file", code=5, problems=True),
    ),
    "officer list": (Ok(lambda r: ("officer", "list"), data=list), Fails(lambda r: ("officer", "list"), no_register, code=4)),
    "officer passwd": (
        Ok(lambda r: ("officer", "passwd", "--officer", "aino"), unlock=None,
           env={"KSS_PANEL_PASSPHRASE": PASSPHRASE, "KSS_PANEL_NEW_PASSPHRASE": "a new passphrase for aino"}, expect={"officer": "aino"}),
        Fails(lambda r: ("officer", "passwd"), code=3),
    ),
    "officer remove": (Ok(lambda r: ("officer", "remove", "aino")), Fails(lambda r: ("officer", "remove", "nobody"), code=4)),
    "policy check": (
        Ok(lambda r: ("policy", "check"), unlock=None),
        Fails(lambda r: ("policy", "check"), broken_policy, unlock=None, code=6, problems=True),
    ),
    "policy show": (
        Ok(lambda r: ("policy", "show"), unlock=None),
        Fails(lambda r: ("policy", "show"), broken_policy, unlock=None, code=6, problems=True),
    ),
    "purge": (Ok(lambda r: ("purge",)), Fails(lambda r: ("purge", "--as-of", "15.6.2025"), code=5, problems=True)),
    "reject": (
        Ok(lambda r: ("reject", r.ids["aino"], "--reason", "not-a-customer")),
        Fails(lambda r: ("reject", r.ids["aino"], "--reason", "too-grumpy"), code=5, problems=True),
    ),
    "request close": (
        Ok(lambda r: ("request", "close", "1", "--outcome", "fulfilled"), an_open_request),
        Fails(lambda r: ("request", "close", "99", "--outcome", "fulfilled"), an_open_request, code=4),
    ),
    "request extend": (
        Ok(lambda r: ("request", "extend", "1", "--reason", "complexity"), an_open_request),
        Fails(lambda r: ("request", "extend", "99", "--reason", "complexity"), an_open_request, code=4),
    ),
    "request list": (Ok(lambda r: ("request", "list"), an_open_request, data=list), Fails(lambda r: ("request", "list"), no_register, code=4)),
    "request open": (
        Ok(lambda r: ("request", "open", "--type", "access", "--member", r.ids["aino"])),
        Fails(lambda r: ("request", "open", "--type", "access", "--member", UNKNOWN), code=4),
    ),
    "restore": (
        Ok(lambda r: ("restore", r.dir / "backup.db", "--yes"), a_backup),
        Fails(lambda r: ("restore", r.dir / "missing.db", "--yes"), code=4),
    ),
    "restrict": (
        Ok(lambda r: ("restrict", r.ids["aino"], "--reason", "legal-claims")),
        Fails(lambda r: ("restrict", UNKNOWN, "--reason", "legal-claims"), code=4),
    ),
    "show": (Ok(lambda r: ("show", r.ids["aino"])), Fails(lambda r: ("show", UNKNOWN), code=4)),
    "survey create": (
        Ok(lambda r: ("survey", "create", "spring-2026", "--title", "Spring 2026"), expect={"name": "spring-2026"}),
        Fails(lambda r: ("survey", "create", "Spring 2026", "--title", "Spring 2026"), code=5, problems=True),
    ),
    "survey list": (Ok(lambda r: ("survey", "list"), a_survey, data=list), Fails(lambda r: ("survey", "list"), no_register, code=4)),
    "survey show": (
        Ok(lambda r: ("survey", "show", "spring-2026"), an_invitation, expect={"name": "spring-2026", "invited": 1, "responded": 0}),
        Fails(lambda r: ("survey", "show", "autumn-2026"), a_survey, code=4),
    ),
    "survey sample": (
        Ok(lambda r: ("survey", "sample", "spring-2026", "--size", "1"), a_survey, expect={"dry_run": True, "short": 1}),
        Fails(lambda r: ("survey", "sample", "spring-2026", "--size", "1", "--strata", "contact.email"), a_survey, code=5, problems=True),
    ),
    "survey responses": (
        Ok(lambda r: ("survey", "responses", "spring-2026", r.file(f"member_id\n{r.ids['aino']}\n")), an_invitation, expect={"recorded": 1}),
        Fails(lambda r: ("survey", "responses", "spring-2026", r.file(f"member_id\n{r.ids['veikko']}\n")), an_invitation, code=5,
              problems=True),
    ),
    "draw commit": (Ok(lambda r: ("draw", "commit", "spring-2026"), a_survey), Fails(lambda r: ("draw", "commit", "autumn-2026"), code=4)),
    "draw run": (
        Ok(lambda r: ("draw", "run", "spring-2026", "--prizes", "1"), a_commitment, expect={"prizes": 1, "entrants": 1}),
        Fails(lambda r: ("draw", "run", "spring-2026", "--prizes", "1"), a_survey, code=9),
    ),
    "draw verify": (
        Ok(lambda r: ("draw", "verify", "spring-2026"), a_draw, expect={"verified": True}),
        Fails(lambda r: ("draw", "verify", "spring-2026"), a_commitment, code=9),
    ),
    "update": (
        Ok(lambda r: ("update", r.ids["aino"], "--set", "contact.city=Hamina")),
        Fails(lambda r: ("update", r.ids["aino"], "--set", "contact.postal_code=1"), code=5, problems=True),
    ),
}

# More runs of some commands: other options, other ways to fail.
MORE_OK: list[tuple[str, Ok]] = [
    ("find", Ok(lambda r: ("find", "--phone", "040 1234567"))),
    ("find", Ok(lambda r: ("find", "--customer-number", "87654321"))),
    ("list", Ok(lambda r: ("list", "--status", "applicant"), data=list)),
    ("list", Ok(lambda r: ("list", "--names"), data=list)),
    ("audit log", Ok(lambda r: ("audit", "log", "--member", r.ids["veikko"]), data=list)),
    ("audit verify", Ok(lambda r: ("audit", "verify"), unlock=None, expect={"entries": 4})),
    ("audit head", Ok(lambda r: ("audit", "head"), unlock=None)),
    ("officer remove", Ok(lambda r: ("officer", "remove", "aino", "--rotate"), expect={"removed": "aino", "rotated": True, "members": 2})),
    ("officer list", Ok(lambda r: ("officer", "list", "--officer", "aino"), unlock=None, env={"KSS_PANEL_PASSPHRASE": PASSPHRASE}, data=list)),
    ("admit", Ok(lambda r: ("admit", "--all", "--customers", roster(r)), expect={"not_in_roster": []})),
    ("list", Ok(lambda r: ("list", "--objected", "--restricted"), data=list)),
    ("consent", Ok(lambda r: ("consent", r.ids["aino"], "--object-processing"), expect={"objected_at": None})),
    ("request open", Ok(lambda r: ("request", "open", "--type", "access", "--person", "Someone Outside"), expect={"subject": "person"})),
    ("request list", Ok(lambda r: ("request", "list", "--reveal"), an_open_request, data=list)),
    ("list", Ok(lambda r: ("list", "--consent-outdated", "email_marketing"), data=list)),
    ("notify list", Ok(lambda r: ("notify", "list", "--sent", "--recipient", "panel-mailer"), data=list)),
    ("breach affected", Ok(lambda r: ("breach", "affected", "1", "--file", r.file(f"member_id,contact.email\n{r.ids['aino']},x@example.fi\n")),
                           a_breach, expect={"members": 1, "added": 1})),
    ("breach close", Ok(lambda r: ("breach", "close", "1", "--not-notified", "the laptop's disk was encrypted"), a_breach,
                        expect={"status": "not-notified"})),
]
MORE_FAILS: list[tuple[str, Fails]] = [
    ("survey sample", Fails(lambda r: ("survey", "sample", "spring-2026", "--size", "2", "--apply", "--out", r.dir / "short.csv"), an_invitation,
                            code=9, problems=True)),
    ("find", Fails(lambda r: ("find", "--email", "nobody"), code=5, problems=True)),
    ("audit verify", Fails(lambda r: ("audit", "verify", "--head", "junk"), code=5, problems=True)),
    ("list", Fails(lambda r: ("list", "--officer", "aino"), unlock=None, env={"KSS_PANEL_PASSPHRASE": "not the passphrase at all"}, code=3)),
    ("consent", Fails(lambda r: ("consent", r.ids["aino"], "--give", "sms_marketing", "--withdraw", "sms_marketing"), code=5, problems=True)),
    ("request close", Fails(lambda r: ("request", "close", "1", "--outcome", "no-data"), an_open_request, code=9)),
    ("list", Fails(lambda r: ("list", "--consent-outdated", "newsletter"), code=5, problems=True)),
    ("breach affected", Fails(lambda r: ("breach", "affected", "1", "--file", r.file(f"member_id\n{UNKNOWN}\n")), a_breach, code=5, problems=True)),
    ("export portable", Fails(lambda r: ("export", "portable", r.ids["aino"], "--out", r.dir / "p", "--request", "1"), an_open_request,
                              code=5, problems=True)),
    ("import", Fails(lambda r: ("import", r.file("customer_number,contact.first_name,contact.last_name,contact.email,contact.language\n"
                                                  "55556666,Eero,Nieminen,eero@example.fi,de\n")), code=5, problems=True)),
]
OK_RUNS = [(command, ok) for command, (ok, _) in CASES.items()] + MORE_OK
FAILING_RUNS = [(command, fails) for command, (_, fails) in CASES.items()] + MORE_FAILS


def test_every_command_has_its_cases() -> None:
    """A command without a case here is a command whose envelope nobody checked."""
    missing, stale = sorted(set(COMMANDS) - set(CASES)), sorted(set(CASES) - set(COMMANDS))
    assert (missing, stale) == ([], []), f"commands without cases: {missing}; cases of no command: {stale}"
    assert sorted(CASES) == COMMANDS
    assert len(COMMANDS) > 20  # the walk found the command line, groups and all


@pytest.mark.parametrize(("command", "run"), OK_RUNS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(OK_RUNS)])
def test_success_prints_one_envelope(populated: Register, command: str, run: Ok) -> None:
    result = run(populated)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    document = one_document(result)
    assert set(document) == RESULT_KEYS
    assert (document["kss_panel"], document["command"], document["ok"]) == (1, command, True)
    assert isinstance(document["data"], run.data)
    assert {key: document["data"][key] for key in run.expect} == run.expect


@pytest.mark.parametrize(("command", "run"), FAILING_RUNS, ids=[f"{c}-{run.code}-{i}" for i, (c, run) in enumerate(FAILING_RUNS)])
def test_failure_prints_one_error_envelope(populated: Register, command: str, run: Fails) -> None:
    result = run(populated)
    assert result.exit_code == run.code, (result.stdout, result.stderr)
    document = one_document(result)
    assert set(document) == ERROR_KEYS
    assert (document["kss_panel"], document["command"], document["ok"]) == (1, command, False)
    error = document["error"]
    assert set(error) == ({"code", "type", "message", "problems"} if run.problems else {"code", "type", "message"})
    assert error["code"] == run.code
    assert error["type"] == ERROR_TYPES[run.code]
    assert result.stderr.splitlines()[0] == f"kss-panel: error: {error['message']}"
    if run.problems:
        assert error["problems"] and all(set(p) == {"path", "problem"} for p in error["problems"])
        listed = [line for line in result.stderr.splitlines() if line.startswith("  ")]
        assert listed == [f"  {p['path']}: {p['problem']}" for p in error["problems"]]


def test_auth_error_envelope(populated: Register) -> None:
    result = populated.run_as_aino("list", "--json", passphrase="not the passphrase at all")
    assert result.exit_code == 3
    document = one_document(result)
    assert document["error"] == {"code": 3, "type": "auth", "message": "wrong passphrase for officer 'aino'"}
    assert document["command"] == "list"


def test_without_json_stdout_has_no_envelope(populated: Register) -> None:
    result = populated.run("show", UNKNOWN)
    assert result.exit_code == 4
    assert result.stdout == ""
