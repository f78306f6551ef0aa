"""init and the officer commands: key slots for named officers and machines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InvalidInput
from ..model import ROLES
from .root import GROUPS, Call, app, choice, command
from .credentials import OfficerOpt, PassphraseFileOpt, passphrase
from .output import out, stdout
from .progress import progress


@command(app, "init", unlocks=False)
def init(
    call: Call,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    unlock_time: Annotated[
        float, typer.Option("--unlock-time", min=0.0, max=10.0, help="Seconds one unlock should take (Argon2id tuning).")
    ] = 0.5,
) -> None:
    """Create a new, empty register with random keys and the first officer's slot.

    The passphrase comes from a hidden prompt (asked twice), KSS_PANEL_PASSPHRASE
    or --passphrase-file. The file is created 0600 and never overwritten.

    Example: kss-panel --db panel.db init --officer aino
    """
    from ..services.session import init_register

    if not officer:
        raise InvalidInput("no officer given", [("--officer", "is required (or set KSS_PANEL_OFFICER)")])
    policies = call.policies
    secret = passphrase(passphrase_file, confirm=True, text="New passphrase", terminal=call.state.terminal)
    with init_register(call.db, policies, officer, secret, None, call.now, unlock_seconds=unlock_time) as session:
        data = {"db": str(call.db), "register_id": session.register_id, "officer": officer}
    call.emit(data, lambda: out(f"created register {call.db} with officer {officer}"))


@command(GROUPS["officer"], "add", unlock_key_option="--unlock-key-file")
def officer_add(
    call: Call,
    name: Annotated[str, typer.Argument(help="Name of the new officer or machine slot.", show_default=False)],
    role: Annotated[
        str, choice("--role", ROLES, "officer: everything; purger: purge, backup and audit, cannot decrypt; backup: backup and audit only.")
    ] = "officer",
    new_key_file: Annotated[
        Path | None, typer.Option("--key-file", help="Create a machine slot and write its random key to this new file (0600).")
    ] = None,
) -> None:
    """Add an officer (passphrase slot) or a machine slot (key file).

    The new passphrase comes from a hidden prompt (asked twice) or
    KSS_PANEL_NEW_PASSPHRASE. A purger or backup slot cannot decrypt personal data.

    Example: kss-panel officer add cron --role purger --key-file /etc/kss-panel/cron.key
    """
    from ..services import officers

    def new_passphrase() -> str:
        return passphrase(None, env="KSS_PANEL_NEW_PASSPHRASE", confirm=True, text=f"New passphrase for {name}", terminal=call.state.terminal)

    summary = call.unlocked(officers.add_officer, name, role, call.now, passphrase=new_passphrase, key_file=new_key_file)
    call.emit(summary, lambda: out(f"added {summary['kind']} slot {name} with role {role}"))


@command(GROUPS["officer"], "remove")
def officer_remove(
    call: Call,
    name: Annotated[str, typer.Argument(help="Officer or machine slot to remove.", show_default=False)],
    rotate: Annotated[bool, typer.Option("--rotate", help="Also rotate the keys, in the same transaction.")] = False,
) -> None:
    """Remove an officer's key slot. The last officer-role slot cannot be removed.

    With --rotate the register's keys are rotated in the same transaction, so
    the removed slot's keys open nothing the register holds afterwards.

    Example: kss-panel officer remove veikko --rotate
    """
    from ..services import officers

    with progress("rotating", enabled=rotate and not call.as_json) as advance:
        data = call.unlocked(officers.remove_officer, name, call.now, rotate=rotate, progress=advance)
    call.emit(data, lambda: out(f"removed slot {name}" + (f"; rotated the keys ({data['members']} members re-keyed)" if rotate else "")))


@command(GROUPS["officer"], "passwd")
def officer_passwd(call: Call) -> None:
    """Change your own passphrase: the current one unlocks, the new one is asked twice.

    The new passphrase comes from a hidden prompt (asked twice) or
    KSS_PANEL_NEW_PASSPHRASE. Only your slot changes.

    Example: kss-panel officer passwd --officer aino
    """
    from ..services import officers

    def new_passphrase() -> str:
        return passphrase(None, env="KSS_PANEL_NEW_PASSPHRASE", confirm=True, text="New passphrase")

    data = call.unlocked(officers.change_passphrase, call.now, new_passphrase)
    call.emit(data, lambda: out(f"changed the passphrase of {data['officer']}"))


@command(GROUPS["officer"], "list")
def officer_list(call: Call) -> None:
    """List key slots: names, roles, kinds and when they were created.

    Example: kss-panel officer list --json
    """
    from .. import render
    from ..services import officers

    slots = call.unlocked(officers.list_officers)
    call.emit(slots, lambda: render.table(stdout, slots, ["name", "role", "kind", "created_at"]))
