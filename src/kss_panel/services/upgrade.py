"""Finishing format 2 on a register made by format 1: what needs a key, done at an unlock.

``migrations.0004_format_2`` converts everything it can without a key. The
rest needs one, so it happens at an unlock (docs/crypto.md §9):

- the first officer to unlock checks the format-1 trail with its MAC key,
  seals each member's sections into one box, gives every slot an X25519 and
  an Ed25519 key pair and grants the keys to it, and signs an entry naming
  every slot's key: the trail's anchor from then on. The officer's own key
  pair is sealed under their passphrase; every other slot's is sealed under
  a key derived from what its format-1 box holds (the data key for an
  officer, the old audit key for a purger), so its owner opens it with
  nothing new;
- each other slot, at its owner's next unlock, makes itself a new key pair
  sealed under its own KEK, in an entry signed with the one it was given.

Until every slot has done so, any officer could sign as a slot not yet
upgraded (as in format 1, where every slot held the audit key), and
``key rotate`` refuses. A purger may go on purging before any officer has
unlocked: its entries are chained with format 1's MAC, which the upgrade checks.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .. import audit, crypto, keyslots
from ..audit import Link
from ..crypto_pk import SlotKeyPair
from ..keyslots import Keyring, Unlocked
from ..vault import seal_record, tampered
from .session import Session

BATCH = 1000


def upgrade_if_needed(session: Session, now: datetime) -> None:
    if session.slot.status == "pending":
        upgrade_slot(session, now)
    elif session.slot.status == "legacy" and session.role == "officer":
        upgrade_register(session, now)


def upgrade_register(session: Session, now: datetime) -> None:
    """Format 2 for the whole register, in one transaction, by the officer who unlocked it."""
    store, register_id, old = session.store, session.register_id, session.slot
    assert old.keys.data is not None and old.keys.audit is not None
    keys = Keyring(data=old.keys.data, lookup=old.keys.lookup)
    with store.write():
        trail = store.verify_trail(register_id, legacy_key=old.keys.audit)
        legacy_head = _legacy_head(store)
        mine = SlotKeyPair.generate()
        slots = {slot["name"]: _upgraded_slot(register_id, slot, keys, old, mine) for slot in store.slots()}
        for name, changes in slots.items():
            store.update_slot(name, changes)
        store.set_meta("keys_version", "2")
        session.rekey(Unlocked(old.name, old.role, keys, mine, old.kek, "current"))
        session.start_trail(Link(trail.head.seq, 0, bytes.fromhex(trail.head.hash), None))
        detail = {"from": 1, "legacy_head": legacy_head,
                  "slots": {name: {"role": store.slot(name)["role"], "verifier": changes["verifier"].hex()} for name, changes in slots.items()}}  # type: ignore[index]
        session.audit(now, "format-upgrade", detail=detail)
        _reseal_members(session, now)


def _legacy_head(store: Any) -> str:
    seq, mac = store.conn.execute("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return f"{seq}-{mac.hex()}"


def _upgraded_slot(register_id: str, slot: dict[str, Any], keys: Keyring, old: Unlocked, mine: SlotKeyPair) -> dict[str, Any]:
    """The upgrader's slot gets its key pair under its own KEK; every other slot a pending one."""
    if slot["name"] == old.name:
        return keyslots.reseal(register_id, slot, mine, (old.kek, slot["kdf"]), keys)
    role_key = keys.data if slot["role"] == "officer" else old.keys.audit
    assert role_key is not None
    pending = keyslots.pending_kek(role_key, slot["name"])
    changes = keyslots.reseal(register_id, slot, SlotKeyPair.generate(), (pending, slot["kdf"]), keys)
    return {**changes, "legacy": slot["legacy"]}  # the owner still opens the slot with the format-1 box


def _reseal_members(session: Session, now: datetime) -> None:
    """Every member's format-1 sections become one box; the wrapped DEK its format-2 form; each row is committed."""
    store, register_id = session.store, session.register_id
    data = crypto.Sealer(session.keys.data or b"")
    writer = session.audit_writer()
    ids = [row[0] for row in store.conn.execute("SELECT member_id FROM members ORDER BY rowid")]
    entries: list[dict[str, Any]] = []
    for member_id in ids:
        row = store.member(member_id)
        assert row is not None
        context = ("dek", register_id, member_id)
        try:
            dek = data.open_legacy(row["wrapped_dek"], context)
            sections = {
                section: json.loads(crypto.open_legacy(dek, box, ("section", register_id, member_id, section)))
                for section, box in store.conn.execute("SELECT section, box FROM sections WHERE member_id = ?", (member_id,))
            }
        except crypto.InvalidToken:
            raise tampered(member_id) from None
        changes = {"wrapped_dek": data.wrap(dek, context), "box": seal_record(register_id, member_id, dek, session.schema.ordered(sections))}
        store.conn.execute("UPDATE members SET wrapped_dek = :wrapped_dek, box = :box WHERE member_id = :id", {**changes, "id": member_id})
        entries.append(writer.entry(now, "state", member_id, state=audit.member_digest({**row, **changes})))
        if len(entries) >= BATCH:
            store.append_audit(entries)
            entries = []
    store.append_audit(entries)
    store.conn.execute("DROP TABLE IF EXISTS sections")


def upgrade_slot(session: Session, now: datetime) -> None:
    """The slot's own key pair, sealed under its own KEK, introduced by an entry signed with the pending one."""
    slot, store = session.slot, session.store
    mine = SlotKeyPair.generate()
    with store.write():
        row = store.slot(slot.name)
        assert row is not None
        store.update_slot(slot.name, keyslots.reseal(session.register_id, row, mine, (slot.kek, row["kdf"]), slot.keys))
        session.audit(now, "slot-upgrade", detail={"officer": slot.name, "verifier": mine.verifier.hex()})
    session.rekey(Unlocked(slot.name, slot.role, slot.keys, mine, slot.kek, "current"))
