"""Lifecycle commands: admit, reject, eligibility, activity import, purge."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from .. import readers
from ..errors import InvalidInput
from ..retention import describe
from ..services import lifecycle, records
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
def admit(call: Call, member: MemberArg, customers: RosterOpt) -> None:
    """Admit an applicant whose customer number is in the customer roster (else exit 9).

    Example: kss-panel admit M3f7kq2x5v6n4p6rw --customers roster.csv
    """
    data = call.unlocked(lifecycle.admit, member, readers.read_roster(customers), call.now)
    call.emit(data, lambda: out(f"admitted {member}"))


@command(app, "reject")
def reject(
    call: Call,
    member: MemberArg,
    reason: Annotated[str, typer.Option("--reason", help="One of the policy's rejection_reasons.", show_default=False)],
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
        out(f"{len(ids)} members {'erased' if remove else 'no longer meet the membership conditions'}")
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
    call.emit(data, lambda: out(f"activity of {data['members']} members read, {data['updated']} updated"))


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

    Then erases the records kept beside members' data (closed requests, the
    disclosure log, suppression digests) past their retention periods. Runs
    with a purger key file, which cannot read personal data. Idempotent: a
    second run finds nothing due. Prints member ids, never names.

    Example: kss-panel purge --apply --quiet --key-file /etc/kss-panel/cron.key
    """
    day = parse_date(as_of, "--as-of") if as_of is not None else None
    if day is not None and apply:
        raise InvalidInput("--as-of is for planning", [("--as-of", "is allowed only in dry runs, not with --apply")])
    plan, kept = call.unlocked(records.purge, call.now, apply=apply, as_of=day)
    rules = call.policies.retention.rules
    data = {
        "as_of": plan.as_of.isoformat(),
        "applied": apply,
        "total": plan.total,
        "rules": [{"name": rule.name, "count": len(plan.due[rule.name]), "member_ids": plan.due[rule.name]} for rule in rules],
        "records": kept.due,
    }

    def human() -> None:
        if quiet and plan.total == 0 and kept.total == 0:
            return
        counts = ", ".join(f"{r['name']} {r['count']}" for r in data["rules"] if r["count"])
        record_counts = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in kept.due.items() if n)
        if apply:
            out(f"purged {plan.total} members" + (f" ({counts})" if counts else ""))
            if kept.total:
                out(f"erased {kept.total} records past their retention period ({record_counts})")
            return
        out(f"dry run for {plan.as_of}: {plan.total} members due" + (f" ({counts})" if counts else ""))
        for rule in rules:
            out(f"{rule.name}: {len(plan.due[rule.name])} ({rule.status}, {rule.clock} + {describe(rule.period)})")
            for member_id in plan.due[rule.name]:
                typer.echo(f"  {member_id}")
        periods = call.policies.retention.records
        out("records past their retention period: " + ", ".join(
            f"{kind.replace('_', ' ')} {n} ({describe(getattr(periods, kind).period)})" for kind, n in kept.due.items()))

    call.emit(data, human)
