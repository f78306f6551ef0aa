"""The command line: parse, call one service, render. The only package that knows exit codes and prints."""

from __future__ import annotations

from . import backup, disclosure, keys, lifecycle, members, officers, policies, requests, rights, trail  # noqa: F401  (each registers its commands)
from .app import app

__all__ = ["app", "main"]


def main() -> None:
    app(prog_name="kss-panel")
