"""The credential options every command that unlocks the register shares, declared once.

Secrets never come from a command-line argument: a passphrase comes from
--passphrase-file, KSS_PANEL_PASSPHRASE or a hidden prompt; a machine key from
its key file.
"""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import AuthError, NotFound
from ..keyslots import Credentials, read_key_file

OfficerOpt = Annotated[
    str | None, typer.Option("--officer", envvar="KSS_PANEL_OFFICER", help="Officer (key slot) name.", show_envvar=True)
]
PassphraseFileOpt = Annotated[
    Path | None, typer.Option("--passphrase-file", help="Read the passphrase from the first line of this file.")
]


def _key_file_option(flag: str) -> Any:
    return Annotated[
        Path | None,
        typer.Option(flag, envvar="KSS_PANEL_KEY_FILE", show_envvar=True, help="Unlock with a machine slot's key file."),
    ]


def CREDENTIAL_PARAMETERS(key_flag: str = "--key-file") -> list[inspect.Parameter]:  # noqa: N802 (a table, built per flag)
    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter("officer", keyword, default=None, annotation=OfficerOpt),
        inspect.Parameter("passphrase_file", keyword, default=None, annotation=PassphraseFileOpt),
        inspect.Parameter("key_file", keyword, default=None, annotation=_key_file_option(key_flag)),
    ]


@dataclass(frozen=True)
class CredentialOptions:
    """What the user gave to unlock with; ``resolve`` reads the secret (file, environment or prompt)."""

    officer: str | None
    passphrase_file: Path | None
    key_file: Path | None

    @classmethod
    def pop(cls, kwargs: dict[str, Any]) -> CredentialOptions:
        return cls(kwargs.pop("officer"), kwargs.pop("passphrase_file"), kwargs.pop("key_file"))

    def resolve(self) -> Credentials:
        if self.key_file is not None:
            return Credentials(key_secret=key_secret(self.key_file))
        if not self.officer:
            raise AuthError("no officer given", hints=("pass --officer or set KSS_PANEL_OFFICER, or use --key-file",))
        return Credentials(officer=self.officer, passphrase=passphrase(self.passphrase_file))


def read_secret_file(path: Path, what: str) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise NotFound(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError):
        raise AuthError(f"cannot read the {what} file {path}") from None
    return lines[0] if lines else ""


def prompt(text: str, *, confirm: bool) -> str:
    if not sys.stdin.isatty():
        raise AuthError(
            "no passphrase given and no terminal to ask on",
            hints=("set KSS_PANEL_PASSPHRASE, or pass --passphrase-file",),
        )
    return str(typer.prompt(text, hide_input=True, confirmation_prompt=confirm))


def passphrase(passphrase_file: Path | None, *, env: str = "KSS_PANEL_PASSPHRASE", confirm: bool = False, text: str = "Passphrase") -> str:
    if passphrase_file is not None:
        return read_secret_file(passphrase_file, "passphrase")
    if os.environ.get(env):
        return os.environ[env]
    return prompt(text, confirm=confirm)


def key_secret(key_file: Path) -> bytes:
    try:
        return read_key_file(read_secret_file(key_file, "key"))
    except ValueError:
        raise AuthError(f"{key_file} is not a kss-panel key file") from None
