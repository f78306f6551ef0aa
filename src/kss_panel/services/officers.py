"""Officers and machine slots: add, remove (and rotate), list, change one's own passphrase."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import crypto, files, keyslots
from ..errors import AuthError, InvalidInput, NotFound
from ..model import local_date, one_of
from . import keys
from .session import Progress, Session, slot_detail


def add_officer(
    session: Session,
    name: str,
    role: str,
    now: datetime,
    *,
    passphrase: Callable[[], str] | None = None,
    kdf: crypto.KdfParams | None = None,
    key_file: Path | None = None,
    key_secret: bytes | None = None,
) -> dict[str, Any]:
    """Add a passphrase slot (``passphrase`` asks for it, once the role is checked) or a machine slot.

    With ``key_file`` a new random key is drawn and written to that new 0600
    file inside the transaction, so a key file that cannot be written leaves no
    slot behind. ``kdf`` defaults to the register's calibrated unlock time.
    The entry that adds the slot records its public signing key and is signed
    by the officer who added it.
    """
    session.require_officer("manage officers")
    keyslots.check_officer_name(name)
    one_of(role, keyslots.ROLES, "role", "role")  # before anyone is asked for a passphrase
    key_text = None
    if key_file is not None and key_secret is None:
        key_text, key_secret = keyslots.new_key_file()
    if key_secret is not None:
        kind, kek = "keyfile", keyslots.key_file_kek(key_secret)
    else:
        assert passphrase is not None
        new_passphrase = passphrase()
        kind, kek = "passphrase", keyslots.passphrase_kek(new_passphrase, kdf or _register_kdf(session))
    slot = keyslots.new_slot(session.register_id, session.keys, name, role, now, kek=kek, kind=kind)
    with session.store.write():
        session.store.add_slot(slot)
        if key_file is not None and key_text is not None:
            files.write_new(key_file, key_text)
        session.audit(now, "officer-add", detail=slot_detail(slot))
    return keyslots.summary(slot)


def _register_kdf(session: Session) -> crypto.KdfParams:
    return keyslots.calibrate(float(session.store.meta("unlock_seconds") or 0.5))


def remove_officer(session: Session, name: str, now: datetime, *, rotate: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Remove a slot; with ``rotate`` rotate the keys in the same transaction, so the removed slot's keys open nothing new."""
    session.require_officer("manage officers")
    with session.store.write():
        slot = session.store.slot(name)
        if slot is None:
            raise NotFound(f"no officer {name!r}")
        officers = [s for s in session.store.slots() if s["role"] == "officer"]
        if slot["role"] == "officer" and len(officers) == 1:
            raise InvalidInput("refusing to remove the last officer", [("name", "is the only officer-role slot")])
        if rotate:
            keys.check_rotation(session)
        session.store.remove_slot(name, local_date(now).isoformat())
        session.audit(now, "officer-remove", detail={"officer": name, "rotate": rotate})
        rotated = keys.rotate_in(session, now, progress) if rotate else None
    return {"removed": name, "rotated": rotated is not None, **({"members": rotated["members"]} if rotated else {})}


def list_officers(session: Session) -> list[dict[str, Any]]:
    with session.store.read():
        return [keyslots.summary(slot) for slot in session.store.slots()]


def change_passphrase(
    session: Session, now: datetime, passphrase: Callable[[], str], *, kdf: crypto.KdfParams | None = None
) -> dict[str, Any]:
    """An officer's own new passphrase: their key pair sealed under a new KEK (new salt); no other slot changes."""
    row = session.store.slot(session.actor)
    if row is None or row["kind"] != "passphrase":
        raise AuthError(f"the slot {session.actor!r} has no passphrase to change", hints=("unlock with --officer and the current passphrase",))
    assert session.slot.pair is not None
    new_passphrase = passphrase()
    params = kdf or crypto.KdfParams.from_dict(json.loads(row["kdf"])).fresh()
    kek = keyslots.passphrase_kek(new_passphrase, params)
    with session.store.write():
        row = session.store.slot(session.actor)
        assert row is not None
        changes = keyslots.reseal(session.register_id, row, session.slot.pair, kek, session.keys)
        session.store.update_slot(session.actor, {k: changes[k] for k in ("kdf", "secrets")})
        session.audit(now, "officer-passwd", detail={"officer": session.actor})
    return {"officer": session.actor}
