"""The records kept beside members' data, and their retention periods: closed requests, the
disclosure log, suppression digests, survey invitations (with the draw entries that did not win)
and prize-draw winners are erased once the period policies/retention.yaml declares for them has
passed (GDPR Art. 5(1)(e)). The audit trail's period is declared there too;
it is enforced by pruning the trail up to a signed checkpoint, which this module does not do.

The nightly ``purge`` is the member purge of ``lifecycle`` followed by this step; a purger slot
suffices, as nothing here reads personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ..model import local_date
from ..retention import latest_start
from . import lifecycle
from .lifecycle import PurgePlan, plan_purge
from .session import Session

PRUNED = ("closed_requests", "disclosure_log", "suppressions")
SURVEY_RECORDS = ("survey_invitations", "competition_winners")


@dataclass(frozen=True)
class RecordsPlan:
    """How many records of each kind are past their period on ``as_of`` (or were erased)."""

    as_of: date
    due: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.due.values())


def purge(
    session: Session, now: datetime, *, apply: bool, as_of: date | None = None, expect: int | None = None
) -> tuple[PurgePlan, RecordsPlan]:
    """The nightly purge: the members the retention rules make due, then the records past their periods.

    A dry run (``apply`` False) plans both for ``as_of`` (today by default) and changes nothing;
    ``expect`` confirms a member purge over the blast-radius guard (see ``lifecycle.purge``).
    """
    if apply:
        return lifecycle.purge(session, now, expect=expect), prune_records(session, now)
    day = as_of or local_date(now)
    return plan_purge(session, day), plan_records(session, day)


def plan_records(session: Session, as_of: date) -> RecordsPlan:
    """How many records of each kind are past their retention period on ``as_of``."""
    with session.store.read():
        return RecordsPlan(as_of, _sweep(session, as_of, delete=False))


def prune_records(session: Session, now: datetime) -> RecordsPlan:
    """Erase, in one transaction, every record past its retention period today; audit the counts."""
    as_of = local_date(now)
    with session.store.write():
        done = RecordsPlan(as_of, _sweep(session, as_of, delete=True))
        if done.total:
            session.audit(now, "purge-records", None, [], {"erased": {kind: n for kind, n in done.due.items() if n}})
    return done


def _sweep(session: Session, as_of: date, *, delete: bool) -> dict[str, int]:
    retention = session.policies.retention
    hold = retention.restricted == "hold"
    found = {
        kind: session.store.old_records(
            kind, latest_start(getattr(retention.records, kind).period, as_of).isoformat(), hold_restricted=hold, delete=delete
        )
        for kind in PRUNED
    }
    for kind in SURVEY_RECORDS:  # the survey tables' own: invitations take the draw entries that did not win with them
        cutoff = latest_start(getattr(retention.records, kind).period, as_of).isoformat()
        found[kind] = session.store.old_survey_records(kind, cutoff, hold_restricted=hold, delete=delete)
    return found
