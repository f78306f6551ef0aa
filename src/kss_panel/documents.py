"""Documents for people, as plain data: a title, sections of paragraphs, lists, tables and notes.

The access report, the privacy notice and the record of processing
activities are built as a ``Document`` whose every string is already in the
reader's language; ``reports`` renders one as a printable HTML page or as
Markdown, escaping every string for the format: what a document says is
decided in one place, how it looks in another.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Block:
    """One paragraph (``p``), subheading (``h3``), highlighted note (``note``), list (``ul``), table or list of terms (``dl``)."""

    kind: Literal["p", "h3", "note", "ul", "table", "dl"]
    text: str = ""
    items: tuple[str, ...] = ()
    head: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Section:
    heading: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Document:
    """``meta`` holds (label, value) lines under the title; ``footer`` closes the document."""

    language: str
    title: str
    subtitle: str = ""
    meta: tuple[tuple[str, str], ...] = ()
    sections: tuple[Section, ...] = ()
    footer: str = ""
    kind: str = "document"


def p(text: str) -> Block:
    return Block("p", text=text)


def h3(text: str) -> Block:
    return Block("h3", text=text)


def note(text: str) -> Block:
    return Block("note", text=text)


def ul(items: Iterable[str]) -> Block:
    return Block("ul", items=tuple(items))


def table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> Block:
    return Block("table", head=tuple(head), rows=tuple(tuple(row) for row in rows))


def dl(pairs: Iterable[tuple[str, str]]) -> Block:
    return Block("dl", pairs=tuple(pairs))


def section(heading: str, *blocks: Block | None) -> Section:
    """A section of the blocks given (None skipped, so a block can be conditional)."""
    return Section(heading, tuple(block for block in blocks if block is not None))
