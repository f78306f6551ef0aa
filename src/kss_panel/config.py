"""Where the register and policies are, and how long to wait for a busy file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInput
from .database import DEFAULT_BUSY_TIMEOUT

DEFAULT_DB = Path("kss-panel.db")
DEFAULT_POLICIES = Path("policies")


@dataclass(frozen=True)
class Config:
    db: Path
    policies: Path
    busy_timeout: float


def busy_timeout_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> float:
    raw = environ.get("KSS_PANEL_BUSY_TIMEOUT")
    if raw is None:
        return DEFAULT_BUSY_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise InvalidInput("invalid busy timeout", [("KSS_PANEL_BUSY_TIMEOUT", "must be seconds from 0 to 3600")])
    return value
