"""notify list|export: telling recipients of rectifications, erasures and restrictions (GDPR Art. 19)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..words import plural
from .root import GROUPS, Call, command
from .output import out, stdout

group = GROUPS["notify"]


@command(group, "list")
def notify_list(
    call: Call,
    recipient: Annotated[str | None, typer.Option("--recipient", metavar="RECIPIENT", help="Only this recipient's. One of:{recipients}")] = None,
    sent: Annotated[bool, typer.Option("--sent", help="Also the notifications already sent, with the day each was.")] = False,
) -> None:
    """List the notifications recipients are owed (Art. 19), by recipient: member, what happened, which fields.

    A recipient is owed one when the disclosure log shows it received the
    member: of a rectification only for the fields it received, of an erasure
    or a restriction always. Reads no personal data.

    Example: kss-panel notify list --recipient direct-marketing
    """
    from .. import render_accountability
    from ..services import notifications

    rows = call.unlocked(notifications.list_notifications, recipient=recipient, sent=sent)
    call.emit(rows, lambda: render_accountability.notifications(stdout, rows, sent=sent))


@command(group, "export")
def notify_export(
    call: Call,
    recipient: Annotated[str, typer.Argument(help="The recipient to tell. One of:{recipients}", show_default=False)],
    out_file: Annotated[Path, typer.Option("--out", help="New JSON manifest to write (0600, never overwritten).", show_default=False)],
) -> None:
    """Write a recipient's pending notifications to a new manifest and mark them sent.

    The manifest names each member by id, what happened (rectified, erased,
    restricted), the disclosures it refers to, and for a rectification the new
    values of only the fields that recipient received. Send it to the
    recipient; nothing else is written if nothing is pending.

    Example: kss-panel notify export direct-marketing --out notifications-direct-marketing.json
    """
    from ..services import notifications

    data = call.unlocked(notifications.export, recipient, out_file, call.now)
    if data["file"] is None:
        call.emit(data, lambda: out(f"nothing to notify {recipient} of: no file written"))
        return
    events = ", ".join(f"{count} {event}" for event, count in data["events"].items())
    call.emit(data, lambda: out(f"wrote {plural(data['notifications'], 'notification')} about {plural(data['members'], 'member')}"
                                f" for {recipient} ({events}) to {out_file}; marked sent"))
