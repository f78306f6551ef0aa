"""request open|list|extend|close: data-subject requests and their deadlines."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..model import EXTENSION_REASONS, REQUEST_OUTCOMES, REQUEST_TYPES
from .root import GROUPS, Call, choice, command
from .lifecycle import parse_date
from .members import CustomerNumberOpt, EmailOpt, PhoneOpt, one_lookup
from .output import out, stdout

RequestArg = Annotated[int, typer.Argument(help="Request number.", show_default=False)]
group = GROUPS["request"]


@command(group, "open")
def request_open(
    call: Call,
    type_: Annotated[str, choice("--type", REQUEST_TYPES, "The right the person exercises.", show_default=False)],
    member: Annotated[str | None, typer.Option("--member", help="The member who asked (also one erased since).", show_default=False)] = None,
    email: EmailOpt = None,
    phone: PhoneOpt = None,
    customer_number: CustomerNumberOpt = None,
    person: Annotated[
        str | None, typer.Option("--person", help="Who asked, as text, when no lookup names them (kept sealed).", show_default=False)
    ] = None,
    received: Annotated[str | None, typer.Option("--received", help="Day the request arrived (YYYY-MM-DD; default today).")] = None,
) -> None:
    """Record a data-subject request; its deadline is one calendar month from receipt.

    Name the person by --member, or, when they may not be a member (never
    were, or were erased), by --email, --phone or --customer-number (matched
    by keyed hash) or --person TEXT. Whatever names a person who is not a
    member is kept sealed, never in plain.

    Example: kss-panel request open --type access --member M3f7kq2x5v6n4p6rw --received 2026-11-20
    """
    from ..services import requests

    day = parse_date(received, "--received") if received is not None else None
    lookups = one_lookup(email, phone, customer_number)
    data = call.unlocked(requests.open_request, type_, member, call.now, received=day, lookups=lookups, person=person)
    call.emit(data, lambda: out(f"request {data['id']} ({data['type']}) due {data['deadline']}{_about(data, lookups)}"))


def _about(data: dict[str, Any], lookups: dict[str, str]) -> str:
    if data["subject"] == "person":
        return ": about a person not in the register (the text is kept sealed)"
    if data["subject"] != "member":
        return f": no member has that {data['subject'].replace('_', ' ')} (kept sealed)"
    if data["erased"]:
        return f": {data['member_id']} was erased"
    return f": about {data['member_id']}" if lookups else ""


@command(group, "list")
def request_list(
    call: Call,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open requests past their deadline.")] = False,
    reveal: Annotated[bool, typer.Option("--reveal", help="Also decrypt whom each request is about (audited).")] = False,
) -> None:
    """List data-subject requests with deadlines; --overdue for those past due.

    Shows the member id, or what kind of value names a person who is not a
    member, without decrypting anything unless --reveal is given.

    Example: kss-panel request list --overdue
    """
    from .. import render
    from ..services import requests

    rows = call.unlocked(requests.list_requests, call.now, overdue=overdue, reveal=reveal)
    call.emit(rows, lambda: render.requests(stdout, rows))


@command(group, "extend")
def request_extend(
    call: Call,
    request_id: RequestArg,
    reason: Annotated[str, choice("--reason", EXTENSION_REASONS, "Why more time is needed.", show_default=False)],
    months: Annotated[str, choice("--months", ("1", "2"), "Further months.")] = "2",
) -> None:
    """Extend a request's deadline once, by up to two months, within its first month (Art. 12(3)).

    Tell the person of the extension and why within that month. A second
    extension, or one after the first month, is refused (exit 9).

    Example: kss-panel request extend 12 --reason complexity
    """
    from ..services import requests

    data = call.unlocked(requests.extend_request, request_id, reason, call.now, months=months)
    call.emit(data, lambda: out(f"request {request_id} now due {data['deadline']}"))


@command(group, "close")
def request_close(
    call: Call,
    request_id: RequestArg,
    outcome: Annotated[str, choice("--outcome", REQUEST_OUTCOMES, "How the request ended.", show_default=False)],
) -> None:
    """Close a request with its outcome; no-data only when the register holds nothing about the person.

    Example: kss-panel request close 12 --outcome fulfilled
    """
    from ..services import requests

    data = call.unlocked(requests.close_request, request_id, outcome, call.now)
    call.emit(data, lambda: out(f"request {request_id} closed: {outcome}"))
