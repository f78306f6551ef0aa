"""English wording of counts and articles in what the tool says: "1 member", "an erasure request"."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and the noun agreeing with it: ``1 member``, ``2 members``, ``0 entries`` (``many`` when irregular)."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def article(word: str) -> str:
    """``word`` with its indefinite article: ``an erasure``, ``a rectification``."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"
