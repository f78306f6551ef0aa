"""Key slots: the register's keys sealed once per officer or machine, as LUKS does.

A slot is opened with its own secret: an officer's passphrase (Argon2id) or a
machine's key file (HKDF). What opens is the slot's role and the register
keys that role may hold; a purger slot holds the audit key only, so it can
never decrypt personal data. The format is in docs/crypto.md §2.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import crypto
from .errors import AuthError, IntegrityError, InvalidInput, Param
from .storage import Store

ROLES = ("officer", "purger")
OFFICER_NAME_RE = r"^[a-z][a-z0-9._-]{0,31}$"
MIN_PASSPHRASE = 12


@dataclass(frozen=True)
class Credentials:
    """What unlocks a slot: an officer and passphrase, or a key file's secret (and maybe a slot name)."""

    officer: str | None = None
    passphrase: str | None = None
    key_secret: bytes | None = None


@dataclass(frozen=True)
class Keyring:
    audit: bytes
    data: bytes | None = None
    lookup: bytes | None = None

    @classmethod
    def new(cls) -> Keyring:
        return cls(audit=crypto.random_key(), data=crypto.random_key(), lookup=crypto.random_key())

    def sealed_payload(self, role: str) -> bytes:
        keys = {"audit": self.audit} if role == "purger" else {"audit": self.audit, "data": self.data, "lookup": self.lookup}
        return json.dumps({"role": role, **{k: crypto.b64encode(v) for k, v in keys.items() if v}}).encode()

    @classmethod
    def from_payload(cls, payload: bytes) -> tuple[str, Keyring]:
        raw = json.loads(payload)
        keys = {k: crypto.b64decode(raw[k]) for k in ("audit", "data", "lookup") if k in raw}
        return raw["role"], cls(**keys)


@dataclass(frozen=True)
class Unlocked:
    """The slot that opened: its name (the actor of every audit entry), role and keys."""

    name: str
    role: str
    keys: Keyring


def check_officer_name(name: str) -> None:
    if not re.fullmatch(OFFICER_NAME_RE, name):
        raise InvalidInput(
            "invalid officer name",
            [("name", "must be 1-32 lowercase letters, digits, '.', '_' or '-', starting with a letter")],
        )


def _context(register_id: str, name: str, role: str, kind: str) -> tuple[str, ...]:
    return ("slot", register_id, name, role, kind)


def new_slot(
    register_id: str,
    keys: Keyring,
    name: str,
    role: str,
    now: datetime,
    *,
    passphrase: str | None = None,
    kdf: crypto.KdfParams | None = None,
    key_secret: bytes | None = None,
) -> dict[str, Any]:
    """A slot row sealing ``keys`` (as far as ``role`` may hold them) to a passphrase or a key file."""
    check_officer_name(name)
    if role not in ROLES:
        raise InvalidInput("invalid role", [(Param("role"), f"must be one of {', '.join(ROLES)}")])
    if passphrase is not None:
        if len(passphrase) < MIN_PASSPHRASE:
            raise InvalidInput("passphrase too short", [("passphrase", f"must be at least {MIN_PASSPHRASE} characters")])
        assert kdf is not None
        kind, kek, params = "passphrase", crypto.passphrase_key(passphrase, kdf), kdf.to_dict()
    else:
        assert key_secret is not None
        salt = crypto.random_key()[:16]
        kind, kek, params = "keyfile", crypto.key_file_key(key_secret, salt), {"alg": "hkdf-sha256", "salt": crypto.b64encode(salt)}
    wrapped = crypto.seal(kek, keys.sealed_payload(role), _context(register_id, name, role, kind))
    return {
        "name": name,
        "role": role,
        "kind": kind,
        "kdf": json.dumps(params),
        "wrapped": wrapped,
        "created_at": now.astimezone(UTC).isoformat(timespec="seconds"),
    }


def open_slot(register_id: str, slot: dict[str, Any], credentials: Credentials) -> Unlocked | None:
    """The slot's role and keys, or None when these credentials do not open it."""
    try:
        params = json.loads(slot["kdf"])
        if slot["kind"] == "passphrase":
            if credentials.passphrase is None:
                return None
            kek = crypto.passphrase_key(credentials.passphrase, crypto.KdfParams.from_dict(params))
        else:
            if credentials.key_secret is None:
                return None
            kek = crypto.key_file_key(credentials.key_secret, crypto.b64decode(params["salt"]))
        payload = crypto.open_sealed(kek, slot["wrapped"], _context(register_id, slot["name"], slot["role"], slot["kind"]))
        role, keys = Keyring.from_payload(payload)
    except crypto.InvalidToken:
        return None
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(f"key slot {slot['name']!r} is corrupt") from None
    if role != slot["role"]:
        raise IntegrityError(f"key slot {slot['name']!r} is corrupt")
    return Unlocked(slot["name"], role, keys)


def unlock(store: Store, register_id: str, credentials: Credentials) -> Unlocked:
    """The slot these credentials open; AuthError when none does."""
    if credentials.key_secret is not None:
        candidates = [s for s in store.slots("keyfile") if credentials.officer in (None, s["name"])]
        failure = "the key file does not open any key slot of this register"
    else:
        assert credentials.officer is not None, "the command line asks for an officer before unlocking"
        slot = store.slot(credentials.officer)
        if slot is None or slot["kind"] != "passphrase":
            raise AuthError(f"no officer {credentials.officer!r} with a passphrase in this register")
        candidates = [slot]
        failure = f"wrong passphrase for officer {credentials.officer!r}"
    for slot in candidates:
        opened = open_slot(register_id, slot, credentials)
        if opened:
            return opened
    raise AuthError(failure)


def summary(slot: dict[str, Any]) -> dict[str, Any]:
    """What may be shown of a slot: never its wrapped keys or KDF salt."""
    return {"name": slot["name"], "role": slot["role"], "kind": slot["kind"], "created_at": slot["created_at"]}


def new_key_file() -> tuple[str, bytes]:
    """A new machine key: the key file's text and the secret it holds."""
    text = crypto.new_key_file_text()
    return text, crypto.parse_key_file(text)


def read_key_file(text: str) -> bytes:
    """The secret of a key file's text; ValueError if it is not one."""
    return crypto.parse_key_file(text)


def calibrate(seconds: float) -> crypto.KdfParams:
    """Argon2id parameters that make one unlock take about ``seconds`` here."""
    return crypto.calibrate_kdf(seconds)
