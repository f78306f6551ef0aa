"""The project's one error hierarchy.

Every failure a user can cause or meet is one of these. Messages never hold a
personal value or a secret: they name fields, ids and files, not contents.
Problems name the parameter or file at fault; only ``cli`` turns a parameter
into the option the user typed, and an error into an exit code.
"""

from __future__ import annotations

from pathlib import Path


class Param(str):
    """A problem's path that names a parameter of the use case (``reason``), not a field.

    The command line shows the option the user typed for it (``--reason``);
    ``a/b`` and ``a|b`` name several parameters.
    """


class KssPanelError(Exception):
    """Base of every error kss-panel reports to its user."""

    def __init__(self, message: str, *, hints: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hints = hints


class AuthError(KssPanelError):
    """Unlocking failed, or the unlocked slot's role may not do this."""


class NotFound(KssPanelError):
    """A member, officer, recipient, request or file does not exist."""


class InvalidInput(KssPanelError):
    """Input was rejected; ``problems`` lists every ``(path, problem)``."""

    def __init__(
        self,
        message: str,
        problems: list[tuple[str, str]] | None = None,
        *,
        hints: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, hints=hints)
        self.problems = problems or []


class FileRefused(InvalidInput):
    """A file to be created exists already, or the system refused to create it.

    The problem names the file; the command line names the option that gave it.
    """

    def __init__(self, message: str, path: Path, problem: str) -> None:
        super().__init__(message, [(str(path), problem)])
        self.path = path


class PolicyError(KssPanelError):
    """A policy file is invalid; ``problems`` lists ``(file:line, problem)``."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class IntegrityError(KssPanelError):
    """Tampered ciphertext, a broken audit chain, or a corrupt register file."""


class Busy(KssPanelError):
    """The register stayed locked by another writer past the busy timeout."""


class CommittedButBusy(Busy):
    """The change committed, and then another command held the register past the busy timeout;
    the message says what stands."""


class Refused(KssPanelError):
    """The policy or a safeguard refuses this (disclosure not allowed, no consent, roster, a restriction,
    a blast-radius guard); ``problems`` may list ``(path, problem)`` (the strata a quota cannot fill)."""

    def __init__(self, message: str, *, hints: tuple[str, ...] = (), problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message, hints=hints)
        self.problems = problems or []


class StorageError(KssPanelError):
    """The system refused a read or a write: permission denied, a full disk, a read-only file system, an I/O error.

    The message names the file and the cause; the command line says whether
    anything was changed.
    """


class PartlyDone(Exception):
    """Work that commits in steps stopped part-way: ``done`` says, in words, what had committed before ``cause``.

    Raised from the cause; the command line reports the cause (its message and
    exit code) and then what stays done, so "nothing was changed" is never said
    after a committed step.
    """

    def __init__(self, done: str, cause: BaseException) -> None:
        super().__init__(done)
        self.done = done
        self.cause = cause
