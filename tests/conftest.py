"""Shared fixtures: fast registers, a CLI runner bound to one register, a pinned clock.

The helpers they use (and that test files import) are in support.py. Template
registers are built once per session through the services and copied per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kss_panel.services.session import Session
from kss_panel.policy import Policies
from kss_panel.policy_files import load_policies
from support import AINO, NOW, PINNED, POLICIES_DIR, VEIKKO, Clock, Register, Template, build_template, clear_kss_environment


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No KSS_PANEL_* variable of the developer's shell reaches a test; wide, plain output."""
    clear_kss_environment(monkeypatch)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> Iterator[Clock]:
    """Runs every command of the test at the test module's ``NOW`` (support.NOW if it has
    none): the CLI takes the clock as its context object. A test moves it by setting
    ``clock.now``. A module that never reads the wall clock asks for it with
    ``pytestmark = pytest.mark.usefixtures("clock")``."""
    pinned = Clock(getattr(request.module, "NOW", NOW))
    PINNED.append(pinned)
    yield pinned
    PINNED.remove(pinned)


@pytest.fixture(scope="session")
def policies() -> Policies:
    return load_policies(POLICIES_DIR)


@pytest.fixture(scope="session")
def empty_template(tmp_path_factory: pytest.TempPathFactory, policies: Policies) -> Template:
    return build_template(tmp_path_factory.mktemp("empty-template"), policies, {})


@pytest.fixture(scope="session")
def populated_template(tmp_path_factory: pytest.TempPathFactory, policies: Policies) -> Template:
    return build_template(tmp_path_factory.mktemp("populated-template"), policies, {"aino": AINO, "veikko": VEIKKO})


@pytest.fixture
def reg(tmp_path: Path, empty_template: Template, policies: Policies) -> Register:
    """An empty register: officers 'aino' (passphrase) and 'desk' (key file), no members."""
    return Register(tmp_path, empty_template, policies)


@pytest.fixture
def populated(tmp_path: Path, populated_template: Template, policies: Policies) -> Register:
    """A register with members 'aino' (AINO) and 'veikko' (VEIKKO), enrolled at NOW."""
    return Register(tmp_path, populated_template, policies)


@pytest.fixture
def session(populated: Register, policies: Policies) -> Iterator[Session]:
    with populated.session(policies) as opened:
        yield opened
