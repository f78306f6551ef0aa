"""Documents for people outside the terminal, rendered: a printable HTML page, or Markdown.

Jinja2 with autoescaping on for HTML, so every value (a hobby spelled
``<script>``) prints as itself; the page is self-contained, with a CSP that
loads nothing. For Markdown every value passes through ``markdown_escape``,
the same guarantee in that format. The same ``Document`` gives the same bytes.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .documents import Document

_html = Environment(
    loader=PackageLoader("kss_panel", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|{}])")
MARKDOWN_LINE_START = re.compile(r"^([#+\-=>]|\d+[.)])")


class MarkdownText(str):
    """Text escaped already, as a whole line (``line`` filter): ``markdown_escape`` lets it through."""


def markdown_escape(value: Any) -> str:
    """A value as literal Markdown text inside a line: no emphasis, link, HTML or table cell break comes of it."""
    if isinstance(value, MarkdownText):
        return value
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def markdown_line(value: Any) -> MarkdownText:
    """A value that starts a line: escaped, and not taken for a heading, list item or quote either."""
    return MarkdownText(MARKDOWN_LINE_START.sub(r"\\\1", markdown_escape(value)))


_markdown = Environment(
    loader=PackageLoader("kss_panel", "templates"),
    autoescape=False,
    finalize=markdown_escape,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_markdown.filters["line"] = markdown_line


def html(document: Document) -> str:
    """A self-contained, printable HTML page; every string is autoescaped."""
    return _html.get_template("document.html.j2").render(doc=document)


def markdown(document: Document) -> str:
    """The document as Markdown; every string is escaped."""
    return _markdown.get_template("document.md.j2").render(doc=document)


def render(document: Document, format_: str) -> str:
    return html(document) if format_ == "html" else markdown(document)
