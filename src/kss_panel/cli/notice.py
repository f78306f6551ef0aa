"""notice: the privacy notice or the Art. 30 record, from the policies alone (no register)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .root import Call, app, command
from .output import err, out


@command(app, "notice", unlocks=False)
def notice_(
    call: Call,
    record: Annotated[bool, typer.Option("--record", help="The record of processing activities (GDPR Art. 30(1)) instead of the notice.")] = False,
    language: Annotated[str, typer.Option("--lang", help="fi, sv or en.")] = "fi",
    format_: Annotated[str, typer.Option("--format", help="md (Markdown) or html (a self-contained printable page).")] = "md",
    out_file: Annotated[Path | None, typer.Option("--out", help="New file to write (0600, never overwritten); else stdout.")] = None,
) -> None:
    """Write the privacy notice (register description and GDPR Art. 13 information) from the policies.

    With --record, the record of processing activities (Art. 30(1), points
    a-g) instead. Needs no register: the same policies give the same bytes,
    and the document names the policy hash.

    Example: kss-panel notice --lang sv --format html --out tietosuojaseloste-sv.html
    """
    from ..services import notice

    data = notice.publish(call.policies, language=language, record=record, format_=format_, out=out_file)

    def human() -> None:
        if out_file is None:
            typer.echo(data["text"], nl=False)
        else:
            out(f"wrote the {data['document']} ({language}, {format_}) to {out_file}")
        if data["examples"]:
            err(f"kss-panel: warning: the policies name example recipients ({', '.join(data['examples'])})")
            err("kss-panel: hint: replace them with the parties of signed processor agreements and named companies before publishing")

    call.emit(data, human)
