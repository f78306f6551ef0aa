"""What the test files share: sample records and the builders of people, template registers,
a register bound to the command line, and assertions.

A plain module: the fixtures are in conftest.py. pytest's default import mode
("prepend", which pyproject.toml keeps) puts tests/ on sys.path when it loads
tests/conftest.py (tests/ has no __init__.py), so a test file, and conftest.py,
say ``from support import ...``.

Registers are built through the services with Argon2id at tiny, fixed
parameters (FAST_KDF), once per population and test session (see Templates),
and every test gets a copy of the file. Most commands unlock with the
officer-role key-file slot "desk", which costs an HKDF, not Argon2.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, AnyStr

# The CLI's rich consoles are made at each command's first print and keep the COLUMNS of the
# environment then, so the per-test environment (conftest.py: wide, plain output) decides; none is
# inherited from where pytest was started (an xdist worker starts with COLUMNS=80).
os.environ.pop("COLUMNS", None)

import pytest  # noqa: E402
import typer  # noqa: E402
from typer.testing import CliRunner, Result  # noqa: E402

from kss_panel import crypto, keyslots  # noqa: E402
from kss_panel.cli import app  # noqa: E402
from kss_panel.policy import Policies  # noqa: E402
from kss_panel.policy_files import load_policies  # noqa: E402
from kss_panel.services import lifecycle, members, officers, requests, rights  # noqa: E402
from kss_panel.services.session import Session, init_register, unlock  # noqa: E402
from kss_panel.storage import Store  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KSS_PANEL = Path(sys.executable).parent / "kss-panel"  # the installed command, for tests that need a real process
POLICIES_DIR = ROOT / "policies"
NOW = datetime(2025, 6, 15, 9, 30, tzinfo=UTC)
PASSPHRASE = "correct horse battery staple"
FAST_KDF = crypto.KdfParams(salt=b"s" * 16, memory_kib=64, iterations=1, lanes=1)
# The shipped blast-radius guards, as retention.yaml states them.
GUARDS = "guards:\n  purge:\n    max_percent: 5\n    always_allowed: 3\n  eligibility:\n    max_percent: 5\n    always_allowed: 3\n"
CATEGORIES = ("customer_number", "contact", "demographics", "electricity", "hobbies", "attitudes", "consents")
# Every consent of the shipped policy, in its order: a record shows them all, given or not.
CONSENTS = tuple(load_policies(POLICIES_DIR).register.consents)


def consents(*given: str) -> dict[str, bool]:
    """A record's consents as `show` prints them: every consent of the shipped policy, those ``given`` true."""
    unknown = set(given) - set(CONSENTS)
    assert not unknown, f"not consents of the shipped policy: {sorted(unknown)}"
    return {name: name in given for name in CONSENTS}


# A valid record using every field of DESIGN §2 / policies/register.yaml.
AINO: dict[str, Any] = {
    "customer_number": "12345678",
    "contact": {
        "first_name": "Aino",
        "last_name": "Mäkelä",
        "email": "aino@example.fi",
        "phone": "+358401234567",
        "street_address": "Hovioikeudenkatu 3",
        "postal_code": "45100",
        "city": "Kouvola",
        "language": "fi",
    },
    "demographics": {"birth_year": 1978, "gender": "female", "household_size": 3, "dwelling_type": "detached"},
    "electricity": {
        "annual_consumption_kwh": 18500,
        "heating": "heat_pump",
        "has_solar_panels": False,
        "has_electric_vehicle": True,
    },
    "hobbies": ["fishing", "sauna"],
    "attitudes": {"environment": 4, "price_sensitivity": 5, "local_energy": 3, "digital_services": 2},
    "consents": consents("email_marketing", "marketing_competitions", "partner_marketing"),
}

VEIKKO: dict[str, Any] = {
    "customer_number": "87654321",
    "contact": {
        "first_name": "Veikko",
        "last_name": "Virtanen",
        "email": "veikko.virtanen@example.fi",
        "phone": "+358501112223",
        "street_address": "Kauppamiehenkatu 5",
        "postal_code": "45100",
        "city": "Kouvola",
        "language": "sv",
    },
    "demographics": {"birth_year": 1960, "gender": "male", "household_size": 1, "dwelling_type": "apartment"},
    "hobbies": ["hiihto"],
    "consents": consents("sms_marketing"),
}

# Every text field holds a distinctive value that must never leave its sealed box.
CANARY: dict[str, Any] = {
    "customer_number": "98765432",
    "contact": {
        "first_name": "Canaryfirstname",
        "last_name": "Canarylastname",
        "email": "canary.mail@example.fi",
        "phone": "+358401234999",
        "street_address": "Canarystreet 7",
        "postal_code": "45190",
        "city": "Canarycity",
        "language": "en",
    },
    "demographics": {"birth_year": 1981, "gender": "other", "household_size": 2, "dwelling_type": "terraced"},
    "electricity": {
        "annual_consumption_kwh": 12345,
        "heating": "district",
        "has_solar_panels": True,
        "has_electric_vehicle": False,
    },
    "hobbies": ["canaryhobby", "canarysecondhobby"],
    "attitudes": {"environment": 5, "price_sensitivity": 1},
    "consents": consents("sms_marketing"),
}
CANARY_STRINGS = (
    "Canaryfirstname",
    "Canarylastname",
    "canary.mail@example.fi",
    "canary.mail",
    "+358401234999",
    "0401234999",
    "401234999",
    "98765432",
    "Canarystreet",
    "Canarycity",
    "canaryhobby",
    "canarysecondhobby",
)


# Two members whose every free-text value is distinctive, so a value of one found
# where only the other's belong (an export, the file after an erase) is a leak.
ILMA: dict[str, Any] = {
    "customer_number": "71234567",
    "contact": {
        "first_name": "Ilmatarvika",
        "last_name": "Kanervistöläinen",
        "email": "ilmatar.kanervisto@example.fi",
        "phone": "+358401112345",
        "street_address": "Kanarialinnuntie 17 B",
        "postal_code": "45610",
        "city": "Qwertyvaara",
        "language": "fi",
    },
    "demographics": {"birth_year": 1979, "gender": "female", "household_size": 4, "dwelling_type": "farm"},
    "electricity": {"annual_consumption_kwh": 23456, "heating": "geothermal", "has_solar_panels": True, "has_electric_vehicle": False},
    "hobbies": ["sammalkeräily", "avantouinti"],
    "attitudes": {"environment": 2, "price_sensitivity": 3, "local_energy": 5, "digital_services": 1},
    "consents": consents("email_marketing", "marketing_competitions", "partner_marketing"),
}
BROR: dict[str, Any] = {
    "customer_number": "82345678",
    "contact": {
        "first_name": "Brorgunnar",
        "last_name": "Zetterqvistsson",
        "email": "bror.zetterqvist@example.fi",
        "phone": "+358502223456",
        "street_address": "Fyrmästargränd 9",
        "postal_code": "10600",
        "city": "Ekenässkär",
        "language": "sv",
    },
    "demographics": {"birth_year": 1955, "gender": "male", "household_size": 2, "dwelling_type": "terraced"},
    "hobbies": ["segelflygning"],
    "consents": consents("sms_marketing"),
}


# --- people -------------------------------------------------------------------------------------------------


def record(base: Mapping[str, Any] = AINO, **changes: Any) -> dict[str, Any]:
    """A deep copy of ``base``; ``changes`` maps 'contact__email' style paths to values."""
    out = copy.deepcopy(dict(base))
    for dotted, value in changes.items():
        parts = dotted.split("__")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


def customer(n: int) -> str:
    """The customer number of person(n): a roster that lists it says person n is a KSS Energia customer."""
    return f"{30_000_000 + n}"


def person(n: int, first: str = "Aino", last: str = "Mäkelä", *, given: Iterable[str] | None = None, **changes: Any) -> dict[str, Any]:
    """A valid application: AINO's record as person ``n``, named ``first last``, with lookups of its own
    (customer number customer(n), email <first>.<n>@example.fi, phone +35840 2000000+n), so that
    people of different ``n`` are never duplicates. ``given`` names the consents given (AINO's
    when None); ``changes`` as in record()."""
    data = record(
        AINO,
        customer_number=customer(n),
        contact__first_name=first,
        contact__last_name=last,
        contact__email=f"{first.lower()}.{n}@example.fi",
        contact__phone=f"+35840{2_000_000 + n}",
    )
    if given is not None:
        data["consents"] = consents(*given)
    return record(data, **changes)


def letters(n: int) -> str:
    """Letters only (names hold no digits), distinct for every n >= 0: a, b, ..., z, aa, ab, ..."""
    out = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        out = chr(ord("a") + rest) + out
    return out


def canary_person(n: int) -> dict[str, Any]:
    """person(n) with every free-text value a distinctive canary (and markup in a hobby)."""
    t = letters(n)
    return person(
        n, f"Canary{t}first", f"Canary{t}last",
        contact__email=f"canary.{t}@example.fi",
        contact__street_address=f"Canary{t}street 7",
        contact__city=f"Canary{t}city",
        hobbies=[f"canary{t}hobby", f"<b>canary{t}markup</b>"],
    )


def canaries(data: Mapping[str, Any], *, national: bool = True) -> list[str]:
    """Every free-text value of a record, its customer number and its phone (also in national form),
    then each long word of a longer value: output may cut a value short (a table cell) or escape
    its markup. Enumerations and five-digit postal codes are left out: two letters or five digits
    turn up by chance in any binary file."""
    contact = data["contact"]
    texts = [contact[k] for k in ("first_name", "last_name", "email", "street_address", "city") if k in contact]
    texts += [data["customer_number"], *data.get("hobbies", [])]
    if "phone" in contact:
        texts += [contact["phone"], *(["0" + contact["phone"][4:]] if national else [])]
    words = [word for text in texts for word in re.split(r"[\s<>/]+", text) if len(word) >= 8 and word != text]
    return texts + [word for word in dict.fromkeys(words) if word not in texts]


# --- the environment, the clock and the command line -----------------------------------------------------------


def clear_kss_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No KSS_PANEL_* variable of the developer's shell reaches a test."""
    for name in list(os.environ):
        if name.startswith("KSS_PANEL_"):
            monkeypatch.delenv(name)


@dataclass
class Clock:
    """The instant every command of a test runs at (the CLI takes it as its context object); a test may move it.

    ``terminal`` is where a command prompts: /dev/null, not a terminal, so no test ever waits on the
    developer's terminal; a test of prompts points it at a pty of its own.
    """

    now: datetime
    terminal: str = os.devnull


# The clock of the running test, set by the ``clock`` fixture: commands run at its instant.
PINNED: list[Clock] = []


def current_time() -> datetime:
    """The running test's instant (support.NOW outside a test)."""
    return PINNED[-1].now if PINNED else NOW


class Runner(CliRunner):
    """typer's CliRunner, building the click command from the Typer app once, not on every call.

    Building it costs more than most commands do; the command is the very one
    ``kss-panel`` runs. The rest is typer.testing.CliRunner.invoke as it is.
    """

    def __init__(self) -> None:
        super().__init__()
        self.command = typer.main.get_command(app)

    def invoke(  # type: ignore[override]
        self,
        args: Sequence[str],
        input: str | bytes | None = None,
        env: Mapping[str, str | None] | None = None,
        **extra: Any,
    ) -> Result:
        exit_code, exception, exc_info, return_value = 0, None, None, None
        with self.isolation(input=input, env=env) as streams:
            try:
                return_value = self.command.main(args=list(args), prog_name="kss-panel", **extra)
            except SystemExit as exc:
                exc_info = sys.exc_info()
                exit_code = 0 if exc.code is None else exc.code  # type: ignore[assignment]
                if exit_code != 0:
                    exception = exc
                if not isinstance(exit_code, int):
                    sys.stdout.write(f"{exit_code}\n")
                    exit_code = 1
            except Exception as exc:
                exception, exit_code, exc_info = exc, 1, sys.exc_info()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                stdout, stderr, output = (stream.getvalue() for stream in streams)
        return Result(
            runner=self,
            stdout_bytes=stdout,
            stderr_bytes=stderr,
            output_bytes=output,
            return_value=return_value,
            exit_code=exit_code,
            exception=exception,
            exc_info=exc_info,  # type: ignore[arg-type]
        )


RUNNER = Runner()


def invoke(*argv: str | Path, input: str | bytes | None = None, env: Mapping[str, str] | None = None) -> Result:
    """Run ``kss-panel ARGV`` in-process at the running test's pinned instant, with only ``env`` added."""
    return RUNNER.invoke([str(arg) for arg in argv], input=input, env=dict(env or {}), obj=PINNED[-1] if PINNED else None)


def process_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a real kss-panel process: this one's without KSS_PANEL_*, plus ``extra``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("KSS_PANEL_")}
    return {**env, **(extra or {})}


# --- template registers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A register file built once, and what a copy of it knows: the text of each key-file slot's key
    file by slot name, member ids and records by member name, and the ``facts`` the population
    function returned (such as the day each member falls due)."""

    db: Path
    keys: dict[str, str]
    ids: dict[Any, str]
    records: dict[Any, dict[str, Any]]
    facts: Any = None


def noon(day: date | str) -> datetime:
    """Noon UTC on ``day`` (a date or YYYY-MM-DD): the same calendar day in Europe/Helsinki."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)


class Builder:
    """Populates a template through the services, each step at its own instant (``now`` unless given).

    ``make(n)`` is the record of the n-th member enrolled without one of its own.
    """

    def __init__(self, session: Session, now: datetime, make: Callable[[int], dict[str, Any]] = canary_person) -> None:
        self.session = session
        self.now = now
        self.make = make
        self.ids: dict[Any, str] = {}
        self.records: dict[Any, dict[str, Any]] = {}

    def enrol(self, name: Any, data: Mapping[str, Any] | None = None, at: datetime | None = None) -> str:
        data = dict(data) if data is not None else self.make(len(self.ids) + 1)
        self.ids[name] = members.enrol(self.session, data, at or self.now)["member_id"]
        self.records[name] = data
        return self.ids[name]

    def applicant(self, name: Any, applied: date, data: Mapping[str, Any] | None = None) -> str:
        data = dict(data) if data is not None else self.make(len(self.ids) + 1)
        return self.enrol(name, {**data, "applied_at": applied.isoformat()}, noon(applied))

    def admit(self, *names: Any, at: datetime | None = None) -> None:
        for name in names:
            lifecycle.admit(self.session, self.ids[name], [self.records[name]["customer_number"]], at or self.now)

    def member(self, name: Any, applied: date, admitted: date, activity: date | None = None) -> str:
        self.applicant(name, applied)
        self.admit(name, at=noon(admitted))
        if activity is not None:
            lifecycle.record_activity(self.session, [(2, self.ids[name], activity)], noon(activity))
        return self.ids[name]

    def activity(self, name: Any, day: date) -> None:
        """Member ``name`` answered a survey on ``day`` (the clock of the inactivity rule)."""
        lifecycle.record_activity(self.session, [(2, self.ids[name], day)], noon(day))

    def rejected(self, name: Any, applied: date, rejected: date) -> str:
        self.applicant(name, applied)
        lifecycle.reject(self.session, self.ids[name], "not-a-customer", noon(rejected))
        return self.ids[name]

    def restrict(self, name: Any, reason: str = "accuracy-contested", at: datetime | None = None) -> None:
        rights.restrict(self.session, self.ids[name], at or self.now, reason=reason)

    def object(self, name: Any, *, marketing: bool = True, processing: bool = False) -> None:
        """An objection to direct marketing (Art. 21(2)), and with ``processing`` to processing on legitimate interests (21(1))."""
        rights.consent(self.session, self.ids[name], self.now, object_to_marketing=marketing, object_to_processing=processing)

    def eligibility(self, at: datetime, *, excluding: Iterable[Any] = ()) -> None:
        """An eligibility check against a roster of everyone enrolled here but ``excluding``."""
        roster = [data["customer_number"] for name, data in self.records.items() if name not in set(excluding)]
        seen = lifecycle.eligibility(self.session, roster, at)  # the dry run: its count confirms the apply past the guard
        lifecycle.eligibility(self.session, roster, at, apply=True, expect=len(seen["newly_ineligible"]))


Populate = Callable[[Builder], Any]


def build_template(
    directory: Path,
    policies: Policies,
    records: Mapping[Any, Mapping[str, Any]],
    now: datetime = NOW,
    *,
    populate: Populate | None = None,
    purger: bool = False,
    key_text: str | None = None,
) -> Template:
    """``directory``/register.db, made at ``now``: officers 'aino' (PASSPHRASE) and 'desk' (key file
    ``key_text``, a new one if None), with ``purger`` a purger key-file slot 'cron' too; ``records``
    enrolled at ``now``; then ``populate(builder)``, whose result is the template's facts."""
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "register.db"
    keys = {"desk": key_text or crypto.new_key_file_text()}
    if purger:
        keys["cron"] = crypto.new_key_file_text()
    with init_register(db, policies, "aino", PASSPHRASE, FAST_KDF, now, unlock_seconds=0.0) as session:
        for slot, text in keys.items():
            officers.add_officer(session, slot, "purger" if slot == "cron" else "officer", now, key_secret=crypto.parse_key_file(text))
        builder = Builder(session, now)
        for name, data in records.items():
            builder.enrol(name, data)
        facts = populate(builder) if populate is not None else None
    return Template(db, keys, builder.ids, builder.records, facts)


class Templates:
    """Template registers, each built on first use and kept for the test session (one set per
    xdist worker, in that worker's temporary directory): a population is built once per run."""

    def __init__(self, directory: Path, policies: Policies) -> None:
        self.directory = directory
        self.policies = policies
        self.built: dict[str, Template] = {}

    def get(
        self,
        records: Mapping[Any, Mapping[str, Any]],
        now: datetime = NOW,
        *,
        populate: Populate | None = None,
        purger: bool = False,
        key_text: str | None = None,
    ) -> Template:
        key = json.dumps(
            [records, now.isoformat(), populate and f"{populate.__module__}.{populate.__qualname__}", purger, key_text],
            sort_keys=True, ensure_ascii=False,
        )
        if key not in self.built:
            directory = self.directory / f"template-{len(self.built)}"
            self.built[key] = build_template(directory, self.policies, records, now, populate=populate, purger=purger, key_text=key_text)
        return self.built[key]


# --- a register for one test -------------------------------------------------------------------------------------


def tamper_connection(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection that does not wait for the disk: tests tamper, they need no durability."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    return conn


def query(db: Path, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run SQL on a register file directly, as an attacker with write access would."""
    conn = tamper_connection(db)
    try:
        with conn:
            return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def table_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, to show nothing was written."""
    conn = sqlite3.connect(db)
    try:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        # Some tables have no rowid (WITHOUT ROWID): compare each table's rows in a fixed order.
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}
    finally:
        conn.close()


class Register:
    """One register file for one test, a copy of a template, run through the command line.

    ``ids`` and ``records`` map member names to member ids and to the records
    enrolled; ``keys`` maps each key-file slot ('desk', and 'cron' when the
    template has a purger) to its key file beside the register.
    """

    def __init__(self, directory: Path, template: Template, policies: Policies) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.db = directory / "register.db"
        shutil.copy(template.db, self.db)
        os.chmod(self.db, 0o600)
        self.keys: dict[str, Path] = {}
        for slot, text in template.keys.items():
            self.keys[slot] = directory / f"{slot}.key"
            self.keys[slot].write_text(text)
            os.chmod(self.keys[slot], 0o600)
        self.ids = dict(template.ids)
        self.records = dict(template.records)  # the records enrolled: read them, never change them
        self.facts = template.facts
        self.policies = policies
        self.policies_dir = POLICIES_DIR
        self.files = 0

    @property
    def key_file(self) -> Path:
        """The key file of the officer-role slot 'desk'."""
        return self.keys["desk"]

    @property
    def names(self) -> dict[str, Any]:
        """Member id -> member name."""
        return {member_id: name for name, member_id in self.ids.items()}

    # --- the command line ---------------------------------------------------------------------------------

    def cli(self, *args: str | Path, input: str | bytes | None = None, env: Mapping[str, str] | None = None) -> Result:
        """Run kss-panel on this register with no credentials added."""
        return invoke("--db", self.db, "--policies", self.policies_dir, *args, input=input, env=env)

    def run(self, *args: str | Path, input: str | bytes | None = None, env: Mapping[str, str] | None = None, key: str = "desk") -> Result:
        """Run a command unlocked with the key file of slot ``key``."""
        return self.cli(*args, "--key-file", self.keys[key], input=input, env=env)

    def argv(self, *args: str | Path, key: str = "desk") -> list[str]:
        """The command line of a real kss-panel process on this register, unlocked with slot ``key``'s key file."""
        return [str(KSS_PANEL), "--db", str(self.db), "--policies", str(self.policies_dir), *map(str, args), "--key-file", str(self.keys[key])]

    def process(
        self, *args: str | Path, key: str = "desk", input: bytes | None = None, env: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (), timeout: float = 60, **options: Any,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run kss-panel in a real process (at the wall clock: assert nothing that depends on the day);
        stdout and stderr are captured unless ``options`` say otherwise."""
        streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **options}
        return subprocess.run([*prefix, *self.argv(*args, key=key)], input=input, env=process_env(env), timeout=timeout, **streams)

    def run_as_aino(self, *args: str, input: str | bytes | None = None, passphrase: str = PASSPHRASE) -> Result:
        return self.cli(*args, "--officer", "aino", input=input, env={"KSS_PANEL_PASSPHRASE": passphrase})

    def json(self, *args: str | Path, input: str | bytes | None = None, key: str = "desk") -> Any:
        """Run a command with --json, expect success, return ``data``."""
        result = self.run(*args, "--json", input=input, key=key)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        document = json.loads(result.stdout)
        assert document["ok"] is True
        return document["data"]

    def enrol(self, data: Any) -> str:
        result = self.run("enrol", "--file", "-", input=json.dumps(data))
        assert result.exit_code == 0, result.stderr
        return result.stdout.strip()

    def admit(self, *names: Any) -> None:
        """`admit` each member named, against a roster of their customer numbers."""
        roster = self.roster(*(self.records[name]["customer_number"] for name in names))
        for name in names:
            result = self.run("admit", self.ids[name], "--customers", roster)
            assert result.exit_code == 0, result.stderr

    def erase(self, name: Any, reason: str = "request") -> None:
        result = self.run("erase", self.ids[name], "--reason", reason)
        assert result.exit_code == 0, result.stderr

    def backup(self, name: str = "backup.db") -> Path:
        path = self.dir / name
        result = self.run("backup", path)
        assert result.exit_code == 0, result.stderr
        return path

    def disclose(self, recipient: str, purpose: str, *more: str, out: str | None = None) -> tuple[Result, Path]:
        """`export disclosure RECIPIENT --purpose PURPOSE` into ``out`` (a new file beside the register when None)."""
        path = self.dir / out if out is not None else self.path(".csv", "disclosure")
        return self.run("export", "disclosure", recipient, "--purpose", purpose, "--out", path, *more), path

    def shown(self) -> list[dict[str, Any]]:
        """`show --json` of every member `list` lists."""
        return [self.json("show", row["member_id"]) for row in self.json("list")]

    @contextmanager
    def restored(self) -> Iterator[None]:
        """Put the file back as it was afterwards, so one wrongly accepted hypothesis example
        cannot change what the next example sees (which would hide the bug behind a flaky test)."""
        saved = self.db.read_bytes()
        try:
            yield
        finally:
            if self.db.read_bytes() != saved:
                self.db.write_bytes(saved)

    # --- files beside the register ------------------------------------------------------------------------

    def path(self, suffix: str = ".csv", stem: str = "input") -> Path:
        """A new file name beside the register."""
        self.files += 1
        return self.dir / f"{stem}-{self.files}{suffix}"

    def file(self, content: str | bytes, suffix: str = ".csv") -> Path:
        """A new input file beside the register holding ``content`` (text as UTF-8)."""
        path = self.path(suffix)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    def csv(self, rows: Iterable[Mapping[str, str]], header: Sequence[str], *, delimiter: str = ",", encoding: str = "utf-8") -> Path:
        """A new CSV file of ``rows`` under ``header`` (a column a row lacks is an empty cell)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(column, "") for column in header])
        return self.file(buffer.getvalue().encode(encoding))

    def roster(self, *customers: int | str, name: str = "roster.csv", text: str | None = None) -> Path:
        """A customer roster beside the register: the customer numbers given (customer(n) for an int n), or ``text``."""
        numbers = [customer(c) if isinstance(c, int) else c for c in customers]
        path = self.dir / name
        path.write_text(text if text is not None else "customer_number\n" + "".join(f"{n}\n" for n in numbers), encoding="utf-8")
        return path

    def custom_policies(self, extra: str, filename: str = "disclosure.yaml") -> Path:
        """From now on the command line reads a copy of the shipped policies with ``extra`` appended to ``filename``."""
        directory = self.dir / "policies"
        shutil.copytree(POLICIES_DIR, directory)
        with open(directory / filename, "a", encoding="utf-8") as handle:
            handle.write(extra)
        self.policies_dir = directory
        return directory

    def edit_policies(self, filename: str, old: str, new: str, *, check: bool = True) -> Path:
        """From now on the command line (and, when ``check``, the services) read a copy of the policies
        (shipped, or this register's copy) in which ``old``, found exactly once in ``filename``, is ``new``.
        Without ``check`` the copy may be invalid: the services keep the policies they had."""
        directory = self.dir / "policies"
        if not directory.exists():
            shutil.copytree(POLICIES_DIR, directory)
        path = directory / filename
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} is not in {filename} exactly once"
        path.write_text(text.replace(old, new), encoding="utf-8")
        self.policies_dir = directory
        if check:
            self.policies = load_policies(directory)
        return directory

    def unguarded(self) -> Register:
        """This register under policies whose blast-radius guards let one run touch every member:
        for tests of what a purge or an eligibility check does, not of the guard."""
        self.edit_policies("retention.yaml", GUARDS, "guards:\n  purge: {max_percent: 100}\n  eligibility: {max_percent: 100}\n")
        return self

    # --- services -----------------------------------------------------------------------------------------

    def session(self, policies: Policies | None = None, *, key: str = "desk", busy_timeout: float | None = None) -> Session:
        """The register unlocked through the services with slot ``key``'s key file."""
        secret = crypto.parse_key_file(self.keys[key].read_text())
        options = {} if busy_timeout is None else {"busy_timeout": busy_timeout}
        return unlock(self.db, policies or self.policies, keyslots.Credentials(key_secret=secret), **options)

    def open_request(self, kind: str, name: Any, received: date | str | None = None, now: datetime | None = None) -> dict[str, Any]:
        """A data-subject request opened through the service (set-up, not under test)."""
        received = date.fromisoformat(received) if isinstance(received, str) else received
        with self.session() as session:
            return requests.open_request(session, kind, self.ids[name], now or current_time(), received=received)

    def requests(self, now: datetime | None = None) -> list[dict[str, Any]]:
        with self.session() as session:
            return requests.list_requests(session, now or current_time())

    # --- the raw file -------------------------------------------------------------------------------------

    def sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run SQL on the file directly, as an attacker with write access would."""
        return query(self.db, statement, params)

    def count(self, table: str) -> int:
        return self.sql(f"SELECT count(*) FROM {table}")[0][0]

    def digest(self) -> str:
        return hashlib.sha256(self.db.read_bytes()).hexdigest()

    def raw_files(self) -> dict[Path, bytes]:
        """The register file and every file beside it named after it (journal, WAL, the erasure ledger)."""
        return {path: path.read_bytes() for path in sorted(self.dir.glob(self.db.name + "*")) if path.is_file()}

    def raw(self) -> bytes:
        """The register file and everything beside it named after it, as one blob to search."""
        return b"".join(self.raw_files().values())

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's rows, to show nothing was written."""
        return table_rows(self.db)

    def member(self, member_id: str) -> dict[str, Any] | None:
        """A member's row of plain columns, None when there is none."""
        conn = sqlite3.connect(self.db)
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM members WHERE member_id = ?", (member_id,)).fetchone()
            return dict(row) if row else None
        finally:
            conn.close()

    def status(self, member_id: str) -> str:
        row = self.member(member_id)
        assert row is not None
        return str(row["status"])

    def member_ids(self) -> set[str]:
        return {row[0] for row in self.sql("SELECT member_id FROM members")}

    def boxes(self, member_id: str) -> list[bytes]:
        """A member's sealed record (one box since format 2)."""
        return [row[0] for row in self.sql("SELECT box FROM members WHERE member_id = ? AND box IS NOT NULL", (member_id,))]

    def sealed(self, member_id: str) -> list[bytes]:
        """What a forensic tool could carve of a member: the sealed box, the wrapped data key, lookup digests,
        and the consent receipts' box when the member has one."""
        boxes = self.boxes(member_id)
        dek = [row[0] for row in self.sql("SELECT wrapped_dek FROM members WHERE member_id = ?", (member_id,))]
        digests = [row[0] for row in self.sql("SELECT digest FROM lookups WHERE member_id = ?", (member_id,))]
        receipts = [row[0] for row in self.sql("SELECT receipts FROM members WHERE member_id = ? AND receipts IS NOT NULL", (member_id,))]
        assert boxes and dek and digests, member_id
        return [*boxes, *dek, *digests, *receipts]

    def erasures(self) -> dict[str, tuple[str, str, str | None]]:
        """Member id -> (erased_at, reason, rule) of the erasures table."""
        return {m: (e, r, rule) for m, e, r, rule in self.sql("SELECT member_id, erased_at, reason, rule FROM erasures")}

    def audit(self, *columns: str) -> list[dict[str, Any]]:
        """The audit trail as stored, oldest first: action, member_id, fields and detail of every
        entry, and the other ``columns`` named (seq, at, actor, policy_hash); without the entries
        that only commit a changed row to the trail ("state", "slots", "rekey")."""
        store = Store.open(self.db)
        try:
            rows = list(store.audit_rows())
        finally:
            store.close()
        names = ["action", "member_id", "fields", "detail", *columns]
        return [{name: row[name] for name in names} for row in rows if row["action"] not in ("state", "slots", "rekey")]

    def audit_log(self) -> list[dict[str, Any]]:
        """The audit trail as `audit log --json` shows it, oldest first."""
        return self.json("audit", "log")

    @property
    def ledger(self) -> Path:
        """The erasure ledger file beside the register."""
        return self.db.with_name(self.db.name + ".erasures")


def problem_lines(text: str) -> list[str]:
    """The 'line N: field: problem' lines of an import's report."""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("line ")]


def found(haystack: AnyStr, needles: Iterable[str | bytes]) -> list[Any]:
    """The needles (canaries, ciphertexts) that occur in ``haystack``, in their order; a text
    needle is looked for in bytes as UTF-8."""
    def same_kind(needle: str | bytes) -> Any:
        if isinstance(haystack, bytes) and isinstance(needle, str):
            return needle.encode("utf-8")
        return needle

    return [needle for needle in needles if same_kind(needle) in haystack]


# --- assertions ---------------------------------------------------------------------------------------------


def error_lines(result: Result) -> list[str]:
    return result.stderr.splitlines()


def assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


def assert_clean_failure(result: Result, code: int) -> None:
    """A failing command: the exit code, a 'kss-panel: error:' line first, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = error_lines(result)
    assert lines and lines[0].startswith("kss-panel: error: "), result.stderr
    assert_no_traceback(result)


def assert_failure(result: Result, code: int, message: str | None = None, problems: list[str] | None = None) -> None:
    """A clean failure that prints nothing on stdout; with ``message``, exactly that error line
    first; with ``problems``, exactly those indented problem lines."""
    assert_clean_failure(result, code)
    lines = error_lines(result)
    if message is not None:
        assert lines[0] == f"kss-panel: error: {message}", result.stderr
    if problems is not None:
        assert [line for line in lines if line.startswith("  ")] == problems
    assert result.stdout == ""


def assert_rejected(result: Result, register: Register, before: dict[str, list[tuple[Any, ...]]]) -> None:
    """Exit 5, an error line, no traceback, not one byte of the register changed (``before`` is its tables())."""
    assert result.exit_code == 5, (result.exit_code, result.stdout, result.stderr)
    assert "kss-panel: error: " in result.stderr
    assert_no_traceback(result)
    assert register.tables() == before
