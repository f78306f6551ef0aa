"""The asymmetric half of the crypto core: each key slot's key pairs, grants sealed to a slot, signatures.

Every slot has an X25519 key pair (its *recipient*: the register's keys are
sealed to it, as age seals a file key) and an Ed25519 key pair (its
*verifier*: it signs the audit trail). Both private keys are stored sealed
under the slot's own key-encryption key; only the public halves are plain.
The format is in docs/crypto.md §2 and §6.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .crypto import KEY_BYTES, Context, InvalidToken, Sealer, hkdf, random_key

PUBLIC_BYTES = 32
SIGNATURE_BYTES = 64
GRANT_INFO = b"kss-panel grant"


@dataclass(frozen=True)
class SlotKeyPair:
    """A slot's two private keys (32 bytes each): X25519 for grants, Ed25519 (its seed) for signing."""

    agreement: bytes
    signing: bytes

    @classmethod
    def generate(cls) -> SlotKeyPair:
        return cls(random_key(), random_key())

    @classmethod
    def from_bytes(cls, raw: bytes) -> SlotKeyPair:
        if len(raw) != 2 * KEY_BYTES:
            raise InvalidToken("not a slot key pair")
        return cls(raw[:KEY_BYTES], raw[KEY_BYTES:])

    def to_bytes(self) -> bytes:
        return self.agreement + self.signing

    @property
    def recipient(self) -> bytes:
        """The X25519 public key grants are sealed to."""
        return X25519PrivateKey.from_private_bytes(self.agreement).public_key().public_bytes_raw()

    @property
    def verifier(self) -> bytes:
        """The Ed25519 public key that verifies this slot's signatures."""
        return Ed25519PrivateKey.from_private_bytes(self.signing).public_key().public_bytes_raw()

    def signer(self) -> Signer:
        return Signer(self.signing)

    def open_grant(self, grant: bytes, context: Context) -> bytes:
        """The payload of a grant sealed to this slot; InvalidToken if it is not one."""
        if len(grant) < PUBLIC_BYTES:
            raise InvalidToken("malformed grant")
        ephemeral, box = grant[:PUBLIC_BYTES], grant[PUBLIC_BYTES:]
        wrap_key = _grant_key(X25519PrivateKey.from_private_bytes(self.agreement), ephemeral, ephemeral, self.recipient)
        return Sealer(wrap_key).open(box, context)


class Signer:
    """Signs with one slot's Ed25519 key (the key object is made once)."""

    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def _grant_key(private: X25519PrivateKey, peer: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    """HKDF over the X25519 shared secret, salted with both public keys (as age does)."""
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(peer))
    except ValueError:
        # An all-zero shared secret (a low-order point) is refused, as RFC 7748 §6.1 allows.
        raise InvalidToken("malformed grant") from None
    return hkdf(shared, GRANT_INFO, salt=ephemeral + recipient)


def seal_to(recipient: bytes, payload: bytes, context: Context, *, ephemeral: bytes | None = None, nonce: bytes | None = None) -> bytes:
    """Seal ``payload`` so only the holder of ``recipient``'s private key opens it.

    grant = ephemeral public key || box under HKDF(X25519(ephemeral, recipient),
    salt = ephemeral public || recipient). ``ephemeral`` and ``nonce`` exist
    for the test vectors only.
    """
    if len(recipient) != PUBLIC_BYTES:
        raise InvalidToken("not a recipient key")
    private = X25519PrivateKey.from_private_bytes(ephemeral or random_key())
    public = private.public_key().public_bytes_raw()
    wrap_key = _grant_key(private, recipient, public, recipient)
    return public + Sealer(wrap_key).seal(payload, context, nonce=nonce)


class Verifiers:
    """Verifies Ed25519 signatures, loading each public key once (a trail has few signers)."""

    def __init__(self) -> None:
        self._keys: dict[bytes, Ed25519PublicKey | None] = {}

    def verify(self, verifier: bytes, signature: bytes, message: bytes) -> bool:
        key = self._keys.get(verifier, False)
        if key is False:
            try:
                key = Ed25519PublicKey.from_public_bytes(verifier)
            except ValueError:
                key = None
            self._keys[verifier] = key
        if key is None or not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
            return False
        try:
            key.verify(signature, message)  # type: ignore[union-attr]
        except InvalidSignature:
            return False
        return True
