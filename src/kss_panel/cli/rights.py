"""Data-subject rights: export access, erase, consent, restrict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InvalidInput
from ..model import ERASURE_REASONS, RESTRICTION_GROUNDS
from ..words import plural
from .root import GROUPS, Call, app, choice, command
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
    from ..services import access

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
    reason: Annotated[str, choice("--reason", ERASURE_REASONS, "request: the member asked; conditions-not-met: not a customer.", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be erased; change nothing.")] = False,
    suppress: Annotated[
        bool, typer.Option("--suppress", help="Keep keyed hashes of email and phone to flag a person who objected if they apply again.")
    ] = False,
    request: RequestOpt = None,
) -> None:
    """Erase a member for good: destroy the data key, delete every row, securely; record the id.

    Example: kss-panel erase M3f7kq2x5v6n4p6rw --reason request --request 12
    """
    from .. import render_accountability
    from ..services import rights

    data = call.unlocked(rights.erase, member, reason, call.now, dry_run=dry_run, suppress=suppress, request=request)
    verb = "would erase" if dry_run else "erased"
    call.emit(data, lambda: (out(f"{verb} {member} ({plural(len(data['sections']), 'section')}, {plural(data['disclosures'], 'disclosure record')})"),
                             render_accountability.to_notify(stdout, data, would=dry_run)))


def _flag(flag: str, help: str) -> Any:
    return typer.Option(flag, help=help)


@command(app, "consent")
def consent(
    call: Call,
    member: MemberArg,
    give: Annotated[list[str] | None, typer.Option("--give", metavar="CONSENT", help="Consent given; repeatable. One of:{consents}")] = None,
    withdraw: Annotated[list[str] | None, typer.Option("--withdraw", metavar="CONSENT", help="Consent withdrawn; repeatable.")] = None,
    object_to_marketing: Annotated[bool, _flag("--object", "Objection to direct marketing (Art. 21(2)): withdraws every marketing consent.")] = False,
    withdraw_objection: Annotated[bool, _flag("--withdraw-objection", "The member withdraws the objection to direct marketing.")] = False,
    object_to_processing: Annotated[bool, _flag("--object-processing", "Objection to processing based on legitimate interests (Art. 21(1)).")] = False,
    lift_processing_objection: Annotated[bool, _flag("--lift-processing-objection", "Lift the objection to processing based on legitimate interests.")] = False,
    request: RequestOpt = None,
) -> None:
    """Record consents given or withdrawn, and objections to direct marketing or to processing.

    An objection to direct marketing (Art. 21(2)) withdraws every marketing
    consent and refuses giving one (exit 9) until the member withdraws it; an
    objection to processing based on legitimate interests (Art. 21(1)) keeps
    the member out of such disclosures until lifted.

    Example: kss-panel consent M3f7kq2x5v6n4p6rw --withdraw sms_marketing
    """
    from .. import render, render_accountability
    from ..services import rights

    data = call.unlocked(
        rights.consent, member, call.now, give=tuple(give or ()), withdraw=tuple(withdraw or ()),
        object_to_marketing=object_to_marketing, withdraw_objection=withdraw_objection,
        object_to_processing=object_to_processing, lift_processing_objection=lift_processing_objection, request=request,
    )
    call.emit(data, lambda: (render.consents(stdout, data), render_accountability.receipt(stdout, data["receipt"])))


@command(app, "restrict")
def restrict(
    call: Call,
    member: MemberArg,
    reason: Annotated[
        str | None,
        choice("--reason", RESTRICTION_GROUNDS, "The ground of Art. 18(1) that applies."),
    ] = None,
    lift: Annotated[bool, typer.Option("--lift", help="Lift the restriction.")] = False,
    request: RequestOpt = None,
) -> None:
    """Restrict processing of a member (GDPR Article 18): no disclosures, retention purges hold.

    Example: kss-panel restrict M3f7kq2x5v6n4p6rw --reason accuracy-contested
    """
    from .. import render_accountability
    from ..services import rights

    if lift == (reason is not None):
        raise InvalidInput("give --reason or --lift", [("--reason|--lift", "exactly one of them is required")])
    data = call.unlocked(rights.restrict, member, call.now, reason=reason, request=request)
    call.emit(data, lambda: (out(f"lifted the restriction of {member}" if lift else f"restricted {member} ({reason})"),
                             render_accountability.to_notify(stdout, data)))
