"""Retention, evaluated: when each rule erases a member, and who is due on a day.

The rules themselves are data in policies/retention.yaml (``policy``); this
module reads only members' plain columns (status and dates), never a box.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from .model import add_months
from .policy import Period, RetentionPolicy, RetentionRule


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


def due_members(retention: RetentionPolicy, rows: Iterable[dict[str, Any]], as_of: date) -> dict[str, list[dict[str, Any]]]:
    """The members each rule makes due on ``as_of``: the first rule that fires wins.

    A member is due when the rule's clock date plus its period is on or before
    ``as_of``. A restricted member is held unless the policy says "ignore".
    """
    due: dict[str, list[dict[str, Any]]] = {rule.name: [] for rule in retention.rules}
    for row in rows:
        if row.get("restricted_at") and retention.restricted == "hold":
            continue
        for rule in retention.rules:
            if rule.status != row["status"]:
                continue
            when = due_on(rule, row)
            if when is not None and when <= as_of:
                due[rule.name].append(row)
                break
    return due


def next_due(retention: RetentionPolicy, row: dict[str, Any]) -> tuple[RetentionRule, date] | None:
    """The rule that will erase this member first, and the day it fires."""
    dated = [(rule, due_on(rule, row)) for rule in retention.rules if rule.status == row["status"]]
    found = [(rule, when) for rule, when in dated if when is not None]
    return min(found, key=lambda pair: pair[1]) if found else None
