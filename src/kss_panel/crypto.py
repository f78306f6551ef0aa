"""The crypto core: one sealed-box format, key derivation, lookup digests, hashes.

The format is specified in docs/crypto.md and pinned by tests/vectors/. There
are no options: AES-256-GCM with a random 96-bit nonce, plaintext padded to a
multiple of 32 bytes (but a wrapped key's, always 32 bytes), and associated
data that names what the box is for.
Every failure to open a box raises ``InvalidToken``. The asymmetric part
(slot key pairs, sealing to a recipient, signatures) is in ``crypto_pk``.

Format 1 boxes are opened by ``open_legacy`` only, for the one-time upgrade
of a version-1 register; nothing seals them any more.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION = 2
LEGACY_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
PAD_BLOCK = 32
DIGEST_BYTES = 16
KEY_FILE_PREFIX = "kss-panel-key-v1:"

# RFC 9106's second recommended option is the floor: 64 MiB, 3 passes, 4 lanes.
# Calibration only ever raises the pass count above it.
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_MIN_ITERATIONS = 3
ARGON2_LANES = 4

Context = Sequence[str | bytes]


class InvalidToken(Exception):
    """A sealed box did not open: wrong key, wrong context, or changed bytes.

    The crypto core's only exception; the layer above says what it means there
    (a tampered record, a wrong passphrase).
    """


def random_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def associated_data(*context: str | bytes, version: int = FORMAT_VERSION) -> bytes:
    """Bind a box to its purpose: format version, then length-prefixed parts.

    Length prefixes make the encoding injective, so ("ab", "c") and ("a", "bc")
    can never share associated data.
    """
    if len(context) > 1:  # (kind, register id, member id): the head repeats, member after member
        return _head(version, *context[:-1]) + _part(context[-1])
    return b"kss-panel" + bytes([version]) + b"".join(map(_part, context))


@functools.lru_cache(maxsize=64)
def _head(version: int, *context: str | bytes) -> bytes:
    return b"kss-panel" + bytes([version]) + b"".join(map(_part, context))


def _part(part: str | bytes) -> bytes:
    raw = part.encode() if isinstance(part, str) else part
    return len(raw).to_bytes(2, "big") + raw


def extend_associated_data(prefix: bytes, part: str) -> bytes:
    """``associated_data(*context, part)`` from ``prefix`` = ``associated_data(*context)``: the encoding is a
    concatenation, so a pass over many members binds each box with one prefix computed once."""
    raw = part.encode()
    return prefix + len(raw).to_bytes(2, "big") + raw


def _pad(data: bytes) -> bytes:
    # ISO/IEC 7816-4 padding hides exact lengths (a name's length is personal).
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % PAD_BLOCK)


def _unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise InvalidToken("bad padding")
    return stripped[:-1]


class Sealer:
    """Seals and opens boxes under one key, reusing one AES context (a register's data key seals many DEKs)."""

    def __init__(self, key: bytes) -> None:
        try:
            self._aead = AESGCM(key)
        except (TypeError, ValueError):
            raise InvalidToken("not a 256-bit key") from None
        if len(key) != KEY_BYTES:
            raise InvalidToken("not a 256-bit key")

    def seal(self, plaintext: bytes, context: Context, *, nonce: bytes | None = None) -> bytes:
        """``nonce`` exists for the test vectors only; a random nonce per box is safe
        because no key here seals anywhere near 2^32 boxes."""
        nonce = nonce if nonce is not None else os.urandom(NONCE_BYTES)
        return bytes([FORMAT_VERSION]) + nonce + self._aead.encrypt(nonce, _pad(plaintext), associated_data(*context))

    def open(self, box: bytes, context: Context) -> bytes:
        return self._open(box, context, FORMAT_VERSION)

    def open_legacy(self, box: bytes, context: Context) -> bytes:
        """A format 1 box (version byte 0x01 and its associated data), for the upgrade only."""
        return self._open(box, context, LEGACY_VERSION)

    def open_bound(self, box: bytes, associated: bytes) -> bytes:
        """``open`` with the associated data already made (``extend_associated_data``)."""
        return self._open_with(box, associated, FORMAT_VERSION)

    def wrap(self, key: bytes, context: Context, *, nonce: bytes | None = None) -> bytes:
        """A 256-bit key (a member's DEK) sealed unpadded: a key's length never varies, so padding would hide nothing."""
        if len(key) != KEY_BYTES:
            raise InvalidToken("not a 256-bit key")
        nonce = nonce if nonce is not None else os.urandom(NONCE_BYTES)
        return bytes([FORMAT_VERSION]) + nonce + self._aead.encrypt(nonce, key, associated_data(*context))

    def unwrap(self, box: bytes, context: Context) -> bytes:
        return self.unwrap_bound(box, associated_data(*context))

    def unwrap_bound(self, box: bytes, associated: bytes) -> bytes:
        """The key ``wrap`` sealed; one sealed padded, as builds before ``wrap`` sealed keys, opens too."""
        key = self._decrypt(box, associated, FORMAT_VERSION)
        if len(key) != KEY_BYTES:
            key = _unpad(key)
        if len(key) != KEY_BYTES:
            raise InvalidToken("not a wrapped key")
        return key

    def _open(self, box: bytes, context: Context, version: int) -> bytes:
        return self._open_with(box, associated_data(*context, version=version), version)

    def _open_with(self, box: bytes, associated: bytes, version: int) -> bytes:
        return _unpad(self._decrypt(box, associated, version))

    def _decrypt(self, box: bytes, associated: bytes, version: int) -> bytes:
        if len(box) < 1 + NONCE_BYTES + TAG_BYTES or box[0] != version:
            raise InvalidToken("malformed box")
        nonce, body = box[1 : 1 + NONCE_BYTES], box[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, associated)
        except (InvalidTag, ValueError):
            raise InvalidToken("box did not open") from None


def seal(key: bytes, plaintext: bytes, context: Context, *, nonce: bytes | None = None) -> bytes:
    """Encrypt ``plaintext`` for ``context``: version byte || nonce || GCM output."""
    return Sealer(key).seal(plaintext, context, nonce=nonce)


def open_sealed(key: bytes, box: bytes, context: Context) -> bytes:
    return Sealer(key).open(box, context)


def open_legacy(key: bytes, box: bytes, context: Context) -> bytes:
    return Sealer(key).open_legacy(box, context)


def wrap(key: bytes, wrapped: bytes, context: Context, *, nonce: bytes | None = None) -> bytes:
    """``wrapped`` (a 256-bit key) sealed unpadded under ``key``: version byte || nonce || GCM output."""
    return Sealer(key).wrap(wrapped, context, nonce=nonce)


def unwrap(key: bytes, box: bytes, context: Context) -> bytes:
    return Sealer(key).unwrap(box, context)


# --- secrets that unlock a slot ----------------------------------------------------------------------------


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

    def fresh(self) -> KdfParams:
        """The same costs with a new salt (a changed passphrase gets a new salt)."""
        return KdfParams(secrets.token_bytes(16), self.memory_kib, self.iterations, self.lanes)


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


def hkdf(ikm: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(ikm)


def key_file_key(secret: bytes, salt: bytes) -> bytes:
    """A key file holds 256 random bits already: HKDF, not Argon2, suffices."""
    return hkdf(secret, b"kss-panel key-file slot", salt)


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


# --- lookup digests ----------------------------------------------------------------------------------------


class LookupHasher:
    """Keyed digests of normalised values, chained through every lookup key the register has had.

    The first key hashes the value under a per-kind subkey; each later key
    (one per rotation) hashes the digest before it. Rotation re-hashes every
    stored digest once with the new key, without knowing a single value, and a
    digest made with the old keys alone matches nothing stored afterwards.
    """

    def __init__(self, lookup_keys: Sequence[bytes]) -> None:
        assert lookup_keys, "a register has at least one lookup key"
        self._first = lookup_keys[0]
        self._later = [chain_subkey(key) for key in lookup_keys[1:]]
        self._subkeys: dict[str, bytes] = {}

    def _subkey(self, kind: str) -> bytes:
        if kind not in self._subkeys:
            self._subkeys[kind] = hkdf(self._first, b"kss-panel lookup " + kind.encode())
        return self._subkeys[kind]

    def digest(self, kind: str, normalised: str) -> bytes:
        digest = hmac.digest(self._subkey(kind), normalised.encode("utf-8"), "sha256")[:DIGEST_BYTES]
        for subkey in self._later:
            digest = rehash(subkey, digest)
        return digest


def chain_subkey(lookup_key: bytes) -> bytes:
    """The key one rotation re-hashes stored digests with."""
    return hkdf(lookup_key, b"kss-panel lookup chain")


def rehash(subkey: bytes, digest: bytes) -> bytes:
    return hmac.digest(subkey, digest, "sha256")[:DIGEST_BYTES]


# --- hashes, MACs, identifiers, encodings ------------------------------------------------------------------


def mac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")


def mac_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def prefixed_sha256(prefix: bytes) -> Callable[[bytes], bytes]:
    """SHA-256 over ``prefix || message``, the prefix hashed once: for many short messages under one secret
    prefix (a survey sample's keys, docs/crypto.md §11)."""
    state = hashlib.sha256(prefix)

    def digest(message: bytes) -> bytes:
        copy = state.copy()
        copy.update(message)
        return copy.digest()

    return digest


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
