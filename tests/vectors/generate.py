"""Generate the test vectors: sealed boxes, grants and audit trails (format 2).

    python tests/vectors/generate.py           # (re)write the JSON files
    python tests/vectors/generate.py --check   # exit 1 if they are stale

Every input is fixed (keys, nonces, ephemeral keys, times), and Ed25519
signatures are deterministic, so the output is the same on every run and
every machine; a change in the files means the format changed. The format is
specified in docs/crypto.md.

seal.json          [{"desc", "key", "nonce", "context", "plaintext", "box"}]
                   seal(key, plaintext, context, nonce=nonce) == box, and open_sealed(key, box, context) == plaintext.
invalid.json       [{"desc", "key", "context", "box"}]  open_sealed(key, box, context) raises InvalidToken.
wrap.json          [{"desc", "key", "nonce", "context", "plaintext", "box"} | {"desc", "key", "context", "box"}]  a wrapped key
                   (docs/crypto.md §3): unwrap(key, box, context) == plaintext, and a 61-byte box is what
                   wrap(key, plaintext, context, nonce=nonce) makes (a 93-byte one was sealed padded, as builds
                   before wrapping did); or unwrap raises InvalidToken.
legacy.json        format 1 boxes, frozen (this script no longer writes them): open_legacy opens each.
grant.json         [{"desc", "private", "ephemeral", "nonce", "context", "payload", "grant"}]
                   seal_to(recipient of private, payload, context, ephemeral=, nonce=) == grant; the slot opens it.
grant-invalid.json [{"desc", "private", "context", "grant"}]  the slot's key pair does not open it (InvalidToken).
trail.json         [{"desc", "register_id", "fieldsets", "entries", "head" | "error"}]
                   verify_chain accepts the entries with that head, or raises IntegrityError with exactly that message.
packing.json       [{"desc", "tag", "text", "plaintext"} | {"desc", "plaintext"}]  what a member's box holds (docs/crypto.md §4.1):
                   unpack(plaintext) == text (UTF-8), and what pack(text, tag) makes unpacks to it; or unpack refuses
                   the plaintext (ValueError). A packed stream is kept as first written while it still unpacks to its
                   text: another zlib may deflate the same text differently, and both are right.

Bytes are lowercase hex; context parts are text (UTF-8 in the associated data).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import zlib

from kss_panel import audit, packing
from kss_panel.audit_verify import verify_chain
from kss_panel.crypto import InvalidToken, associated_data, open_legacy, open_sealed, seal, unwrap, wrap
from kss_panel.crypto_pk import SlotKeyPair, seal_to
from kss_panel.errors import IntegrityError

HERE = Path(__file__).resolve().parent

# Fixed inputs. Never random: the vectors must not change between runs.
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
OTHER_KEY = bytes.fromhex("1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100")
DEK = bytes.fromhex("a5" * 32)
NONCE = bytes.fromhex("000000000000000000000001")
REGISTER_ID = "0f4c2a9e7d6b5a4938271605f4e3d2c1"
MEMBER_ID = "Mfzxzhcvyjluq47h2"
RECORD = ("record", REGISTER_ID, MEMBER_ID)


def nonce(n: int) -> bytes:
    return n.to_bytes(12, "big")


def pair(n: int) -> SlotKeyPair:
    return SlotKeyPair(bytes([n]) * 32, bytes([n + 100]) * 32)


# --- sealed boxes ------------------------------------------------------------------------------------------


def _seal_case(desc: str, key: bytes, nonce_: bytes, context: tuple[str, ...], plaintext: bytes) -> dict[str, Any]:
    box = seal(key, plaintext, context, nonce=nonce_)
    return {"desc": desc, "key": key.hex(), "nonce": nonce_.hex(), "context": list(context), "plaintext": plaintext.hex(), "box": box.hex()}


def seal_cases() -> list[dict[str, Any]]:
    record = '{"customer_number":"12345678","contact":{"first_name":"Aino","last_name":"Mäkelä","city":"Kouvola"}}'
    receipts = ('[{"at":1781524800,"channel":"enrol","slot":"desk","given":{"email_marketing":"02e85b73d6862060"}},'
                '{"at":1781611200,"channel":"officer","slot":"aino","withdrawn":{"email_marketing":"02e85b73d6862060"},"objections":{"direct-marketing":"object"}}]')
    return [
        _seal_case("empty plaintext: one block of padding", KEY, nonce(1), RECORD, b""),
        _seal_case("31-byte plaintext: padded to exactly one block", KEY, nonce(2), RECORD, b"a" * 31),
        _seal_case("32-byte plaintext: a full block gains a whole padding block", KEY, nonce(3), RECORD, b"b" * 32),
        _seal_case("33-byte plaintext: padded to two blocks", KEY, nonce(4), RECORD, b"c" * 33),
        _seal_case("UTF-8 text: a member's record as stored", DEK, nonce(5), RECORD, record.encode("utf-8")),
        _seal_case("plaintext ending in 0x80 and zero bytes survives unpadding", KEY, nonce(6), RECORD, b"\x00\x80\x00\x00"),
        _seal_case("a slot's key pair under its KEK", KEY, nonce(7),
                   ("slot", REGISTER_ID, "cron", "purger", "keyfile"), pair(1).to_bytes()),
        _seal_case("32 bytes, padded to two blocks (a key is wrapped unpadded instead: wrap.json)", KEY, nonce(8), ("dek", REGISTER_ID, MEMBER_ID), DEK),
        _seal_case("non-ASCII context part (UTF-8, length in bytes)", KEY, nonce(9), ("record", "Mäkelä", "ö"), b"hobbies"),
        _seal_case("no context parts", KEY, nonce(10), (), b"no context"),
        _seal_case("empty context parts still count", KEY, nonce(11), ("", "", ""), b"empty parts"),
        _seal_case("all-ones nonce", OTHER_KEY, bytes.fromhex("ff" * 12), RECORD, b"[\"sauna\", \"m\xc3\xb6kkeily\"]"),
        _seal_case("a member's consent receipts as stored", DEK, nonce(12), ("receipts", REGISTER_ID, MEMBER_ID), receipts.encode()),
    ]


def _invalid(desc: str, key: bytes, context: tuple[str, ...], box: bytes) -> dict[str, Any]:
    return {"desc": desc, "key": key.hex(), "context": list(context), "box": box.hex()}


def _flip(box: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(box)
    out[index] ^= mask
    return bytes(out)


def _raw_gcm(key: bytes, nonce_: bytes, padded: bytes, context: tuple[str, ...], version: int = 2) -> bytes:
    """A box whose GCM layer is valid but whose padding (or version) is whatever we pass."""
    return bytes([version]) + nonce_ + AESGCM(key).encrypt(nonce_, padded, associated_data(*context, version=version))


def invalid_cases() -> list[dict[str, Any]]:
    plaintext = b"Aino M\xc3\xa4kel\xc3\xa4, Kouvola"
    good = seal(KEY, plaintext, RECORD, nonce=NONCE)
    # Layout: [0] version | [1:13] nonce | [13:-16] ciphertext | [-16:] tag
    return [
        _invalid("flipped tag byte (last)", KEY, RECORD, _flip(good, len(good) - 1)),
        _invalid("flipped first tag byte", KEY, RECORD, _flip(good, len(good) - 16)),
        _invalid("flipped ciphertext byte", KEY, RECORD, _flip(good, 13)),
        _invalid("flipped padding byte in the ciphertext", KEY, RECORD, _flip(good, len(good) - 17, 0x80)),
        _invalid("flipped nonce byte", KEY, RECORD, _flip(good, 1)),
        _invalid("format 1 version byte 0x01 on a format 2 box", KEY, RECORD, b"\x01" + good[1:]),
        _invalid("a whole format 1 box: opened only by the upgrade", KEY, RECORD, _raw_gcm(KEY, nonce(24), plaintext + b"\x80" + b"\x00" * 8, RECORD, 1)),
        _invalid("wrong version byte 0x00", KEY, RECORD, b"\x00" + good[1:]),
        _invalid("truncated box: last byte missing", KEY, RECORD, good[:-1]),
        _invalid("truncated box: whole last block missing", KEY, RECORD, good[:-32]),
        _invalid("too short: version and nonce only", KEY, RECORD, good[:13]),
        _invalid("too short: one byte less than version, nonce and tag", KEY, RECORD, good[:28]),
        _invalid("empty box", KEY, RECORD, b""),
        _invalid("extra byte appended", KEY, RECORD, good + b"\x00"),
        _invalid("wrong key", OTHER_KEY, RECORD, good),
        _invalid("key one byte short", KEY[:31], RECORD, good),
        _invalid("context part changed: another member", KEY, ("record", REGISTER_ID, "M0000000000000000"), good),
        _invalid("context part changed: another register", KEY, ("record", "0" * 32, MEMBER_ID), good),
        _invalid("context part changed: another purpose", KEY, ("dek", REGISTER_ID, MEMBER_ID), good),
        _invalid("context parts re-split: sealed for ['ab', 'c'], opened as ['a', 'bc']", KEY, ("a", "bc"),
                 seal(KEY, plaintext, ("ab", "c"), nonce=NONCE)),
        _invalid("context parts joined: sealed for ['a', 'b'], opened as ['ab']", KEY, ("ab",), seal(KEY, plaintext, ("a", "b"), nonce=NONCE)),
        _invalid("extra context part", KEY, (*RECORD, "extra"), good),
        _invalid("missing context part", KEY, RECORD[:-1], good),
        _invalid("extra empty context part", KEY, (*RECORD, ""), good),
        _invalid("bad padding: valid GCM over unpadded plaintext", KEY, RECORD, _raw_gcm(KEY, nonce(20), b"no padding at all", RECORD)),
        _invalid("bad padding: last non-zero byte is not 0x80", KEY, RECORD, _raw_gcm(KEY, nonce(21), b"abc\x01" + b"\x00" * 28, RECORD)),
        _invalid("bad padding: a block of zero bytes only", KEY, RECORD, _raw_gcm(KEY, nonce(22), b"\x00" * 32, RECORD)),
        _invalid("bad padding: valid GCM over an empty plaintext", KEY, RECORD, _raw_gcm(KEY, nonce(23), b"", RECORD)),
    ]


# --- wrapped keys ------------------------------------------------------------------------------------------


DEK_CONTEXT = ("dek", REGISTER_ID, MEMBER_ID)


def _wrap_case(desc: str, key: bytes, nonce_: bytes, context: tuple[str, ...], wrapped: bytes, box: bytes | None = None) -> dict[str, Any]:
    box = box if box is not None else wrap(key, wrapped, context, nonce=nonce_)
    return {"desc": desc, "key": key.hex(), "nonce": nonce_.hex(), "context": list(context), "plaintext": wrapped.hex(), "box": box.hex()}


def wrap_cases() -> list[dict[str, Any]]:
    good = wrap(KEY, DEK, DEK_CONTEXT, nonce=nonce(30))
    return [
        _wrap_case("a member's data key wrapped under the register data key", KEY, nonce(30), DEK_CONTEXT, DEK),
        _wrap_case("a key ending in 0x80 and zero bytes is the key, not padding", OTHER_KEY, nonce(31), DEK_CONTEXT, bytes(30) + b"\x80\x00"),
        _wrap_case("a key sealed padded, as builds before wrapping sealed it, opens too", KEY, nonce(32), DEK_CONTEXT, DEK,
                   seal(KEY, DEK, DEK_CONTEXT, nonce=nonce(32))),
        _invalid("flipped tag byte", KEY, DEK_CONTEXT, _flip(good, len(good) - 1)),
        _invalid("another member's context", KEY, ("dek", REGISTER_ID, "M0000000000000000"), good),
        _invalid("wrong key", OTHER_KEY, DEK_CONTEXT, good),
        _invalid("31 bytes sealed unpadded: not a key", KEY, DEK_CONTEXT, _raw_gcm(KEY, nonce(33), DEK[:31], DEK_CONTEXT)),
        _invalid("33 bytes sealed unpadded: not a key", KEY, DEK_CONTEXT, _raw_gcm(KEY, nonce(34), DEK + b"\x00", DEK_CONTEXT)),
        _invalid("a box sealed padded whose plaintext is not a key", KEY, DEK_CONTEXT, seal(KEY, DEK + b"\x01", DEK_CONTEXT, nonce=nonce(35))),
        _invalid("64 bytes sealed unpadded that do not unpad to a key", KEY, DEK_CONTEXT, _raw_gcm(KEY, nonce(36), DEK * 2, DEK_CONTEXT)),
        _invalid("format 1 version byte", KEY, DEK_CONTEXT, b"\x01" + good[1:]),
        _invalid("truncated", KEY, DEK_CONTEXT, good[:-1]),
    ]


# --- grants ------------------------------------------------------------------------------------------------


GRANT = ("grant", REGISTER_ID, "aino", "officer")


def _grant_case(desc: str, slot: SlotKeyPair, ephemeral: bytes, nonce_: bytes, context: tuple[str, ...], payload: bytes) -> dict[str, Any]:
    grant = seal_to(slot.recipient, payload, context, ephemeral=ephemeral, nonce=nonce_)
    return {"desc": desc, "private": slot.agreement.hex(), "ephemeral": ephemeral.hex(), "nonce": nonce_.hex(),
            "context": list(context), "payload": payload.hex(), "grant": grant.hex()}


def grant_cases() -> list[dict[str, Any]]:
    officer = b'{"data": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "lookup": ["Hx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA"]}'
    return [
        _grant_case("an officer's grant: the data key and one lookup key", pair(1), bytes([7]) * 32, nonce(1), GRANT, officer),
        _grant_case("a purger's grant holds no key", pair(2), bytes([8]) * 32, nonce(2), ("grant", REGISTER_ID, "cron", "purger"), b"{}"),
        _grant_case("the same payload to another slot differs throughout", pair(3), bytes([7]) * 32, nonce(1), GRANT, officer),
    ]


def grant_invalid_cases() -> list[dict[str, Any]]:
    good = seal_to(pair(1).recipient, b"{}", GRANT, ephemeral=bytes([9]) * 32, nonce=nonce(3))

    def case(desc: str, slot: SlotKeyPair, context: tuple[str, ...], grant: bytes) -> dict[str, Any]:
        return {"desc": desc, "private": slot.agreement.hex(), "context": list(context), "grant": grant.hex()}

    return [
        case("another slot's key pair", pair(2), GRANT, good),
        case("another slot's name in the context", pair(1), ("grant", REGISTER_ID, "veikko", "officer"), good),
        case("another role in the context (a purger's grant read as an officer's)", pair(1), ("grant", REGISTER_ID, "aino", "purger"), good),
        case("flipped byte in the ephemeral key", pair(1), GRANT, _flip(good, 0)),
        case("flipped byte in the box", pair(1), GRANT, _flip(good, 40)),
        case("the ephemeral key is a low-order point (all zeros)", pair(1), GRANT, bytes(32) + good[32:]),
        case("truncated to the ephemeral key", pair(1), GRANT, good[:32]),
        case("empty", pair(1), GRANT, b""),
    ]


# --- audit trails ------------------------------------------------------------------------------------------


T0 = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
POLICY = "a18ff03af0cd2f56"
FIELDSETS = {"contact.email,contact.first_name": 1, "customer_number": 2, "contact.email": 3}
AINO, DESK, CRON, GHOST = pair(11), pair(12), pair(13), pair(14)


def _fieldset(paths: str) -> int | None:
    return FIELDSETS[paths] if paths else None


class Trail:
    """Writes entries command by command, as the register does, signing each command's last entry."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.minute = 0

    def command(self, actor: str, keys: SlotKeyPair, entries: list[tuple[Any, ...]]) -> None:
        last = self.rows[-1] if self.rows else None
        link = audit.Link(last["seq"], last["at"], last["hash"], None) if last else None
        writer = audit.Writer(REGISTER_ID, actor, POLICY, link, _fieldset, signer=keys.signer())
        for action, member_id, fields, detail, state in entries:
            self.minute += 1
            row = writer.entry(T0 + timedelta(minutes=self.minute), action, member_id, fields, detail, state)
            self.rows.append({"sig": None, "mac": None, **row})
        sealed = writer.seal()
        assert sealed is not None
        self.rows[-1]["hash"], self.rows[-1]["sig"] = sealed[1], sealed[2]


def _slot(name: str, role: str, keys: SlotKeyPair, kind: str = "keyfile") -> dict[str, Any]:
    return {"officer": name, "role": role, "kind": kind, "verifier": keys.verifier.hex()}


def valid_trail() -> list[dict[str, Any]]:
    trail = Trail()
    state = bytes(range(32))
    trail.command("aino", AINO, [("init", None, (), _slot("aino", "officer", AINO, "passphrase"), bytes([1]) * 32)])
    trail.command("aino", AINO, [("officer-add", None, (), _slot("desk", "officer", DESK), bytes([2]) * 32)])
    trail.command("aino", AINO, [("officer-add", None, (), _slot("cron", "purger", CRON), bytes([3]) * 32)])
    trail.command("desk", DESK, [("enrol", MEMBER_ID, ["contact.email", "contact.first_name"], {"import": True}, state),
                                 ("enrol", "M0000000000000000", ["customer_number"], {"import": True}, bytes(32)),
                                 ("import", None, (), {"imported": 2, "invalid": 0}, None)])
    trail.command("desk", DESK, [("show", MEMBER_ID, ["contact.email", "contact.first_name"], None, None)])
    trail.command("cron", CRON, [("erase", "M0000000000000000", (), {"reason": "retention", "rule": "x"}, None),
                                 ("purge", None, (), {"erased": 1}, None)])
    trail.command("aino", AINO, [("officer-remove", None, (), {"officer": "desk", "rotate": False}, bytes([4]) * 32)])
    trail.command("aino", AINO, [("find", MEMBER_ID, ["contact.email"], None, None)])
    return trail.rows


def _hexed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (v.hex() if isinstance(v, bytes) else v) for k, v in row.items()} for row in rows]


def _trail_case(desc: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    case: dict[str, Any] = {"desc": desc, "register_id": REGISTER_ID, "fieldsets": {str(v): k for k, v in FIELDSETS.items()},
                            "entries": _hexed(rows)}
    try:
        trail = verify_chain(REGISTER_ID, [audit_tuple(row) for row in rows], {v: k for k, v in FIELDSETS.items()})
        case["head"] = trail.head.token()
    except IntegrityError as exc:
        case["error"] = exc.message
    return case


def audit_tuple(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in ("seq", "at", "actor", "action", "member_id", "fields", "policy", "detail", "state", "hash", "sig", "mac"))


def _forged_command(rows: list[dict[str, Any]], actor: str, keys: SlotKeyPair, action: str = "show") -> list[dict[str, Any]]:
    """A command appended as ``actor``, signed with ``keys``."""
    trail = Trail()
    trail.rows, trail.minute = [dict(row) for row in rows], 100
    trail.command(actor, keys, [(action, MEMBER_ID, ["contact.email"], None, None)])
    return trail.rows


def _edit(rows: list[dict[str, Any]], seq: int, **changes: Any) -> list[dict[str, Any]]:
    return [{**row, **changes} if row["seq"] == seq else dict(row) for row in rows]


def _rehashed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored hashes recomputed after an edit, as a forger who knows the format would: only a signature is left to catch it."""
    chain, out = audit.genesis(REGISTER_ID), []
    paths = {v: k for k, v in FIELDSETS.items()}
    for row in rows:
        chain = audit.sha256(chain + audit.canonical(row["seq"], row["at"], row["actor"], row["action"], row["member_id"],
                                                      paths.get(row["fields"], ""), row["policy"], row["detail"], row["state"]))
        out.append({**row, "hash": chain if row["sig"] else chain[: audit.CHECK_BYTES]})
    return out


def trail_cases() -> list[dict[str, Any]]:
    rows = valid_trail()
    without_4 = [dict(row) for row in rows if row["seq"] != 4]
    renumbered = [{**row, "seq": row["seq"] - 1 if row["seq"] > 4 else row["seq"]} for row in without_4]
    reordered = [*[dict(r) for r in rows[:4]], dict(rows[5]), dict(rows[4]), *[dict(r) for r in rows[6:]]]
    mixed = [*rows[:5], {**rows[5], "actor": "aino"}, *rows[6:]]
    return [
        _trail_case("a valid trail: init, two slots added, an import, a read, a purge by the purger, a removal", rows),
        _trail_case("an edited time (a single-entry command)", _edit(rows, 7, at=rows[6]["at"] + 60)),
        _trail_case("an edited field list inside a command of three entries", _edit(rows, 4, fields=2)),
        _trail_case("an edited row digest", _edit(rows, 4, state=bytes(32))),
        _trail_case("an edited detail (the last entry of a purger's command)", _edit(rows, 9, detail='{"erased":2}')),
        _trail_case("an edited row digest, every stored hash recomputed: the command's signature catches it",
                    _rehashed(_edit(rows, 5, state=bytes([9]) * 32))),
        _trail_case("an entry deleted", without_4),
        _trail_case("an entry deleted and the rest renumbered", renumbered),
        _trail_case("two entries swapped", reordered),
        _trail_case("a command of another slot's name inserted mid-command", mixed),
        _trail_case("the last command's signature removed", _edit(rows, 11, sig=None, hash=None)),
        _trail_case("signed by a slot that never existed", _forged_command(rows, "ghost", GHOST)),
        _trail_case("signed by a slot that had been removed", _forged_command(rows, "desk", DESK)),
        _trail_case("written as aino, signed by desk", _forged_command(rows[:7], "aino", DESK)),
        _trail_case("written as desk, signed with a key no slot has", _forged_command(rows[:7], "desk", GHOST)),
        _trail_case("a purger adding a slot", _forged_command(rows[:7], "cron", CRON, "officer-add")),
        _trail_case("an init inserted after the start", _forged_command(rows, "aino", AINO, "init")),
        _trail_case("the trail cut in the middle of a command", rows[:4]),
        _trail_case("the first entry removed", rows[1:]),
        _trail_case("an empty trail", []),
    ]


# --- what a member's boxes hold ----------------------------------------------------------------------------


PACKED_RECORD = (
    '{"customer_number":"12345678","contact":{"first_name":"Aino","last_name":"Mäkelä","email":"aino@example.fi",'
    '"phone":"+358401234567","street_address":"Hovioikeudenkatu 3","postal_code":"45100","city":"Kouvola","language":"fi"},'
    '"demographics":{"birth_year":1978,"gender":"female","household_size":3,"dwelling_type":"detached"},'
    '"electricity":{"annual_consumption_kwh":18500,"heating":"heat_pump","has_solar_panels":false,"has_electric_vehicle":true},'
    '"hobbies":["fishing","sauna"],"attitudes":{"environment":4,"price_sensitivity":5},'
    '"consents":{"email_marketing":true,"sms_marketing":false,"partner_marketing":true}}'
)
PACKED_RECEIPTS = ('[{"at":1781524800,"channel":"enrol","slot":"desk","given":{"email_marketing":"02e85b73d6862060"}},'
                   '{"at":1781611200,"channel":"officer","slot":"aino","withdrawn":{"email_marketing":"02e85b73d6862060"},'
                   '"objections":{"direct-marketing":"object"}}]')


def _raw_deflate(data: bytes, dictionary: bytes | None = None, level: int = 6) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, *([dictionary] if dictionary else []))
    return compressor.compress(data) + compressor.flush()


def packing_cases(previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = {case["desc"]: case["plaintext"] for case in previous if "text" in case}

    def valid(desc: str, tag: int, text: str) -> dict[str, Any]:
        plaintext = kept.get(desc)
        if plaintext is None or packing.unpack(bytes.fromhex(plaintext)) != text.encode():
            plaintext = packing.pack(text.encode(), tag).hex()
        return {"desc": desc, "tag": tag, "text": text, "plaintext": plaintext}

    def as_sealed(desc: str, text: str) -> dict[str, Any]:
        return {"desc": desc, "tag": None, "text": text, "plaintext": text.encode().hex()}

    def invalid(desc: str, plaintext: bytes) -> dict[str, Any]:
        return {"desc": desc, "plaintext": plaintext.hex()}

    record, receipts = packing.pack(PACKED_RECORD.encode(), packing.RECORD), packing.pack(PACKED_RECEIPTS.encode(), packing.RECEIPTS)
    bomb = _raw_deflate(b" " * (packing.LIMIT + 1), packing.DICTIONARY_1, 9)
    return [
        valid("a whole record, packed with record dictionary 1", packing.RECORD, PACKED_RECORD),
        valid("a record with none of the dictionary's values", packing.RECORD, '{"customer_number":"9876543210","hobbies":["<b>öljy</b>"]}'),
        valid("consent receipts, packed with receipts dictionary 1", packing.RECEIPTS, PACKED_RECEIPTS),
        valid("an empty list of receipts", packing.RECEIPTS, "[]"),
        as_sealed("a record sealed as JSON before packing: the plaintext is the text", '{"customer_number":"12345678","hobbies":["sauna"]}'),
        as_sealed("receipts sealed as JSON before packing", PACKED_RECEIPTS),
        invalid("empty plaintext", b""),
        invalid("tag 0x00: no such dictionary", b"\x00" + record[1:]),
        invalid("tag 0x03: no such dictionary", b"\x03" + record[1:]),
        invalid("a tag alone, no stream", record[:1]),
        invalid("the stream cut short: last byte missing", record[:-1]),
        invalid("a byte after the end of the stream", record + b"\x00"),
        invalid("the record's stream tagged with the receipts dictionary", b"\x02" + record[1:]),
        invalid("a zlib stream (header and checksum), not raw DEFLATE", b"\x01" + zlib.compress(PACKED_RECORD.encode())),
        invalid("white space before JSON: neither a tag nor JSON", b" " + PACKED_RECORD.encode()),
        invalid("one byte past the limit: 1 MiB + 1 of spaces", b"\x01" + bomb),
        invalid("a distance reaching back before the dictionary", b"\x01" + _raw_deflate(bytes(range(256)), bytes(range(256)) + b"\xff" * 3000)),
    ]


# --- checking and writing ----------------------------------------------------------------------------------


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
    for case in json.loads((HERE / "legacy.json").read_text(encoding="utf-8")):
        assert open_legacy(bytes.fromhex(case["key"]), bytes.fromhex(case["box"]), tuple(case["context"])).hex() == case["plaintext"]


def _self_check_wrap(cases: list[dict[str, Any]]) -> None:
    for case in cases:
        key, box, context = bytes.fromhex(case["key"]), bytes.fromhex(case["box"]), tuple(case["context"])
        if "plaintext" in case:
            assert unwrap(key, box, context).hex() == case["plaintext"], case["desc"]
            continue
        try:
            unwrap(key, box, context)
        except InvalidToken:
            continue
        raise AssertionError(f"invalid wrap vector opened: {case['desc']}")


def _self_check_packing(cases: list[dict[str, Any]]) -> None:
    for case in cases:
        plaintext = bytes.fromhex(case["plaintext"])
        if "text" in case:
            assert packing.unpack(plaintext) == case["text"].encode(), case["desc"]
            continue
        try:
            packing.unpack(plaintext)
        except ValueError:
            continue
        raise AssertionError(f"invalid packing vector unpacked: {case['desc']}")


def _dump(cases: list[dict[str, Any]]) -> str:
    return json.dumps(cases, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    valid, invalid = seal_cases(), invalid_cases()
    _self_check(valid, invalid)
    wrapped = wrap_cases()
    _self_check_wrap(wrapped)
    packed_file = HERE / "packing.json"
    packed = packing_cases(json.loads(packed_file.read_text(encoding="utf-8")) if packed_file.is_file() else [])
    _self_check_packing(packed)
    files = {
        HERE / "seal.json": _dump(valid),
        HERE / "invalid.json": _dump(invalid),
        HERE / "wrap.json": _dump(wrapped),
        HERE / "grant.json": _dump(grant_cases()),
        HERE / "grant-invalid.json": _dump(grant_invalid_cases()),
        HERE / "trail.json": _dump(trail_cases()),
        packed_file: _dump(packed),
    }
    if "--check" in argv:
        stale = [path.name for path, text in files.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale test vectors: {', '.join(stale)}; run python tests/vectors/generate.py", file=sys.stderr)
            return 1
        print(f"test vectors up to date: {', '.join(path.name for path in files)}")
        return 0
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    print(f"wrote {', '.join(path.name for path in files)} to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
