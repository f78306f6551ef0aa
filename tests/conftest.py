"""Shared fixtures: registers copied from templates, a pinned clock, a clean environment.

The helpers they use (and that test files import) are in support.py. Template
registers are built once per test session (per xdist worker) through the
services, and every test gets a copy of one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kss_panel.policy import Policies
from kss_panel.policy_files import load_policies
from kss_panel.services.session import Session
from support import AINO, NOW, PINNED, POLICIES_DIR, VEIKKO, Clock, Register, Templates, clear_kss_environment

POPULATED = {"aino": AINO, "veikko": VEIKKO}
MEMORY = Path("/dev/shm")  # a tmpfs on Linux


def pytest_configure(config: pytest.Config) -> None:
    """Temporary directories in memory where there is room: every command that writes to a register
    ends with an fsync, which on a disk costs more than the command itself, and the tests need
    no durability. --basetemp or PYTEST_DEBUG_TEMPROOT, when given, still decide; xdist workers
    get their directories under the one chosen here."""
    if config.option.basetemp or "PYTEST_DEBUG_TEMPROOT" in os.environ or not MEMORY.is_dir():
        return
    if os.access(MEMORY, os.W_OK | os.X_OK) and shutil.disk_usage(MEMORY).free > 512 * 2**20:
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(MEMORY)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No KSS_PANEL_* variable of the developer's shell reaches a test; wide, plain output."""
    clear_kss_environment(monkeypatch)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)


@pytest.fixture(autouse=True)
def clock(request: pytest.FixtureRequest) -> Iterator[Clock]:
    """Every command of every test runs at the test module's ``NOW`` (support.NOW if it has none),
    never at the wall clock: the CLI takes the clock as its context object. A test that moves
    the clock asks for it by name and sets ``clock.now``."""
    pinned = Clock(getattr(request.module, "NOW", NOW))
    PINNED.append(pinned)
    yield pinned
    PINNED.remove(pinned)


@pytest.fixture(scope="session")
def policies() -> Policies:
    return load_policies(POLICIES_DIR)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory, policies: Policies) -> Templates:
    return Templates(tmp_path_factory.mktemp("templates"), policies)


MakeRegister = Callable[..., Register]


@pytest.fixture
def make_register(tmp_path: Path, templates: Templates, policies: Policies) -> MakeRegister:
    """``make_register(records, now=NOW, *, directory=tmp_path, populate=None, purger=False, key_text=None)``:
    a register in ``directory`` copied from the template of that population (see support.build_template),
    built the first time any test asks for it."""

    def make(records: Mapping[Any, Mapping[str, Any]], now: datetime = NOW, *, directory: Path | None = None, **options: Any) -> Register:
        return Register(directory or tmp_path, templates.get(records, now, **options), policies)

    return make


@pytest.fixture
def reg(make_register: MakeRegister) -> Register:
    """An empty register: officers 'aino' (passphrase) and 'desk' (key file), no members."""
    return make_register({})


@pytest.fixture
def populated(make_register: MakeRegister) -> Register:
    """A register with members 'aino' (AINO) and 'veikko' (VEIKKO), enrolled at NOW."""
    return make_register(POPULATED)


@pytest.fixture
def session(populated: Register, policies: Policies) -> Iterator[Session]:
    with populated.session(policies) as opened:
        yield opened
