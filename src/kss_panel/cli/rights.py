"""Data-subject rights: export access, erase, consent, restrict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .. import render
from ..errors import InvalidInput
from ..services import access, rights
from .app import GROUPS, Call, app, command
from .members import CustomerNumberOpt, EmailOpt, MemberArg, PhoneOpt, RequestOpt, one_lookup
from .output import out, stdout


@command(GROUPS["export"], "access")
def export_access(
    call: Call,
    member: Annotated[str | None, typer.Argument(help="Member id; or find the member with an option below.", show_default=False)] = None,
    email: EmailOpt = None,
    phone: PhoneOpt = None,
    customer_number: CustomerNumberOpt = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write the JSON document and the HTML report here (0600).")] = None,
    request: RequestOpt = None,
    language: Annotated[str | None, typer.Option("--lang", help="fi, sv or en instead of the member's own language.", show_default=False)] = None,
) -> None:
    """The Article 15 answer: a member's data, purposes, recipients, transfers, retention and rights.

    Writes a versioned JSON document and a printable HTML report in the member's
    language (or --lang) with --out DIR; --json prints the document in the JSON envelope.

    Example: kss-panel export access --email aino@example.fi --out exports/ --request 12
    """
    lookups = one_lookup(email, phone, customer_number)
    if (member is None) == (not lookups) or len(lookups) > 1:
        raise InvalidInput("name one member", [("MEMBER|--email|--phone|--customer-number", "give exactly one")])
    lookup = next(iter(lookups.items()), None)
    result = call.unlocked(access.access_export, member, call.now, lookup=lookup, out=out_dir, request=request, language=language)
    export, files = result["document"], result["files"]
    if out_dir is None:
        call.emit(export, lambda: typer.echo(json.dumps(export, ensure_ascii=False, indent=2)))
    else:
        call.emit({"member_id": export["member"]["member_id"], "files": files}, lambda: [typer.echo(path) for path in files.values()])


@command(app, "erase")
def erase(
    call: Call,
    member: MemberArg,
    reason: Annotated[str, typer.Option("--reason", help="request (the member asked) or conditions-not-met.", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be erased; change nothing.")] = False,
    suppress: Annotated[
        bool, typer.Option("--suppress", help="Keep keyed hashes of email and phone to flag a person who objected if they apply again.")
    ] = False,
    request: RequestOpt = None,
) -> None:
    """Erase a member for good: destroy the data key, delete every row, securely; record the id.

    Example: kss-panel erase M3f7kq2x5v6n4p6rw --reason request --request 12
    """
    data = call.unlocked(rights.erase, member, reason, call.now, dry_run=dry_run, suppress=suppress, request=request)
    verb = "would erase" if dry_run else "erased"
    call.emit(data, lambda: out(f"{verb} {member} ({len(data['sections'])} sections, {data['disclosures']} disclosure records)"))


@command(app, "consent")
def consent(
    call: Call,
    member: MemberArg,
    give: Annotated[list[str] | None, typer.Option("--give", help="Consent given (a name from the policy); repeatable.")] = None,
    withdraw: Annotated[list[str] | None, typer.Option("--withdraw", help="Consent withdrawn; repeatable.")] = None,
    object_: Annotated[
        bool, typer.Option("--object", help="Objection to direct marketing (Art. 21): withdraws every marketing consent.")
    ] = False,
    request: RequestOpt = None,
) -> None:
    """Record consents given or withdrawn, or an objection to direct marketing.

    Example: kss-panel consent M3f7kq2x5v6n4p6rw --withdraw sms_marketing
    """
    consents = call.unlocked(
        rights.consent, member, call.now, give=tuple(give or ()), withdraw=tuple(withdraw or ()), object_to_marketing=object_, request=request
    )
    rows = [{"consent": name, "given": value} for name, value in consents.items()]
    call.emit({"member_id": member, "consents": consents}, lambda: render.table(stdout, rows, ["consent", "given"]))


@command(app, "restrict")
def restrict(
    call: Call,
    member: MemberArg,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Art. 18(1) ground: accuracy-contested, unlawful-processing, legal-claims, objection-pending."),
    ] = None,
    lift: Annotated[bool, typer.Option("--lift", help="Lift the restriction.")] = False,
    request: RequestOpt = None,
) -> None:
    """Restrict processing of a member (GDPR Article 18): no disclosures, retention purges hold.

    Example: kss-panel restrict M3f7kq2x5v6n4p6rw --reason accuracy-contested
    """
    if lift == (reason is not None):
        raise InvalidInput("give --reason or --lift", [("--reason|--lift", "exactly one of them is required")])
    data = call.unlocked(rights.restrict, member, call.now, reason=reason, request=request)
    call.emit(data, lambda: out(f"lifted the restriction of {member}" if lift else f"restricted {member} ({reason})"))
