"""The member lifecycle: admission against the customer roster, rejection, eligibility,
survey activity, and the nightly retention purge."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..errors import InvalidInput, PartlyDone, Refused
from ..model import local_date, one_of, require_status
from ..retention import check_blast_radius, due_and_held, due_members, latest_start
from ..storage import Store
from ..storage_members import dated_condition
from .session import Session, plain

# Members erased a transaction: few commits and log wipes, the write lock held well under a second at a
# time, memory bounded by the batch (a crash leaves whole batches erased; the next purge does the rest).
PURGE_BATCH = 5000


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


def admit_all(session: Session, roster: Iterable[str], now: datetime) -> dict[str, list[str]]:
    """Admit, in one transaction, every applicant whose customer number is in the roster.

    Returns the ids admitted and the ids of the applicants left as they were
    because their customer number is not in the roster. Each admission is
    audited as ``admit`` does, and the run once more with its counts.
    """
    session.require_officer("admit members")
    digests = _roster_digests(session, roster)
    today = local_date(now).isoformat()
    with session.store.write():
        # By the day they applied, then by id (the order of the lists returned).
        applicants = [member_id for _, member_id in sorted((row["applied_at"] or "", row["member_id"]) for row in session.store.iter_members("applicant"))]
        customers = session.store.member_ids_with("customer_number", digests)
        admitted = [member_id for member_id in applicants if member_id in customers]
        for member_id in admitted:
            session.member_row(member_id)  # a row changed by hand is refused (exit 7), never admitted
            session.store.update_member(member_id, {"status": "member", "admitted_at": today, "updated_at": today})
            session.audit(now, "admit", member_id, ["customer_number"])
        others = [member_id for member_id in applicants if member_id not in customers]
        session.audit(now, "admit-all", None, ["customer_number"], {"admitted": len(admitted), "not_in_roster": len(others)})
    return {"admitted": admitted, "not_in_roster": others}


def reject(session: Session, member_id: str, reason: str, now: datetime) -> dict[str, Any]:
    """Reject an applicant for one of the policy's rejection reasons."""
    session.require_officer("reject applicants")
    one_of(reason, session.policies.register.rejection_reasons, "reason", "rejection reason")
    with session.store.write():
        row = session.member_row(member_id)
        require_status(row, "applicant", "reject")
        today = local_date(now).isoformat()
        session.store.update_member(member_id, {"status": "rejected", "rejected_at": today, "updated_at": today, "rejection_reason": reason})
        session.audit(now, "reject", member_id, detail={"reason": reason})
        return plain(session.member_row(member_id))


@dataclass(frozen=True)
class EligibilityCheck:
    """Admitted members against a roster, by outcome (member ids)."""

    admitted: int
    roster: int
    still_eligible: int
    newly_ineligible: list[str]
    cleared: list[str]
    already_marked: list[str]
    restricted: frozenset[str]

    @property
    def ineligible(self) -> list[str]:
        return self.newly_ineligible + self.already_marked

    @property
    def erasable(self) -> list[str]:
        """The ineligible members --remove erases: all but the restricted (Art. 18), whom it keeps."""
        return [member_id for member_id in self.ineligible if member_id not in self.restricted]

    def report(self, *, applied: bool, removed: bool, allowed: int) -> dict[str, Any]:
        """The outcome for the command line; ``allowed`` is how many members the guard lets one run touch."""
        return {
            "applied": applied, "removed": removed, "admitted": self.admitted, "roster": self.roster,
            "still_eligible": self.still_eligible, "newly_ineligible": self.newly_ineligible, "cleared": self.cleared,
            "already_marked": self.already_marked, "held": [m for m in self.ineligible if m in self.restricted],
            "erasable": len(self.erasable), "erased": self.erasable if removed else [], "allowed": allowed,
        }


def _check(session: Session, digests: set[str], roster: int) -> EligibilityCheck:
    """Every admitted member's outcome; the members concerned listed by the day they applied, then by id."""
    outcomes: dict[str, list[tuple[str, str]]] = {"new": [], "cleared": [], "marked": []}
    eligible = session.store.member_ids_with("customer_number", digests)
    restricted, still = set(), 0
    for row in session.store.iter_members("member"):
        member_id, marked = row["member_id"], bool(row["ineligible_at"])
        outcome = ("cleared" if marked else "still") if member_id in eligible else ("marked" if marked else "new")
        if outcome == "still":
            still += 1
        else:
            outcomes[outcome].append((row["applied_at"] or "", member_id))
        if row["restricted_at"]:
            restricted.add(member_id)
    listed = {outcome: [member_id for _, member_id in sorted(found)] for outcome, found in outcomes.items()}
    admitted = still + sum(len(ids) for ids in listed.values())
    return EligibilityCheck(admitted, roster, still, listed["new"], listed["cleared"], listed["marked"], frozenset(restricted))


def eligibility(
    session: Session, roster: Iterable[str], now: datetime, *, apply: bool = False, remove: bool = False, expect: int | None = None
) -> dict[str, Any]:
    """Admitted members against the customer roster: a dry run unless ``apply`` or ``remove``.

    ``apply`` records the day each member was first found ineligible (the clock
    of the conditions-not-met rule) and clears it for members back in the
    roster; ``remove`` also erases the ineligible members at once, except the
    restricted, who are kept. Both are refused (nothing written) for a roster
    with no rows, one that matches no admitted member, or one that would touch
    more than the policy's share, unless ``expect`` is the exact count a dry run
    showed (members newly ineligible, or erased with ``remove``).
    """
    session.require_officer("check eligibility")
    numbers = set(roster)
    if not numbers:
        raise Refused(
            "the roster lists no customer numbers: nothing was changed",
            hints=("an empty export would make every member ineligible; export the customer roster again",),
        )
    digests = _roster_digests(session, numbers)
    applying = apply or remove
    with session.store.write() if applying else session.store.read():
        found = _check(session, digests, len(numbers))
        if applying:
            _guard(session, found, remove=remove, expect=expect)
            _record(session, found, now, remove=remove)
    allowed = session.policies.retention.guards.eligibility.allowance(found.admitted)
    return found.report(applied=applying, removed=remove, allowed=allowed)


def _guard(session: Session, found: EligibilityCheck, *, remove: bool, expect: int | None) -> None:
    flag = "--remove" if remove else "--apply"
    count = len(found.erasable) if remove else len(found.newly_ineligible)
    if found.admitted and not (found.still_eligible or found.cleared) and expect is None:
        raise Refused(
            f"the roster matches none of the {found.admitted} admitted members: nothing was changed",
            hints=("is it the customer roster, with the customer numbers in its customer_number column?",
                   f"if no member is a customer any more, confirm with {flag} --expect {count}"),
        )
    does = f"{flag} would erase {{count}}" if remove else f"{flag} would mark {{count}}"
    check_blast_radius(
        session.policies.retention.guards.eligibility, count, found.admitted, expect,
        too_many=f"{does} of {{base}} admitted members{'' if remove else ' ineligible'} ({{percent}}), more than the {{limit}}"
        f" the retention policy allows at once: nothing was changed; if the roster is right, confirm with {flag} --expect {{count}}",
        mismatch=f"{flag} would {'erase' if remove else 'mark'} {{members}}, not the {{expect}} confirmed with --expect: nothing was changed;"
        " a dry run shows the count now",
    )


def _record(session: Session, found: EligibilityCheck, now: datetime, *, remove: bool) -> None:
    today = local_date(now).isoformat()
    for member_id in found.cleared:
        session.store.update_member(member_id, {"ineligible_at": None})
    for member_id in found.newly_ineligible:
        session.store.update_member(member_id, {"ineligible_at": today})
    detail = {"members": found.admitted, "newly_ineligible": len(found.newly_ineligible), "cleared": len(found.cleared),
              "already_marked": len(found.already_marked)}
    session.audit(now, "eligibility-check", None, ["customer_number"], detail)
    if remove:
        rows = session.find_rows(found.erasable)
        session.erase_rows([(rows[member_id], None) for member_id in found.erasable if member_id in rows], "conditions-not-met", now)


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
class Checked:
    """The due members as a plan checked them against the trail: on which store, at its ``data_version`` (another
    connection's commit changes it), and each one's lookup digests (all that erasing a member reads of its row)."""

    store: Store
    version: int
    lookups: dict[str, bytes | None]

    def holds(self, session: Session) -> bool:
        """The rows are still as checked: the same connection, and no other has committed since."""
        return session.store is self.store and self.store.data_version() == self.version


@dataclass(frozen=True)
class PurgePlan:
    as_of: date
    due: dict[str, list[str]]
    held: dict[str, list[str]] = field(default_factory=dict)
    members: int = 0
    checked: Checked | None = field(default=None, compare=False, repr=False)

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.due.values())

    @property
    def total_held(self) -> int:
        return sum(len(ids) for ids in self.held.values())


def plan_purge(session: Session, as_of: date) -> PurgePlan:
    """Which members each retention rule makes due on ``as_of``, and which it would but a restriction holds
    (reads plain columns only, of the members some rule's dates could make due).

    Every member due is checked against the trail: a status or date changed by
    hand must not make tonight's purge erase someone (exit 7 naming them).
    """
    retention = session.policies.retention
    conditions = [(rule.status, rule.clock, rule.fallback_clock, latest_start(rule.period, as_of).isoformat()) for rule in retention.rules]
    with session.store.read():
        candidates, check = session.rows_to_check(*dated_condition(conditions))
        due, held = due_and_held(retention, candidates, as_of)
        ids = [row["member_id"] for rows in due.values() for row in rows]
        check(ids)
        lookups = {row["member_id"]: row["lookup_digests"] for rows in due.values() for row in rows}
        members = session.store.count_members()
        checked = Checked(session.store, session.store.data_version(), lookups)
    return PurgePlan(as_of, _ids(due), _ids(held), members, checked)


def _ids(found: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    return {rule: [row["member_id"] for row in rows] for rule, rows in found.items()}


def purge(
    session: Session,
    now: datetime,
    *,
    plan: PurgePlan | None = None,
    expect: int | None = None,
    batch: int = PURGE_BATCH,
    on_erased: Callable[[str], None] | None = None,
) -> PurgePlan:
    """Erase every member due today (or in ``plan``), ``batch`` members a transaction.

    Refused, with nothing erased, when the plan would erase more than the
    policy's share of the register, unless ``expect`` is its exact count. Each
    member is checked again inside its transaction, so one changed since the
    plan (or restricted) is kept, unless no other connection has committed
    since the plan checked it (``PurgePlan.checked``). A crash between batches leaves whole members
    erased or untouched; the next run finishes the job; a failure after a batch
    committed is raised as PartlyDone, saying how many were erased. A purger
    slot suffices. ``on_erased`` hears each member erased, inside the
    transaction that erases them.
    """
    session.require_role(("officer", "purger"), "purge members")
    if plan is None:
        plan = plan_purge(session, local_date(now))
    check_blast_radius(
        session.policies.retention.guards.purge, plan.total, plan.members, expect,
        too_many="the purge would erase {count} of {base} members ({percent}), more than the {limit} the retention policy allows"
        " in one run: nothing was erased; if that is right, confirm with kss-panel purge --apply --expect {count}",
        mismatch="the purge would erase {members}, not the {expect} confirmed with --expect: nothing was erased;"
        " a dry run (kss-panel purge) shows the count now",
    )
    erased: dict[str, list[str]] = {rule: [] for rule in plan.due}
    try:
        _purge_batches(session, plan, now, erased, batch, on_erased)
    except Exception as exc:
        count = sum(len(ids) for ids in erased.values())
        if count:
            raise PartlyDone(f"{count} members had been erased before the failure and stay erased; the next purge erases the rest", exc) from exc
        raise
    return PurgePlan(plan.as_of, erased, plan.held, plan.members)


def _purge_batches(
    session: Session, plan: PurgePlan, now: datetime, erased: dict[str, list[str]], size: int, on_erased: Callable[[str], None] | None
) -> None:
    """Erase the plan's members ``size`` a transaction; the last also records the purge (when it erased anyone).

    ``on_erased`` hears each member erased, inside its transaction."""
    todo = [(rule, member_id) for rule, ids in plan.due.items() for member_id in ids]
    for start in range(0, len(todo), size):
        with session.store.write():
            part = todo[start : start + size]
            gone, rows = _still_due(session, plan, part)
            session.erase_rows([(rows[member_id], rule) for rule, member_id in gone], "retention", now)
            if on_erased is not None:
                for _, member_id in gone:
                    on_erased(member_id)
            total = sum(map(len, erased.values())) + len(gone)
            if start + size >= len(todo) and total:
                rules = {rule: len(ids) + sum(1 for r, _ in gone if r == rule) for rule, ids in erased.items()}
                session.audit(now, "purge", None, [], {"erased": total, "rules": {rule: n for rule, n in rules.items() if n}})
        for rule, member_id in gone:  # counted once the batch has committed
            erased[rule].append(member_id)


def _still_due(session: Session, plan: PurgePlan, part: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], dict[str, dict[str, Any]]]:
    """Which of ``part`` (rule, member id) to erase now, and their rows (what erasing them reads: id, lookup digests)."""
    ids = [member_id for _, member_id in part]
    if plan.checked is not None and plan.checked.holds(session) and all(member_id in plan.checked.lookups for member_id in ids):
        # No other connection has committed since the plan checked these rows against the trail (this one erased only
        # other members since): they are as the plan found them, due by the same rules, and are not read again.
        return part, {member_id: {"member_id": member_id, "lookup_digests": plan.checked.lookups[member_id]} for member_id in ids}
    # Check again inside the transaction: an officer may have changed (or restricted) a member since the plan.
    rows = session.find_rows(ids)
    due = {rule: {row["member_id"] for row in found} for rule, found in due_members(session.policies.retention, rows.values(), plan.as_of).items()}
    return [(rule, member_id) for rule, member_id in part if member_id in due[rule]], rows
