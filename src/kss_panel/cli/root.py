"""The root of the command line: the Typer apps, the JSON envelope, exit codes, and the command decorator.

The only place that turns the project's errors into an exit code and a line on
stderr, and the only place that names options: services name their
parameters (``reason``), and the error shows the option the user typed
(``--reason``).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from .. import __version__
from ..config import DEFAULT_DB, DEFAULT_POLICIES, Config, busy_timeout_from_env
from ..database import COMMITS
from ..errors import (
    AuthError, Busy, CommittedButBusy, FileRefused, IntegrityError, InvalidInput, KssPanelError, NotFound, Param, PartlyDone, PolicyError, Refused, StorageError,
)
from . import output
from .credentials import CREDENTIAL_PARAMETERS, TERMINAL, CredentialOptions
from .helptext import Command, choice  # noqa: F401  (choice: the commands' modules take it from here)
from .output import err

if TYPE_CHECKING:
    # What a command needs is imported when it runs, never for --help: the policies'
    # schema, the services and the storage pull in pydantic, cryptography and the rest.
    from ..policy import Policies
    from ..services.session import Session

# Exit codes: a contract, documented in the README (tests/test_docs.py compares the two).
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
# stdout was closed before the output was all written (`| head -1`): 128 + SIGPIPE, what a shell
# reports for a tool the signal ended. Whatever the command had done stays done.
EXIT_BROKEN_PIPE = 141
EXIT_CODES: dict[type[KssPanelError], tuple[int, str]] = {
    AuthError: (3, "auth"),
    NotFound: (4, "not_found"),
    InvalidInput: (5, "invalid_input"),
    PolicyError: (6, "invalid_policy"),
    IntegrityError: (7, "integrity"),
    Busy: (8, "busy"),
    Refused: (9, "refused"),
    StorageError: (10, "storage"),
}
JSON_VERSION = 1
STREAM_CHUNK = 1000  # rows of a streamed --json list written at a time
F = TypeVar("F", bound=Callable[..., Any])


def envelope(command: str, *, data: Any = None, error: dict[str, Any] | None = None) -> str:
    """The one JSON document a command prints with --json: versioned, ok or not."""
    body = {"data": data} if error is None else {"error": error}
    return json.dumps({"kss_panel": JSON_VERSION, "command": command, "ok": error is None, **body}, ensure_ascii=False)


@dataclass
class State:
    """What the root options set up for the command that follows."""

    config: Config
    clock: Callable[[], datetime]
    terminal: str = TERMINAL
    call: Call | None = None
    _policies: Policies | None = None

    def policies(self) -> Policies:
        if self._policies is None:
            from ..policy_files import load_policies

            self._policies = load_policies(self.config.policies)
        return self._policies


@dataclass
class Call:
    """One command's run: its name, --json, its credentials, and the way to the register."""

    ctx: typer.Context
    state: State
    name: str
    as_json: bool = False
    credentials: CredentialOptions | None = None
    labels: dict[str, str] = field(default_factory=dict)
    commits_before: int = 0
    streaming: bool = False  # a --json document has begun on stdout: an error cannot add another

    def __post_init__(self) -> None:
        self.commits_before = COMMITS[str(self.db)]

    def committed(self) -> bool:
        """Whether this command committed a write to the register (an error after it must not say "nothing was changed")."""
        return COMMITS[str(self.db)] > self.commits_before

    @property
    def now(self) -> datetime:
        return self.state.clock()

    @property
    def policies(self) -> Policies:
        return self.state.policies()

    @property
    def db(self) -> Path:
        return self.state.config.db

    def session(self) -> Session:
        """Unlock the register with this command's credentials."""
        from ..services.session import unlock

        assert self.credentials is not None
        return unlock(self.db, self.policies, self.credentials.resolve(), busy_timeout=self.state.config.busy_timeout, now=self.now)

    def unlocked(self, service: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Unlock, run one service with the session, close."""
        with self.session() as session:
            return service(session, *args, **kwargs)

    def emit(self, data: Any, human: Callable[[], None]) -> None:
        """The result: one JSON envelope with --json, else the human rendering."""
        if self.as_json:
            typer.echo(envelope(self.name, data=data))
        else:
            human()

    def emit_rows(self, rows: Iterable[Any], human: Callable[[list[Any]], None]) -> None:
        """A list result: with --json the envelope is written as the rows come (its ``data`` the list of
        them), so memory stays flat however many; else ``human`` renders them all.

        Should the rows fail part-way, stdout holds an unfinished document, the
        error goes to stderr, and the exit code says the command failed.
        """
        if not self.as_json:
            human(list(rows))
            return
        head, tail = envelope(self.name, data=[]).rsplit("[]", 1)
        self.streaming = True
        typer.echo(head + "[", nl=False)
        chunk: list[str] = []
        for number, row in enumerate(rows):
            chunk.append(("" if number == 0 else ", ") + json.dumps(row, ensure_ascii=False))
            if len(chunk) >= STREAM_CHUNK:
                typer.echo("".join(chunk), nl=False)
                chunk = []
        typer.echo("".join(chunk) + "]" + tail)


def _labels(ctx: typer.Context) -> dict[str, str]:
    """Parameter name (and the text of each path given) -> what the user typed: ``--reason``, ``PATH``."""
    labels: dict[str, str] = {}
    for context in (ctx.find_root(), ctx):
        for param in context.command.params:
            name = (param.name or "").rstrip("_")
            labels[name] = param.opts[0] if param.param_type_name == "option" else (param.metavar or name.upper())
            value = context.params.get(param.name or "")
            if value is not None and param.type.name == "path":  # typer keeps the text given, or a Path
                labels[str(value)] = labels[name]
    return labels


def _label(labels: dict[str, str], where: str, exc: KssPanelError) -> str:
    """A problem's path as the user knows it: the option for a parameter or for a file it named."""
    if isinstance(where, Param):
        for separator in ("/", "|"):
            if separator in where:
                return separator.join(labels.get(part, part) for part in where.split(separator))
        return labels.get(where, where)
    if isinstance(exc, FileRefused):
        return labels.get(where) or labels.get(str(Path(where).parent), where)
    return where


def fail(state: State | None, exc: KssPanelError | None, code: int, *, done: str | None = None) -> NoReturn:
    """One error line on stderr (problems and hints after it), the JSON envelope with --json, the exit code.

    The line says what became of the register: "nothing was changed" after an
    internal error or a refusal of the system only when no write of this
    command committed; ``done`` (or a plain note) when one did.
    """
    call = state.call if state is not None else None
    labels = call.labels if call is not None else {}
    changed = done is not None or (call is not None and call.committed() and not isinstance(exc, CommittedButBusy))
    message = exc.message if exc else "internal error"
    if changed:
        message += f"; {done or 'what the command had done before the failure was committed and stands'}"
    elif exc is None or isinstance(exc, StorageError):
        message += "; nothing was changed"
    problems = [(_label(labels, where, exc), problem) for where, problem in getattr(exc, "problems", [])] if exc else []
    lines = [f"kss-panel: error: {message}", *(f"  {where}: {problem}" for where, problem in problems)]
    lines += [f"kss-panel: hint: {hint}" for hint in (exc.hints if exc else ())]
    for line in lines:
        err(line)
    if call is not None and call.as_json and not call.streaming:
        kind = EXIT_CODES[_error_class(exc)][1] if exc else "internal"
        error: dict[str, Any] = {"code": code, "type": kind, "message": message}
        if problems:
            error["problems"] = [{"path": where, "problem": problem} for where, problem in problems]
        if changed:
            error["changed"] = True
        try:
            typer.echo(envelope(call.name, error=error))
        except BrokenPipeError:
            quiet_stdout()  # the error line is on stderr; the exit code says the rest
    raise typer.Exit(code)


def quiet_stdout() -> None:
    """After a broken pipe: send the rest of stdout to /dev/null, so no flush at exit complains."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # not a real file (tests): replace the stream


def _error_class(exc: KssPanelError | None) -> type[KssPanelError]:
    return next(cls for cls in type(exc).__mro__ if cls in EXIT_CODES)


class Group(TyperGroup):
    """Turns the project's errors into one stderr line and an exit code; never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BrokenPipeError:
            # stdout closed early (`| head -1`): stop quietly, as Unix tools do; what committed stays committed.
            quiet_stdout()
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        except PartlyDone as partly:
            cause = partly.cause if isinstance(partly.cause, KssPanelError) else None
            fail(ctx.find_object(State), cause, EXIT_CODES[_error_class(cause)][0] if cause else EXIT_INTERNAL, done=partly.done)
        except KssPanelError as exc:
            fail(ctx.find_object(State), exc, EXIT_CODES[_error_class(exc)][0])
        except Exception:  # no traceback: it could carry personal values
            fail(ctx.find_object(State), None, EXIT_INTERNAL)


def typer_app(help: str | None, *, completion: bool = False) -> typer.Typer:
    """A Typer app of this command line; without ``help`` its help is its callback's docstring."""
    return typer.Typer(
        cls=Group,
        **({"help": help} if help is not None else {}),
        no_args_is_help=True,
        add_completion=completion,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        rich_markup_mode=None,
    )


# Shell completion (--install-completion, --show-completion) on the root only: it completes every command.
app = typer_app(None, completion=True)  # its help is the root callback's docstring, example and all
GROUPS = {  # in the order --help lists them (cli/__init__.py orders the commands)
    "officer": typer_app("Manage named officers and machine key slots."),
    "activity": typer_app("Record members' survey activity (the clock of the inactivity rule)."),
    "request": typer_app("Track data-subject requests and their one-month deadlines (GDPR Article 12(3))."),
    "export": typer_app("Export personal data: a member's access report, their portable data, or a disclosure to a recipient."),
    "notify": typer_app("Tell recipients of rectifications, erasures and restrictions (GDPR Article 19)."),
    "survey": typer_app("Run the panel's surveys inside the register: create, sample, record responses."),
    "draw": typer_app("Prize draws of marketing competitions among a survey's respondents, checkable by anyone."),
    "breach": typer_app("Record personal-data breaches, whom they affect, and the 72-hour deadline (GDPR Articles 33 and 34)."),
    "audit": typer_app("Read and verify the tamper-evident audit trail."),
    "key": typer_app("Rotate the register's keys."),
    "policy": typer_app("Check and show the policies (register, retention, disclosure)."),
}
for _name, _group in GROUPS.items():
    app.add_typer(_group, name=_name)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kss-panel {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        Path, typer.Option("--db", envvar="KSS_PANEL_DB", show_envvar=True, readable=False, help="Register file.")
    ] = DEFAULT_DB,
    policies: Annotated[
        Path, typer.Option("--policies", envvar="KSS_PANEL_POLICIES", show_envvar=True, help="Policy directory.")
    ] = DEFAULT_POLICIES,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, expose_value=False, help="Print the version and exit.")
    ] = False,
) -> None:
    """Keep the KSS Energia customer panel's member register, encrypted, and carry out GDPR duties.

    Example: kss-panel --db panel.db show M3f7kq2x5v6n4p6rw
    """
    # A caller may hand in a clock, and a terminal to prompt on, as the context object (the tests do);
    # everyone else has the wall clock and /dev/tty.
    pinned = getattr(ctx.obj, "now", None)
    clock = (lambda: pinned) if isinstance(pinned, datetime) else (lambda: datetime.now(UTC))
    terminal = getattr(ctx.obj, "terminal", None) or TERMINAL
    output.reset()
    ctx.obj = State(Config(db=db, policies=policies, busy_timeout=busy_timeout_from_env()), clock, terminal)


JSON_PARAMETER = inspect.Parameter(
    "as_json", inspect.Parameter.KEYWORD_ONLY, default=False,
    annotation=Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")],
)
CONTEXT_PARAMETER = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)


def command(group: typer.Typer, name: str, *, unlocks: bool = True, unlock_key_option: str = "--key-file") -> Callable[[F], F]:
    """Register ``fn(call, ...)`` as command ``name`` of ``group``, with the shared options added once.

    Every command gets --json; a command that ``unlocks`` the register also
    gets --officer, --passphrase-file and the key-file option (named
    ``unlock_key_option``). ``fn`` receives a ``Call`` and its own options.
    """

    def decorate(fn: F) -> F:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]
        bundle = CREDENTIAL_PARAMETERS(unlock_key_option) if unlocks else []
        parameters = [CONTEXT_PARAMETER, *own, *bundle, JSON_PARAMETER]
        prefix = next((f"{key} " for key, sub in GROUPS.items() if sub is group), "")

        def run(ctx: typer.Context, **kwargs: Any) -> None:
            state = ctx.ensure_object(State)
            credentials = CredentialOptions.pop(kwargs, state.terminal) if unlocks else None
            call = Call(ctx, state, prefix + name, kwargs.pop("as_json"), credentials, _labels(ctx))
            state.call = call
            fn(call, **kwargs)

        run.__name__, run.__qualname__, run.__doc__, run.__module__ = fn.__name__, fn.__qualname__, fn.__doc__, fn.__module__
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        group.command(name, cls=Command)(run)
        return fn

    return decorate
