"""The records kept beside members' data, and their retention periods: closed requests, the
disclosure log, suppression digests, survey invitations (with the draw entries that did not win)
and prize-draw winners are erased once the period policies/retention.yaml declares for them has
passed (GDPR Art. 5(1)(e)); the audit trail is pruned up to a signed checkpoint (``prune_trail``),
so what remains still verifies.

The nightly ``purge`` is the member purge of ``lifecycle`` followed by this step; a purger slot
suffices, as nothing here reads personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ..audit_verify import Checkpoint, verify_chain
from ..model import REGISTER_TZ, local_date
from ..retention import latest_start
from . import lifecycle
from .lifecycle import PurgePlan, plan_purge
from .session import Session

PRUNED = ("closed_requests", "disclosure_log", "suppressions", "notifications", "breaches")
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
    """How many records of each kind are past their retention period on ``as_of`` (trail entries included)."""
    with session.store.read():
        through = _trail_cutoff(session, as_of)
        entries = session.store.conn.execute("SELECT count(*) FROM audit WHERE seq <= ?", (through or 0,)).fetchone()[0]
        return RecordsPlan(as_of, {**_sweep(session, as_of, delete=False), "audit_trail": entries})


def prune_records(session: Session, now: datetime) -> RecordsPlan:
    """Erase, in one transaction, every record past its retention period today; audit the counts. Then prune the trail."""
    as_of = local_date(now)
    with session.store.write():
        done = _sweep(session, as_of, delete=True)
        if any(done.values()):
            session.audit(now, "purge-records", None, [], {"erased": {kind: n for kind, n in done.items() if n}})
    return RecordsPlan(as_of, {**done, "audit_trail": prune_trail(session, now)})


def _trail_cutoff(session: Session, as_of: date) -> int | None:
    """The last entry past the trail's retention period on ``as_of`` that ends a command (None: nothing to prune)."""
    if session.legacy:
        return None  # a format-1 trail is checked with the old key at the upgrade: never pruned before it
    last_day = latest_start(session.policies.retention.records.audit_trail.period, as_of)
    before = int(datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=REGISTER_TZ).timestamp())
    through = session.store.last_command_before(before)
    pruned = session.store.conn.execute("SELECT min(seq) FROM audit").fetchone()[0] or 1
    return through if through is not None and through >= pruned else None


def prune_trail(session: Session, now: datetime) -> int:
    """Delete the trail's entries past their retention period, up to the end of a command, in one transaction.

    The whole trail is verified first. Members and the slot table whose last
    committing entry goes are committed to again, and a checkpoint entry
    records the chain's hash at the cut and the slots then, so the rest still
    verifies (``audit verify`` names the checkpoint). Returns the entries deleted.
    """
    store = session.store
    with store.write():
        through = _trail_cutoff(session, local_date(now))
        if through is None:
            return 0
        whole = store.verify_trail(session.register_id, states=True)
        cut = verify_chain(session.register_id, store.trail_rows(through), store.fieldsets(), checkpoint=store.checkpoint())
        for member_id, (_, seq) in sorted((whole.states or {}).items()):
            if seq <= through:
                store.dirty_members.add(member_id)
                session.audit(now, "state", member_id)
        if whole.slots_state is not None and whole.slots_state[1] <= through:
            store.slots_dirty = True
            session.audit(now, "slots")
        checkpoint = Checkpoint(0, through, bytes.fromhex(cut.head.hash), cut.slots.keys, cut.slots.removed)
        session.audit(now, "checkpoint", None, [], checkpoint.detail())
        return store.prune_trail(through)


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
