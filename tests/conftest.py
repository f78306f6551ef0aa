"""Shared fixtures: fast registers, a CLI runner bound to one register, sample records.

Registers are built once per session through the services (Argon2id with tiny,
fixed parameters, so unlocking is instant) and copied per test. Most CLI tests
unlock with an officer-role key-file slot, which costs an HKDF, not Argon2.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from typer.testing import CliRunner, Result

from kss_panel import cli as cli_module
from kss_panel import crypto, services
from kss_panel.cli import app
from kss_panel.policy import Policies, load_policies

ROOT = Path(__file__).resolve().parents[1]
POLICIES_DIR = ROOT / "policies"
NOW = datetime(2025, 6, 15, 9, 30, tzinfo=UTC)
PASSPHRASE = "correct horse battery staple"
FAST_KDF = crypto.KdfParams(salt=b"s" * 16, memory_kib=64, iterations=1, lanes=1)

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


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No KSS_PANEL_* variable of the developer's shell reaches a test; wide, plain output."""
    for name in list(os.environ):
        if name.startswith("KSS_PANEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)


@pytest.fixture(scope="session")
def policies() -> Policies:
    return load_policies(POLICIES_DIR)


_loaded: dict[tuple[Path, tuple[tuple[str, int, int], ...]], Policies] = {}


def _cached_load_policies(directory: Path) -> Policies:
    """load_policies, remembered while no file in the directory changes.

    Parsing the YAML (pure-Python loader) is most of a command's run time;
    hundreds of CLI tests would spend most of their time on it. Errors are
    never cached, so invalid-policy tests still see the real loader.
    """
    resolved = Path(directory).resolve()
    try:
        stamp = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in resolved.iterdir()))
    except OSError:
        return load_policies(directory)
    key = (resolved, stamp)
    if key not in _loaded:
        _loaded[key] = load_policies(directory)
    return _loaded[key]


@dataclass(frozen=True)
class Template:
    db: Path
    desk_key: str
    members: dict[str, str]


def _build_template(directory: Path, policies: Policies, records: dict[str, dict[str, Any]]) -> Template:
    db = directory / "register.db"
    key_text = crypto.new_key_file_text()
    with services.init_register(db, policies, "aino", PASSPHRASE, FAST_KDF, NOW, unlock_seconds=0.0) as session:
        services.add_officer(session, "desk", "officer", NOW, key_secret=crypto.parse_key_file(key_text))
        members = {name: services.enrol(session, data, NOW) for name, data in records.items()}
    return Template(db, key_text, members)


@pytest.fixture(scope="session")
def empty_template(tmp_path_factory: pytest.TempPathFactory, policies: Policies) -> Template:
    return _build_template(tmp_path_factory.mktemp("empty-template"), policies, {})


@pytest.fixture(scope="session")
def populated_template(tmp_path_factory: pytest.TempPathFactory, policies: Policies) -> Template:
    return _build_template(tmp_path_factory.mktemp("populated-template"), policies, {"aino": AINO, "veikko": VEIKKO})


class Register:
    """One register file for one test, with a CLI runner bound to it."""

    def __init__(self, directory: Path, template: Template) -> None:
        self.dir = directory
        self.db = directory / "register.db"
        shutil.copy(template.db, self.db)
        os.chmod(self.db, 0o600)
        self.key_file = directory / "desk.key"
        self.key_file.write_text(template.desk_key)
        os.chmod(self.key_file, 0o600)
        self.members = dict(template.members)
        self.runner = CliRunner()

    # --- the command line ---------------------------------------------------------------------------------

    def cli(self, *args: str, input: str | bytes | None = None, env: Mapping[str, str] | None = None) -> Result:
        """Run kss-panel on this register with no credentials added."""
        argv = ["--db", str(self.db), "--policies", str(POLICIES_DIR), *args]
        with patch.object(cli_module, "load_policies", _cached_load_policies):
            return self.runner.invoke(app, argv, input=input, env=dict(env or {}))

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

    def session(self, policies: Policies) -> services.Session:
        return services.unlock(self.db, policies, services.Credentials(key_secret=crypto.parse_key_file(self.key_file.read_text())))

    # --- raw file -----------------------------------------------------------------------------------------

    def sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run SQL on the file directly, as an attacker with write access would."""
        conn = tamper_connection(self.db)
        try:
            with conn:
                return conn.execute(statement, params).fetchall()
        finally:
            conn.close()

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
        conn = sqlite3.connect(self.db)
        try:
            names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            return {name: conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall() for name in names}
        finally:
            conn.close()


@pytest.fixture
def reg(tmp_path: Path, empty_template: Template) -> Register:
    """An empty register: officers 'aino' (passphrase) and 'desk' (key file), no members."""
    return Register(tmp_path, empty_template)


@pytest.fixture
def populated(tmp_path: Path, populated_template: Template) -> Register:
    """A register with members 'aino' (AINO) and 'veikko' (VEIKKO), enrolled at NOW."""
    return Register(tmp_path, populated_template)


@pytest.fixture
def session(populated: Register, policies: Policies) -> Iterator[services.Session]:
    with populated.session(policies) as opened:
        yield opened


def tamper_connection(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection that does not wait for the disk: tests tamper, they need no durability."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    return conn


def error_lines(result: Result) -> list[str]:
    return result.stderr.splitlines()


def assert_clean_failure(result: Result, code: int) -> None:
    """A failing command: the exit code, a 'kss-panel: error:' line first, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = error_lines(result)
    assert lines and lines[0].startswith("kss-panel: error: "), result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
