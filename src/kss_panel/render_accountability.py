"""Human output of what the controller must be able to show: consent histories, re-consent lists,
notifications to recipients (Art. 19) and the breach register (Art. 33). Tables as ``render`` draws them:
ids, dates and times whole at 80 columns and in pipes, free text wrapped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from .model import REGISTER_TZ
from .policy import Policies
from .render import table
from .words import plural

WORDING = {"current": "current", "changed": "changed since", "retired": "consent retired"}


def local(instant: str | None) -> str | None:
    """An ISO instant in Finnish time, to the minute: 2026-06-15 15:00."""
    if instant is None:
        return None
    return datetime.fromisoformat(instant).astimezone(REGISTER_TZ).strftime("%Y-%m-%d %H:%M")


def consent_history(console: Console, data: dict[str, Any], policies: Policies) -> None:
    """A member's consent receipts, oldest first, and the consents held under wording changed since."""
    lines = data.get("consent_history", [])
    rows = [
        {"when_at": local(line["at"]), "change": line["event"], "what": line["consent"] or f"objection: {line['objection']}",
         "channel": line["channel"], "slot": line["slot"], "wording": WORDING.get(line["wording"] or "", "")}
        for line in lines
    ]
    if rows:
        table(console, rows, ["when_at", "change", "what", "channel", "slot", "wording"], title="consent history (Finnish time)",
              headers={"when_at": "when"})
    else:
        console.print(Text("consent history: no receipts"))
    for name, version in data.get("outdated_consents", {}).items():
        given = f"under wording {version}" if version else "with no receipt (before receipts were kept)"
        console.print(Text(f"{name} was given {given}; the wording has changed since: ask again (list --consent-outdated {name})"))


def outdated(console: Console, rows: list[dict[str, Any]], consent: str, *, names: bool = False) -> None:
    """The members who hold ``consent`` under wording changed since."""
    shown = [{**row, "given_on": (row["given_at"] or "")[:10] or None, "version": row["given_version"] or "no receipt",
              "name": " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)} for row in rows]
    current = rows[0]["current_version"] if rows else None
    title = f"{plural(len(rows), 'member')} holding {consent} under wording changed since" + (f" (now {current})" if current else "")
    table(console, shown, ["member_id", "status", "given_on", "version", *(["name"] if names else [])], title=title,
          headers={"given_on": "given", "version": "wording given"})


def receipt(console: Console, event: dict[str, Any] | None) -> None:
    """The receipt a consent change recorded, or that it needed none."""
    if event is None:
        console.print(Text("no receipt: nothing changed"))
        return
    parts = [f"given {', '.join(event['given'])}" if event["given"] else None,
             f"withdrawn {', '.join(event['withdrawn'])}" if event["withdrawn"] else None,
             *(f"objection {kind}: {change}" for kind, change in event["objections"].items())]
    console.print(Text(f"receipt {local(event['at'])} (Finnish time) by {event['slot']} via {event['channel']}: "
                       + "; ".join(part for part in parts if part)))


def to_notify(console: Console, data: dict[str, Any], *, would: bool = False) -> None:
    """The recipients a change (or, ``would``, a dry run) owes a notification under Art. 19, and those withdrawn."""
    if data.get("notify"):
        verb = "would notify" if would else "to notify"
        console.print(Text(f"{verb} (Art. 19): {', '.join(data['notify'])}" + ("" if would else " (kss-panel notify list)")))
    if data.get("withdrawn_notifications"):
        console.print(Text(f"notifications withdrawn, none sent yet: {', '.join(data['withdrawn_notifications'])}"))


def notifications(console: Console, rows: list[dict[str, Any]], *, sent: bool = False) -> None:
    """Notifications owed to recipients (and with ``sent`` those sent), by recipient."""
    shown = [{**row, "member": Text("\n".join(part for part in (row["member_id"], "erased" if row["erased"] else None) if part)),
              "fields": "\n".join(row["fields"]) if row["event"] == "rectified" else f"all\n({plural(len(row['fields']), 'field')})",
              "recorded_on": "\n".join([row["recorded_on"], *([f"sent {row['sent_on']}" if row["sent_on"] else "pending"] if sent else [])])}
             for row in rows]
    pending = sum(1 for row in rows if not row["sent_on"])
    counts = ", ".join(f"{recipient} {n}" for recipient, n in sorted(_count(rows, pending_only=True).items()))
    title = f"{plural(pending, 'pending notification')}" + (f" ({counts})" if counts else "")
    columns = ["id", "recipient", "member", "event", "fields", "recorded_on"]
    table(console, shown, columns, title=title, headers={"id": "#", "recorded_on": "recorded, sent" if sent else "recorded"},
          whole=frozenset({"recipient", "fields"}))


def _count(rows: list[dict[str, Any]], *, pending_only: bool) -> dict[str, int]:
    found: dict[str, int] = {}
    for row in rows:
        if not (pending_only and row["sent_on"]):
            found[row["recipient"]] = found.get(row["recipient"], 0) + 1
    return found


def breach_status(view: dict[str, Any]) -> str:
    """A breach's status in words: the hours left, overdue, or how it was closed."""
    if view["status"] == "notified":
        return f"Ombudsman notified {view['authority_notified_on']}" + (" (late)" if view["late"] else "")
    if view["status"] == "not-notified":
        return f"not notified: {view['not_notified_reason']}"
    hours = view["hours_left"]
    if view["status"] == "overdue":
        return f"overdue by {plural(-hours, 'hour')}"
    return f"open, {plural(hours, 'hour')} left"


def breaches(console: Console, views: list[dict[str, Any]]) -> None:
    """Every breach: the 72-hour deadline (Finnish time), the status, whom and what it affected."""
    rows = [
        {**view, "deadline_at": local(view["deadline"]), "status": breach_status(view),
         "members": f"{view['affected']}" + (f"\n({view['erased']} erased)" if view["erased"] else ""),
         "categories": "\n".join(view["categories"])}
        for view in views
    ]
    table(console, rows, ["id", "title", "deadline_at", "status", "members", "categories"],
          title=f"{plural(len(views), 'breach', 'breaches')} (deadlines in Finnish time)", headers={"id": "#", "deadline_at": "deadline"},
          whole=frozenset({"categories"}))
