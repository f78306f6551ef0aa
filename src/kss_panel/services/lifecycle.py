"""The member lifecycle: admission against the customer roster, rejection, eligibility,
survey activity, and the nightly retention purge."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..errors import InvalidInput, Refused
from ..model import local_date, one_of, require_status
from ..retention import due_members
from .session import Session, plain

PURGE_BATCH = 500


def _roster_digests(session: Session, roster: Iterable[str]) -> set[str]:
    return {session.vault.digest("customer_number", number) for number in roster}


def admit(session: Session, member_id: str, roster: Iterable[str], now: datetime) -> dict[str, Any]:
    """Admit an applicant whose customer number is in the customer roster."""
    session.require_officer("admit members")
    digests = _roster_digests(session, roster)
    with session.store.write():
        row = session.member_row(member_id)
        require_status(row, "applicant", "admit")
        if member_id not in session.store.member_ids_with("customer_number", digests):
            raise Refused(
                f"{member_id} is not a KSS Energia customer: the customer number is not in the roster",
                hints=("only customers may join the panel; reject with --reason not-a-customer",),
            )
        today = local_date(now).isoformat()
        session.store.update_member(member_id, {"status": "member", "admitted_at": today, "updated_at": today})
        session.audit(now, "admit", member_id, ["customer_number"])
        return plain(session.member_row(member_id))


def reject(session: Session, member_id: str, reason: str, now: datetime) -> dict[str, Any]:
    """Reject an applicant for one of the policy's rejection reasons."""
    session.require_officer("reject applicants")
    one_of(reason, session.policies.register.rejection_reasons, "reason", "rejection reason")
    with session.store.write():
        row = session.member_row(member_id)
        require_status(row, "applicant", "reject")
        today = local_date(now).isoformat()
        session.store.update_member(member_id, {"status": "rejected", "rejected_at": today, "updated_at": today})
        session.audit(now, "reject", member_id, detail={"reason": reason})
        return plain(session.member_row(member_id))


def eligibility(session: Session, roster: Iterable[str], now: datetime, *, remove: bool = False) -> list[str]:
    """Members whose customer number is no longer in the roster.

    The check records the day each was first found ineligible (the clock of the
    conditions-not-met retention rule) and clears it for members back in the
    roster; with ``remove`` they are erased at once.
    """
    session.require_officer("check eligibility")
    digests = _roster_digests(session, roster)
    today = local_date(now).isoformat()
    with session.store.write():
        members = session.store.members("member")
        eligible = session.store.member_ids_with("customer_number", digests)
        failing = [row for row in members if row["member_id"] not in eligible]
        for row in members:
            if row["member_id"] in eligible and row["ineligible_at"]:
                session.store.update_member(row["member_id"], {"ineligible_at": None})
        for row in failing:
            if not row["ineligible_at"]:
                session.store.update_member(row["member_id"], {"ineligible_at": today})
        session.audit(now, "eligibility-check", None, ["customer_number"], {"members": len(members), "ineligible": len(failing)})
        if remove:
            for row in failing:
                session.erase(row["member_id"], "conditions-not-met", now)
    return [row["member_id"] for row in failing]


def record_activity(session: Session, activity: Iterable[tuple[int, str, date]], now: datetime) -> dict[str, int]:
    """Keep each member's last survey date (the clock of the inactivity rule).

    ``activity`` holds (line, member id, date). All or nothing: an unknown
    member or a future date is reported by line, and nothing is written.
    """
    session.require_officer("record activity")
    today = local_date(now)
    problems: list[tuple[str, str]] = []
    latest: dict[str, date] = {}
    with session.store.write():
        for line, member_id, when in activity:
            if when > today:
                problems.append((f"line {line}: date", "must not be in the future"))
            elif session.store.member(member_id) is None:
                problems.append((f"line {line}: member_id", "no such member"))
            elif member_id not in latest or when > latest[member_id]:
                latest[member_id] = when
        if problems:
            raise InvalidInput("invalid activity file", problems)
        changed = 0
        for member_id, when in latest.items():
            current = session.member_row(member_id)["last_activity_at"]
            if current is None or date.fromisoformat(current) < when:
                session.store.update_member(member_id, {"last_activity_at": when.isoformat()})
                changed += 1
        session.audit(now, "activity-import", None, [], {"rows": len(latest), "changed": changed})
    return {"members": len(latest), "updated": changed}


@dataclass(frozen=True)
class PurgePlan:
    as_of: date
    due: dict[str, list[str]]

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.due.values())


def plan_purge(session: Session, as_of: date) -> PurgePlan:
    """Which members each retention rule makes due on ``as_of`` (reads plain columns only).

    Every member due is checked against the trail: a status or date changed by
    hand must not make tonight's purge erase someone (exit 7 naming them).
    """
    with session.store.read():
        due = due_members(session.policies.retention, session.store.iter_members(), as_of)
        for rows in due.values():
            for row in rows:
                session.member_row(row["member_id"])
    return PurgePlan(as_of, {rule: [row["member_id"] for row in rows] for rule, rows in due.items()})


def purge(
    session: Session,
    now: datetime,
    *,
    plan: PurgePlan | None = None,
    batch: int = PURGE_BATCH,
    on_erased: Callable[[str], None] | None = None,
) -> PurgePlan:
    """Erase every member due today (or in ``plan``), ``batch`` members a transaction.

    Each member is checked again inside its transaction, so one changed since
    the plan is kept. A crash between batches leaves whole members erased or
    untouched; the next run recomputes what is due and finishes the job. A
    purger slot suffices. ``on_erased`` hears each member erased, inside the
    transaction that erases them.
    """
    session.require_role(("officer", "purger"), "purge members")
    plan = plan or plan_purge(session, local_date(now))
    todo = [(rule, member_id) for rule, ids in plan.due.items() for member_id in ids]
    erased: dict[str, list[str]] = {rule: [] for rule in plan.due}
    for start in range(0, len(todo), batch):
        with session.store.write():
            for rule, member_id in todo[start : start + batch]:
                # Re-check inside the transaction: an officer may have changed the member since the plan.
                row = session.find_row(member_id)
                if row is not None and due_members(session.policies.retention, [row], plan.as_of)[rule]:
                    session.erase(member_id, "retention", now, rule)
                    if on_erased is not None:
                        on_erased(member_id)
                    erased[rule].append(member_id)
    done = PurgePlan(plan.as_of, erased)
    if done.total:
        with session.store.write():
            session.audit(now, "purge", None, [], {"erased": done.total, "rules": {r: len(ids) for r, ids in erased.items() if ids}})
    return done
