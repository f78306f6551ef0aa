"""JSON input within bounds: what one input may cost, and a JSON array read in linear time.

A record (or patch) is at most MAX_JSON_INPUT characters and MAX_DEPTH levels
deep (a record is three deep). Beyond them the input is refused (exit 5), never
parsed at length: hostile input costs time and memory in proportion to these
limits, not to its size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from .errors import InvalidInput

MAX_JSON_INPUT = 1_000_000
MAX_DEPTH = 32
TOO_DEEP = f"is nested more than {MAX_DEPTH} levels deep"


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed JSON value nests deeper than ``limit`` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > limit:
            return True
        if isinstance(item, dict):
            stack += [(child, level + 1) for child in item.values()]
        elif isinstance(item, list):
            stack += [(child, level + 1) for child in item]
    return False


def parse_json(text: str | bytes) -> Any:
    """A JSON value, or ValueError (a JSONDecodeError naming where, or one that says it nests too deep)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(TOO_DEEP) from None
    if too_deep(value):
        raise ValueError(TOO_DEEP)
    return value


class ArrayScan:
    """A cursor over decoded chunks of a JSON array: ``text`` from ``pos`` is what is not consumed yet."""

    DECODER = json.JSONDecoder()

    def __init__(self, chunks: Iterator[str]) -> None:
        self.chunks = chunks
        self.text, self.pos, self.line, self.exhausted = "", 0, 1, False

    def more(self, at_least: int = 1) -> bool:
        """Read on until ``at_least`` characters are unconsumed (or the file ends); drop what is consumed."""
        pieces = [self.text[self.pos :]]
        have = len(pieces[0])
        while have < at_least and not self.exhausted:
            chunk = next(self.chunks, "")
            self.exhausted = chunk == ""
            pieces.append(chunk)
            have += len(chunk)
        grew = have > len(pieces[0])
        self.text, self.pos = "".join(pieces), 0
        return grew

    def skip(self) -> None:
        """Past blanks and commas, counting lines; reads on at the end of the text."""
        while True:
            end = _BLANKS.match(self.text, self.pos).end()  # type: ignore[union-attr]
            self.line += self.text.count("\n", self.pos, end)
            self.pos = end
            if end < len(self.text) or not self.more():
                return

    def value(self) -> tuple[Any, str | None]:
        """The value at ``pos``, consumed, and the problem that makes it no record (or None). A value that
        spans chunks is parsed again only once the text has doubled, so it costs linear time."""
        while True:
            try:
                value, end = self.DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if self.exhausted:
                    line = self.line + self.text.count("\n", self.pos, exc.pos)
                    raise InvalidInput("not valid JSON", [(f"line {line}", exc.msg)]) from None
                pending = len(self.text) - self.pos
                if pending > MAX_JSON_INPUT:
                    raise InvalidInput("the file cannot be read on", [(
                        f"line {self.line}", f"a record is longer than {MAX_JSON_INPUT} characters (or a string is not closed)")]) from None
                self.more(2 * pending)
                continue
            except RecursionError:
                raise InvalidInput("the file cannot be read on", [(f"line {self.line}", TOO_DEEP)]) from None
            if end == len(self.text) and not self.exhausted:
                self.more(len(self.text) - self.pos + 1)  # a number at the very end may go on in the next chunk
                continue
            self.line += self.text.count("\n", self.pos, end)
            self.pos = end
            return value, TOO_DEEP if too_deep(value) else None

    def rest_is_blank(self) -> None:
        while True:
            if self.text[self.pos :].strip():
                raise InvalidInput("not valid JSON", [(f"line {self.line}", "text after the closing ]")])
            self.pos = len(self.text)
            if not self.more():
                return


_BLANKS = re.compile(r"[ \t\r\n,]*")
