"""The crypto core: one sealed-box format, key derivation, lookup hashes, MACs.

The format is specified in docs/crypto.md and pinned by tests/vectors/. There
are no options: AES-256-GCM with a random 96-bit nonce, plaintext padded to a
multiple of 32 bytes, and associated data that names what the box is for.
Every failure to open a box raises ``InvalidToken``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
PAD_BLOCK = 32
KEY_FILE_PREFIX = "kss-panel-key-v1:"

# RFC 9106's second recommended option is the floor: 64 MiB, 3 passes, 4 lanes.
# Calibration only ever raises the pass count above it.
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_MIN_ITERATIONS = 3
ARGON2_LANES = 4


class InvalidToken(Exception):
    """A sealed box did not open: wrong key, wrong context, or changed bytes.

    The crypto core's only exception; the layer above says what it means there
    (a tampered record, a wrong passphrase).
    """


def random_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


AD_PREFIX = b"kss-panel" + struct.pack(">B", FORMAT_VERSION)


def associated_data(*context: str | bytes) -> bytes:
    """Bind a box to its purpose: format version, then length-prefixed parts.

    Length prefixes make the encoding injective, so ("ab", "c") and ("a", "bc")
    can never share associated data.
    """
    out = [AD_PREFIX]
    for part in context:
        raw = part.encode() if isinstance(part, str) else part
        out.append(len(raw).to_bytes(2, "big"))
        out.append(raw)
    return b"".join(out)


def _pad(data: bytes) -> bytes:
    # ISO/IEC 7816-4 padding hides exact lengths (a name's length is personal).
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % PAD_BLOCK)


def _unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise InvalidToken("bad padding")
    return stripped[:-1]


def seal(key: bytes, plaintext: bytes, context: tuple[str | bytes, ...], *, nonce: bytes | None = None) -> bytes:
    """Encrypt ``plaintext`` for ``context``: version byte || nonce || GCM output.

    ``nonce`` exists for the test vectors only; a random nonce per box is safe
    because every key here seals far fewer than 2^32 boxes.
    """
    return _seal(AESGCM(key), plaintext, associated_data(*context), nonce)


def seal_many(key: bytes, plaintexts: dict[str, bytes], context: tuple[str | bytes, ...]) -> dict[str, bytes]:
    """Seal several boxes under one key (one AES context), each bound to ``context`` + its own name."""
    aead = AESGCM(key)
    return {name: _seal(aead, plaintext, associated_data(*context, name)) for name, plaintext in plaintexts.items()}


def _seal(aead: AESGCM, plaintext: bytes, ad: bytes, nonce: bytes | None = None) -> bytes:
    nonce = nonce if nonce is not None else os.urandom(NONCE_BYTES)
    return bytes([FORMAT_VERSION]) + nonce + aead.encrypt(nonce, _pad(plaintext), ad)


def open_sealed(key: bytes, box: bytes, context: tuple[str | bytes, ...]) -> bytes:
    if len(box) < 1 + NONCE_BYTES + 16 or box[0] != FORMAT_VERSION:
        raise InvalidToken("malformed box")
    nonce, body = box[1 : 1 + NONCE_BYTES], box[1 + NONCE_BYTES :]
    try:
        padded = AESGCM(key).decrypt(nonce, body, associated_data(*context))
    except (InvalidTag, ValueError):
        raise InvalidToken("box did not open") from None
    return _unpad(padded)


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters, stored in each passphrase slot beside its salt."""

    salt: bytes
    memory_kib: int = ARGON2_MEMORY_KIB
    iterations: int = ARGON2_MIN_ITERATIONS
    lanes: int = ARGON2_LANES

    def to_dict(self) -> dict[str, object]:
        return {
            "alg": "argon2id",
            "salt": b64encode(self.salt),
            "memory_kib": self.memory_kib,
            "iterations": self.iterations,
            "lanes": self.lanes,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> KdfParams:
        try:
            if raw["alg"] != "argon2id":
                raise ValueError
            return cls(
                salt=b64decode(str(raw["salt"])),
                memory_kib=int(raw["memory_kib"]),  # type: ignore[call-overload]
                iterations=int(raw["iterations"]),  # type: ignore[call-overload]
                lanes=int(raw["lanes"]),  # type: ignore[call-overload]
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidToken("malformed key-derivation parameters") from None


def passphrase_key(passphrase: str, params: KdfParams) -> bytes:
    kdf = Argon2id(
        salt=params.salt,
        length=KEY_BYTES,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return kdf.derive(passphrase.encode("utf-8"))


def calibrate_kdf(target_seconds: float, *, clock: Callable[[], float] = time.perf_counter) -> KdfParams:
    """Pick the pass count that makes one unlock take about ``target_seconds``."""
    salt = secrets.token_bytes(16)
    probe = KdfParams(salt=salt, iterations=1)
    started = clock()
    passphrase_key("calibration", probe)
    per_pass = max(clock() - started, 1e-6)
    iterations = max(ARGON2_MIN_ITERATIONS, round(target_seconds / per_pass))
    return KdfParams(salt=salt, iterations=iterations)


def key_file_key(secret: bytes, salt: bytes) -> bytes:
    """A key file holds 256 random bits already: HKDF, not Argon2, suffices."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=b"kss-panel key-file slot").derive(secret)


def new_key_file_text() -> str:
    return KEY_FILE_PREFIX + b64encode(random_key()) + "\n"


def parse_key_file(text: str) -> bytes:
    text = text.strip()
    if not text.startswith(KEY_FILE_PREFIX):
        raise ValueError("not a kss-panel key file")
    secret = b64decode(text[len(KEY_FILE_PREFIX) :])
    if len(secret) != KEY_BYTES:
        raise ValueError("not a kss-panel key file")
    return secret


class LookupHasher:
    """Keyed hashes of normalised values, one HKDF subkey per kind of value."""

    def __init__(self, lookup_key: bytes) -> None:
        self._lookup_key = lookup_key
        self._subkeys: dict[str, bytes] = {}

    def _subkey(self, kind: str) -> bytes:
        if kind not in self._subkeys:
            self._subkeys[kind] = HKDF(
                algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"kss-panel lookup " + kind.encode()
            ).derive(self._lookup_key)
        return self._subkeys[kind]

    def digest(self, kind: str, normalised: str) -> str:
        return hmac.new(self._subkey(kind), normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def mac_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_member_id() -> str:
    # 80 random bits in RFC 4648 base32, lower case: opaque, unguessable, easy to read out.
    return "M" + base64.b32encode(secrets.token_bytes(10)).decode().lower()


def new_register_id() -> str:
    return secrets.token_hex(16)


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ValueError("bad base64") from None
