"""Lifecycle commands: admit, reject, eligibility, activity import, purge."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InvalidInput
from ..words import plural
from .root import GROUPS, Call, app, command
from .members import MemberArg
from .output import out

if TYPE_CHECKING:
    from ..policy import RetentionPolicy

RosterOpt = Annotated[
    Path, typer.Option("--customers", help="Customer roster: a CSV export with a customer_number column.", show_default=False)
]


def parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("invalid date", [(option, "must be a date as YYYY-MM-DD")]) from None


@command(app, "admit")
def admit(
    call: Call,
    customers: RosterOpt,
    member: Annotated[str | None, typer.Argument(help="The applicant's member id; or --all.", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Admit every applicant in the roster, in one transaction.")] = False,
) -> None:
    """Admit an applicant whose customer number is in the customer roster (else exit 9); --all admits every one.

    With --all, every applicant whose customer number is in the roster is
    admitted in one transaction, and the others are listed, left applicants.

    Example: kss-panel admit M3f7kq2x5v6n4p6rw --customers roster.csv
    """
    from .. import readers
    from ..services import lifecycle

    if (member is None) != all_:
        raise InvalidInput("name one applicant, or --all", [("MEMBER|--all", "give exactly one")])
    if member is not None:
        data = call.unlocked(lifecycle.admit, member, readers.read_roster(customers), call.now)
        call.emit(data, lambda: out(f"admitted {member}"))
        return
    result = call.unlocked(lifecycle.admit_all, readers.read_roster(customers), call.now)

    def human() -> None:
        out(f"admitted {plural(len(result['admitted']), 'applicant')}")
        if result["not_in_roster"]:
            out(f"{plural(len(result['not_in_roster']), 'applicant')} not in the roster, not admitted:")
            for member_id in result["not_in_roster"]:
                out(f"  {member_id}")

    call.emit(result, human)


@command(app, "reject")
def reject(
    call: Call,
    member: MemberArg,
    reason: Annotated[str, typer.Option("--reason", metavar="REASON", help="Why the applicant is rejected. One of:{rejection_reasons}", show_default=False)],
) -> None:
    """Reject an applicant, for a reason from policies/register.yaml (never free text).

    Example: kss-panel reject M3f7kq2x5v6n4p6rw --reason not-a-customer
    """
    from ..services import lifecycle

    data = call.unlocked(lifecycle.reject, member, reason, call.now)
    call.emit(data, lambda: out(f"rejected {member} ({reason})"))


ExpectOpt = Annotated[
    int | None,
    typer.Option("--expect", min=0, help="Confirm the exact count a dry run showed, when it is more than the retention policy allows at once."),
]


@command(app, "eligibility")
def eligibility(
    call: Call,
    customers: RosterOpt,
    apply: Annotated[bool, typer.Option("--apply", help="Record the outcome: mark members newly ineligible, clear those back in the roster.")] = False,
    remove: Annotated[
        bool, typer.Option("--remove", help="Record the outcome and erase the ineligible members at once (restricted members are kept).")
    ] = False,
    expect: ExpectOpt = None,
) -> None:
    """Check admitted members against the customer roster: a dry run unless --apply or --remove.

    --apply records the day each member was first found ineligible (the clock
    of the conditions-not-met retention rule) and clears it for members back in
    the roster; --remove also erases the ineligible members at once. A roster
    with no rows, one that matches no admitted member, or one that would touch
    more than the retention policy allows at once is refused (exit 9) unless
    --expect N names the count the dry run showed.

    Example: kss-panel eligibility --customers roster.csv
    """
    from .. import readers
    from ..services import lifecycle

    if expect is not None and not (apply or remove):
        raise InvalidInput("--expect confirms a change", [("--expect", "needs --apply or --remove: a dry run changes nothing")])
    data = call.unlocked(lifecycle.eligibility, readers.read_roster(customers), call.now, apply=apply, remove=remove, expect=expect)
    call.emit(data, lambda: show_eligibility(data))


def show_eligibility(data: dict[str, Any]) -> None:
    """Counts per outcome, what --apply and --remove would do (dry run), then the member ids concerned."""
    applied, removed, held = data["applied"], data["removed"], data["held"]
    out("erased and recorded" if removed else "recorded" if applied else "dry run: nothing was changed")
    out(f"{plural(data['admitted'], 'member')} admitted, {plural(data['roster'], 'customer number')} in the roster:")
    counts = [("still eligible", data["still_eligible"]), ("newly ineligible", len(data["newly_ineligible"])),
              ("cleared: back in the roster", len(data["cleared"])), ("already marked", len(data["already_marked"]))]
    counts += [("ineligible but restricted (Art. 18): kept", len(held))] if held else []
    counts += [("erased", len(data["erased"]))] if removed else []
    width = max(len(str(count)) for _, count in counts)
    for label, count in counts:
        out(f"  {count:>{width}} {label}")
    if not applied:
        allowed = data["allowed"]
        for flag, count, verb in (("--apply", len(data["newly_ineligible"]), "mark"), ("--remove", data["erasable"], "erase")):
            guard = f"within the {allowed} allowed at once" if count <= allowed else f"over the {allowed} allowed at once: add --expect {count}"
            out(f"{flag} would {verb} {plural(count, 'member')} ({guard})")
    listed = [("erased", data["erased"]), ("ineligible, restricted: kept", held)] if removed else [
        ("newly ineligible", data["newly_ineligible"]), ("already marked", data["already_marked"])]
    for label, ids in listed:
        for member_id in ids:
            out(f"{member_id}  {label}")


@command(GROUPS["activity"], "import")
def activity_import(
    call: Call,
    file: Annotated[Path, typer.Argument(help="CSV with member_id and date (last survey answered) columns.", show_default=False)],
) -> None:
    """Record each member's latest survey date from a CSV (member_id,date); all or nothing.

    Example: kss-panel activity import answers-2026-11.csv
    """
    from .. import readers
    from ..services import lifecycle

    data = call.unlocked(lifecycle.record_activity, readers.read_activity(file), call.now)
    call.emit(data, lambda: out(f"activity of {plural(data['members'], 'member')} read, {data['updated']} updated"))


@command(app, "purge")
def purge(
    call: Call,
    apply: Annotated[bool, typer.Option("--apply", help="Erase the due members (default: dry run).")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Plan for another day (YYYY-MM-DD); dry runs only.", show_default=False)
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing when nothing is due (for cron).")] = False,
    expect: ExpectOpt = None,
) -> None:
    """Apply the retention rules: a dry run by default, --apply erases the due members.

    Then erases the records kept beside members' data (closed requests, the
    disclosure log, suppression digests) past their retention periods. Runs
    with a purger key file, which cannot read personal data. Idempotent: a
    second run finds nothing due. Prints member ids, never names. Restricted
    members are held. A run that would erase more than the retention policy
    allows at once is refused (exit 9) unless --expect N names the count.

    Example: kss-panel purge --apply --quiet --key-file /etc/kss-panel/cron.key
    """
    from ..services import records

    day = parse_date(as_of, "--as-of") if as_of is not None else None
    if day is not None and apply:
        raise InvalidInput("--as-of is for planning", [("--as-of", "is allowed only in dry runs, not with --apply")])
    if expect is not None and not apply:
        raise InvalidInput("--expect confirms a purge", [("--expect", "needs --apply: a dry run changes nothing")])
    plan, kept = call.unlocked(records.purge, call.now, apply=apply, as_of=day, expect=expect)
    rules = call.policies.retention.rules
    data = {
        "as_of": plan.as_of.isoformat(),
        "applied": apply,
        "total": plan.total,
        "held": plan.total_held,
        "members": plan.members,
        "rules": [
            {"name": rule.name, "count": len(plan.due[rule.name]), "member_ids": plan.due[rule.name],
             "held": len(plan.held[rule.name]), "held_ids": plan.held[rule.name]}
            for rule in rules
        ],
        "records": kept.due,
    }
    call.emit(data, lambda: show_purge(data, call.policies.retention, quiet=quiet))


def show_purge(data: dict[str, Any], retention: RetentionPolicy, *, quiet: bool) -> None:
    from ..retention import describe

    records = {kind: n for kind, n in data["records"].items() if kind != "audit_trail"}
    trail = data["records"].get("audit_trail", 0)
    if quiet and data["total"] == 0 and not any(records.values()) and not trail:
        return
    counts = ", ".join(f"{r['name']} {r['count']}" for r in data["rules"] if r["count"])
    held = f"; {data['held']} held by a restriction (Art. 18)" if data["held"] else ""
    if data["applied"]:
        out(f"purged {plural(data['total'], 'member')}" + (f" ({counts})" if counts else "") + held)
        if any(records.values()):
            kinds = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in records.items() if n)
            out(f"erased {plural(sum(records.values()), 'record')} past their retention period ({kinds})")
        if trail:
            out(f"pruned {plural(trail, 'audit trail entry', 'audit trail entries')} past their retention period, up to a signed checkpoint")
        return
    out(f"dry run for {data['as_of']}: {plural(data['total'], 'member')} due" + (f" ({counts})" if counts else "") + held)
    for rule, found in zip(retention.rules, data["rules"], strict=True):
        out(f"{rule.name}: {found['count']} ({rule.status}, {rule.clock} + {describe(rule.period)})" + (f", {found['held']} held" if found["held"] else ""))
        for member_id in found["member_ids"]:
            typer.echo(f"  {member_id}")
        for member_id in found["held_ids"]:
            typer.echo(f"  {member_id} (held: restricted)")
    out("records past their retention period: " + ", ".join(
        f"{kind.replace('_', ' ')} {n} ({describe(getattr(retention.records, kind).period)})" for kind, n in data["records"].items()))
