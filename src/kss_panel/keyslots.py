"""Key slots: one per officer or machine, each a recipient the register's keys are sealed to.

A slot is opened with its own secret: an officer's passphrase (Argon2id) or a
machine's key file (HKDF) gives its key-encryption key (KEK), which opens the
slot's private keys; its X25519 private key opens the *grant*, the register
keys sealed to the slot's public key as age seals a file key. So the keys can
be sealed again to every slot without anyone's passphrase (rotation), and a
slot's passphrase changes without touching the keys. What a grant holds
depends on the role: an officer's holds the data and lookup keys; a purger's
or backup machine's holds none, so it can never decrypt personal data. The
slot's Ed25519 key signs the audit trail. The format is in docs/crypto.md §2.

A slot made by format 1 holds the keys in its old box (``legacy``) until its
owner's next unlock upgrades it (``services.upgrade``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from . import crypto
from .crypto_pk import SlotKeyPair, seal_to
from .errors import AuthError, IntegrityError, InvalidInput, Param
from .model import ROLES
from .storage import Store

OFFICER_NAME_RE = r"^[a-z][a-z0-9._-]{0,31}$"
MIN_PASSPHRASE = 12
Status = Literal["current", "pending", "legacy"]


@dataclass(frozen=True)
class Credentials:
    """What unlocks a slot: an officer and passphrase, or a key file's secret (and maybe a slot name)."""

    officer: str | None = None
    passphrase: str | None = None
    key_secret: bytes | None = None


@dataclass(frozen=True)
class Keyring:
    """The register's keys, as far as a slot's role may hold them.

    ``lookup`` is every lookup key the register has had, oldest first (each
    rotation adds one; see ``crypto.LookupHasher``). ``audit`` is format 1's
    MAC key, held only while the register is not yet upgraded.
    """

    data: bytes | None = None
    lookup: tuple[bytes, ...] = ()
    audit: bytes | None = None

    @classmethod
    def new(cls) -> Keyring:
        return cls(data=crypto.random_key(), lookup=(crypto.random_key(),))

    def rotated(self) -> Keyring:
        """New data key, a new lookup key after the old ones."""
        assert self.data is not None
        return Keyring(data=crypto.random_key(), lookup=(*self.lookup, crypto.random_key()))

    def payload(self, role: str) -> bytes:
        if role != "officer":
            return b"{}"
        assert self.data is not None
        return json.dumps({"data": crypto.b64encode(self.data), "lookup": [crypto.b64encode(k) for k in self.lookup]}).encode()

    @classmethod
    def from_payload(cls, payload: bytes) -> Keyring:
        raw = json.loads(payload)
        if not raw:
            return cls()
        return cls(data=crypto.b64decode(raw["data"]), lookup=tuple(crypto.b64decode(k) for k in raw["lookup"]))


@dataclass(frozen=True)
class Unlocked:
    """The slot that opened: its name (the actor of every audit entry), role, keys and key pair.

    ``status`` is "current" for a format-2 slot, "pending" for a slot the
    register's upgrade gave key pairs its owner has not yet made their own,
    "legacy" on a register not yet upgraded (``pair`` is None then).
    """

    name: str
    role: str
    keys: Keyring
    pair: SlotKeyPair | None
    kek: bytes
    status: Status = "current"


def check_officer_name(name: str) -> None:
    if not re.fullmatch(OFFICER_NAME_RE, name):
        raise InvalidInput(
            "invalid officer name",
            [("name", "must be 1-32 lowercase letters, digits, '.', '_' or '-', starting with a letter")],
        )


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput("passphrase too short", [("passphrase", f"must be at least {MIN_PASSPHRASE} characters")])


def _secrets_context(register_id: str, slot: dict[str, Any]) -> tuple[str | bytes, ...]:
    return ("slot", register_id, slot["name"], slot["role"], slot["kind"], slot["recipient"], slot["verifier"])


def _grant_context(register_id: str, slot: dict[str, Any]) -> tuple[str, ...]:
    return ("grant", register_id, slot["name"], slot["role"])


def passphrase_kek(passphrase: str, kdf: crypto.KdfParams) -> tuple[bytes, str]:
    check_passphrase(passphrase)
    return crypto.passphrase_key(passphrase, kdf), json.dumps(kdf.to_dict())


def key_file_kek(key_secret: bytes) -> tuple[bytes, str]:
    salt = crypto.random_key()[:16]
    return crypto.key_file_key(key_secret, salt), json.dumps({"alg": "hkdf-sha256", "salt": crypto.b64encode(salt)})


def new_slot(
    register_id: str, keys: Keyring, name: str, role: str, now: datetime, *, kek: tuple[bytes, str], kind: str
) -> dict[str, Any]:
    """A slot row: fresh key pairs sealed under ``kek`` (the KEK and its KDF JSON), the keys ``role`` may hold granted to it."""
    check_officer_name(name)
    if role not in ROLES:
        raise InvalidInput("invalid role", [(Param("role"), f"must be one of {', '.join(ROLES)}")])
    row = {"name": name, "role": role, "kind": kind, "kdf": kek[1], "created_at": now.astimezone(UTC).isoformat(timespec="seconds")}
    sealed = {**row, **seal_pair(register_id, row, SlotKeyPair.generate(), kek[0]), "legacy": None}
    return {**sealed, "grant": grant(register_id, sealed, keys)}


def seal_pair(register_id: str, row: dict[str, Any], pair: SlotKeyPair, kek: bytes) -> dict[str, Any]:
    """The columns that hold a key pair: both public keys, and the private keys sealed under ``kek``."""
    public = {"recipient": pair.recipient, "verifier": pair.verifier}
    return {**public, "secrets": crypto.seal(kek, pair.to_bytes(), _secrets_context(register_id, {**row, **public}))}


def grant(register_id: str, slot: dict[str, Any], keys: Keyring) -> bytes:
    """The register keys ``slot``'s role may hold, sealed to its recipient key."""
    return seal_to(slot["recipient"], keys.payload(slot["role"]), _grant_context(register_id, slot))


def slot_kek(slot: dict[str, Any], credentials: Credentials) -> bytes | None:
    """The slot's KEK from these credentials, or None when they are of the other kind."""
    try:
        params = json.loads(slot["kdf"])
        if slot["kind"] == "passphrase":
            if credentials.passphrase is None:
                return None
            return crypto.passphrase_key(credentials.passphrase, crypto.KdfParams.from_dict(params))
        if credentials.key_secret is None:
            return None
        return crypto.key_file_key(credentials.key_secret, crypto.b64decode(params["salt"]))
    except (KeyError, TypeError, ValueError, crypto.InvalidToken):
        raise IntegrityError(f"key slot {slot['name']!r} is corrupt") from None


def open_slot(register_id: str, slot: dict[str, Any], kek: bytes) -> Unlocked | None:
    """The slot's role, keys and key pair, or None when ``kek`` does not open it."""
    try:
        if slot["legacy"] is not None:
            return _open_legacy(register_id, slot, kek)
        pair = SlotKeyPair.from_bytes(crypto.open_sealed(kek, slot["secrets"], _secrets_context(register_id, slot)))
        return _granted(register_id, slot, pair, kek, "current")
    except crypto.InvalidToken:
        return None
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(f"key slot {slot['name']!r} is corrupt") from None


def _granted(register_id: str, slot: dict[str, Any], pair: SlotKeyPair, kek: bytes, status: Status) -> Unlocked:
    if pair.recipient != slot["recipient"] or pair.verifier != slot["verifier"]:
        raise IntegrityError(f"key slot {slot['name']!r} is corrupt")
    try:
        keys = Keyring.from_payload(pair.open_grant(slot["grant"], _grant_context(register_id, slot)))
    except crypto.InvalidToken:
        raise IntegrityError(f"key slot {slot['name']!r} does not open its keys: its grant was changed") from None
    return Unlocked(slot["name"], slot["role"], keys, pair, kek, status)


def _open_legacy(register_id: str, slot: dict[str, Any], kek: bytes) -> Unlocked:
    """A format-1 slot: its old box holds the keys; once the register is upgraded, also a pending key pair."""
    context = ("slot", register_id, slot["name"], slot["role"], slot["kind"])
    raw = json.loads(crypto.open_legacy(kek, slot["legacy"], context))
    if raw.get("role") != slot["role"]:
        raise IntegrityError(f"key slot {slot['name']!r} is corrupt")
    old = {k: crypto.b64decode(raw[k]) for k in ("audit", "data", "lookup") if k in raw}
    if slot["secrets"] is None:
        keys = Keyring(data=old.get("data"), lookup=(old["lookup"],) if "lookup" in old else (), audit=old["audit"])
        return Unlocked(slot["name"], slot["role"], keys, None, kek, "legacy")
    pending = pending_kek(old.get("data") or old["audit"], slot["name"])
    pair = SlotKeyPair.from_bytes(crypto.open_sealed(pending, slot["secrets"], _secrets_context(register_id, slot)))
    return _granted(register_id, slot, pair, kek, "pending")


def pending_kek(role_key: bytes, name: str) -> bytes:
    """What seals a format-1 slot's new key pair until its owner's next unlock.

    The key the slot's format-1 box already held (the data key for an
    officer, format 1's audit key for a purger), so the slot's owner opens it
    with nothing new, and a purger cannot open an officer's.
    """
    return crypto.hkdf(role_key, b"kss-panel pending slot " + name.encode())


def reseal(register_id: str, slot: dict[str, Any], pair: SlotKeyPair, kek: tuple[bytes, str], keys: Keyring) -> dict[str, Any]:
    """The columns of ``slot`` with ``pair`` sealed under a (new) KEK and the keys granted again."""
    row = {**slot, "kdf": kek[1]}
    sealed = {**row, **seal_pair(register_id, row, pair, kek[0]), "legacy": None}
    return {key: sealed[key] for key in ("kdf", "recipient", "verifier", "secrets", "legacy")} | {"grant": grant(register_id, sealed, keys)}


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
        kek = slot_kek(slot, credentials)
        opened = open_slot(register_id, slot, kek) if kek is not None else None
        if opened:
            return opened
    raise AuthError(failure)


def summary(slot: dict[str, Any]) -> dict[str, Any]:
    """What may be shown of a slot: never its sealed keys or KDF salt."""
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
