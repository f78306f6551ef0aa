"""The audit trail: an HMAC chain of entries that never hold a personal value.

Entry n's MAC covers entry n-1's MAC and entry n's canonical encoding, under
the register's audit key, so an edited, deleted or reordered entry breaks the
chain at that point. Truncation at the end leaves a valid shorter chain: that
is what the head, kept outside the file, is for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .crypto import mac, mac_equal
from .errors import IntegrityError

ENTRY_FIELDS = ("seq", "at", "actor", "action", "member_id", "fields", "policy_hash", "detail")


@dataclass(frozen=True)
class Head:
    seq: int
    mac: str

    def token(self) -> str:
        return f"{self.seq}-{self.mac}"

    @classmethod
    def parse(cls, token: str) -> Head:
        """A head token as ``audit head`` prints it; ValueError for anything else."""
        match = re.fullmatch(r"([0-9]{1,18})-([0-9a-f]{64})", token.strip())
        if match is None:
            raise ValueError("not an audit head token")
        return cls(int(match[1]), match[2])


def genesis(audit_key: bytes, register_id: str) -> str:
    return mac(audit_key, b"kss-panel audit genesis\x00" + register_id.encode()).hex()


def canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps([entry[k] for k in ENTRY_FIELDS], sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode()


def chain_mac(audit_key: bytes, previous_mac: str, entry: dict[str, Any]) -> str:
    return mac(audit_key, bytes.fromhex(previous_mac) + canonical(entry)).hex()


def seal_entry(audit_key: bytes, register_id: str, last: dict[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any]:
    """Number and MAC a new entry that follows ``last`` (None for the first)."""
    seq = (last["seq"] if last else 0) + 1
    previous = last["mac"] if last else genesis(audit_key, register_id)
    numbered = {**entry, "seq": seq}
    return {**numbered, "mac": chain_mac(audit_key, previous, numbered)}


class Writer:
    """Writes the entries of one actor under one policy, each chained to the one before.

    Start it from the trail's last entry inside the write transaction the
    entries record; every path (a single command, an import's thousands of
    entries) seals its entries here.
    """

    def __init__(self, audit_key: bytes, register_id: str, actor: str, policy_hash: str, last: dict[str, Any] | None) -> None:
        self._key = audit_key
        self._register_id = register_id
        self._actor = actor
        self._policy_hash = policy_hash
        self._last = last

    def entry(
        self,
        now: datetime,
        action: str,
        member_id: str | None = None,
        fields: Iterable[str] = (),
        detail: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The next sealed entry: who did what to which member's fields, never a value."""
        entry = {
            "at": now.astimezone(UTC).isoformat(timespec="seconds"),
            "actor": self._actor,
            "action": action,
            "member_id": member_id,
            "fields": list(fields),
            "policy_hash": self._policy_hash,
            "detail": detail or {},
        }
        self._last = seal_entry(self._key, self._register_id, self._last, entry)
        return self._last


def verify(audit_key: bytes, register_id: str, rows: Iterable[dict[str, Any]], head: Head | None = None) -> Head:
    """Check the whole chain (and that it reaches ``head``); return its head."""
    previous = genesis(audit_key, register_id)
    expected_seq = 1
    last: Head | None = None
    head_seen = head is None
    for row in rows:
        if row["seq"] != expected_seq:
            raise IntegrityError(f"audit entry {expected_seq} is missing or out of order (found {row['seq']})")
        try:
            computed = chain_mac(audit_key, previous, row)
        except (TypeError, ValueError):
            raise IntegrityError(f"audit entry {row['seq']} is malformed") from None
        if not mac_equal(bytes.fromhex(computed), _hex(row)):
            raise IntegrityError(f"audit entry {row['seq']} does not verify: it was edited, deleted or reordered")
        if head is not None and row["seq"] == head.seq:
            if row["mac"] != head.mac:
                raise IntegrityError(f"audit entry {row['seq']} differs from the head kept outside the file")
            head_seen = True
        previous = row["mac"]
        last = Head(row["seq"], row["mac"])
        expected_seq += 1
    if last is None:
        raise IntegrityError("the audit trail is empty: the register's entries were removed")
    if not head_seen:
        assert head is not None
        raise IntegrityError(
            f"audit entry {last.seq + 1} is missing: the trail ends at entry {last.seq} but the head is entry {head.seq}"
            " (truncated or rolled back)"
        )
    return last


def _hex(row: dict[str, Any]) -> bytes:
    try:
        return bytes.fromhex(row["mac"])
    except (TypeError, ValueError):
        raise IntegrityError(f"audit entry {row['seq']} is malformed") from None
