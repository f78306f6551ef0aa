"""The sealed member record: each member's data key, their sealed sections, their lookups.

A member's record is sealed per category under the member's own random data
key (DEK), which is itself sealed under the register's data key; each box is
bound to the register, the member and its section, so a box moved anywhere
else does not open (docs/crypto.md §1, §3, §4). Lookups are keyed hashes of
normalised values, so a member is found without decrypting anyone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from . import crypto
from .errors import IntegrityError
from .keyslots import Keyring
from .record import RecordSchema


class Vault:
    """Seals and opens member records for one register with its data and lookup keys."""

    def __init__(self, register_id: str, keys: Keyring, schema: RecordSchema) -> None:
        assert keys.data is not None and keys.lookup is not None, "a purger slot has no vault"
        self.register_id = register_id
        self.schema = schema
        self._data_key = keys.data
        self._hasher = crypto.LookupHasher(keys.lookup)

    # --- keyed hashes ---------------------------------------------------------------------------------------

    def digest(self, kind: str, normalised: str) -> str:
        return self._hasher.digest(kind, normalised)

    def lookups(self, record: dict[str, Any]) -> dict[str, str]:
        """The keyed hashes of a record's lookup fields (email, phone, customer number)."""
        return {kind: self.digest(kind, value) for kind, value in self.schema.lookups(record).items()}

    # --- sealing and opening --------------------------------------------------------------------------------

    def new_member(self, record: dict[str, Any], applied_at: date, today: date) -> tuple[dict[str, Any], dict[str, bytes]]:
        """A new applicant's plain row (with a fresh wrapped DEK) and their sealed sections."""
        member_id, dek = crypto.new_member_id(), crypto.random_key()
        row = {
            "member_id": member_id,
            "status": "applicant",
            "applied_at": applied_at.isoformat(),
            "updated_at": today.isoformat(),
            "wrapped_dek": crypto.seal(self._data_key, dek, ("dek", self.register_id, member_id)),
        }
        return row, self._seal(member_id, dek, record)

    def reseal(self, row: dict[str, Any], record: dict[str, Any]) -> dict[str, bytes]:
        """A member's sections sealed anew (after a rectification) under their existing DEK."""
        return self._seal(row["member_id"], self._dek(row), record)

    def open(self, row: dict[str, Any], boxes: dict[str, bytes], sections: Iterable[str] | None = None) -> dict[str, Any]:
        """A member's record (or only ``sections``), in policy order."""
        member_id = row["member_id"]
        dek = self._dek(row)
        wanted = boxes.keys() if sections is None else [s for s in sections if s in boxes]
        try:
            return self.schema.ordered({
                section: json.loads(crypto.open_sealed(dek, boxes[section], ("section", self.register_id, member_id, section)))
                for section in wanted
            })
        except crypto.InvalidToken:
            raise _tampered(member_id) from None

    # --- whom a request is about, when it is not a member -----------------------------------------------------

    def seal_subject(self, request_id: int, subject: dict[str, str]) -> bytes:
        """The person a data-subject request names (a lookup value or text), sealed under the data key,
        bound to this register and request (docs/crypto.md §4)."""
        plaintext = json.dumps(subject, ensure_ascii=False).encode()
        return crypto.seal(self._data_key, plaintext, ("request-subject", self.register_id, str(request_id)))

    def open_subject(self, request_id: int, box: bytes) -> dict[str, str]:
        try:
            return dict(json.loads(crypto.open_sealed(self._data_key, box, ("request-subject", self.register_id, str(request_id)))))
        except crypto.InvalidToken:
            raise IntegrityError(f"whom request {request_id} is about does not open: it was changed, moved or damaged") from None

    def _seal(self, member_id: str, dek: bytes, record: dict[str, Any]) -> dict[str, bytes]:
        plaintexts = {section: json.dumps(value, ensure_ascii=False).encode() for section, value in record.items()}
        return crypto.seal_many(dek, plaintexts, ("section", self.register_id, member_id))

    def _dek(self, row: dict[str, Any]) -> bytes:
        try:
            return crypto.open_sealed(self._data_key, row["wrapped_dek"], ("dek", self.register_id, row["member_id"]))
        except crypto.InvalidToken:
            raise _tampered(row["member_id"]) from None


def _tampered(member_id: str) -> IntegrityError:
    return IntegrityError(f"the record of {member_id} does not open: it was changed, moved or damaged")
