"""Verifying the audit trail with no key: the hash chain, every command's signature, the slots' history, the rows.

The trail names its own signers: ``init`` (or a format-1 register's upgrade)
brings the first slot's public key, and every entry that adds, upgrades or
removes a slot is signed by an officer who already held one. A walk from the
first entry therefore knows, at every entry, which slots exist and which key
each signs with, and so names the first entry that was edited, deleted,
reordered, signed by a slot that did not exist or had been removed, or
signed by the wrong slot. Then it checks the register's rows against the
trail: every member's row against its last entry, every slot against the
slot table the trail last committed to.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .audit import HASH_BYTES, STATE_PREFIX, Head, genesis, legacy_genesis, legacy_mac, member_digester, signed_message, slots_digest
from .crypto import mac_equal
from .audit_signatures import Check, SignatureChecks
from .crypto_pk import Verifiers
from .errors import AuthError, IntegrityError

ANCHORS = ("init", "format-upgrade")
OFFICER_ONLY = ("officer-add", "officer-remove", "key-rotate")
CHECKPOINT = "checkpoint"  # the trail was pruned up to an entry: see Checkpoint
TrailRow = tuple[int, int, str, str, str | None, int | None, bytes, str | None, bytes | None, bytes | None, bytes | None, bytes | None]


@dataclass(frozen=True)
class Checkpoint:
    """Where a pruned trail starts: the entry that says entries 1 to ``pruned_through`` were pruned.

    It carries the chain hash after entry ``pruned_through`` (the walk starts
    from it instead of the genesis) and the slots as they stood there; its own
    signature, where it stands in the trail, covers both.
    """

    seq: int
    pruned_through: int
    previous: bytes
    slots: dict[str, tuple[str, bytes]]
    removed: dict[str, int]

    @classmethod
    def parse(cls, seq: int, detail: str | None) -> Checkpoint:
        try:
            raw = json.loads(detail or "")
            return cls(
                seq, int(raw["pruned_through"]), bytes.fromhex(raw["previous"]),
                {name: (slot["role"], bytes.fromhex(slot["verifier"])) for name, slot in raw["slots"].items()},
                {name: int(at) for name, at in raw["removed"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise IntegrityError(f"audit entry {seq} is malformed") from None

    def detail(self) -> dict[str, Any]:
        return {"pruned_through": self.pruned_through, "previous": self.previous.hex(),
                "slots": {name: {"role": role, "verifier": key.hex()} for name, (role, key) in sorted(self.slots.items())},
                "removed": dict(sorted(self.removed.items()))}


@dataclass
class SlotHistory:
    """Which slots the trail says exist, with their roles and verification keys."""

    keys: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)

    def apply(self, seq: int, actor: str, action: str, detail: dict[str, Any]) -> None:
        name = detail.get("officer")
        if action in OFFICER_ONLY and self.keys[actor][0] != "officer":
            raise IntegrityError(f"audit entry {seq} ({action}) is signed by {actor!r}, a {self.keys[actor][0]} slot, which may not do it")
        if action == CHECKPOINT and self.keys[actor][0] not in ("officer", "purger"):
            raise IntegrityError(f"audit entry {seq} (checkpoint) is signed by {actor!r}, a {self.keys[actor][0]} slot, which may not prune the trail")
        if action == "officer-add":
            self.keys[name] = (detail["role"], bytes.fromhex(detail["verifier"]))
            self.removed.pop(name, None)
        elif action == "officer-remove":
            self.keys.pop(name, None)
            self.removed[name] = seq
        elif action == "slot-upgrade":
            if name != actor:
                raise IntegrityError(f"audit entry {seq} upgrades slot {name!r} but is signed by {actor!r}")
            self.keys[name] = (self.keys[name][0], bytes.fromhex(detail["verifier"]))

    def anchor(self, action: str, detail: dict[str, Any], actor: str) -> None:
        if action == "init":
            self.keys[actor] = (detail["role"], bytes.fromhex(detail["verifier"]))
        else:
            self.keys.update({name: (slot["role"], bytes.fromhex(slot["verifier"])) for name, slot in detail["slots"].items()})


@dataclass
class Trail:
    """What a verified walk found: the head, each member's last committed row, erasures, the slots."""

    head: Head
    states: dict[str, tuple[bytes, int]] | None  # member id -> (state, seq) of its last entry; None when not kept
    erased: dict[str, int]  # member id -> the seq of its erasure
    slots: SlotHistory
    slots_state: tuple[bytes, int] | None
    upgraded: bool
    checkpoint: Checkpoint | None = None


class _Walk:
    def __init__(self, register_id: str, fieldsets: dict[int, str], legacy_key: bytes | None, states: bool, parallel_from: int,
                 early: Sequence[tuple[int, bytes, bytes, bytes]] = ()) -> None:
        self.register_id = register_id
        self.fieldsets = fieldsets
        self.legacy_key = legacy_key
        self.hash = genesis(register_id)
        self.mac = legacy_genesis(legacy_key, register_id) if legacy_key else b""
        self.slots = SlotHistory()
        self.verifiers = Verifiers()
        self.checks = SignatureChecks(parallel_from, early)
        self.at = 0  # the entry the walk stopped at
        self.anchored = False
        self.segment: list[tuple[int, str, dict[str, Any]]] = []
        self.segment_start = 0
        self.actor: str | None = None
        self.states: dict[str, tuple[bytes, int]] | None = {} if states else None
        self.erased: dict[str, int] = {}
        self.slots_state: tuple[bytes, int] | None = None

    def start_from(self, checkpoint: Checkpoint) -> None:
        """A pruned trail: the chain goes on from the checkpoint's hash, with the slots it names."""
        self.hash = checkpoint.previous
        self.slots.keys = dict(checkpoint.slots)
        self.slots.removed = dict(checkpoint.removed)
        self.anchored = True

    def legacy(self, row: TrailRow) -> None:
        seq, at, actor, action, member_id, _, policy, detail, _, _, _, stored_mac = row
        if self.anchored:
            raise IntegrityError(f"audit entry {seq} is a format-1 entry after the register was upgraded: it was inserted")
        if self.legacy_key is not None:
            self.mac = legacy_mac(self.legacy_key, self.mac, seq, at, actor, action, member_id, self.paths(row), policy, detail)
            if not mac_equal(self.mac, stored_mac or b""):
                raise IntegrityError(f"audit entry {seq} does not verify: it was edited, deleted or reordered")
        if action == "erase" and member_id:
            self.erased[member_id] = seq

    def paths(self, row: TrailRow) -> str:
        if row[5] is None:
            return ""
        try:
            return self.fieldsets[row[5]]
        except (KeyError, TypeError):
            raise IntegrityError(f"audit entry {row[0]} names field list {row[5]!r}, which does not exist") from None

    def signed(self, row: TrailRow) -> None:
        seq, at, actor, action, member_id, _, policy, detail, state, stored_hash, sig, _ = row
        if self.actor is None:
            self.actor, self.segment_start = actor, seq
        elif actor != self.actor:
            raise IntegrityError(f"audit entry {seq} is written as {actor!r} inside a command of {self.actor!r}: it was inserted")
        if action in SLOT_ACTIONS:
            self._slot_entry(seq, actor, action, detail)
        if member_id:
            if action == "erase":
                self.erased[member_id] = seq
                if self.states is not None:
                    self.states.pop(member_id, None)
            elif state is not None and self.states is not None:
                self.states[member_id] = (state, seq)
        elif state is not None:
            self.slots_state = (state, seq)
        if sig is not None:
            self._check_signature(seq, actor, stored_hash, sig)

    def _slot_entry(self, seq: int, actor: str, action: str, detail: str | None) -> None:
        try:
            parsed = json.loads(detail or "{}")
            if action in ANCHORS:
                if self.anchored or seq != self.segment_start:
                    raise IntegrityError(f"audit entry {seq} ({action}) is not where a trail starts: it was inserted")
                self.slots.anchor(action, parsed, actor)
                self.anchored = True
            else:
                self.segment.append((seq, action, parsed))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise IntegrityError(f"audit entry {seq} is malformed") from None

    def _check_signature(self, seq: int, actor: str, stored_hash: bytes | None, sig: bytes) -> None:
        if not self.anchored:
            raise IntegrityError(f"audit entry {seq} is signed before any slot's key is in the trail: it was inserted")
        where = f"audit entry {seq}" if self.segment_start == seq else f"audit entries {self.segment_start} to {seq} (one command)"
        if actor not in self.slots.keys:
            if actor in self.slots.removed:
                raise IntegrityError(f"audit entry {seq} is signed by {actor!r}, a slot that had been removed (entry {self.slots.removed[actor]})")
            raise IntegrityError(f"audit entry {seq} is signed by {actor!r}, a slot that did not exist")
        message = signed_message(self.register_id, seq, self.hash)
        failed = self.checks.add(Check(seq, self.slots.keys[actor][1], sig, message, (actor, where, dict(self.slots.keys))))
        if failed is not None:
            self.explain(failed)
        if stored_hash is None or len(stored_hash) != HASH_BYTES:
            raise IntegrityError(f"audit entry {seq} is malformed: a signed entry keeps its whole chain hash")
        for entry_seq, action, parsed in self.segment:
            try:
                self.slots.apply(entry_seq, actor, action, parsed)
            except (KeyError, TypeError, ValueError):
                raise IntegrityError(f"audit entry {entry_seq} is malformed") from None
        self.segment, self.actor = [], None


    def explain(self, check: Check) -> NoReturn:
        """Why a signature did not verify: another slot made it, or what it signs was changed."""
        actor, where, keys = check.context
        signer = next((name for name, (_, key) in keys.items() if self.verifiers.verify(key, check.signature, check.message)), None)
        if signer is not None:
            raise IntegrityError(f"audit entry {check.seq} is signed by {signer!r}, not by {actor!r} who wrote it")
        verb = "was edited, deleted or reordered" if where.startswith("audit entry ") else "hold an edited, deleted or reordered entry"
        raise IntegrityError(f"{where} {verb}: the signature does not verify")


SLOT_ACTIONS = frozenset((*ANCHORS, *OFFICER_ONLY, "slot-upgrade", CHECKPOINT))
NOT_INLINE = SLOT_ACTIONS | {"erase"}  # actions the walk's hot loop hands to ``_Walk.signed``


def verify_chain(register_id: str, rows: Iterable[TrailRow], fieldsets: dict[int, str], *, legacy_key: bytes | None = None,
                 head: Head | None = None, checkpoint: Checkpoint | None = None, states: bool = True, parallel_from: int = 512,
                 early: Sequence[tuple[int, bytes, bytes, bytes]] = ()) -> Trail:
    """Walk the whole trail (no key needed once the register is format 2); IntegrityError naming the first bad entry.

    A pruned trail is walked from its ``checkpoint``. With ``states``, the
    trail keeps each member's last committed row digest (memory in the number
    of members); ``check_members`` does without. Past ``parallel_from``
    signatures, a second process verifies them (``audit_signatures``), and
    ``early`` signatures (seq, key, signature, message) from before the walk
    starts: the first problem named is the same either way.
    """
    walk = _Walk(register_id, fieldsets, legacy_key, states, parallel_from, early)
    if checkpoint is not None:
        walk.start_from(checkpoint)
    first = checkpoint.pruned_through + 1 if checkpoint is not None else 1
    try:
        last, head_seen = _entries(walk, rows, first, head)
        failed = walk.checks.first_failure()
    except IntegrityError:
        failed = walk.checks.first_failure(before=walk.at + 1)  # a signature before the problem fails first
        if failed is None:
            raise
    finally:
        walk.checks.close()
    if failed is not None:
        walk.explain(failed)
    if checkpoint is not None and (last is None or last < checkpoint.seq):
        raise IntegrityError(f"audit entry {checkpoint.seq}, the checkpoint that says where the trail starts, is missing")
    if head is not None and checkpoint is not None and head.seq <= checkpoint.pruned_through:
        head_seen = True  # an old head: its entry was pruned, as the checkpoint, signed after it, says
    return _finish(walk, last, head, head_seen, checkpoint)


def _entries(walk: _Walk, rows: Iterable[TrailRow], expected: int, head: Head | None) -> tuple[int | None, bool]:
    """The walk's hot loop (hundreds of thousands of entries): the common entry (no signature, no slot action)
    is handled inline; the rest goes to ``_Walk``. The encoding is ``audit.canonical``'s."""
    sha, kept, fieldsets, own = hashlib.sha256, walk.states, walk.fieldsets, walk.actor
    first, head_seen, chain, head_seq = expected, head is None, walk.hash, -1 if head is None else head.seq
    try:
        for row in rows:
            seq, at, actor, action, member_id, fields, policy, detail, state, stored, sig, mac = row
            if seq != expected:
                raise IntegrityError(f"audit entry {expected} is missing or out of order (found {seq})")
            try:
                if member_id == "" or detail == "":
                    raise ValueError
                text = "\n".join((str(seq), str(at), actor, action, "" if member_id is None else member_id,
                                  "" if fields is None else fieldsets[fields], policy.hex(), "" if detail is None else detail,
                                  "" if state is None else state.hex()))
                chain = sha(chain + text.encode()).digest()
            except (TypeError, ValueError, AttributeError, KeyError):
                raise IntegrityError(f"audit entry {seq} is malformed") from None
            if stored is not None and stored != chain[: len(stored)]:
                raise IntegrityError(f"audit entry {seq} was edited, deleted or reordered: its hash does not follow from the entries before it")
            if sig is None and mac is None and actor == own and member_id and action not in NOT_INLINE:
                if state is not None and kept is not None:
                    kept[member_id] = (state, seq)
            else:
                walk.hash = chain
                if mac is not None:
                    walk.legacy(row)
                else:
                    walk.signed(row)
                own = walk.actor
            if seq == head_seq:
                if head.hash not in (chain.hex(), (mac or b"").hex()):  # type: ignore[union-attr]
                    raise IntegrityError(f"audit entry {seq} differs from the head kept outside the file")
                head_seen = True
            expected += 1
    except IntegrityError:
        walk.at = expected
        raise
    walk.hash = chain
    return (expected - 1 if expected > first else None), head_seen


def _finish(walk: _Walk, last: int | None, head: Head | None, head_seen: bool, checkpoint: Checkpoint | None = None) -> Trail:
    if last is None:
        raise IntegrityError("the audit trail is empty: the register's entries were removed")
    if walk.actor is not None:
        raise IntegrityError(f"audit entry {walk.segment_start} is not signed: the trail was cut or edited after it")
    if not walk.anchored and walk.legacy_key is None:
        raise AuthError(
            "this register's trail is still format 1: verifying it needs a key until an officer unlocks it once",
            hints=("pass --officer or --key-file, or let an officer run any command first",),
        )
    if not head_seen:
        assert head is not None
        raise IntegrityError(
            f"audit entry {last + 1} is missing: the trail ends at entry {last} but the head is entry {head.seq}"
            " (truncated or rolled back)"
        )
    return Trail(Head(last, walk.hash.hex()), walk.states, walk.erased, walk.slots, walk.slots_state, walk.anchored, checkpoint)


def check_members(trail: Trail, columns: list[str], rows: Iterable[tuple[Any, ...]], states: Iterable[tuple[str, int, bytes]]) -> int:
    """Every member's row must be the one its last entry committed to; every member with entries must exist or be erased.

    ``rows`` come in member-id order and ``states`` (member id, seq, state of
    every entry that commits to a row) in the order of their ids' first
    ``STATE_PREFIX`` characters, then seq: both from indexes, so the two are
    merged a few entries at a time and memory stays flat in the register.
    """
    seen, missing = 0, []
    digest, key = member_digester(columns), columns.index("member_id")
    groups = _last_states(states, trail.erased)
    prefix, group = next(groups, (None, {}))
    for row in rows:
        member_id = row[key]
        own = str(member_id)[:STATE_PREFIX]
        while prefix is not None and prefix < own:
            missing.extend((seq, gone) for gone, (_, seq) in group.items())
            prefix, group = next(groups, (None, {}))
        committed = group.pop(member_id, None) if prefix == own else None
        if committed is None:
            raise IntegrityError(f"member {member_id} has no entry in the audit trail: the row was added by hand")
        if digest(row) != committed[0]:
            raise IntegrityError(f"the row of {member_id} does not match its last audit entry {committed[1]}: it was changed by hand")
        seen += 1
    for _, rest in [(prefix, group), *groups]:
        missing.extend((seq, gone) for gone, (_, seq) in rest.items())
    if missing:
        seq, member_id = min(missing)
        raise IntegrityError(f"member {member_id} was deleted by hand: its last audit entry is {seq} and it was never erased")
    return seen


def _last_states(states: Iterable[tuple[str, int, bytes]], erased: dict[str, int]) -> Iterator[tuple[str, dict[str, tuple[bytes, int]]]]:
    """The entries grouped by their ids' prefix: each member's last state and its seq, unless an erasure came after it."""
    prefix, group = None, {}
    for member_id, seq, state in states:
        if member_id is None:
            continue  # the slot table's state
        if member_id[:STATE_PREFIX] != prefix:
            if group:
                yield prefix, group  # type: ignore[misc]
            prefix, group = member_id[:STATE_PREFIX], {}
        if erased.get(member_id, 0) > seq:
            group.pop(member_id, None)
        else:
            group[member_id] = (state, seq)
    if group:
        yield prefix, group  # type: ignore[misc]


def check_slots(trail: Trail, rows: list[dict[str, Any]]) -> None:
    """The slot table must be the one the trail last committed to, slot for slot."""
    for row in rows:
        name = row["name"]
        if name not in trail.slots.keys:
            if name in trail.slots.removed:
                raise IntegrityError(f"key slot {name!r} was removed in audit entry {trail.slots.removed[name]} but is in the file again")
            raise IntegrityError(f"key slot {name!r} is not in the audit trail: it was added by hand")
        role, key = trail.slots.keys[name]
        if row["role"] != role or row["verifier"] != key:
            raise IntegrityError(f"key slot {name!r} is not the one the audit trail says exists")
    missing = sorted(set(trail.slots.keys) - {row["name"] for row in rows})
    if missing:
        raise IntegrityError(f"key slot {missing[0]!r} was deleted by hand")
    if trail.slots_state is not None and slots_digest(rows) != trail.slots_state[0]:
        raise IntegrityError(f"the key slot table does not match audit entry {trail.slots_state[1]}: a slot row was changed by hand")
