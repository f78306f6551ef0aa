"""Lifecycle commands: admit, reject, eligibility, activity import, purge."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from .. import readers
from ..errors import InvalidInput
from ..model import local_date
from ..retention import describe
from ..services import lifecycle
from ..words import plural
from .app import GROUPS, Call, app, command
from .members import MemberArg
from .output import out

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
    data = call.unlocked(lifecycle.reject, member, reason, call.now)
    call.emit(data, lambda: out(f"rejected {member} ({reason})"))


@command(app, "eligibility")
def eligibility(
    call: Call,
    customers: RosterOpt,
    remove: Annotated[bool, typer.Option("--remove", help="Erase the members found, with reason conditions-not-met.")] = False,
) -> None:
    """List members whose customer number is no longer in the roster; --remove erases them.

    The check records when each member was first found ineligible: the clock
    of the conditions-not-met retention rule, so the nightly purge erases them.

    Example: kss-panel eligibility --customers roster.csv --remove
    """
    ids = call.unlocked(lifecycle.eligibility, readers.read_roster(customers), call.now, remove=remove)

    def human() -> None:
        out(f"{plural(len(ids), 'member')} {'erased' if remove else 'no longer meet' if len(ids) != 1 else 'no longer meets'}"
            + ("" if remove else " the membership conditions"))
        for member_id in ids:
            typer.echo(member_id)

    call.emit({"ineligible": ids, "removed": remove}, human)


@command(GROUPS["activity"], "import")
def activity_import(
    call: Call,
    file: Annotated[Path, typer.Argument(help="CSV with member_id and date (last survey answered) columns.", show_default=False)],
) -> None:
    """Record each member's latest survey date from a CSV (member_id,date); all or nothing.

    Example: kss-panel activity import answers-2026-11.csv
    """
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
) -> None:
    """Apply the retention rules: a dry run by default, --apply erases the due members.

    Runs with a purger key file, which cannot read personal data. Idempotent:
    a second run finds nothing due. Prints member ids, never names.

    Example: kss-panel purge --apply --quiet --key-file /etc/kss-panel/cron.key
    """
    day = parse_date(as_of, "--as-of") if as_of is not None else None
    if day is not None and apply:
        raise InvalidInput("--as-of is for planning", [("--as-of", "is allowed only in dry runs, not with --apply")])
    if apply:
        plan = call.unlocked(lifecycle.purge, call.now)
    else:
        plan = call.unlocked(lifecycle.plan_purge, day or local_date(call.now))
    rules = call.policies.retention.rules
    data = {
        "as_of": plan.as_of.isoformat(),
        "applied": apply,
        "total": plan.total,
        "rules": [{"name": rule.name, "count": len(plan.due[rule.name]), "member_ids": plan.due[rule.name]} for rule in rules],
    }

    def human() -> None:
        if quiet and plan.total == 0:
            return
        counts = ", ".join(f"{r['name']} {r['count']}" for r in data["rules"] if r["count"])
        if apply:
            out(f"purged {plural(plan.total, 'member')}" + (f" ({counts})" if counts else ""))
            return
        out(f"dry run for {plan.as_of}: {plural(plan.total, 'member')} due" + (f" ({counts})" if counts else ""))
        for rule in rules:
            out(f"{rule.name}: {len(plan.due[rule.name])} ({rule.status}, {rule.clock} + {describe(rule.period)})")
            for member_id in plan.due[rule.name]:
                typer.echo(f"  {member_id}")

    call.emit(data, human)
