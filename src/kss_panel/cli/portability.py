"""export portable: the data a member provided, for them to take elsewhere (GDPR Art. 20)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .root import GROUPS, Call, command
from .members import MemberArg, RequestOpt


@command(GROUPS["export"], "portable")
def export_portable(
    call: Call,
    member: MemberArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the JSON and CSV files (new files, 0600).", show_default=False)],
    request: RequestOpt = None,
) -> None:
    """The Article 20 answer: the data the member provided, as JSON and CSV, in new files.

    Only what the member gave (every field the register policy does not mark
    provided: false); never consents, status, dates or other records the
    register keeps. The JSON's data is what enrol --file reads, the CSV what
    import reads.

    Example: kss-panel export portable M3f7kq2x5v6n4p6rw --out exports/ --request 14
    """
    from ..services import portability

    data = call.unlocked(portability.export_portable, member, out_dir, call.now, request=request)
    call.emit(data, lambda: [typer.echo(path) for path in data["files"].values()])
