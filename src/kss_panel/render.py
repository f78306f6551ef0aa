"""Human output: rich tables and panels. Values are rich ``Text``, never markup,
so a hobby spelled ``[red]x`` or ``<script>`` prints as itself."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .policy import Policies
from .retention import describe


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
    if data.get("objected_at"):
        header.add_row(Text("objected", style="bold"), Text(f"to direct marketing since {data['objected_at']}"))
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
    console.print(Panel(Group(*panels), title=Text(f"member {data['member_id']}"), title_align="left"))


def table(console: Console, rows: list[dict[str, Any]], columns: list[str], *, title: str | None = None) -> None:
    out = Table(title=title, show_lines=False)
    for column in columns:
        out.add_column(_label(column))
    for row in rows:
        out.add_row(*(_cell(row.get(column)) for column in columns))
    console.print(out)


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
        [{"record": name.replace("_", " "), "period": describe(kept.period)} for name, kept in policies.retention.records],
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
