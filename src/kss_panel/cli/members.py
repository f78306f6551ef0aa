"""Member commands: enrol, import, show, find, list, update."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InvalidInput
from ..model import STATUSES
from ..words import plural
from .root import Call, app, choice, command
from .output import err, out, stdout
from .progress import progress

if TYPE_CHECKING:
    from ..policy import Policies

MemberArg = Annotated[str, typer.Argument(help="Member id (as printed by enrol, find or list).", show_default=False)]
RequestOpt = Annotated[
    int | None, typer.Option("--request", help="The data-subject request this fulfils; it is closed as fulfilled.")
]
EmailOpt = Annotated[str | None, typer.Option("--email", help="Email address to look up.")]
PhoneOpt = Annotated[str | None, typer.Option("--phone", help="Phone number to look up (Finland the default region).")]
CustomerNumberOpt = Annotated[str | None, typer.Option("--customer-number", help="Customer number to look up.")]


def one_lookup(email: str | None, phone: str | None, customer_number: str | None) -> dict[str, str]:
    """The lookups given, by kind (email, phone, customer_number)."""
    return {k: v for k, v in {"email": email, "phone": phone, "customer_number": customer_number}.items() if v is not None}


@command(app, "enrol")
def enrol(
    call: Call,
    file: Annotated[str, typer.Option("--file", help="Applicant record (JSON), or - for stdin.", show_default=False)],
) -> None:
    """Validate one application and store it as an applicant; print the new member id.

    Example: kss-panel enrol --file applicant.json
    """
    from .. import readers
    from ..services import members

    data = call.unlocked(members.enrol, readers.read_json(file), call.now)
    if data["suppression_match"]:
        err("kss-panel: warning: this applicant matches a person who objected and was erased (suppression list)")
    call.emit(data, lambda: typer.echo(data["member_id"]))


@command(app, "import")
def import_(
    call: Call,
    file: Annotated[str, typer.Argument(help="CSV (dotted field paths as header), JSON array or JSON Lines; - for stdin.", show_default=False)],
    updates: Annotated[bool, typer.Option("--updates", help="The rows are self-service changes (member_id or contact.email, plus changed fields).")] = False,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the valid rows; still report the others.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write the report of invalid rows to this new file instead of stderr.")] = None,
) -> None:
    """Import applications in bulk, validated like enrol; all or nothing unless --skip-invalid.

    The report lists line, field path and problem for each invalid row, never
    the values. Duplicates within the file and against the register are caught.

    Example: kss-panel import applications.csv --skip-invalid --report rejected-rows.txt
    """
    from ..services import intake

    with progress("importing", enabled=not call.as_json) as advance:
        counts = call.unlocked(
            intake.import_file, file, call.now, updates=updates, skip_invalid=skip_invalid, report=report, progress=advance,
        )
    problems, hidden = counts.pop("problems"), counts.pop("problems_not_shown")
    if counts["invalid"]:
        err(f"kss-panel: warning: {plural(counts['invalid'], 'invalid row')} skipped")
        for where, problem in problems:
            err(f"  {where}: {problem}")
        if hidden:
            err(f"kss-panel: hint: {plural(hidden, 'more problem')} not shown: --report FILE lists them all")
    if report is not None and counts["invalid"]:
        err(f"kss-panel: hint: the invalid rows are listed in {report}")
    summary = (
        f"{plural(counts['updated'], 'member')} updated, {counts['unchanged']} unchanged, {plural(counts['invalid'], 'row')} invalid"
        if updates
        else f"{plural(counts['imported'], 'applicant')} imported, {plural(counts['invalid'], 'row')} invalid"
    )
    data = {**counts, "problems": [{"path": where, "problem": problem} for where, problem in problems]}
    call.emit(data, lambda: out(summary))


@command(app, "show")
def show(call: Call, member: MemberArg) -> None:
    """Show one member's record by category, with status and dates.

    Example: kss-panel show M3f7kq2x5v6n4p6rw --json
    """
    from ..services import members

    data = call.unlocked(members.show, member, call.now)

    def human() -> None:
        from .. import render, render_accountability

        render.member(stdout, data, call.policies)
        render_accountability.consent_history(stdout, data, call.policies)

    call.emit(data, human)


@command(app, "find")
def find(call: Call, email: EmailOpt = None, phone: PhoneOpt = None, customer_number: CustomerNumberOpt = None) -> None:
    """Find a member by email, phone or customer number, by keyed hash (decrypts no one).

    Example: kss-panel find --email aino@example.fi
    """
    from .. import render
    from ..services import members

    given = one_lookup(email, phone, customer_number)
    if len(given) != 1:
        raise InvalidInput("give exactly one lookup", [("--email|--phone|--customer-number", "exactly one is required")])
    [(kind, value)] = given.items()
    data = call.unlocked(members.find, kind, value, call.now)
    call.emit(data, lambda: render.table(stdout, [data], ["member_id", "status", "applied_at", "admitted_at"]))


@command(app, "list")
def list_(
    call: Call,
    status: Annotated[str | None, choice("--status", STATUSES, "Only members of this status.")] = None,
    restricted: Annotated[bool, typer.Option("--restricted", help="Only members whose processing is restricted (Art. 18).")] = False,
    objected: Annotated[bool, typer.Option("--objected", help="Only members with an objection (Art. 21(1) or 21(2)).")] = False,
    names: Annotated[bool, typer.Option("--names", help="Also decrypt and show names (audited).")] = False,
    consent_outdated: Annotated[
        str | None, typer.Option("--consent-outdated", metavar="CONSENT", help="Only members holding this consent under wording changed since"
                                 " (or with no receipt): whom to ask again; decrypts consents (audited). One of:{consents}")
    ] = None,
) -> None:
    """List members by status, then the day they applied: ids, status and dates; names only with --names.

    Example: kss-panel list --status applicant
    """
    from .. import render, render_accountability
    from ..services import members, receipts

    if consent_outdated is not None:
        outdated = call.unlocked(receipts.outdated_members, consent_outdated, call.now, status=status, restricted=restricted, objected=objected,
                                 names=names)
        call.emit(outdated, lambda: render_accountability.outdated(stdout, outdated, consent_outdated, names=names))
        return
    with call.session() as session:  # without --names the rows stream: the session stays open while they are written
        rows = members.list_members(session, call.now, status=status, names=names, restricted=restricted, objected=objected)
        call.emit_rows(rows, lambda listed: render.members(stdout, listed, names=names))


@command(app, "update")
def update(
    call: Call,
    member: MemberArg,
    file: Annotated[str | None, typer.Option("--file", help="JSON merge patch of the record, or - for stdin.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="FIELD=VALUE, e.g. contact.city=Kouvola; repeatable; empty VALUE removes.")
    ] = None,
    request: RequestOpt = None,
) -> None:
    """Rectify a member's record, validated like enrol; the changed fields are audited.

    Example: kss-panel update M3f7kq2x5v6n4p6rw --set contact.city=Kouvola --set contact.postal_code=45100
    """
    from .. import readers, render_accountability
    from ..services import members

    if (file is None) == (not set_):
        raise InvalidInput("give --file or --set", [("--file|--set", "exactly one of them is required")])
    patch = readers.read_json(file) if file is not None else patch_from_assignments(call.policies, set_ or [])
    data = call.unlocked(members.update, member, patch, call.now, request=request)
    changed = data["changed"]
    call.emit(
        {"member_id": member, **data},
        lambda: (out(f"updated {member}: {', '.join(changed)}" if changed else f"{member}: nothing changed"), render_accountability.to_notify(stdout, data)),
    )


def patch_from_assignments(policies: Policies, assignments: list[str]) -> dict[str, Any]:
    """A merge patch from --set FIELD=VALUE pairs; every problem is reported."""
    from ..record import coerce_text, field_spec, safe_part, set_path

    patch: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for assignment in assignments:
        path, sep, text = assignment.partition("=")
        path = path.strip()
        found = field_spec(policies, path) if sep else None
        if not sep:
            problems.append(("--set", "must be FIELD=VALUE"))
        elif found is None or found[1] is None:
            problems.append((safe_part(path), "is not a field of the register"))
        else:
            category, spec = found
            set_path(patch, path, coerce_text(spec, category.kind, text))
    if problems:
        raise InvalidInput("invalid --set", problems)
    return patch
