"""Officers and machine slots: add, remove, list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import crypto, files, keyslots
from ..errors import InvalidInput, NotFound
from ..model import one_of
from .session import Session


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
    """
    session.require_officer("manage officers")
    keyslots.check_officer_name(name)
    one_of(role, keyslots.ROLES, "role", "role")  # before anyone is asked for a passphrase
    key_text = None
    if key_file is not None and key_secret is None:
        key_text, key_secret = keyslots.new_key_file()
    if key_secret is not None:
        slot = keyslots.new_slot(session.register_id, session.keys, name, role, now, key_secret=key_secret)
    else:
        assert passphrase is not None
        new_passphrase = passphrase()
        kdf = kdf or keyslots.calibrate(float(session.store.meta("unlock_seconds") or 0.5))
        slot = keyslots.new_slot(session.register_id, session.keys, name, role, now, passphrase=new_passphrase, kdf=kdf)
    with session.store.write():
        session.store.add_slot(slot)
        if key_file is not None and key_text is not None:
            files.write_new(key_file, key_text)
        session.audit(now, "officer-add", detail={"officer": name, "role": role, "kind": slot["kind"]})
    return keyslots.summary(slot)


def remove_officer(session: Session, name: str, now: datetime) -> None:
    session.require_officer("manage officers")
    with session.store.write():
        slot = session.store.slot(name)
        if slot is None:
            raise NotFound(f"no officer {name!r}")
        officers = [s for s in session.store.slots() if s["role"] == "officer"]
        if slot["role"] == "officer" and len(officers) == 1:
            raise InvalidInput("refusing to remove the last officer", [("name", "is the only officer-role slot")])
        session.store.remove_slot(name)
        session.audit(now, "officer-remove", detail={"officer": name})


def list_officers(session: Session) -> list[dict[str, Any]]:
    with session.store.read():
        return [keyslots.summary(slot) for slot in session.store.slots()]
