"""Generate the sealed-box test vectors: seal.json and invalid.json.

    python tests/vectors/generate.py           # (re)write the JSON files
    python tests/vectors/generate.py --check   # exit 1 if they are stale

Every input is fixed (keys, nonces, contexts), so the output is the same on
every run and every machine; a change in the files means the format changed.
The format is specified in docs/crypto.md.

seal.json    [{"desc", "key", "nonce", "context", "plaintext", "box"}]
             seal(key, plaintext, context, nonce=nonce) == box, and
             open_sealed(key, box, context) == plaintext.
invalid.json [{"desc", "key", "context", "box"}]
             open_sealed(key, box, context) raises InvalidToken.

Bytes are lowercase hex; context parts are text (UTF-8 in the associated data).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kss_panel.crypto import InvalidToken, associated_data, open_sealed, seal

HERE = Path(__file__).resolve().parent

# Fixed inputs. Never random: the vectors must not change between runs.
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
OTHER_KEY = bytes.fromhex("1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100")
DEK = bytes.fromhex("a5" * 32)
NONCE = bytes.fromhex("000000000000000000000001")
REGISTER_ID = "0f4c2a9e7d6b5a4938271605f4e3d2c1"
MEMBER_ID = "Mfzxzhcvyjluq47h2"
SECTION = ("section", REGISTER_ID, MEMBER_ID, "contact")


def nonce(n: int) -> bytes:
    return n.to_bytes(12, "big")


def _seal_case(desc: str, key: bytes, nonce_: bytes, context: tuple[str, ...], plaintext: bytes) -> dict[str, Any]:
    box = seal(key, plaintext, context, nonce=nonce_)
    return {
        "desc": desc,
        "key": key.hex(),
        "nonce": nonce_.hex(),
        "context": list(context),
        "plaintext": plaintext.hex(),
        "box": box.hex(),
    }


def seal_cases() -> list[dict[str, Any]]:
    contact = '{"first_name": "Aino", "last_name": "Mäkelä", "city": "Kouvola", "language": "fi"}'
    slot_payload = '{"role": "purger", "audit": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}'
    return [
        _seal_case("empty plaintext: one block of padding", KEY, nonce(1), SECTION, b""),
        _seal_case("31-byte plaintext: padded to exactly one block", KEY, nonce(2), SECTION, b"a" * 31),
        _seal_case("32-byte plaintext: a full block gains a whole padding block", KEY, nonce(3), SECTION, b"b" * 32),
        _seal_case("33-byte plaintext: padded to two blocks", KEY, nonce(4), SECTION, b"c" * 33),
        _seal_case(
            "UTF-8 text: a contact section as stored",
            DEK,
            nonce(5),
            SECTION,
            contact.encode("utf-8"),
        ),
        _seal_case(
            "plaintext ending in 0x80 and zero bytes survives unpadding",
            KEY,
            nonce(6),
            SECTION,
            b"\x00\x80\x00\x00",
        ),
        _seal_case(
            "several context parts: a purger's key slot",
            KEY,
            nonce(7),
            ("slot", REGISTER_ID, "cron", "purger", "keyfile"),
            slot_payload.encode("utf-8"),
        ),
        _seal_case("a member's data key wrapped under the register data key", KEY, nonce(8), ("dek", REGISTER_ID, MEMBER_ID), DEK),
        _seal_case("non-ASCII context part (UTF-8, length in bytes)", KEY, nonce(9), ("section", "Mäkelä", "ö"), b"hobbies"),
        _seal_case("no context parts", KEY, nonce(10), (), b"no context"),
        _seal_case("empty context parts still count", KEY, nonce(11), ("", "", ""), b"empty parts"),
        _seal_case("all-ones nonce", OTHER_KEY, bytes.fromhex("ff" * 12), SECTION, b"[\"sauna\", \"m\xc3\xb6kkeily\"]"),
    ]


def _invalid(desc: str, key: bytes, context: tuple[str, ...], box: bytes) -> dict[str, Any]:
    return {"desc": desc, "key": key.hex(), "context": list(context), "box": box.hex()}


def _flip(box: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(box)
    out[index] ^= mask
    return bytes(out)


def _raw_gcm(key: bytes, nonce_: bytes, padded: bytes, context: tuple[str, ...]) -> bytes:
    """A box whose GCM layer is valid but whose padding is whatever we pass."""
    return b"\x01" + nonce_ + AESGCM(key).encrypt(nonce_, padded, associated_data(*context))


def invalid_cases() -> list[dict[str, Any]]:
    plaintext = b"Aino M\xc3\xa4kel\xc3\xa4, Kouvola"
    good = seal(KEY, plaintext, SECTION, nonce=NONCE)
    # Layout: [0] version | [1:13] nonce | [13:-16] ciphertext | [-16:] tag
    return [
        _invalid("flipped tag byte (last)", KEY, SECTION, _flip(good, len(good) - 1)),
        _invalid("flipped first tag byte", KEY, SECTION, _flip(good, len(good) - 16)),
        _invalid("flipped ciphertext byte", KEY, SECTION, _flip(good, 13)),
        _invalid("flipped padding byte in the ciphertext", KEY, SECTION, _flip(good, len(good) - 17, 0x80)),
        _invalid("flipped nonce byte", KEY, SECTION, _flip(good, 1)),
        _invalid("wrong version byte 0x02", KEY, SECTION, b"\x02" + good[1:]),
        _invalid("wrong version byte 0x00", KEY, SECTION, b"\x00" + good[1:]),
        _invalid("truncated box: last byte missing", KEY, SECTION, good[:-1]),
        _invalid("truncated box: whole last block missing", KEY, SECTION, good[:-32]),
        _invalid("too short: version and nonce only", KEY, SECTION, good[:13]),
        _invalid("too short: one byte less than version, nonce and tag", KEY, SECTION, good[:28]),
        _invalid("empty box", KEY, SECTION, b""),
        _invalid("extra byte appended", KEY, SECTION, good + b"\x00"),
        _invalid("wrong key", OTHER_KEY, SECTION, good),
        _invalid("key one byte short", KEY[:31], SECTION, good),
        _invalid("context part changed: another section", KEY, ("section", REGISTER_ID, MEMBER_ID, "demographics"), good),
        _invalid("context part changed: another member", KEY, ("section", REGISTER_ID, "M0000000000000000", "contact"), good),
        _invalid("context part changed: another register", KEY, ("section", "0" * 32, MEMBER_ID, "contact"), good),
        _invalid("context part changed: another purpose", KEY, ("dek", REGISTER_ID, MEMBER_ID, "contact"), good),
        _invalid(
            "context parts re-split: sealed for ['ab', 'c'], opened as ['a', 'bc']",
            KEY,
            ("a", "bc"),
            seal(KEY, plaintext, ("ab", "c"), nonce=NONCE),
        ),
        _invalid(
            "context parts joined: sealed for ['a', 'b'], opened as ['ab']",
            KEY,
            ("ab",),
            seal(KEY, plaintext, ("a", "b"), nonce=NONCE),
        ),
        _invalid("extra context part", KEY, (*SECTION, "extra"), good),
        _invalid("missing context part", KEY, SECTION[:-1], good),
        _invalid("extra empty context part", KEY, (*SECTION, ""), good),
        _invalid(
            "bad padding: valid GCM over unpadded plaintext",
            KEY,
            SECTION,
            _raw_gcm(KEY, nonce(20), b"no padding at all", SECTION),
        ),
        _invalid(
            "bad padding: last non-zero byte is not 0x80",
            KEY,
            SECTION,
            _raw_gcm(KEY, nonce(21), b"abc\x01" + b"\x00" * 28, SECTION),
        ),
        _invalid(
            "bad padding: a block of zero bytes only",
            KEY,
            SECTION,
            _raw_gcm(KEY, nonce(22), b"\x00" * 32, SECTION),
        ),
        _invalid(
            "bad padding: valid GCM over an empty plaintext",
            KEY,
            SECTION,
            _raw_gcm(KEY, nonce(23), b"", SECTION),
        ),
    ]


def _self_check(valid: list[dict[str, Any]], invalid: list[dict[str, Any]]) -> None:
    for case in valid:
        opened = open_sealed(bytes.fromhex(case["key"]), bytes.fromhex(case["box"]), tuple(case["context"]))
        assert opened.hex() == case["plaintext"], case["desc"]
    for case in invalid:
        try:
            open_sealed(bytes.fromhex(case["key"]), bytes.fromhex(case["box"]), tuple(case["context"]))
        except InvalidToken:
            continue
        raise AssertionError(f"invalid vector opened: {case['desc']}")


def _dump(cases: list[dict[str, Any]]) -> str:
    return json.dumps(cases, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    valid, invalid = seal_cases(), invalid_cases()
    _self_check(valid, invalid)
    files = {HERE / "seal.json": _dump(valid), HERE / "invalid.json": _dump(invalid)}
    if "--check" in argv:
        stale = [path.name for path, text in files.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale test vectors: {', '.join(stale)}; run python tests/vectors/generate.py", file=sys.stderr)
            return 1
        print(f"test vectors up to date: {len(valid)} valid, {len(invalid)} invalid")
        return 0
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(valid)} valid and {len(invalid)} invalid vectors to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
