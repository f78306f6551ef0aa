"""The crypto core: the test vectors in tests/vectors/, the sealed-box format, grants, lookups, heads.

Vector files (agreed format, written by tests/vectors/generate.py):
  seal.json          [{"desc", "key", "nonce", "context": [str], "plaintext", "box"}]  (bytes as hex)
  invalid.json       [{"desc", "key", "context": [str], "box"}]
  wrap.json          wrapped keys, unpadded (61 bytes; a 93-byte one sealed padded by an earlier build), and invalid ones
  legacy.json        format 1 boxes (frozen), in seal.json's shape: open_legacy opens them
  grant.json         [{"desc", "private", "ephemeral", "nonce", "context", "payload", "grant"}]
  grant-invalid.json [{"desc", "private", "context", "grant"}]
  trail.json         [{"desc", "register_id", "fieldsets", "entries", "head" | "error"}]  (run in test_audit.py)
  packing.json       [{"desc", "tag", "text", "plaintext"} | {"desc", "plaintext"}]  (run in test_packing.py)
Every *.json file there is loaded and every case run; none is skipped. Each
valid box and grant is also re-derived here straight from docs/crypto.md with
AES-GCM, X25519 and HKDF, so the vectors pin the specification, not merely the
implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from kss_panel import crypto
from kss_panel.audit import Head
from kss_panel.crypto_pk import SlotKeyPair, Verifiers, seal_to
from kss_panel.errors import IntegrityError

VECTORS = Path(__file__).parent / "vectors"
SEAL_KEYS = {"desc", "key", "nonce", "context", "plaintext", "box"}
INVALID_KEYS = {"desc", "key", "context", "box"}
KEY = bytes(range(32))
CONTEXT = ("record", "0f4c2a9e7d6b5a4938271605f4e3d2c1", "M3f7kq2x5v6n4p6rw")


# --- the specification, written out independently -----------------------------------------------------------


def spec_ad(parts: list[str] | tuple[str, ...], version: int = 2) -> bytes:
    encoded = [part.encode("utf-8") for part in parts]
    return b"kss-panel" + bytes([version]) + b"".join(len(p).to_bytes(2, "big") + p for p in encoded)


def spec_pad(plaintext: bytes) -> bytes:
    padded = plaintext + b"\x80"
    return padded + b"\x00" * (-len(padded) % 32)


def spec_seal(key: bytes, nonce: bytes, parts: list[str], plaintext: bytes, version: int = 2) -> bytes:
    return bytes([version]) + nonce + AESGCM(key).encrypt(nonce, spec_pad(plaintext), spec_ad(parts, version))


def spec_grant(private: bytes, ephemeral: bytes, nonce: bytes, parts: list[str], payload: bytes) -> bytes:
    recipient = X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
    eph = X25519PrivateKey.from_private_bytes(ephemeral)
    eph_public = eph.public_key().public_bytes_raw()
    shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient))
    wrap = HKDF(algorithm=hashes.SHA256(), length=32, salt=eph_public + recipient, info=b"kss-panel grant").derive(shared)
    return eph_public + spec_seal(wrap, nonce, parts, payload)


def spec_box_length(plaintext_length: int) -> int:
    return 29 + 32 * math.ceil((plaintext_length + 1) / 32)


# --- vectors ------------------------------------------------------------------------------------------------


BOX_FILES = ("seal.json", "invalid.json", "legacy.json")


def load_vectors(names: tuple[str, ...] = BOX_FILES) -> list[Any]:
    params = []
    for path in sorted(VECTORS.glob("*.json")):
        if path.name not in names:
            continue
        cases = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(cases, list) and cases, f"{path.name}: must be a non-empty JSON list"
        for index, case in enumerate(cases):
            params.append(pytest.param(path.name, case, id=f"{path.stem}-{index}-{case.get('desc', '?')}"))
    return params or [pytest.param(None, None, id="no-vector-files")]


def test_the_agreed_vector_files_exist_and_are_all_run() -> None:
    names = {path.name for path in VECTORS.glob("*.json")}
    assert names == {*BOX_FILES, "wrap.json", "grant.json", "grant-invalid.json", "trail.json", "packing.json"}  # packing.json: test_packing.py


@pytest.mark.parametrize(("filename", "case"), load_vectors())
def test_vector(filename: str | None, case: dict[str, Any] | None) -> None:
    assert filename is not None and case is not None, f"no *.json vector files in {VECTORS}"
    assert isinstance(case.get("desc"), str) and case["desc"], "every vector has a desc"
    assert isinstance(case["context"], list) and all(isinstance(part, str) for part in case["context"])
    key, box, context = bytes.fromhex(case["key"]), bytes.fromhex(case["box"]), tuple(case["context"])
    if filename == "legacy.json":
        plaintext = bytes.fromhex(case["plaintext"])
        assert crypto.open_legacy(key, box, context) == plaintext
        assert spec_seal(key, bytes.fromhex(case["nonce"]), case["context"], plaintext, version=1) == box
        with pytest.raises(crypto.InvalidToken):
            crypto.open_sealed(key, box, context)  # a format 1 box opens only through the upgrade
    elif set(case) == SEAL_KEYS:
        nonce, plaintext = bytes.fromhex(case["nonce"]), bytes.fromhex(case["plaintext"])
        assert crypto.open_sealed(key, box, context) == plaintext
        assert crypto.seal(key, plaintext, context, nonce=nonce) == box
        assert spec_seal(key, nonce, case["context"], plaintext) == box, "vector disagrees with docs/crypto.md"
        assert len(box) == spec_box_length(len(plaintext))
    elif set(case) == INVALID_KEYS:
        with pytest.raises(crypto.InvalidToken):
            crypto.open_sealed(key, box, context)
    else:
        pytest.fail(f"{filename}: case {case.get('desc')!r} has keys {sorted(case)}, not a seal or invalid vector")


@pytest.mark.parametrize(("filename", "case"), load_vectors(("wrap.json",)))
def test_wrap_vector(filename: str, case: dict[str, Any]) -> None:
    key, box, context = bytes.fromhex(case["key"]), bytes.fromhex(case["box"]), tuple(case["context"])
    if set(case) == INVALID_KEYS:
        with pytest.raises(crypto.InvalidToken):
            crypto.unwrap(key, box, context)
        return
    assert set(case) == SEAL_KEYS
    nonce, wrapped = bytes.fromhex(case["nonce"]), bytes.fromhex(case["plaintext"])
    assert crypto.unwrap(key, box, context) == wrapped
    if len(box) == 1 + 12 + 32 + 16:
        assert crypto.wrap(key, wrapped, context, nonce=nonce) == box
        assert bytes([2]) + nonce + AESGCM(key).encrypt(nonce, wrapped, spec_ad(case["context"])) == box, "vector disagrees with docs/crypto.md"
    else:  # sealed padded, as builds before wrapping sealed keys
        assert spec_seal(key, nonce, case["context"], wrapped) == box


def test_a_wrapped_key_is_never_padded_and_only_a_key_is_wrapped() -> None:
    box = crypto.wrap(KEY, bytes(range(100, 132)), CONTEXT)
    assert len(box) == 61 and crypto.unwrap(KEY, box, CONTEXT) == bytes(range(100, 132))
    for wrong in (b"", bytes(31), bytes(33)):
        with pytest.raises(crypto.InvalidToken):
            crypto.wrap(KEY, wrong, CONTEXT)
    with pytest.raises(crypto.InvalidToken):  # a wrapped key is not a sealed box, and the other way round
        crypto.open_sealed(KEY, box, CONTEXT)


@pytest.mark.parametrize(("filename", "case"), load_vectors(("grant.json", "grant-invalid.json")))
def test_grant_vector(filename: str, case: dict[str, Any]) -> None:
    private, grant, context = bytes.fromhex(case["private"]), bytes.fromhex(case["grant"]), tuple(case["context"])
    slot = SlotKeyPair(private, bytes(32))
    if filename == "grant.json":
        payload, ephemeral, nonce = bytes.fromhex(case["payload"]), bytes.fromhex(case["ephemeral"]), bytes.fromhex(case["nonce"])
        assert slot.open_grant(grant, context) == payload
        assert seal_to(slot.recipient, payload, context, ephemeral=ephemeral, nonce=nonce) == grant
        assert spec_grant(private, ephemeral, nonce, case["context"], payload) == grant, "vector disagrees with docs/crypto.md"
    else:
        with pytest.raises(crypto.InvalidToken):
            slot.open_grant(grant, context)


# --- key pairs, grants, signatures ----------------------------------------------------------------------------


def test_a_slot_key_pair_round_trips_and_matches_the_primitives() -> None:
    pair = SlotKeyPair.generate()
    assert SlotKeyPair.from_bytes(pair.to_bytes()) == pair and len(pair.to_bytes()) == 64
    assert pair.recipient == X25519PrivateKey.from_private_bytes(pair.agreement).public_key().public_bytes_raw()
    assert pair.verifier == Ed25519PrivateKey.from_private_bytes(pair.signing).public_key().public_bytes_raw()
    with pytest.raises(crypto.InvalidToken):
        SlotKeyPair.from_bytes(pair.to_bytes()[:63])


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=120), st.lists(st.text(max_size=10), max_size=4))
def test_a_grant_opens_for_its_slot_only(payload: bytes, context: list[str]) -> None:
    mine, other = SlotKeyPair.generate(), SlotKeyPair.generate()
    grant = seal_to(mine.recipient, payload, tuple(context))
    assert mine.open_grant(grant, tuple(context)) == payload
    with pytest.raises(crypto.InvalidToken):
        other.open_grant(grant, tuple(context))
    assert seal_to(mine.recipient, payload, tuple(context)) != grant  # a fresh ephemeral key every time


def test_signatures_verify_only_for_their_key_and_message() -> None:
    pair, other = SlotKeyPair.generate(), SlotKeyPair.generate()
    signature = pair.signer().sign(b"head")
    verifiers = Verifiers()
    assert verifiers.verify(pair.verifier, signature, b"head")
    assert not verifiers.verify(other.verifier, signature, b"head")
    assert not verifiers.verify(pair.verifier, signature, b"heaD")
    assert not verifiers.verify(pair.verifier, signature[:-1], b"head")
    assert not verifiers.verify(bytes(31), signature, b"head")


# --- sealed boxes -------------------------------------------------------------------------------------------


def test_associated_data_layout() -> None:
    assert crypto.associated_data() == b"kss-panel\x02"
    assert crypto.associated_data("ab", "c") == b"kss-panel\x02\x00\x02ab\x00\x01c"
    assert crypto.associated_data("ä") == b"kss-panel\x02\x00\x02\xc3\xa4"  # length in bytes
    assert crypto.associated_data("ab", version=1) == b"kss-panel\x01\x00\x02ab"
    assert crypto.associated_data("ab") == crypto.associated_data(b"ab")


def test_associated_data_is_injective_on_examples() -> None:
    variants = [("ab", "c"), ("a", "bc"), ("abc",), ("abc", ""), ("", "abc"), ("a", "b", "c"), (), ("",), ("", "")]
    encodings = [crypto.associated_data(*parts) for parts in variants]
    assert len(set(encodings)) == len(variants)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=8), max_size=5), st.lists(st.text(max_size=8), max_size=5))
def test_associated_data_is_injective(first: list[str], second: list[str]) -> None:
    if first != second:
        assert crypto.associated_data(*first) != crypto.associated_data(*second)
    else:
        assert crypto.associated_data(*first) == crypto.associated_data(*second)
    assert crypto.associated_data(*first) == spec_ad(first)


def test_padding_hides_exact_length() -> None:
    short = crypto.seal(KEY, b"x", CONTEXT)
    longer = crypto.seal(KEY, b"x" * 20, CONTEXT)
    assert len(short) == len(longer) == 29 + 32
    assert len(crypto.seal(KEY, b"x" * 31, CONTEXT)) == 29 + 32
    assert len(crypto.seal(KEY, b"x" * 32, CONTEXT)) == 29 + 64


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.lists(st.text(max_size=10), max_size=4))
def test_seal_opens_to_the_plaintext(plaintext: bytes, context: list[str]) -> None:
    box = crypto.seal(KEY, plaintext, tuple(context))
    assert len(box) == spec_box_length(len(plaintext))
    assert box[0] == 2
    assert crypto.open_sealed(KEY, box, tuple(context)) == plaintext


def test_every_seal_has_a_fresh_nonce() -> None:
    boxes = {crypto.seal(KEY, b"same", CONTEXT) for _ in range(50)}
    assert len(boxes) == 50
    assert len({box[1:13] for box in boxes}) == 50


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=70), st.data())
def test_any_flipped_bit_fails_to_open(plaintext: bytes, data: st.DataObject) -> None:
    box = bytearray(crypto.seal(KEY, plaintext, CONTEXT))
    position = data.draw(st.integers(0, len(box) - 1))
    box[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(crypto.InvalidToken):
        crypto.open_sealed(KEY, bytes(box), CONTEXT)


@pytest.mark.parametrize(
    ("key", "context", "mangle"),
    [
        (bytes(32), CONTEXT, lambda box: box),
        (KEY, CONTEXT[:2] + ("M0000000000000000",), lambda box: box),
        (KEY, CONTEXT + ("",), lambda box: box),
        (KEY, CONTEXT, lambda box: box[:-1]),
        (KEY, CONTEXT, lambda box: box + b"\x00"),
        (KEY, CONTEXT, lambda box: b""),
        (KEY, CONTEXT, lambda box: box[:28]),
        (KEY, CONTEXT, lambda box: b"\x01" + box[1:]),
    ],
    ids=["wrong-key", "other-member", "extra-part", "truncated", "extended", "empty", "too-short", "version"],
)
def test_every_failure_is_invalid_token(key: bytes, context: tuple[str, ...], mangle: Any) -> None:
    box = mangle(crypto.seal(KEY, b"Aino", CONTEXT))
    with pytest.raises(crypto.InvalidToken) as caught:
        crypto.open_sealed(key, box, context)
    # The crypto core's own exception: the layer above says what a failure means there.
    assert not isinstance(caught.value, IntegrityError)


def test_bad_padding_is_invalid_token() -> None:
    nonce = bytes(12)
    unpadded = b"\x02" + nonce + AESGCM(KEY).encrypt(nonce, b"no padding here", spec_ad(CONTEXT))
    with pytest.raises(crypto.InvalidToken):
        crypto.open_sealed(KEY, unpadded, CONTEXT)


# --- lookup hashes ------------------------------------------------------------------------------------------


def spec_digest(lookup_keys: list[bytes], kind: str, value: str) -> bytes:
    first = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kss-panel lookup " + kind.encode()).derive(lookup_keys[0])
    digest = hmac.new(first, value.encode("utf-8"), hashlib.sha256).digest()[:16]
    for later in lookup_keys[1:]:
        chain = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kss-panel lookup chain").derive(later)
        digest = hmac.new(chain, digest, hashlib.sha256).digest()[:16]
    return digest


def test_lookup_hasher_is_deterministic_and_follows_the_spec() -> None:
    first, second = crypto.LookupHasher([KEY]), crypto.LookupHasher([KEY])
    digest = first.digest("email", "aino@example.fi")
    assert digest == first.digest("email", "aino@example.fi") == second.digest("email", "aino@example.fi")
    assert len(digest) == 16
    assert digest == spec_digest([KEY], "email", "aino@example.fi")
    # Format 1's digest was the whole HMAC in hex: its first 16 bytes are format 2's.
    subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kss-panel lookup email").derive(KEY)
    assert digest == bytes.fromhex(hmac.new(subkey, b"aino@example.fi", hashlib.sha256).hexdigest())[:16]


def test_rotation_rehashes_a_stored_digest_to_what_the_longer_chain_computes() -> None:
    old, new = crypto.LookupHasher([KEY]), crypto.LookupHasher([KEY, bytes(32)])
    stored = old.digest("phone", "+358401234567")
    assert crypto.rehash(crypto.chain_subkey(bytes(32)), stored) == new.digest("phone", "+358401234567")
    assert new.digest("phone", "+358401234567") == spec_digest([KEY, bytes(32)], "phone", "+358401234567")
    assert new.digest("phone", "+358401234567") != stored  # the old keys alone match nothing stored afterwards


def test_lookup_hasher_separates_kinds_keys_and_values() -> None:
    hasher = crypto.LookupHasher([KEY])
    value = "12345678"
    digests = {hasher.digest(kind, value) for kind in ("email", "phone", "customer_number")}
    assert len(digests) == 3
    assert crypto.LookupHasher([bytes(32)]).digest("customer_number", value) != hasher.digest("customer_number", value)
    assert hasher.digest("customer_number", "12345679") != hasher.digest("customer_number", value)
    assert value.encode() not in hasher.digest("customer_number", value)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["email", "phone", "customer_number"]), st.text(max_size=30), st.text(max_size=30))
def test_lookup_digests_differ_for_different_values(kind: str, a: str, b: str) -> None:
    hasher = crypto.LookupHasher([KEY])
    assert (hasher.digest(kind, a) == hasher.digest(kind, b)) == (a == b)


# --- audit heads --------------------------------------------------------------------------------------------

HEX64 = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "token",
    [
        "", " ", "junk", "12", "12-", "-" + HEX64, "12-" + HEX64[:-1], "12-" + HEX64 + "0", "12-" + HEX64.upper(),
        "12-" + "g" * 64, "x-" + HEX64, "1.5-" + HEX64, "-1-" + HEX64, "+1-" + HEX64, "12 -" + HEX64,
        "²-" + HEX64, "١٢-" + HEX64, "１２-" + HEX64,
    ],
)
def test_head_parse_rejects_junk(token: str) -> None:
    with pytest.raises(ValueError):
        Head.parse(token)


def test_head_token_round_trips() -> None:
    head = Head(42, HEX64)
    assert head.token() == f"42-{HEX64}"
    assert Head.parse(head.token()) == head
    assert Head.parse(f"  {head.token()}\n") == head


near_tokens = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda seq, sep, mac: f"{seq}{sep}{mac}",
        st.text(alphabet="0123456789²³¹٠١٢０１２-+ .x", max_size=4),
        st.sampled_from(["-", "--", "_", ""]),
        st.one_of(
            st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
            st.text(alphabet="0123456789abcdefABCDEFg", min_size=63, max_size=65),
        ),
    ),
)


@settings(max_examples=100, deadline=None)
@given(near_tokens)
def test_head_parse_accepts_only_what_it_prints(token: str) -> None:
    """Junk raises ValueError and nothing else; what parses prints back as the same token."""
    try:
        head = Head.parse(token)
    except ValueError:
        return
    assert re.fullmatch(r"[0-9]+-[0-9a-f]{64}", token.strip())
    assert head.token() == f"{int(token.strip().split('-')[0])}-{head.hash}"


# --- key derivation and key files ---------------------------------------------------------------------------


def test_kdf_params_round_trip() -> None:
    params = crypto.KdfParams(salt=b"s" * 16, memory_kib=64, iterations=1, lanes=1)
    assert crypto.KdfParams.from_dict(json.loads(json.dumps(params.to_dict()))) == params
    assert params.to_dict()["alg"] == "argon2id"
    defaults = crypto.KdfParams(salt=b"s" * 16)
    assert (defaults.memory_kib, defaults.iterations, defaults.lanes) == (65536, 3, 4)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"alg": "scrypt", "salt": "c3M", "memory_kib": 64, "iterations": 1, "lanes": 1},
        {"alg": "argon2id", "memory_kib": 64, "iterations": 1, "lanes": 1},
        {"alg": "argon2id", "salt": "c3M", "memory_kib": "lots", "iterations": 1, "lanes": 1},
        {"alg": "argon2id", "salt": "c3M", "memory_kib": None, "iterations": 1, "lanes": 1},
    ],
)
def test_kdf_params_reject_junk(raw: dict[str, Any]) -> None:
    with pytest.raises(crypto.InvalidToken):
        crypto.KdfParams.from_dict(raw)


def test_passphrase_key_depends_on_passphrase_and_salt() -> None:
    params = crypto.KdfParams(salt=b"s" * 16, memory_kib=64, iterations=1, lanes=1)
    key = crypto.passphrase_key("correct horse battery", params)
    assert len(key) == 32
    assert key == crypto.passphrase_key("correct horse battery", params)
    assert key != crypto.passphrase_key("correct horse batterz", params)
    assert key != crypto.passphrase_key("correct horse battery", crypto.KdfParams(salt=b"t" * 16, memory_kib=64, iterations=1, lanes=1))


def test_calibration_never_goes_below_the_floor() -> None:
    ticks = iter([0.0, 0.1])
    params = crypto.calibrate_kdf(0.5, clock=lambda: next(ticks))
    assert (params.memory_kib, params.lanes, params.iterations) == (65536, 4, 5)
    assert len(params.salt) == 16
    ticks = iter([0.0, 0.1])
    assert crypto.calibrate_kdf(0.0, clock=lambda: next(ticks)).iterations == crypto.ARGON2_MIN_ITERATIONS


def test_key_file_round_trip() -> None:
    text = crypto.new_key_file_text()
    assert re.fullmatch(r"kss-panel-key-v1:[A-Za-z0-9_-]{43}\n", text)
    secret = crypto.parse_key_file(text)
    assert len(secret) == 32
    assert crypto.parse_key_file("  " + text.strip() + "  \n") == secret
    assert crypto.new_key_file_text() != text


@pytest.mark.parametrize(
    "text",
    ["", "hello", "kss-panel-key-v1:", "kss-panel-key-v1:AAAA", "kss-panel-key-v2:" + crypto.b64encode(bytes(32)),
     "kss-panel-key-v1:" + crypto.b64encode(bytes(31)), "kss-panel-key-v1:" + crypto.b64encode(bytes(33)), "kss-panel-key-v1:a"],
)
def test_key_file_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError):
        crypto.parse_key_file(text)


def test_key_file_key_depends_on_secret_and_salt() -> None:
    key = crypto.key_file_key(KEY, b"s" * 16)
    assert key == crypto.key_file_key(KEY, b"s" * 16)
    assert key != crypto.key_file_key(KEY, b"t" * 16)
    assert key != crypto.key_file_key(bytes(32), b"s" * 16)


def test_ids_are_opaque_and_well_formed() -> None:
    member_ids = {crypto.new_member_id() for _ in range(100)}
    assert len(member_ids) == 100
    assert all(re.fullmatch(r"M[a-z2-7]{16}", member_id) for member_id in member_ids)
    assert re.fullmatch(r"[0-9a-f]{32}", crypto.new_register_id())


def test_mac_helpers() -> None:
    assert crypto.mac(KEY, b"x") == hmac.new(KEY, b"x", hashlib.sha256).digest()
    assert crypto.mac_equal(b"a", b"a") and not crypto.mac_equal(b"a", b"b")
    assert crypto.sha256_hex(b"") == hashlib.sha256(b"").hexdigest()
