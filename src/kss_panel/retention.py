"""Retention, evaluated: when each rule erases a member, and who is due on a day.

The rules themselves are data in policies/retention.yaml (``policy``); this
module reads only members' plain columns (status and dates), never a box.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from .model import add_months
from .errors import Refused
from .policy import Guard, Period, RetentionPolicy, RetentionRule


def period_end(period: Period, start: date) -> date:
    """``start`` plus the period (calendar months clamp at month ends)."""
    if period.days is not None:
        return start + timedelta(days=period.days)
    assert period.months is not None
    return add_months(start, period.months)


def latest_start(period: Period, as_of: date) -> date:
    """The last day a period may start on and have ended by ``as_of``: everything that started on it
    or before is due. (Month ends clamp, so 2024-02-29 + 24 months is due on 2026-02-28 too.)"""
    if period.days is not None:
        return as_of - timedelta(days=period.days)
    assert period.months is not None
    start = add_months(as_of, -period.months)
    while period_end(period, start + timedelta(days=1)) <= as_of:
        start += timedelta(days=1)
    return start


def describe(period: Period) -> str:
    return f"{period.days} days" if period.days is not None else f"{period.months} months"


def rule_start(rule: RetentionRule, row: dict[str, Any]) -> date | None:
    """The date ``rule`` counts from for a member row, if it has one."""
    raw = row.get(rule.clock) or (row.get(rule.fallback_clock) if rule.fallback_clock else None)
    return date.fromisoformat(raw) if raw else None


def due_on(rule: RetentionRule, row: dict[str, Any]) -> date | None:
    start = rule_start(rule, row)
    return period_end(rule.period, start) if start else None


Due = dict[str, list[dict[str, Any]]]


def due_members(retention: RetentionPolicy, rows: Iterable[dict[str, Any]], as_of: date) -> Due:
    """The members each rule makes due on ``as_of`` (the first rule that fires wins); restricted members are held."""
    return due_and_held(retention, rows, as_of)[0]


def due_and_held(retention: RetentionPolicy, rows: Iterable[dict[str, Any]], as_of: date) -> tuple[Due, Due]:
    """The members each rule makes due on ``as_of``, and the restricted members it would: those are held.

    A member is due when the rule's clock date plus its period is on or before
    ``as_of``; the first rule that fires wins. A restriction (Art. 18) holds
    against every erasure.
    """
    due: Due = {rule.name: [] for rule in retention.rules}
    held: Due = {rule.name: [] for rule in retention.rules}
    for row in rows:
        for rule in retention.rules:
            if rule.status != row["status"]:
                continue
            when = due_on(rule, row)
            if when is not None and when <= as_of:
                (held if row.get("restricted_at") else due)[rule.name].append(row)
                break
    return due, held


def next_due(retention: RetentionPolicy, row: dict[str, Any]) -> tuple[RetentionRule, date] | None:
    """The rule that will erase this member first, and the day it fires."""
    dated = [(rule, due_on(rule, row)) for rule in retention.rules if rule.status == row["status"]]
    found = [(rule, when) for rule, when in dated if when is not None]
    return min(found, key=lambda pair: pair[1]) if found else None


def percent(count: int, base: int) -> str:
    return f"{100 * count / base:.1f}%" if base else "all"


def check_blast_radius(guard: Guard, count: int, base: int, expect: int | None, *, too_many: str, mismatch: str) -> None:
    """Refuse a run that would touch more members than ``guard`` allows, unless ``expect`` is the exact count.

    ``count`` of ``base`` members would be touched. ``too_many`` and
    ``mismatch`` are the messages (format fields count, members, base,
    percent, limit, expect), each one line, for cron. An ``expect`` that is not the count is
    refused however small the run: the officer confirmed another outcome.
    """
    if expect is not None:
        if expect != count:
            raise Refused(mismatch.format(count=count, members=f"{count} member{'' if count == 1 else 's'}", expect=expect))
        return
    if count > guard.allowance(base):
        raise Refused(too_many.format(count=count, base=base, percent=percent(count, base), limit=f"{guard.max_percent:g}%"))
