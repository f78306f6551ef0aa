"""The audit trail: a SHA-256 hash chain of entries, each command's last entry signed by its slot.

An entry never holds a personal value: who (the slot), when, what action,
which member, which field names, under which policy, and for an entry that
changes a member or the slot table, a digest of the row as it now stands.
Each entry's hash covers the hash before it, so an edited, deleted or
reordered entry breaks the chain there; the last entry a transaction writes
carries the acting slot's Ed25519 signature over the chain's hash, so no one
without that slot's key can write an entry in its name. ``audit_verify``
checks a trail with no key at all. The format is in docs/crypto.md §6.

A register made by format 1 keeps its old entries, each with the HMAC it was
chained with; they are checked once, with the old audit key, when an officer
upgrades the register, and the upgrade's signature covers them from then on.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .crypto import associated_data, mac, sha256, sha256_hex
from .crypto_pk import Signer
from .errors import IntegrityError

ENTRY_FIELDS = ("seq", "at", "actor", "action", "member_id", "fields", "policy_hash", "detail")
HASH_BYTES = 32
CHECK_BYTES = 8  # every entry keeps its chain hash's first bytes, so a verifier names the very entry edited
ROW_EXCLUDED = frozenset({"wrapped_dek", "lookup_digests"})  # re-written by key rotation: not the member's state

# The trail's state index keys on a member id's first characters: "M" and 8 random ones (40 bits).
STATE_PREFIX = 9


@dataclass(frozen=True)
class Head:
    """The trail's head: an entry's number and chain hash, kept outside the file to catch a rollback."""

    seq: int
    hash: str

    def token(self) -> str:
        return f"{self.seq}-{self.hash}"

    @classmethod
    def parse(cls, token: str) -> Head:
        """A head token as ``audit head`` prints it; ValueError for anything else."""
        match = re.fullmatch(r"([0-9]{1,18})-([0-9a-f]{64})", token.strip())
        if match is None:
            raise ValueError("not an audit head token")
        return cls(int(match[1]), match[2])


@dataclass(frozen=True)
class Link:
    """What the next entry chains to: the last entry's number, hash (on signed entries) and format-1 MAC."""

    seq: int
    at: int
    hash: bytes | None
    mac: bytes | None


def genesis(register_id: str) -> bytes:
    return sha256(associated_data("audit genesis", register_id))


def canonical(seq: int, at: int, actor: str, action: str, member_id: str | None, paths: str,
              policy: bytes, detail: str | None, state: bytes | None) -> bytes:
    """An entry's bytes in the chain: its parts, one per line.

    No part can hold a line feed (names, actions, ids and field paths are
    restricted; ``detail`` is ASCII-escaped JSON), so the encoding is injective;
    an absent member or detail is empty, so an empty one is refused.
    """
    if member_id == "" or detail == "":
        raise ValueError("an empty member id or detail: absent ones are NULL")
    return "\n".join((str(seq), str(at), actor, action, "" if member_id is None else member_id, paths, policy.hex(),
                      "" if detail is None else detail, "" if state is None else state.hex())).encode()


def signed_message(register_id: str, seq: int, chain_hash: bytes) -> bytes:
    return associated_data("audit head", register_id, str(seq), chain_hash)


def compact_detail(detail: dict[str, Any] | None) -> str | None:
    return json.dumps(detail, sort_keys=True, ensure_ascii=True, separators=(",", ":")) if detail else None


# --- what the trail commits to -----------------------------------------------------------------------------


def _row_lines(row: dict[str, Any], excluded: frozenset[str] = frozenset()) -> str:
    lines = []
    for name in sorted(row):
        value = row[name]
        if value is None or name in excluded:
            continue
        lines.append(f"{name}={sha256(value).hex() if isinstance(value, bytes) else value}")
    return "\n".join(lines)


def member_digest(row: dict[str, Any]) -> bytes:
    """A digest of a member's stored row: status, dates, flags and the box (not the wrapped key or lookups)."""
    lines = [f"{name}={sha256(value).hex() if isinstance(value, bytes) else value}"
             for name in _digested_columns(tuple(row)) if (value := row[name]) is not None]
    return sha256(b"kss-panel member\n" + "\n".join(lines).encode())


@functools.lru_cache(maxsize=16)
def _digested_columns(columns: tuple[str, ...]) -> tuple[str, ...]:
    """The columns a member digest covers, in name order (the same few column lists come by, row after row)."""
    return tuple(sorted(name for name in columns if name not in ROW_EXCLUDED))


def member_digester(columns: list[str]) -> Callable[[tuple[Any, ...]], bytes]:
    """``member_digest`` for rows given as tuples of ``columns`` (the columns sorted once, not per row)."""
    # The hot loop of a pass that checks every member (a disclosure, ``audit verify``): each line's "name=" made once.
    order = [(f"{name}=", columns.index(name)) for name in sorted(columns) if name not in ROW_EXCLUDED]

    def digest(row: tuple[Any, ...]) -> bytes:
        lines = []
        for prefix, index in order:
            value = row[index]
            if value is not None:
                lines.append(prefix + (sha256_hex(value) if isinstance(value, bytes) else str(value)))
        return sha256(b"kss-panel member\n" + "\n".join(lines).encode())

    return digest


def slots_digest(rows: Iterable[dict[str, Any]]) -> bytes:
    """A digest of the whole slot table: every column of every row, in name order."""
    body = "\n\n".join(_row_lines(row) for row in sorted(rows, key=lambda row: str(row["name"])))
    return sha256(b"kss-panel slots\n" + body.encode())


# --- format 1 ----------------------------------------------------------------------------------------------


def legacy_genesis(audit_key: bytes, register_id: str) -> bytes:
    return mac(audit_key, b"kss-panel audit genesis\x00" + register_id.encode())


def legacy_mac(audit_key: bytes, previous: bytes, seq: int, at: int, actor: str, action: str, member_id: str | None,
               paths: str, policy: bytes, detail: str | None) -> bytes:
    """Format 1's HMAC chain, recomputed from an entry as format 2 stores it."""
    entry = [seq, datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds"), actor, action, member_id,
             paths.split(",") if paths else [], policy.hex(), json.loads(detail) if detail else {}]
    text = json.dumps(entry, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return mac(audit_key, previous + text.encode())


# --- writing -----------------------------------------------------------------------------------------------


class Writer:
    """Writes the entries of one actor in one write transaction, each chained to the one before.

    Start it from the trail's last entry inside the transaction; ``seal`` at
    commit signs the last entry written. With ``legacy_key`` (a purger on a
    register not yet upgraded) entries are chained with format 1's HMAC and
    signed by no one: the upgrade checks and covers them.
    """

    def __init__(self, register_id: str, actor: str, policy_hash: str, last: Link | None,
                 fieldset: Callable[[str], int | None], *, signer: Signer | None = None, legacy_key: bytes | None = None) -> None:
        self._register_id = register_id
        self._actor = actor
        self._policy = bytes.fromhex(policy_hash)
        self._fieldset = fieldset
        self._signer = signer
        self._legacy_key = legacy_key
        if last is not None and (last.mac is None if legacy_key else last.hash is None or len(last.hash) != HASH_BYTES):
            raise IntegrityError(f"audit entry {last.seq} is not signed: the trail was cut or edited after it",
                                 hints=("run: kss-panel audit verify",))
        self._seq = last.seq if last else 0
        self.last_at = last.at if last else None
        self._hash = (last.hash if last else genesis(register_id)) if legacy_key is None else b""
        self._mac = (last.mac if last else legacy_genesis(legacy_key, register_id)) if legacy_key else b""
        self.written = 0

    def entry(self, now: datetime, action: str, member_id: str | None = None, fields: Iterable[str] = (),
              detail: dict[str, Any] | None = None, state: bytes | None = None) -> dict[str, Any]:
        """The next entry, as a row to insert: who did what to which member's fields, never a value."""
        return self.compact_entry(int(now.timestamp()), action, member_id, ",".join(fields), compact_detail(detail), state)

    def compact_entry(self, at: int, action: str, member_id: str | None, paths: str, text: str | None, state: bytes | None) -> dict[str, Any]:
        """``entry`` from the parts as the trail stores them: Unix seconds, comma-joined field names, compact detail."""
        self._seq += 1
        row = {"seq": self._seq, "at": at, "actor": self._actor, "action": action, "member_id": member_id,
               "fields": self._fieldset(paths), "policy": self._policy, "detail": text, "state": state}
        if self._legacy_key is not None:
            self._mac = legacy_mac(self._legacy_key, self._mac, self._seq, at, self._actor, action, member_id, paths, self._policy, text)
            row["mac"] = self._mac
        else:
            self._hash = sha256(self._hash + canonical(self._seq, at, self._actor, action, member_id, paths, self._policy, text, state))
            row["hash"] = self._hash[:CHECK_BYTES]
        self.last_at = at
        self.written += 1
        return row

    def seal(self) -> tuple[int, bytes, bytes] | None:
        """(seq, chain hash, signature) for the last entry written, or None (nothing written, or format 1)."""
        if not self.written or self._signer is None:
            return None
        self.written = 0
        return self._seq, self._hash, self._signer.sign(signed_message(self._register_id, self._seq, self._hash))
