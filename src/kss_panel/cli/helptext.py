"""Help that names what the policies allow: option values listed under the help, and ``{consents}`` filled in."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Any

import typer
from typer.core import TyperCommand

from ..errors import KssPanelError


def listing(names: Iterable[str]) -> str:
    """Values to list under an option's help: a block the help formatter does not rewrap ("\\b"),
    so no value is broken at its hyphen."""
    return "\n\n\b\n" + textwrap.fill(", ".join(names), width=40, break_on_hyphens=False, break_long_words=False)


def policy_values(state: Any) -> dict[str, str]:
    """The names a command's help lists from the policies (``{consents}`` …); where the file is when they cannot be read.

    ``state`` is the command line's state (``app.State``), if the root has set it up.
    """
    try:
        policies = state.policies() if hasattr(state, "policies") else None
    except KssPanelError:
        policies = None
    if policies is None:
        return {"consents": listing(["the consents of register.yaml"]), "rejection_reasons": listing(["the rejection_reasons of register.yaml"]),
                "recipients": listing(["the recipients of disclosure.yaml"]), "purposes": listing(["the purposes of register.yaml"])}
    register = policies.register
    return {"consents": listing(register.consents), "rejection_reasons": listing(register.rejection_reasons),
            "recipients": listing(policies.disclosure.recipients), "purposes": listing(register.purposes)}


class Command(TyperCommand):
    """A command whose help names the values the policy allows: ``{consents}`` in a help text is filled in."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        values = policy_values(ctx.find_root().obj)
        owners = [self, *(param for param in self.params if getattr(param, "help", None))]
        saved = [owner.help for owner in owners]
        try:
            for owner in owners:
                owner.help = _fill(owner.help or "", values)
            super().format_help(ctx, formatter)
        finally:
            for owner, text in zip(owners, saved, strict=True):
                owner.help = text


def choice(flag: str, values: Iterable[Any], help: str, **options: Any) -> Any:
    """An option that takes one of ``values``: listed in its help and completed by the shell like the parser's
    own choices, but checked by the service, so a wrong value is invalid input (exit 5) naming the option,
    not a usage error (exit 2)."""
    names = [str(value) for value in values]

    def complete(incomplete: str) -> list[str]:
        return [name for name in names if name.startswith(incomplete)]

    listed = "|".join(names)
    if len(listed) > 32:  # too long for the option column at 80 columns: listed under the help
        metavar, help = flag.lstrip("-").upper(), f"{help} One of:{listing(names)}"
    else:
        metavar = f"[{listed}]"
    return typer.Option(flag, metavar=metavar, autocompletion=complete, help=help, **options)


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text
