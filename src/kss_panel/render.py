"""Human output: rich tables and panels. Values are rich ``Text``, never markup,
so a hobby spelled ``[red]x`` or ``<script>`` prints as itself.

Tables are read at 80 columns and in pipes: ids, dates and numbers are never
wrapped or cut (a table that cannot hold them is printed wider rather than
cut), and free text (names, descriptions) wraps instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .model import OBJECTION_ARTICLES, OBJECTION_WORDING, OBJECTIONS
from .policy import Policies
from .retention import describe
from .words import plural

# Columns whose every character matters: ids, dates, counts. Never wrapped, never cut.
WHOLE = {"id", "seq", "received", "deadline", "days_left", "entries"}
# A member id or a date inside free text keeps its own width too.
TOKEN = re.compile(r"M[a-z2-7]{16}|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9:]{8}\+00:00)?")
HEADERS = {
    "member_id": "member", "applied_at": "applied", "admitted_at": "admitted", "last_activity_at": "last active",
    "created_at": "created", "days_left": "days left", "closed_on": "closed",
}
WORD_MIN = 12  # a word of free text up to this long is not broken


def _cell(value: Any) -> Text:
    if value is None:
        return Text("—", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, list):
        return Text(", ".join(str(v) for v in value))
    return Text(str(value))


def _label(name: str) -> str:
    return name.replace("_", " ")


def member(console: Console, data: dict[str, Any], policies: Policies) -> None:
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    for column in ("member_id", "status", "applied_at", "admitted_at", "rejected_at", "rejection_reason", "last_activity_at", "updated_at",
                   "ineligible_at"):
        if data.get(column) is not None:
            header.add_row(_label(column), _cell(data[column]))
    if data.get("restricted_at"):
        header.add_row(
            Text("restricted", style="bold red"), Text(f"since {data['restricted_at']} ({data.get('restriction_reason')})", style="red")
        )
    for kind, column in OBJECTIONS.items():
        if data.get(column):
            header.add_row(Text("objects", style="bold"), Text(f"to {OBJECTION_WORDING[kind]} since {data[column]} (Art. 21)"))
    if data.get("suppression_match"):
        header.add_row(Text("flag", style="bold red"), Text("matches a person who objected and was erased", style="red"))
    panels: list[Any] = [header]
    for name, category in policies.register.categories.items():
        if name not in data:
            continue
        value = data[name]
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", min_width=24)
        grid.add_column()
        if isinstance(value, dict):
            for field, inner in value.items():
                grid.add_row(_label(field), _cell(inner))
        else:
            grid.add_row(_label(name), _cell(value))
        panels.append(Panel(grid, title=Text(category.title.en), title_align="left"))
    if data.get("surveys"):
        panels.append(Panel(_surveys(data["surveys"]), title=Text("Surveys and prize draws"), title_align="left"))
    console.print(Panel(Group(*panels), title=Text(f"member {data['member_id']}"), title_align="left"))


def _surveys(rows: list[dict[str, Any]]) -> Table:
    """A member's surveys: each invitation, the answer, and the draw's outcome; days are never cut."""
    grid = Table(box=None, pad_edge=False, padding=(0, 2), show_edge=False)
    for header in ("survey", "invited", "answered", "prize draw"):
        grid.add_column(header, no_wrap=header != "survey", overflow="fold")
    for row in rows:
        draw = row["draw"]
        entry = None if draw is None else f"prize {draw['prize']}, {draw['drawn_on']}" if draw["prize"] else f"entered, {draw['drawn_on']}"
        grid.add_row(Text(row["survey"]), _cell(row["invited_on"] or "erased"), _cell(row["responded_on"]), _cell(entry))
    return grid


def table(console: Console, rows: list[dict[str, Any]], columns: list[str], *, title: str | None = None,
          headers: dict[str, str] | None = None, whole: Iterable[str] = ()) -> None:
    """Rows under ``columns``; the headers are ``headers``, HEADERS or the column's name; ``whole`` columns,
    like ids and dates, are never wrapped or cut."""
    whole = set(whole)
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    out = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True, title_justify="left")
    needed = 2 * len(columns) - 2  # without edges, with padding collapsed: two spaces between columns
    for index, column in enumerate(columns):
        header = (headers or {}).get(column) or HEADERS.get(column) or _label(column)
        lines = [line for row in cells for line in row[index].plain.splitlines()]
        if column in WHOLE or column in whole or column.endswith(("_id", "_at", "_on")):
            width = max([len(header), *(len(line) for line in lines)])
            out.add_column(header, no_wrap=True, min_width=width)
        else:
            # Whole ids and dates; words up to WORD_MIN characters (a longer word may fold).
            tokens = [len(token) for line in lines for token in TOKEN.findall(line)]
            words = [min(len(word), WORD_MIN) for line in [header, *lines] for word in line.split()]
            width = max([*tokens, *words, 1])
            out.add_column(header, overflow="fold", min_width=width)
        needed += width
    for row in cells:
        out.add_row(*row)
    if needed > console.width:
        out.width = needed  # wider than the terminal, rather than cut an id or a date
    console.print(out)


def _whole_lines(*lines: str | None) -> Text:
    return Text("\n".join(line for line in lines if line))


def member_status(row: dict[str, Any]) -> Text:
    """A member's status, with a line for a restriction and each objection that stands."""
    notes = ["restricted" if row.get("restricted_at") else None]
    notes += [f"objection {OBJECTION_ARTICLES[kind]}" for kind, column in OBJECTIONS.items() if row.get(column)]
    return _whole_lines(row["status"], *notes)


def members(console: Console, rows: list[dict[str, Any]], *, names: bool = False) -> None:
    columns = ["member_id", "status", "applied_at", "admitted_at", "last_activity_at", *(["name"] if names else [])]
    shown = [{**row, "status": member_status(row), "name": " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)}
             for row in rows]
    table(console, shown, columns, title=plural(len(rows), "member"))


def request_status(view: dict[str, Any]) -> str:
    if view["status"] == "closed":
        return f"closed {view['closed_on']}: {view['outcome']}"
    days = view["days_left"]
    if view["overdue"]:
        return f"overdue by {plural(-days, 'day')}"
    return "open, due today" if days == 0 else f"open, {plural(days, 'day')} left"


def request_subject(view: dict[str, Any]) -> Text:
    """Whom a request is about, as far as the table may say: a member id, or what kind of value names the person."""
    if view["subject"] == "member":
        about = [view["member_id"], "erased" if view["erased"] else None]
    else:
        about = [f"{_label(view['subject'])} ({'sealed' if view['subject'] == 'person' else 'hash'})"]
    return _whole_lines(*about, view.get("who"))


def requests(console: Console, views: list[dict[str, Any]]) -> None:
    rows = [
        {**view, "about": request_subject(view), "status": request_status(view),
         "deadline": _whole_lines(view["deadline"], "extended" if view["extended"] else None)}
        for view in views
    ]
    table(console, rows, ["id", "type", "about", "received", "deadline", "status"], title=plural(len(views), "request"),
          headers={"id": "#"})


def consents(console: Console, data: dict[str, Any]) -> None:
    """A member's consents after a change, and the objections that stand."""
    table(console, [{"consent": name, "given": value} for name, value in data["consents"].items()], ["consent", "given"])
    for kind, column in OBJECTIONS.items():
        if data.get(column):
            console.print(Text(f"objects to {OBJECTION_WORDING[kind]} since {data[column]}"))


def policies(console: Console, policies: Policies) -> None:
    register = policies.register
    console.print(Text(f"{register.register_info.name.en} — policy hash {policies.hash}", style="bold"))
    console.print(Text(f"controller: {register.controller.name}, {register.controller.address}"))
    person = register.controller.contact_person
    console.print(Text(f"contact: {person.name}, {person.role.en} <{person.email}>"))
    table(
        console,
        [{"purpose": k, "legal_basis": v.legal_basis, "title": v.title.en} for k, v in register.purposes.items()],
        ["purpose", "legal_basis", "title"],
        title="purposes",
    )
    table(
        console,
        [{"category": k, "title": v.title.en, "fields": len(v.fields or {}) or 1} for k, v in register.categories.items()],
        ["category", "title", "fields"],
        title="categories",
    )
    table(
        console,
        [
            {"rule": r.name, "status": r.status, "clock": r.clock + (f" (else {r.fallback_clock})" if r.fallback_clock else ""),
             "period": describe(r.period), "action": r.action}
            for r in policies.retention.rules
        ],
        ["rule", "status", "clock", "period", "action"],
        title=f"retention (restricted members: {policies.retention.restricted})",
    )
    table(
        console,
        [{"record": name.replace("_", " "), "period": describe(kept.period)} for name, kept in policies.retention.records.items()],
        ["record", "period"],
        title="records kept beside members' data",
    )
    table(
        console,
        [
            {"recipient": k + (" (example)" if r.example else ""), "name": r.name or r.category.en, "role": r.role,
             "country": r.country, "safeguard": r.safeguard,
             "purposes": ", ".join(f"{p} ({g.consent})" for p, g in r.purposes.items()) or "all (hosting)",
             "fields": len(r.fields) if r.access == "export" else "all"}
            for k, r in policies.disclosure.recipients.items()
        ],
        ["recipient", "name", "role", "country", "safeguard", "purposes", "fields"],
        title="disclosure",
    )
    surveys = policies.surveys
    table(
        console,
        [{"setting": "recipient", "value": f"{surveys.recipient}, for {surveys.purpose}"},
         {"setting": "fields", "value": ", ".join(surveys.fields)},
         {"setting": "rest", "value": f"{plural(surveys.rest.days, 'day')} between invitations, at most {surveys.rest.per_year} a year"},
         {"setting": "strata", "value": ", ".join(surveys.strata) or "none"},
         {"setting": "draws", "value": f"{surveys.draws.purpose}, consent {surveys.draws.consent}"}],
        ["setting", "value"],
        title="surveys",
    )
