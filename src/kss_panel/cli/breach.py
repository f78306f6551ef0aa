"""breach open|affected|list|close|notify-members: the register of personal-data breaches (GDPR Art. 33, 34)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..words import plural
from ..writers import FORMATS
from .root import GROUPS, Call, choice, command
from .output import out, stdout

group = GROUPS["breach"]
BreachArg = Annotated[int, typer.Argument(help="Breach number (as breach open printed it).", show_default=False)]


@command(group, "open")
def breach_open(
    call: Call,
    title: Annotated[str, typer.Option("--title", help="What happened, in a line; kept in plain, so no personal data.", show_default=False)],
    discovered: Annotated[str, typer.Option("--discovered", metavar="YYYY-MM-DDTHH:MM",
                                            help="When the breach was discovered, in Finnish time: the 72 hours start there.", show_default=False)],
) -> None:
    """Record a personal-data breach (Art. 33(5)); the Data Protection Ombudsman must be notified within 72 hours.

    Example: kss-panel breach open --title "Mailing list sent to the wrong partner" --discovered 2026-06-15T09:40
    """
    from .. import render_accountability
    from ..services import breaches

    data = call.unlocked(breaches.open_breach, title, discovered, call.now)
    call.emit(data, lambda: out(f"breach {data['id']} recorded; notify the Data Protection Ombudsman by"
                                f" {render_accountability.local(data['deadline'])} (Finnish time) or record why not"))


@command(group, "affected")
def breach_affected(
    call: Call,
    breach: BreachArg,
    recipient: Annotated[str | None, typer.Option("--recipient", metavar="RECIPIENT",
                                                  help="The recipient the data leaked from: members disclosed to it in the window. One of:{recipients}")] = None,
    start: Annotated[str | None, typer.Option("--from", metavar="YYYY-MM-DD", help="First day of the window (with --recipient).")] = None,
    end: Annotated[str | None, typer.Option("--to", metavar="YYYY-MM-DD", help="Last day of the window (with --recipient).")] = None,
    file: Annotated[str | None, typer.Option("--file", help="A leaked export (CSV, JSON or JSON Lines with a member_id column).")] = None,
) -> None:
    """Record the members a breach affected and the categories of data involved (ids and field names, never values).

    From the disclosure log (every member disclosed to --recipient from --from
    to --to, erased members included) or from a leaked export (--file: the
    member ids in it, and the fields it holds for each).

    Example: kss-panel breach affected 3 --recipient direct-marketing --from 2026-05-01 --to 2026-05-31
    """
    from ..services import breaches

    data = call.unlocked(breaches.record_affected, breach, call.now, recipient=recipient, start=start, end=end, file=file)
    categories = ", ".join(data["categories"]) or "none"
    call.emit(data, lambda: out(
        f"breach {breach}: {plural(data['members'], 'member')} affected ({data['added']} new, {data['already']} already recorded,"
        f" {data['erased']} erased since); categories: {categories}; {data['record']['affected']} in all"))


@command(group, "list")
def breach_list(call: Call) -> None:
    """List breaches with the 72-hour deadline to notify the Data Protection Ombudsman, and each one's status.

    Example: kss-panel breach list
    """
    from .. import render_accountability
    from ..services import breaches

    rows = call.unlocked(breaches.list_breaches, call.now)
    call.emit(rows, lambda: render_accountability.breaches(stdout, rows))


@command(group, "close")
def breach_close(
    call: Call,
    breach: BreachArg,
    notified_authority: Annotated[str | None, typer.Option("--notified-authority", metavar="YYYY-MM-DD",
                                                           help="The day the Data Protection Ombudsman was notified.")] = None,
    delay_reason: Annotated[str | None, typer.Option("--delay-reason", metavar="TEXT",
                                                     help="Why the notification came after the 72 hours (then required).")] = None,
    not_notified: Annotated[str | None, typer.Option("--not-notified", metavar="REASON",
                                                     help="Why the Ombudsman was not notified (the breach is unlikely to result in a risk).")] = None,
) -> None:
    """Close a breach: notified to the Data Protection Ombudsman on a day, or not notified and why (Art. 33(1), (5)).

    Example: kss-panel breach close 3 --notified-authority 2026-06-16
    """
    from .. import render_accountability
    from ..services import breaches

    data = call.unlocked(breaches.close_breach, breach, call.now, notified=notified_authority, delay_reason=delay_reason, not_notified=not_notified)
    call.emit(data, lambda: out(f"breach {breach} closed: {render_accountability.breach_status(data)}"))


@command(group, "notify-members")
def breach_notify_members(
    call: Call,
    breach: BreachArg,
    out_file: Annotated[Path, typer.Option("--out", help="New file of the affected members' contact details (0600).", show_default=False)],
    format_: Annotated[str, choice("--format", FORMATS, "File format.")] = "csv",
) -> None:
    """Write the contact details of the members a breach affected, to tell them (Art. 34); each read is audited.

    Example: kss-panel breach notify-members 3 --out breach-3-members.csv
    """
    from ..services import breaches

    data = call.unlocked(breaches.notify_members, breach, out_file, call.now, format_=format_)
    erased = f"; {plural(data['erased'], 'member')} erased since, not listed" if data["erased"] else ""
    if data["file"] is None:
        call.emit(data, lambda: out(f"breach {breach}: no affected member is in the register{erased}: no file written"))
        return
    call.emit(data, lambda: out(f"wrote the contact details of {plural(data['listed'], 'member')} to {out_file}{erased}"))
