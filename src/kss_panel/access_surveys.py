"""A member's surveys and prize draws in the Art. 15 answer: what the document lists, and the report's
section in the member's language (fi, sv, en). Pure."""

from __future__ import annotations

from typing import Any

from . import labels
from .documents import Section, p, section, table

TEXT: dict[str, dict[str, str]] = {
    "fi": {
        "heading": "Kyselyt ja arvonnat", "none": "Sinua ei ole kutsuttu paneelin kyselyihin.",
        "intro": "Sinut on kutsuttu näihin paneelin kyselyihin; vastauksesi sisältöä rekisteri ei sisällä.",
        "survey": "Kysely", "invited": "Kutsuttu", "answered": "Vastattu", "draw": "Arvonta",
        "won": "voitit palkinnon {n} ({day})", "entered": "osallistuit, ei voittoa ({day})", "kept": "kutsun tieto on jo poistettu",
    },
    "sv": {
        "heading": "Enkäter och utlottningar", "none": "Du har inte bjudits in till panelens enkäter.",
        "intro": "Du har bjudits in till dessa enkäter i panelen; registret innehåller inte vad du svarade.",
        "survey": "Enkät", "invited": "Inbjuden", "answered": "Besvarad", "draw": "Utlottning",
        "won": "du vann pris {n} ({day})", "entered": "du deltog, ingen vinst ({day})", "kept": "uppgiften om inbjudan har redan raderats",
    },
    "en": {
        "heading": "Surveys and prize draws", "none": "You have not been invited to the panel's surveys.",
        "intro": "You were invited to these surveys of the panel; the register does not hold what you answered.",
        "survey": "Survey", "invited": "Invited", "answered": "Answered", "draw": "Prize draw",
        "won": "you won prize {n} ({day})", "entered": "you took part, no prize ({day})", "kept": "the invitation's record has been erased",
    },
}


def participation(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A member's surveys as the access document (and ``show``) lists them: invited and answered on which
    days, and their entry in the survey's prize draw (its day and the prize won, or none)."""
    return [
        {"survey": row["survey"], "title": row["title"], "invited_on": row["invited_on"], "responded_on": row["responded_on"],
         "draw": {"drawn_on": row["drawn_on"], "prize": row["prize"]} if row["entered"] else None}
        for row in rows
    ]


def report_section(export: dict[str, Any]) -> Section:
    """The report's section on surveys and draws, in the document's language."""
    language = labels.language_of(export["language"])
    t = TEXT[language]
    found = export.get("surveys") or []
    if not found:
        return section(t["heading"], p(t["none"]))
    rows = [
        (item["title"], labels.local_day(item["invited_on"], language) if item["invited_on"] else t["kept"],
         labels.local_day(item["responded_on"], language) if item["responded_on"] else "—", _draw(item["draw"], t, language))
        for item in found
    ]
    return section(t["heading"], p(t["intro"]), table((t["survey"], t["invited"], t["answered"], t["draw"]), rows))


def _draw(entry: dict[str, Any] | None, t: dict[str, str], language: str) -> str:
    if entry is None:
        return "—"
    day = labels.local_day(entry["drawn_on"], language)
    return t["won"].format(n=entry["prize"], day=day) if entry["prize"] else t["entered"].format(day=day)
