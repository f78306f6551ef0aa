"""export disclosure: hand a recipient exactly what the disclosure policy allows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InvalidInput
from ..writers import FORMATS
from ..words import plural
from .root import GROUPS, Call, choice, command
from .output import out


@command(GROUPS["export"], "disclosure")
def export_disclosure(
    call: Call,
    recipient: Annotated[str, typer.Argument(help="Recipient in the disclosure policy. One of:{recipients}", show_default=False)],
    purpose: Annotated[str, typer.Option("--purpose", metavar="PURPOSE", help="What the data is for. One of:{purposes}", show_default=False)],
    out_file: Annotated[Path | None, typer.Option("--out", help="New file to write (0600, never overwritten).")] = None,
    format_: Annotated[str, choice("--format", FORMATS, "File format.")] = "csv",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print only the counts; disclose nothing.")] = False,
) -> None:
    """Disclose to a processor exactly what the disclosure policy allows; every disclosure is logged.

    Only admitted members who are not restricted, have no objection that
    covers the purpose (Art. 21) and hold the purpose's consent; only the
    recipient's fields. CSV cells that a
    spreadsheet would run as formulas are neutralised.

    Example: kss-panel export disclosure direct-marketing --purpose marketing --out mailing.csv
    """
    from ..services import disclosure

    if out_file is None and not dry_run:
        raise InvalidInput("no output file", [("--out", "is required unless --dry-run")])
    data = call.unlocked(disclosure.disclose, recipient, purpose, call.now, out=None if dry_run else out_file, format_=format_)
    done = "would disclose" if dry_run else "disclosed"
    call.emit(data, lambda: out(
        f"{done} {data['disclosed']} of {plural(data['members'], 'member')} to {recipient} for {purpose}"
        f" (excluded: {data['restricted']} restricted, {data['objected']} objected, {data['no_consent']} without consent)"
        + ("" if dry_run else f"; wrote {out_file}")))
