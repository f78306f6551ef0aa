"""The sealed member record: each member's data key, their one sealed box, their lookup digests.

A member's whole record is one box, sealed under the member's own random data
key (DEK), which is itself wrapped under the register's data key; both are
bound to the register and the member, so a box or key moved to another
member does not open (docs/crypto.md §1, §3, §4). The record's JSON, and
the consent receipts' beside it, is packed (``packing``) before it is sealed.
Lookups are keyed digests of normalised values, so a member is found without
decrypting anyone.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from json.decoder import scanstring
from datetime import date
from typing import Any

from . import crypto, packing
from .errors import IntegrityError, Refused
from .keyslots import Keyring
from .receipts import Event, decode, encode
from .record import RecordSchema

RECORD_DECODER = json.JSONDecoder()
SCAN = RECORD_DECODER.scan_once


class Vault:
    """Seals and opens member records for one register with its data and lookup keys."""

    def __init__(self, register_id: str, keys: Keyring, schema: RecordSchema) -> None:
        assert keys.data is not None and keys.lookup, "only an officer's slot holds the vault's keys"
        self.register_id = register_id
        self.schema = schema
        self._data = crypto.Sealer(keys.data)
        self._hasher = crypto.LookupHasher(keys.lookup)
        # The associated data of every member's boxes but the member id (docs/crypto.md §4), made once.
        self._dek_context = crypto.associated_data("dek", register_id)
        self._record_context = crypto.associated_data("record", register_id)

    # --- keyed digests --------------------------------------------------------------------------------------

    def digest(self, kind: str, normalised: str) -> bytes:
        return self._hasher.digest(kind, normalised)

    def lookups(self, record: dict[str, Any]) -> dict[str, bytes]:
        """The keyed digests of a record's lookup fields (email, phone, customer number)."""
        return {kind: self.digest(kind, value) for kind, value in self.schema.lookups(record).items()}

    # --- sealing and opening --------------------------------------------------------------------------------

    def new_member(self, record: dict[str, Any], applied_at: date, today: date, receipt: Event | None = None) -> dict[str, Any]:
        """A new applicant's row: plain columns, a fresh wrapped DEK, the sealed record and the receipt of its consents."""
        member_id, dek = crypto.new_member_id(), crypto.random_key()
        sealer = crypto.Sealer(dek)
        return {
            "member_id": member_id,
            "status": "applicant",
            "applied_at": applied_at.isoformat(),
            "updated_at": today.isoformat(),
            "wrapped_dek": self.wrap(member_id, dek),
            "box": _record_box(sealer, self.register_id, member_id, record),
            "receipts": _receipts_box(sealer, self.register_id, member_id, [receipt]) if receipt is not None else None,
        }

    def wrap(self, member_id: str, dek: bytes) -> bytes:
        return self._data.wrap(dek, ("dek", self.register_id, member_id))

    def reseal(self, row: dict[str, Any], record: dict[str, Any]) -> bytes:
        """A member's record sealed anew (after a rectification) under their existing DEK."""
        return seal_record(self.register_id, row["member_id"], self.dek(row), record)

    def open(self, row: dict[str, Any], sections: Iterable[str] | None = None) -> dict[str, Any]:
        """A member's record (or only ``sections``), in policy order."""
        record = self.open_stored(row["member_id"], row["wrapped_dek"], row["box"])
        wanted = record.keys() if sections is None else set(sections)
        return self.schema.ordered({name: value for name, value in record.items() if name in wanted})

    def open_stored(self, member_id: str, wrapped_dek: bytes, box: bytes | None, categories: frozenset[str] | None = None) -> dict[str, Any]:
        """A member's record as it was sealed (or only its ``categories``): for a pass over every member that
        reads a few fields (a survey's strata), with nothing done per member but opening the two boxes and
        reading the JSON as far as the last category wanted."""
        try:
            dek = self._data.unwrap_bound(wrapped_dek, crypto.extend_associated_data(self._dek_context, member_id))
            plaintext = crypto.Sealer(dek).open_bound(box or b"", crypto.extend_associated_data(self._record_context, member_id))
            text = packing.unpack(plaintext).decode()
            record = read_record(text) if categories is None else read_categories(text, categories)
        except (crypto.InvalidToken, UnicodeDecodeError, ValueError, IndexError):
            raise tampered(member_id) from None
        return record

    def receipts(self, row: dict[str, Any]) -> list[Event]:
        """A member's consent receipts, oldest first (none before the first)."""
        if row.get("receipts") is None:
            return []
        member_id = row["member_id"]
        try:
            return decode(packing.unpack(crypto.open_sealed(self.dek(row), row["receipts"], receipts_context(self.register_id, member_id))))
        except (crypto.InvalidToken, ValueError):
            raise IntegrityError(f"the consent receipts of {member_id} do not open: they were changed, moved or damaged") from None

    def reseal_receipts(self, row: dict[str, Any], events: list[Event]) -> bytes:
        """A member's receipts sealed anew (one more added) under their existing DEK."""
        return seal_receipts(self.register_id, row["member_id"], self.dek(row), events)

    # --- whom a request is about, when it is not a member -----------------------------------------------------

    def seal_subject(self, request_id: int, subject: dict[str, str]) -> bytes:
        """The person a data-subject request names (a lookup value or text), sealed under the data key,
        bound to this register and request (docs/crypto.md §4)."""
        plaintext = json.dumps(subject, ensure_ascii=False).encode()
        return self._data.seal(plaintext, ("request-subject", self.register_id, str(request_id)))

    def open_subject(self, request_id: int, box: bytes) -> dict[str, str]:
        try:
            return dict(json.loads(self._data.open(box, ("request-subject", self.register_id, str(request_id)))))
        except crypto.InvalidToken:
            raise IntegrityError(f"whom request {request_id} is about does not open: it was changed, moved or damaged") from None

    def dek(self, row: dict[str, Any]) -> bytes:
        try:
            return self._data.unwrap(row["wrapped_dek"], ("dek", self.register_id, row["member_id"]))
        except crypto.InvalidToken:
            raise tampered(row["member_id"]) from None


def read_record(text: str) -> dict[str, Any]:
    """A record as sealed: one JSON object, nothing around it (ValueError otherwise)."""
    record, end = RECORD_DECODER.raw_decode(text)
    if not isinstance(record, dict) or end != len(text):
        raise ValueError("not a record")
    return record


def read_categories(text: str, wanted: frozenset[str]) -> dict[str, Any]:
    """The ``wanted`` categories of a record as ``seal_record`` writes it (compact JSON, categories as keys), read
    key by key with the JSON scanner and no further than the last one wanted; anything else is read whole."""
    if not text.startswith('{"'):
        return {name: value for name, value in read_record(text).items() if name in wanted}
    found: dict[str, Any] = {}
    index = 1
    while len(found) < len(wanted):
        if text[index] != '"':
            raise ValueError("not a record")
        key, index = scanstring(text, index + 1)
        if text[index] != ":":
            raise ValueError("not a record")
        value, index = SCAN(text, index + 1)
        if key in wanted:
            found[key] = value
        if text[index] == "}":
            break
        if text[index] != ",":
            raise ValueError("not a record")
        index += 1
    return found


def record_context(register_id: str, member_id: str) -> tuple[str, ...]:
    return ("record", register_id, member_id)


def receipts_context(register_id: str, member_id: str) -> tuple[str, ...]:
    return ("receipts", register_id, member_id)


def seal_receipts(register_id: str, member_id: str, dek: bytes, events: list[Event]) -> bytes:
    """A member's consent receipts: one box of their own under the member's DEK, bound to the member, packed."""
    return _receipts_box(crypto.Sealer(dek), register_id, member_id, events)


def seal_record(register_id: str, member_id: str, dek: bytes, record: dict[str, Any]) -> bytes:
    """One box for the whole record: compact JSON, packed with the record dictionary, padded to 32 bytes inside the box."""
    return _record_box(crypto.Sealer(dek), register_id, member_id, record)


RECORD_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # made once: json.dumps with options makes one a call


def _record_box(sealer: crypto.Sealer, register_id: str, member_id: str, record: dict[str, Any]) -> bytes:
    text = RECORD_JSON.encode(record).encode()
    return sealer.seal(_packed(text, packing.RECORD, "the record", member_id), record_context(register_id, member_id))


def _receipts_box(sealer: crypto.Sealer, register_id: str, member_id: str, events: list[Event]) -> bytes:
    text = encode(events)
    packed = _packed_short_receipts(text) if len(text) <= SHORT_RECEIPTS else _packed(text, packing.RECEIPTS, "the consent receipts", member_id)
    return sealer.seal(packed, receipts_context(register_id, member_id))


SHORT_RECEIPTS = 512  # bytes: one receipt or two


@functools.lru_cache(maxsize=128)
def _packed_short_receipts(text: bytes) -> bytes:
    """A short receipts list packed, remembered: an import's new members' receipts repeat (one instant, channel and
    slot, a few sets of consents), so each is packed once; packing is deterministic, the box's nonce is not."""
    return packing.pack(text, packing.RECEIPTS)


def rekeyed_boxes(register_id: str, member_id: str, keys: tuple[bytes, bytes], record: bytes | None, receipts: bytes | None) -> tuple[bytes, bytes | None]:
    """A member's record and receipts boxes, opened with their DEK and sealed under a new one (``keys``: old, new), packed as
    ``seal_record`` and ``seal_receipts`` pack now (InvalidToken or ValueError when a box does not open)."""
    old, new = crypto.Sealer(keys[0]), crypto.Sealer(keys[1])
    box_context, receipts_box_context = record_context(register_id, member_id), receipts_context(register_id, member_id)
    box = new.seal(packing.repack(old.open(record or b"", box_context), packing.RECORD), box_context)
    if receipts is None:
        return box, None
    return box, new.seal(packing.repack(old.open(receipts, receipts_box_context), packing.RECEIPTS), receipts_box_context)


def _packed(text: bytes, tag: int, what: str, member_id: str) -> bytes:
    try:
        return packing.pack(text, tag)
    except packing.TooLong:
        raise Refused(f"{what} of {member_id} would be longer than {packing.LIMIT:,} bytes, the most a sealed box holds") from None


def tampered(member_id: str) -> IntegrityError:
    return IntegrityError(f"the record of {member_id} does not open: it was changed, moved or damaged")
