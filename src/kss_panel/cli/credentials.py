"""The credential options every command that unlocks the register shares, declared once.

Secrets never come from a command-line argument: a passphrase comes from
--passphrase-file, KSS_PANEL_PASSPHRASE or a hidden prompt; a machine key from
its key file.
"""

from __future__ import annotations

import inspect
import os
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import AuthError, NotFound

if TYPE_CHECKING:
    from ..keyslots import Credentials

OfficerOpt = Annotated[
    str | None, typer.Option("--officer", envvar="KSS_PANEL_OFFICER", help="Officer (key slot) name.", show_envvar=True)
]
# Where prompts ask: the controlling terminal. The command line's context object may name another (the tests' pty).
TERMINAL = "/dev/tty"
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
    terminal: str = TERMINAL

    @classmethod
    def pop(cls, kwargs: dict[str, Any], terminal: str = TERMINAL) -> CredentialOptions:
        return cls(kwargs.pop("officer"), kwargs.pop("passphrase_file"), kwargs.pop("key_file"), terminal)

    def resolve(self) -> Credentials:
        from ..keyslots import Credentials

        if self.key_file is not None:
            return Credentials(key_secret=key_secret(self.key_file))
        if not self.officer:
            raise AuthError("no officer given", hints=("pass --officer or set KSS_PANEL_OFFICER, or use --key-file",))
        return Credentials(officer=self.officer, passphrase=passphrase(self.passphrase_file, terminal=self.terminal))


def read_secret_file(path: Path, what: str) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise NotFound(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError):
        raise AuthError(f"cannot read the {what} file {path}") from None
    return lines[0] if lines else ""


def prompt(text: str, *, confirm: bool, terminal: str = TERMINAL) -> str:
    """Ask on the terminal itself, never on stdin, as age does: stdin may carry the input
    (``... | kss-panel update M --file -``). Typed characters are not echoed."""
    try:
        fd = os.open(terminal, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        fd = -1
    if fd < 0 or not os.isatty(fd):
        if fd >= 0:
            os.close(fd)
        raise AuthError("no passphrase given and no terminal to ask on", hints=("set KSS_PANEL_PASSPHRASE, or pass --passphrase-file",))
    try:
        for attempt in range(3 if confirm else 1):
            secret = _ask(fd, f"{text}: ")
            if not confirm or _ask(fd, "Repeat for confirmation: ") == secret:
                return secret
            if attempt < 2:
                os.write(fd, b"The two entries differ; try again.\n")
        raise AuthError("the passphrase was not entered the same twice")
    finally:
        os.close(fd)


def _ask(fd: int, text: str) -> str:
    """One line read from the terminal ``fd`` with echo off; the terminal is restored whatever happens."""
    saved = termios.tcgetattr(fd)
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~termios.ECHO
    line = b""
    try:
        # Echo off (and anything typed ahead dropped) before the prompt shows, as getpass does.
        termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
        os.write(fd, text.encode())
        while not line.endswith(b"\n"):
            chunk = os.read(fd, 1024)
            if not chunk:
                raise AuthError("no passphrase entered")
            line += chunk
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
        os.write(fd, b"\n")
    try:
        return line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise AuthError("the passphrase typed is not UTF-8 text") from None


def passphrase(
    passphrase_file: Path | None, *, env: str = "KSS_PANEL_PASSPHRASE", confirm: bool = False, text: str = "Passphrase",
    terminal: str = TERMINAL,
) -> str:
    if passphrase_file is not None:
        return read_secret_file(passphrase_file, "passphrase")
    if os.environ.get(env):
        return os.environ[env]
    return prompt(text, confirm=confirm, terminal=terminal)


def key_secret(key_file: Path) -> bytes:
    from ..keyslots import read_key_file

    try:
        return read_key_file(read_secret_file(key_file, "key"))
    except ValueError:
        raise AuthError(f"{key_file} is not a kss-panel key file") from None
