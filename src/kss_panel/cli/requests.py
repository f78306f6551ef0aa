"""request open|list|extend|close: data-subject requests and their deadlines."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import render
from ..services import requests
from .app import GROUPS, Call, command
from .lifecycle import parse_date
from .output import out, stdout

RequestArg = Annotated[int, typer.Argument(help="Request number.", show_default=False)]
group = GROUPS["request"]


@command(group, "open")
def request_open(
    call: Call,
    type_: Annotated[str, typer.Option("--type", help="access, rectification, erasure, objection or restriction.", show_default=False)],
    member: Annotated[str, typer.Option("--member", help="The member who asked.", show_default=False)],
    received: Annotated[str | None, typer.Option("--received", help="Day the request arrived (YYYY-MM-DD; default today).")] = None,
) -> None:
    """Record a data-subject request; its deadline is one calendar month from receipt.

    Example: kss-panel request open --type access --member M3f7kq2x5v6n4p6rw --received 2026-11-20
    """
    day = parse_date(received, "--received") if received is not None else None
    data = call.unlocked(requests.open_request, type_, member, call.now, received=day)
    call.emit(data, lambda: out(f"request {data['id']} ({data['type']}) due {data['deadline']}"))


@command(group, "list")
def request_list(
    call: Call,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open requests past their deadline.")] = False,
) -> None:
    """List data-subject requests with deadlines; --overdue for those past due.

    Example: kss-panel request list --overdue
    """
    rows = call.unlocked(requests.list_requests, call.now, overdue=overdue)
    call.emit(rows, lambda: render.table(stdout, rows, ["id", "type", "member_id", "received", "deadline", "status", "overdue", "days_left"]))


@command(group, "extend")
def request_extend(
    call: Call,
    request_id: RequestArg,
    reason: Annotated[str, typer.Option("--reason", help="complexity or number-of-requests.", show_default=False)],
    months: Annotated[int, typer.Option("--months", help="Further months, 1 or 2.")] = 2,
) -> None:
    """Extend a request's deadline by up to two months (tell the member why within the first month).

    Example: kss-panel request extend 12 --reason complexity
    """
    data = call.unlocked(requests.extend_request, request_id, reason, call.now, months=months)
    call.emit(data, lambda: out(f"request {request_id} now due {data['deadline']}"))


@command(group, "close")
def request_close(
    call: Call,
    request_id: RequestArg,
    outcome: Annotated[
        str, typer.Option("--outcome", help="fulfilled, partially-fulfilled, refused-unfounded, refused-excessive, withdrawn, no-data.", show_default=False)
    ],
) -> None:
    """Close a request with its outcome.

    Example: kss-panel request close 12 --outcome fulfilled
    """
    data = call.unlocked(requests.close_request, request_id, outcome, call.now)
    call.emit(data, lambda: out(f"request {request_id} closed: {outcome}"))
