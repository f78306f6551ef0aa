"""What the test files share: constants, sample records, a register bound to a CLI runner, assertions.

A plain module: the fixtures are in conftest.py. pytest's default import mode
("prepend", which pyproject.toml keeps) puts tests/ on sys.path when it loads
tests/conftest.py (tests/ has no __init__.py), so a test file, and conftest.py,
say ``from support import ...``.

Registers are built through the services with Argon2id at tiny, fixed
parameters (FAST_KDF), so unlocking with a passphrase is instant; most CLI tests
unlock with the officer-role key-file slot "desk", which costs an HKDF, not Argon2.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, AnyStr

import pytest
from typer.testing import CliRunner, Result

from kss_panel import crypto, keyslots
from kss_panel.services import members, officers
from kss_panel.services.session import Session, init_register, unlock
from kss_panel.cli import app
from kss_panel.policy import Policies
from kss_panel.policy_files import load_policies

ROOT = Path(__file__).resolve().parents[1]
POLICIES_DIR = ROOT / "policies"
NOW = datetime(2025, 6, 15, 9, 30, tzinfo=UTC)
PASSPHRASE = "correct horse battery staple"
FAST_KDF = crypto.KdfParams(salt=b"s" * 16, memory_kib=64, iterations=1, lanes=1)
CATEGORIES = ("customer_number", "contact", "demographics", "electricity", "hobbies", "attitudes", "consents")

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
    "consents": {"email_marketing": True, "sms_marketing": False, "partner_disclosure": True},
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
    "consents": {"email_marketing": False, "sms_marketing": True, "partner_disclosure": False},
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
    "consents": {"email_marketing": False, "sms_marketing": True, "partner_disclosure": False},
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
    "consents": {"email_marketing": True, "sms_marketing": False, "partner_disclosure": True},
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
    "consents": {"email_marketing": False, "sms_marketing": True, "partner_disclosure": False},
}


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


# --- the environment and the policies ---------------------------------------------------------------------


def clear_kss_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No KSS_PANEL_* variable of the developer's shell reaches a test."""
    for name in list(os.environ):
        if name.startswith("KSS_PANEL_"):
            monkeypatch.delenv(name)


@dataclass
class Clock:
    """The instant every command of a test runs at (the CLI takes it as its context object); a test may move it."""

    now: datetime


# The clock of the running test, set by the ``clock`` fixture: commands run at its instant.
PINNED: list[Clock] = []


# --- registers ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A register file, the text of the 'desk' officer's key file, and member name -> member_id."""

    db: Path
    desk_key: str
    ids: dict[Any, str]


def build_template(
    directory: Path,
    policies: Policies,
    records: Mapping[Any, Mapping[str, Any]],
    now: datetime = NOW,
    *,
    key_text: str | None = None,
) -> Template:
    """``directory``/register.db: officers 'aino' (PASSPHRASE) and 'desk' (key file), ``records`` enrolled at ``now``."""
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "register.db"
    key_text = key_text or crypto.new_key_file_text()
    with init_register(db, policies, "aino", PASSPHRASE, FAST_KDF, now, unlock_seconds=0.0) as session:
        officers.add_officer(session, "desk", "officer", now, key_secret=crypto.parse_key_file(key_text))
        ids = {name: members.enrol(session, data, now)["member_id"] for name, data in records.items()}
    return Template(db, key_text, ids)


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
        return {name: conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall() for name in names}
    finally:
        conn.close()


class Register:
    """One register file for one test, with a CLI runner bound to it.

    Made from a template: a copy of its file, or (when the template was built in
    ``directory``) the file itself. ``ids`` maps member names to member ids.
    """

    def __init__(self, directory: Path, template: Template, policies: Policies) -> None:
        self.dir = directory
        self.db = directory / "register.db"
        if template.db != self.db:
            shutil.copy(template.db, self.db)
        os.chmod(self.db, 0o600)
        self.key_file = directory / "desk.key"
        self.key_file.write_text(template.desk_key)
        os.chmod(self.key_file, 0o600)
        self.ids = dict(template.ids)
        self.policies = policies
        self.policies_dir = POLICIES_DIR
        self.runner = CliRunner()

    @classmethod
    def create(
        cls,
        directory: Path,
        policies: Policies,
        records: Mapping[Any, Mapping[str, Any]],
        now: datetime = NOW,
        *,
        key_text: str | None = None,
    ) -> Any:
        """A new register in ``directory`` with ``records`` enrolled at ``now`` (see build_template)."""
        return cls(directory, build_template(directory, policies, records, now, key_text=key_text), policies)

    # --- the command line ---------------------------------------------------------------------------------

    def cli(self, *args: str, input: str | bytes | None = None, env: Mapping[str, str] | None = None) -> Result:
        """Run kss-panel on this register with no credentials added."""
        argv = ["--db", str(self.db), "--policies", str(self.policies_dir), *args]
        return self.runner.invoke(app, argv, input=input, env=dict(env or {}), obj=PINNED[-1] if PINNED else None)

    def run(self, *args: str, input: str | bytes | None = None, env: Mapping[str, str] | None = None) -> Result:
        """Run a command unlocked with the 'desk' officer's key file."""
        return self.cli(*args, "--key-file", str(self.key_file), input=input, env=env)

    def run_as_aino(self, *args: str, input: str | bytes | None = None, passphrase: str = PASSPHRASE) -> Result:
        return self.cli(*args, "--officer", "aino", input=input, env={"KSS_PANEL_PASSPHRASE": passphrase})

    def json(self, *args: str, input: str | bytes | None = None) -> Any:
        """Run a command with --json (desk key file), expect success, return ``data``."""
        result = self.run(*args, "--json", input=input)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        document = json.loads(result.stdout)
        assert document["ok"] is True
        return document["data"]

    def enrol(self, data: Any) -> str:
        result = self.run("enrol", "--file", "-", input=json.dumps(data))
        assert result.exit_code == 0, result.stderr
        return result.stdout.strip()

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

    # --- services -----------------------------------------------------------------------------------------

    def session(self, policies: Policies | None = None) -> Session:
        secret = crypto.parse_key_file(self.key_file.read_text())
        return unlock(self.db, policies or self.policies, keyslots.Credentials(key_secret=secret))

    # --- raw file -----------------------------------------------------------------------------------------

    def sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run SQL on the file directly, as an attacker with write access would."""
        return query(self.db, statement, params)

    def count(self, table: str) -> int:
        return self.sql(f"SELECT count(*) FROM {table}")[0][0]

    def digest(self) -> str:
        return hashlib.sha256(self.db.read_bytes()).hexdigest()

    def raw_files(self) -> dict[Path, bytes]:
        """The register file and any journal or WAL beside it."""
        files = [self.db, *self.dir.glob(self.db.name + "-journal"), *self.dir.glob(self.db.name + "-wal")]
        return {path: path.read_bytes() for path in files if path.exists()}

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's rows, to show nothing was written."""
        return table_rows(self.db)

    def audit_log(self) -> list[dict[str, Any]]:
        """The audit trail as `audit log --json` shows it, oldest first."""
        return self.json("audit", "log")

    def audit(self) -> list[dict[str, Any]]:
        """The audit trail as stored: action, member_id, fields and detail of every entry, oldest first."""
        rows = self.sql("SELECT action, member_id, fields, detail FROM audit ORDER BY seq")
        return [{"action": a, "member_id": m, "fields": json.loads(f), "detail": json.loads(d)} for a, m, f, d in rows]

    @property
    def ledger(self) -> Path:
        """The erasure ledger file beside the register."""
        return self.db.with_name(self.db.name + ".erasures")


def problem_lines(text: str) -> list[str]:
    """The 'line N: field: problem' lines of an import's report."""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("line ")]


def found(haystack: AnyStr, needles: Iterable[AnyStr]) -> list[AnyStr]:
    """The needles (canaries, ciphertexts) that occur in ``haystack``, in their order."""
    return [needle for needle in needles if needle in haystack]


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
