"""backup and restore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InvalidInput
from .root import Call, app, command
from .output import out


@command(app, "backup")
def backup(
    call: Call,
    path: Annotated[Path, typer.Argument(help="New file for the copy (never overwritten; 0600).", show_default=False)],
) -> None:
    """Make an online, consistent, still-encrypted copy of the register.

    Any slot may: a purger's or backup machine's key file copies ciphertext only.

    Example: kss-panel backup /var/backups/kss-panel/panel-2026-11-24.db
    """
    from ..services import backup as backups

    data = call.unlocked(backups.backup, path, call.now)
    call.emit(data, lambda: out(f"backed up to {path}"))


@command(app, "restore")
def restore(
    call: Call,
    path: Annotated[Path, typer.Argument(help="A backup made by 'kss-panel backup'.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the register file is replaced.")] = False,
) -> None:
    """Replace the register with a backup; every erasure and slot removal since the backup is applied again.

    Officers only. After removing slots again the keys are rotated. The audit
    trail records the restore and is verified before the register is
    rewritten. Take a new audit head afterwards: the old one is ahead of the backup.

    Example: kss-panel restore /var/backups/kss-panel/panel-2026-11-24.db --yes
    """
    from ..services import backup as backups

    if not yes:
        raise InvalidInput("restore replaces the register", [("--yes", "is required to confirm")])
    assert call.credentials is not None
    data = backups.restore(call.db, path, call.policies, call.credentials.resolve(), call.now, busy_timeout=call.state.config.busy_timeout)
    call.emit(data, lambda: out(
        f"restored {call.db} from {path}; {data['erasures_reapplied']} erasures re-applied"
        + (f"; removed again: {', '.join(data['slots_removed'])} (keys rotated)" if data["slots_removed"] else "")
        + f"; new audit head {data['head']}"))
