"""Key rotation: new register keys, every member re-keyed, every digest re-hashed, the keys granted again to every slot."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from .. import audit, crypto, keyslots
from ..errors import IntegrityError, Refused
from ..storage_members import split_digests
from ..vault import rekeyed_boxes, tampered
from .session import Progress, Session
from .surveys import box_context

BATCH = 1000


def rotate(session: Session, now: datetime, *, progress: Progress | None = None) -> dict[str, Any]:
    """Rotate the register's keys in one all-or-nothing transaction (see ``rotate_in``)."""
    session.require_officer("rotate the register's keys")
    with session.store.write():
        check_rotation(session)
        return rotate_in(session, now, progress)


def check_rotation(session: Session) -> None:
    """Before a rotation, in its transaction and before it writes: every slot upgraded, the trail and rows intact.

    A row changed by hand must never be committed anew by a rotation.
    """
    pending = sorted(slot["name"] for slot in session.store.slots() if slot["legacy"] is not None)
    if pending:
        raise Refused(
            f"key slot {pending[0]!r} is still of format 1: rotation would leave it the old keys",
            hints=(f"{', '.join(pending)} must unlock once first (any command), or be removed",),
        )
    session.store.verify_trail(session.register_id)


def rotate_in(session: Session, now: datetime, progress: Progress | None = None) -> dict[str, Any]:
    """Inside a write transaction (after ``check_rotation``): after it, nothing sealed before opens anything written since.

    A new data key and each member a new data key (DEK), so a wrapped DEK or a
    box left anywhere from before (an old copy of the file, a disk block)
    opens nothing stored now; a new lookup key that re-hashes every lookup
    and suppression digest (crypto.LookupHasher); the new keys granted to
    every remaining slot. Every re-keyed row is committed to the trail.
    """
    store = session.store
    new = session.keys.rotated()
    members = _rekey_members(session, new, now, progress)
    _rehash_suppressions(store, crypto.chain_subkey(new.lookup[-1]))
    _reseal_request_subjects(session, new)
    _reseal_surveys(session, new)
    slots = store.slots()
    for slot in slots:
        store.update_slot(slot["name"], {"grant": keyslots.grant(session.register_id, slot, new)})
    session.rekey(replace(session.slot, keys=new))
    session.audit(now, "key-rotate", detail={"members": members, "slots": [slot["name"] for slot in slots]})
    return {"members": members, "slots": [slot["name"] for slot in slots], "lookup_keys": len(new.lookup)}


def _rekey_members(session: Session, new: keyslots.Keyring, now: datetime, progress: Progress | None) -> int:
    store, register_id = session.store, session.register_id
    old_data, new_data = crypto.Sealer(session.keys.data or b""), crypto.Sealer(new.data or b"")
    chain = crypto.chain_subkey(new.lookup[-1])
    writer = session.audit_writer()
    total = store.conn.execute("SELECT count(*) FROM members").fetchone()[0]
    store.conn.execute("DELETE FROM lookups")  # every digest is written again below, re-hashed
    done, after = 0, ""
    while True:
        rows = list(store.rows("SELECT * FROM members WHERE member_id > ? ORDER BY member_id LIMIT ?", (after, BATCH)))
        if not rows:
            break
        updates, lookups, entries = [], [], []
        for row in rows:
            member_id = row["member_id"]
            changes = _rekeyed(row, register_id, old_data, new_data, chain)
            updates.append({**changes, "id": member_id})
            lookups += [(digest, member_id) for digest in split_digests(changes["lookup_digests"])]
            entries.append(writer.entry(now, "rekey", member_id, state=audit.member_digest({**row, **changes})))
        store.conn.executemany(
            "UPDATE members SET wrapped_dek = :wrapped_dek, box = :box, lookup_digests = :lookup_digests, receipts = :receipts"
            " WHERE member_id = :id", updates
        )
        store.conn.executemany("INSERT INTO lookups (digest, member_id) VALUES (?, ?)", lookups)
        store.append_audit(entries)
        done, after = done + len(rows), rows[-1]["member_id"]
        if progress is not None:
            progress(done, total)
    return done


def _rekeyed(row: dict[str, Any], register_id: str, old: crypto.Sealer, new: crypto.Sealer, chain: bytes) -> dict[str, Any]:
    """A member's new DEK (wrapped under the new data key), their record and consent receipts sealed under it, their digests re-hashed."""
    member_id = row["member_id"]
    context = ("dek", register_id, member_id)
    fresh = crypto.random_key()
    try:
        box, receipts = rekeyed_boxes(register_id, member_id, (old.unwrap(row["wrapped_dek"], context), fresh), row["box"], row.get("receipts"))
    except (crypto.InvalidToken, ValueError):
        raise tampered(member_id) from None
    return {
        "wrapped_dek": new.wrap(fresh, context),
        "box": box,
        "lookup_digests": b"".join(crypto.rehash(chain, digest) for digest in split_digests(row["lookup_digests"])),
        "receipts": receipts,
    }


def _rehash_suppressions(store: Any, chain: bytes) -> None:
    rows = store.conn.execute("SELECT digest, since FROM suppressions").fetchall()
    store.conn.execute("DELETE FROM suppressions")
    store.conn.executemany("INSERT OR IGNORE INTO suppressions (digest, since) VALUES (?, ?)", [(crypto.rehash(chain, d), s) for d, s in rows])


def _reseal_request_subjects(session: Session, new: keyslots.Keyring) -> None:
    """Whom a request about a non-member names: sealed again under the new data key, its digest re-hashed."""
    store, register_id = session.store, session.register_id
    old_data, new_data = crypto.Sealer(session.keys.data or b""), crypto.Sealer(new.data or b"")
    chain = crypto.chain_subkey(new.lookup[-1])
    rows = store.conn.execute("SELECT id, subject_box, subject_digest FROM requests WHERE subject_box IS NOT NULL OR subject_digest IS NOT NULL")
    updates = []
    for request_id, box, digest in rows.fetchall():
        context = ("request-subject", register_id, str(request_id))
        try:
            sealed = new_data.seal(old_data.open(box, context), context) if box is not None else None
        except crypto.InvalidToken:
            raise IntegrityError(f"whom request {request_id} is about does not open: it was changed, moved or damaged") from None
        updates.append((sealed, crypto.rehash(chain, digest) if digest is not None else None, request_id))
    store.conn.executemany("UPDATE requests SET subject_box = ?, subject_digest = ? WHERE id = ?", updates)


def _reseal_surveys(session: Session, new: keyslots.Keyring) -> None:
    """What the survey tables seal under the data key (samples' definitions, invitations' strata, draws' seeds), sealed again."""
    old_data, new_data = crypto.Sealer(session.keys.data or b""), crypto.Sealer(new.data or b"")
    for batch in session.store.survey_boxes():
        resealed = []
        for table, key, box in batch:
            context = box_context(session, table, key)
            try:
                resealed.append((table, key, new_data.seal(old_data.open(box, context), context)))
            except crypto.InvalidToken:
                raise IntegrityError(f"a sealed box of {table} ({', '.join(map(str, key))}) does not open: it was changed, moved or damaged") from None
        session.store.replace_survey_boxes(resealed)
