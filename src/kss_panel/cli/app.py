"""The root of the command line: the Typer apps, the JSON envelope, exit codes, and the command decorator.

The only place that turns the project's errors into an exit code and a line on
stderr, and the only place that names options: services name their
parameters (``reason``), and the error shows the option the user typed
(``--reason``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from ..config import DEFAULT_DB, DEFAULT_POLICIES, Config, busy_timeout_from_env
from ..errors import AuthError, Busy, FileRefused, IntegrityError, InvalidInput, KssPanelError, NotFound, Param, PolicyError, Refused
from ..policy import Policies
from ..policy_files import load_policies
from ..services.session import Session
from .credentials import CREDENTIAL_PARAMETERS, CredentialOptions
from .output import err

# Exit codes: a contract, documented in the README (tests/test_docs.py compares the two).
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_CODES: dict[type[KssPanelError], tuple[int, str]] = {
    AuthError: (3, "auth"),
    NotFound: (4, "not_found"),
    InvalidInput: (5, "invalid_input"),
    PolicyError: (6, "invalid_policy"),
    IntegrityError: (7, "integrity"),
    Busy: (8, "busy"),
    Refused: (9, "refused"),
}
JSON_VERSION = 1
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
    call: Call | None = None
    _policies: Policies | None = None

    def policies(self) -> Policies:
        if self._policies is None:
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


def _labels(ctx: typer.Context) -> dict[str, str]:
    """Parameter name (and the text of each path given) -> what the user typed: ``--reason``, ``PATH``."""
    labels: dict[str, str] = {}
    for context in (ctx.find_root(), ctx):
        for param in context.command.params:
            name = (param.name or "").rstrip("_")
            labels[name] = param.opts[0] if param.param_type_name == "option" else (param.metavar or name.upper())
            value = context.params.get(param.name or "")
            if isinstance(value, Path):
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


def fail(state: State | None, exc: KssPanelError | None, code: int) -> NoReturn:
    """One error line on stderr (problems and hints after it), the JSON envelope with --json, the exit code."""
    call = state.call if state is not None else None
    labels = call.labels if call is not None else {}
    message = exc.message if exc else "internal error; nothing was changed"
    problems = [(_label(labels, where, exc), problem) for where, problem in getattr(exc, "problems", [])] if exc else []
    err(f"kss-panel: error: {message}")
    for where, problem in problems:
        err(f"  {where}: {problem}")
    for hint in exc.hints if exc else ():
        err(f"kss-panel: hint: {hint}")
    if call is not None and call.as_json:
        kind = EXIT_CODES[_error_class(exc)][1] if exc else "internal"
        error: dict[str, Any] = {"code": code, "type": kind, "message": message}
        if problems:
            error["problems"] = [{"path": where, "problem": problem} for where, problem in problems]
        typer.echo(envelope(call.name, error=error))
    raise typer.Exit(code)


def _error_class(exc: KssPanelError | None) -> type[KssPanelError]:
    return next(cls for cls in type(exc).__mro__ if cls in EXIT_CODES)


class Group(TyperGroup):
    """Turns the project's errors into one stderr line and an exit code; never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KssPanelError as exc:
            fail(ctx.find_object(State), exc, EXIT_CODES[_error_class(exc)][0])
        except Exception:  # no traceback: it could carry personal values
            fail(ctx.find_object(State), None, EXIT_INTERNAL)


def typer_app(help: str) -> typer.Typer:
    return typer.Typer(
        cls=Group,
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        rich_markup_mode=None,
    )


app = typer_app("Keep the KSS Energia customer panel's member register, encrypted, and carry out GDPR duties.")
GROUPS = {
    "officer": typer_app("Manage named officers and machine key slots."),
    "key": typer_app("Rotate the register's keys."),
    "audit": typer_app("Read and verify the tamper-evident audit trail."),
    "policy": typer_app("Check and show the policies (register, retention, disclosure)."),
    "export": typer_app("Export personal data: a member's access report, or a disclosure to a recipient."),
    "request": typer_app("Track data-subject requests and their one-month deadlines (GDPR Article 12(3))."),
    "activity": typer_app("Record members' survey activity (the clock of the inactivity rule)."),
}
for _name, _group in GROUPS.items():
    app.add_typer(_group, name=_name)


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[Path, typer.Option("--db", envvar="KSS_PANEL_DB", show_envvar=True, help="Register file.")] = DEFAULT_DB,
    policies: Annotated[
        Path, typer.Option("--policies", envvar="KSS_PANEL_POLICIES", show_envvar=True, help="Policy directory.")
    ] = DEFAULT_POLICIES,
) -> None:
    """Keep the KSS Energia customer panel's member register, encrypted, and carry out GDPR duties.

    Example: kss-panel --db panel.db show M3f7kq2x5v6n4p6rw
    """
    # A caller may hand in a clock as the context object (the tests do); everyone else has the wall clock.
    pinned = getattr(ctx.obj, "now", None)
    clock = (lambda: pinned) if isinstance(pinned, datetime) else (lambda: datetime.now(UTC))
    ctx.obj = State(Config(db=db, policies=policies, busy_timeout=busy_timeout_from_env()), clock)


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
            credentials = CredentialOptions.pop(kwargs) if unlocks else None
            state = ctx.ensure_object(State)
            call = Call(ctx, state, prefix + name, kwargs.pop("as_json"), credentials, _labels(ctx))
            state.call = call
            fn(call, **kwargs)

        run.__name__, run.__qualname__, run.__doc__, run.__module__ = fn.__name__, fn.__qualname__, fn.__doc__, fn.__module__
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        group.command(name)(run)
        return fn

    return decorate
