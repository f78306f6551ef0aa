"""The command line: parse, call one service, render. The only module that
knows exit codes and prints."""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from typer.core import TyperGroup

from . import crypto, csvio, render, services
from .audit import Head
from .config import DEFAULT_DB, DEFAULT_POLICIES, Config, busy_timeout_from_env
from .errors import AuthError, Busy, IntegrityError, InvalidInput, KssPanelError, NotFound, PolicyError, Refused
from .model import patch_from_assignments
from .policy import Policies, load_policies

# Exit codes: a contract, documented in the README.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_INVALID = 5
EXIT_POLICY = 6
EXIT_INTEGRITY = 7
EXIT_BUSY = 8
EXIT_REFUSED = 9

ERROR_TYPES: dict[type[KssPanelError], str] = {
    AuthError: "auth",
    NotFound: "not_found",
    InvalidInput: "invalid_input",
    PolicyError: "invalid_policy",
    IntegrityError: "integrity",
    Busy: "busy",
    Refused: "refused",
}
EXIT_CODES: dict[type[KssPanelError], int] = {
    AuthError: EXIT_AUTH,
    NotFound: EXIT_NOT_FOUND,
    InvalidInput: EXIT_INVALID,
    PolicyError: EXIT_POLICY,
    IntegrityError: EXIT_INTEGRITY,
    Busy: EXIT_BUSY,
    Refused: EXIT_REFUSED,
}
JSON_VERSION = 1
MAX_INPUT_BYTES = 1_000_000

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


@dataclass
class State:
    config: Config
    command: str = "kss-panel"
    json: bool = False
    _policies: Policies | None = None

    def policies(self) -> Policies:
        if self._policies is None:
            self._policies = load_policies(self.config.policies)
        return self._policies


def _err(line: str) -> None:
    stderr.out(line, highlight=False)


def _fail(state: State | None, exc: KssPanelError | None, code: int) -> NoReturn:
    message = exc.message if exc else "internal error; nothing was changed"
    _err(f"kss-panel: error: {message}")
    problems = getattr(exc, "problems", [])
    for where, problem in problems:
        _err(f"  {where}: {problem}")
    for hint in exc.hints if exc else ():
        _err(f"kss-panel: hint: {hint}")
    if state is not None and state.json:
        kind = next((ERROR_TYPES[cls] for cls in type(exc).__mro__ if cls in ERROR_TYPES), "internal")
        error = {"code": code, "type": kind, "message": message}
        if problems:
            error["problems"] = [{"path": where, "problem": problem} for where, problem in problems]
        typer.echo(json.dumps({"kss_panel": JSON_VERSION, "command": state.command, "ok": False, "error": error}))
    raise typer.Exit(code)


class Group(TyperGroup):
    """Turns the project's errors into one stderr line and an exit code; never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KssPanelError as exc:
            code = next((EXIT_CODES[cls] for cls in type(exc).__mro__ if cls in EXIT_CODES), EXIT_INTERNAL)
            _fail(ctx.find_object(State), exc, code)
        except Exception:  # no traceback: it could carry personal values
            _fail(ctx.find_object(State), None, EXIT_INTERNAL)


def _typer(help: str) -> typer.Typer:
    return typer.Typer(
        cls=Group,
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        rich_markup_mode=None,
    )


app = _typer("Keep the KSS Energia customer panel's member register, encrypted, and carry out GDPR duties.")
officer_app = _typer("Manage named officers and machine key slots.")
audit_app = _typer("Read and verify the tamper-evident audit trail.")
policy_app = _typer("Check and show the policies (register, retention, disclosure).")
activity_app = _typer("Record members' survey activity (the clock of the inactivity rule).")
app.add_typer(officer_app, name="officer")
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")
export_app = _typer("Export personal data: a member's access report, or a disclosure to a recipient.")
request_app = _typer("Track data-subject requests and their one-month deadlines (GDPR Article 12(3)).")
app.add_typer(export_app, name="export")
app.add_typer(request_app, name="request")
app.add_typer(activity_app, name="activity")

# Options shared by many commands, declared once.
OfficerOpt = Annotated[
    str | None, typer.Option("--officer", envvar="KSS_PANEL_OFFICER", help="Officer (key slot) name.", show_envvar=True)
]
PassphraseFileOpt = Annotated[
    Path | None, typer.Option("--passphrase-file", help="Read the passphrase from the first line of this file.")
]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option("--key-file", envvar="KSS_PANEL_KEY_FILE", show_envvar=True, help="Unlock with a machine slot's key file."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
MemberArg = Annotated[str, typer.Argument(help="Member id (as printed by enrol, find or list).", show_default=False)]
RequestOpt = Annotated[
    int | None, typer.Option("--request", help="The data-subject request this fulfils; it is closed as fulfilled.")
]


@app.callback()
def main_callback(
    ctx: typer.Context,
    db: Annotated[Path, typer.Option("--db", envvar="KSS_PANEL_DB", show_envvar=True, help="Register file.")] = DEFAULT_DB,
    policies: Annotated[
        Path, typer.Option("--policies", envvar="KSS_PANEL_POLICIES", show_envvar=True, help="Policy directory.")
    ] = DEFAULT_POLICIES,
) -> None:
    """Keep the KSS Energia customer panel's member register, encrypted, and carry out GDPR duties.

    Example: kss-panel --db panel.db show M3f7kq2x5v6n4p6rw
    """
    ctx.obj = State(Config(db=db, policies=policies, busy_timeout=busy_timeout_from_env()))


def _state(ctx: typer.Context, command: str, as_json: bool = False) -> State:
    state = ctx.ensure_object(State)
    state.command, state.json = command, as_json
    return state


def _now() -> datetime:
    return datetime.now(UTC)


def _emit(state: State, data: Any, human: Callable[[], None]) -> None:
    if state.json:
        typer.echo(json.dumps({"kss_panel": JSON_VERSION, "command": state.command, "ok": True, "data": data}, ensure_ascii=False))
    else:
        human()


# --- secrets in ---------------------------------------------------------------------------------------------


def _read_secret_file(path: Path, what: str) -> str:
    try:
        line = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise NotFound(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError):
        raise AuthError(f"cannot read the {what} file {path}") from None
    return line[0] if line else ""


def _prompt(text: str, *, confirm: bool) -> str:
    if not sys.stdin.isatty():
        raise AuthError(
            "no passphrase given and no terminal to ask on",
            hints=("set KSS_PANEL_PASSPHRASE, or pass --passphrase-file",),
        )
    return str(typer.prompt(text, hide_input=True, confirmation_prompt=confirm))


def _passphrase(passphrase_file: Path | None, *, env: str = "KSS_PANEL_PASSPHRASE", confirm: bool = False, text: str = "Passphrase") -> str:
    if passphrase_file is not None:
        return _read_secret_file(passphrase_file, "passphrase")
    if os.environ.get(env):
        return os.environ[env]
    return _prompt(text, confirm=confirm)


def _key_secret(key_file: Path) -> bytes:
    try:
        return crypto.parse_key_file(_read_secret_file(key_file, "key"))
    except ValueError:
        raise AuthError(f"{key_file} is not a kss-panel key file") from None


def _session(state: State, officer: str | None, passphrase_file: Path | None, key_file: Path | None) -> services.Session:
    policies = state.policies()
    if key_file is not None:
        credentials = services.Credentials(key_secret=_key_secret(key_file))
    else:
        if not officer:
            raise AuthError("no officer given", hints=("pass --officer or set KSS_PANEL_OFFICER, or use --key-file",))
        credentials = services.Credentials(officer=officer, passphrase=_passphrase(passphrase_file))
    return services.unlock(state.config.db, policies, credentials, busy_timeout=state.config.busy_timeout)


def _read_json_input(file: str) -> Any:
    try:
        if file == "-":
            raw = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(file, "rb") as handle:
                raw = handle.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise NotFound(f"input file not found: {file}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}", [("--file", exc.strerror or "unreadable")]) from None
    if len(raw) > MAX_INPUT_BYTES:
        raise InvalidInput("input too large", [("--file", f"must be at most {MAX_INPUT_BYTES} bytes")])
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidInput("invalid input", [("--file", "is not UTF-8 text")]) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput("invalid input", [("--file", f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")]) from None


# --- init and officers --------------------------------------------------------------------------------------


@app.command()
def init(
    ctx: typer.Context,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    unlock_time: Annotated[
        float, typer.Option("--unlock-time", min=0.0, max=10.0, help="Seconds one unlock should take (Argon2id tuning).")
    ] = 0.5,
    as_json: JsonOpt = False,
) -> None:
    """Create a new, empty register with random keys and the first officer's slot.

    The passphrase comes from a hidden prompt (asked twice), KSS_PANEL_PASSPHRASE
    or --passphrase-file. The file is created 0600 and never overwritten.

    Example: kss-panel --db panel.db init --officer aino
    """
    state = _state(ctx, "init", as_json)
    if not officer:
        raise InvalidInput("no officer given", [("--officer", "is required (or set KSS_PANEL_OFFICER)")])
    policies = state.policies()
    passphrase = _passphrase(passphrase_file, confirm=True, text="New passphrase")
    kdf = crypto.calibrate_kdf(unlock_time)
    with services.init_register(state.config.db, policies, officer, passphrase, kdf, _now(), unlock_seconds=unlock_time) as session:
        data = {"db": str(state.config.db), "register_id": session.register_id, "officer": officer}
    _emit(state, data, lambda: stdout.print(f"created register {state.config.db} with officer {officer}", markup=False))


@officer_app.command("add")
def officer_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new officer or machine slot.", show_default=False)],
    role: Annotated[str, typer.Option("--role", help="officer (everything) or purger (purge and audit only).")] = "officer",
    new_key_file: Annotated[
        Path | None, typer.Option("--key-file", help="Create a machine slot and write its random key to this new file (0600).")
    ] = None,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    unlock_key_file: Annotated[
        Path | None,
        typer.Option("--unlock-key-file", envvar="KSS_PANEL_KEY_FILE", show_envvar=True, help="Unlock with a machine slot's key file."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an officer (passphrase slot) or a machine slot (key file).

    The new passphrase comes from a hidden prompt (asked twice) or
    KSS_PANEL_NEW_PASSPHRASE. A purger slot cannot decrypt personal data.

    Example: kss-panel officer add cron --role purger --key-file /etc/kss-panel/cron.key
    """
    state = _state(ctx, "officer add", as_json)
    with _session(state, officer, passphrase_file, unlock_key_file) as session:
        session.require_officer("manage officers")
        if new_key_file is not None:
            key_text = crypto.new_key_file_text()
            summary = services.add_officer(
                session, name, role, _now(), key_secret=crypto.parse_key_file(key_text), write_key=lambda: _write_new_file(new_key_file, key_text)
            )
        else:
            passphrase = _passphrase(None, env="KSS_PANEL_NEW_PASSPHRASE", confirm=True, text=f"New passphrase for {name}")
            kdf = crypto.calibrate_kdf(services.unlock_seconds(session))
            summary = services.add_officer(session, name, role, _now(), passphrase=passphrase, kdf=kdf)
    _emit(state, summary, lambda: stdout.print(f"added {summary['kind']} slot {name} with role {role}", markup=False))


def _write_new_file(path: Path, text: str, *, option: str = "--key-file") -> None:
    """Create a file 0600 from its first byte; never overwrite one."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise InvalidInput(f"{path} already exists: refusing to overwrite it", [(option, "file exists")]) from None
    except OSError as exc:
        raise InvalidInput(f"cannot create {path}", [(option, exc.strerror or "cannot create")]) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


@officer_app.command("remove")
def officer_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Officer or machine slot to remove.", show_default=False)],
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove an officer's key slot. The last officer-role slot cannot be removed.

    Example: kss-panel officer remove cron
    """
    state = _state(ctx, "officer remove", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        services.remove_officer(session, name, _now())
    _emit(state, {"removed": name}, lambda: stdout.print(f"removed slot {name}", markup=False))


@officer_app.command("list")
def officer_list(
    ctx: typer.Context,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List key slots: names, roles, kinds and when they were created.

    Example: kss-panel officer list --json
    """
    state = _state(ctx, "officer list", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        slots = services.list_officers(session)
    _emit(state, slots, lambda: render.table(stdout, slots, ["name", "role", "kind", "created_at"]))


# --- members ------------------------------------------------------------------------------------------------


@app.command()
def enrol(
    ctx: typer.Context,
    file: Annotated[str, typer.Option("--file", help="Applicant record (JSON), or - for stdin.", show_default=False)],
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate one application and store it as an applicant; print the new member id.

    Example: kss-panel enrol --file applicant.json
    """
    state = _state(ctx, "enrol", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        session.require_officer("enrol members")
        data = _read_json_input(file)
        member_id = services.enrol(session, data, _now())
        flagged = bool(services.status(session, member_id)["suppression_match"])
    if flagged:
        _err("kss-panel: warning: this applicant matches a person who objected and was erased (suppression list)")
    _emit(state, {"member_id": member_id, "suppression_match": flagged}, lambda: typer.echo(member_id))


@app.command()
def show(
    ctx: typer.Context,
    member: MemberArg,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one member's record by category, with status and dates.

    Example: kss-panel show M3f7kq2x5v6n4p6rw --json
    """
    state = _state(ctx, "show", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        data = services.show(session, member, _now())
        _emit(state, data, lambda: render.member(stdout, data, session.policies))


@app.command()
def find(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Option("--email", help="Email address to look up.")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="Phone number to look up (Finland the default region).")] = None,
    customer_number: Annotated[str | None, typer.Option("--customer-number", help="Customer number to look up.")] = None,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find a member by email, phone or customer number, by keyed hash (decrypts no one).

    Example: kss-panel find --email aino@example.fi
    """
    state = _state(ctx, "find", as_json)
    given = {k: v for k, v in {"email": email, "phone": phone, "customer_number": customer_number}.items() if v is not None}
    if len(given) != 1:
        raise InvalidInput("give exactly one lookup", [("--email|--phone|--customer-number", "exactly one is required")])
    [(kind, value)] = given.items()
    with _session(state, officer, passphrase_file, key_file) as session:
        data = services.find(session, kind, value, _now())
    _emit(state, data, lambda: render.table(stdout, [data], ["member_id", "status", "applied_at", "admitted_at"]))


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Only members of this status (applicant, member, rejected).")] = None,
    names: Annotated[bool, typer.Option("--names", help="Also decrypt and show names (audited).")] = False,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List members: ids, status and dates; names only with --names.

    Example: kss-panel list --status applicant
    """
    state = _state(ctx, "list", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        rows = services.list_members(session, _now(), status=status, names=names)
    columns = ["member_id", "status", "applied_at", "admitted_at", "last_activity_at"]
    columns += ["first_name", "last_name"] if names else []
    _emit(state, rows, lambda: render.table(stdout, rows, columns, title=f"{len(rows)} members"))


@app.command()
def update(
    ctx: typer.Context,
    member: MemberArg,
    file: Annotated[str | None, typer.Option("--file", help="JSON merge patch of the record, or - for stdin.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="FIELD=VALUE, e.g. contact.city=Kouvola; repeatable; empty VALUE removes.")
    ] = None,
    request: RequestOpt = None,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rectify a member's record, validated like enrol; the changed fields are audited.

    Example: kss-panel update M3f7kq2x5v6n4p6rw --set contact.city=Kouvola --set contact.postal_code=45100
    """
    state = _state(ctx, "update", as_json)
    if (file is None) == (not set_):
        raise InvalidInput("give --file or --set", [("--file|--set", "exactly one of them is required")])
    with _session(state, officer, passphrase_file, key_file) as session:
        session.require_officer("rectify personal data")
        patch = _read_json_input(file) if file is not None else patch_from_assignments(session.policies, set_ or [])
        changed = services.update(session, member, patch, _now(), request=request)
    _emit(
        state,
        {"member_id": member, "changed": changed},
        lambda: stdout.print(f"updated {member}: {', '.join(changed)}" if changed else f"{member}: nothing changed", markup=False),
    )


# --- lifecycle ----------------------------------------------------------------------------------------------

RosterOpt = Annotated[
    Path, typer.Option("--customers", help="Customer roster: a CSV export with a customer_number column.", show_default=False)
]


@app.command()
def admit(
    ctx: typer.Context,
    member: MemberArg,
    customers: RosterOpt,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Admit an applicant whose customer number is in the customer roster (else exit 9).

    Example: kss-panel admit M3f7kq2x5v6n4p6rw --customers roster.csv
    """
    state = _state(ctx, "admit", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        session.require_officer("admit members")
        data = services.admit(session, member, csvio.read_roster(customers), _now())
    _emit(state, data, lambda: stdout.print(f"admitted {member}", markup=False))


@app.command()
def reject(
    ctx: typer.Context,
    member: MemberArg,
    reason: Annotated[str, typer.Option("--reason", help="One of the policy's rejection_reasons.", show_default=False)],
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject an applicant, for a reason from policies/register.yaml (never free text).

    Example: kss-panel reject M3f7kq2x5v6n4p6rw --reason not-a-customer
    """
    state = _state(ctx, "reject", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        data = services.reject(session, member, reason, _now())
    _emit(state, data, lambda: stdout.print(f"rejected {member} ({reason})", markup=False))


@app.command()
def eligibility(
    ctx: typer.Context,
    customers: RosterOpt,
    remove: Annotated[bool, typer.Option("--remove", help="Erase the members found, with reason conditions-not-met.")] = False,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List members whose customer number is no longer in the roster; --remove erases them.

    The check records when each member was first found ineligible: the clock
    of the conditions-not-met retention rule, so the nightly purge erases them.

    Example: kss-panel eligibility --customers roster.csv --remove
    """
    state = _state(ctx, "eligibility", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        session.require_officer("check eligibility")
        ids = services.eligibility(session, csvio.read_roster(customers), _now(), remove=remove)
    data = {"ineligible": ids, "removed": remove}

    def human() -> None:
        verb = "erased" if remove else "no longer meet the membership conditions"
        stdout.print(f"{len(ids)} members {verb}", markup=False)
        for member_id in ids:
            typer.echo(member_id)

    _emit(state, data, human)


@activity_app.command("import")
def activity_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with member_id and date (last survey answered) columns.", show_default=False)],
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record each member's latest survey date from a CSV (member_id,date); all or nothing.

    Example: kss-panel activity import answers-2026-11.csv
    """
    state = _state(ctx, "activity import", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        session.require_officer("record activity")
        data = services.record_activity(session, csvio.read_activity(file), _now())
    _emit(state, data, lambda: stdout.print(f"activity of {data['members']} members read, {data['updated']} updated", markup=False))


@app.command()
def purge(
    ctx: typer.Context,
    apply: Annotated[bool, typer.Option("--apply", help="Erase the due members (default: dry run).")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Plan for another day (YYYY-MM-DD); dry runs only.", show_default=False)
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing when nothing is due (for cron).")] = False,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply the retention rules: a dry run by default, --apply erases the due members.

    Runs with a purger key file, which cannot read personal data. Idempotent:
    a second run finds nothing due. Prints member ids, never names.

    Example: kss-panel purge --apply --quiet --key-file /etc/kss-panel/cron.key
    """
    state = _state(ctx, "purge", as_json)
    day = _parse_date(as_of, "--as-of") if as_of is not None else None
    if day is not None and apply:
        raise InvalidInput("--as-of is for planning", [("--as-of", "is allowed only in dry runs, not with --apply")])
    with _session(state, officer, passphrase_file, key_file) as session:
        plan = services.purge(session, _now()) if apply else services.plan_purge(session, day or services.local_date(_now()))
        rules = session.policies.retention.rules
    data = {
        "as_of": plan.as_of.isoformat(),
        "applied": apply,
        "total": plan.total,
        "rules": [{"name": rule.name, "count": len(plan.due[rule.name]), "member_ids": plan.due[rule.name]} for rule in rules],
    }

    def human() -> None:
        if quiet and plan.total == 0:
            return
        counts = ", ".join(f"{r['name']} {r['count']}" for r in data["rules"] if r["count"])
        if apply:
            stdout.print(f"purged {plan.total} members" + (f" ({counts})" if counts else ""), markup=False)
            return
        stdout.print(f"dry run for {plan.as_of}: {plan.total} members due" + (f" ({counts})" if counts else ""), markup=False)
        for rule in rules:
            stdout.print(f"{rule.name}: {len(plan.due[rule.name])} ({rule.status}, {rule.clock} + {rule.period.describe()})", markup=False)
            for member_id in plan.due[rule.name]:
                typer.echo(f"  {member_id}")

    _emit(state, data, human)


def _parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("invalid date", [(option, "must be a date as YYYY-MM-DD")]) from None


# --- bulk intake and disclosure ------------------------------------------------------------------------------


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="CSV (dotted field paths as header), JSON array or JSON Lines; - for stdin.", show_default=False)],
    updates: Annotated[bool, typer.Option("--updates", help="The rows are self-service changes (member_id or contact.email, plus changed fields).")] = False,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the valid rows; still report the others.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write the report of invalid rows to this new file instead of stderr.")] = None,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import applications in bulk, validated like enrol; all or nothing unless --skip-invalid.

    The report lists line, field path and problem for each invalid row, never
    the values. Duplicates within the file and against the register are caught.

    Example: kss-panel import applications.csv --skip-invalid --report rejected-rows.txt
    """
    state = _state(ctx, "import", as_json)
    report_file: Any = None

    def note(line: int, path: str, problem: str) -> None:
        text = f"line {line}: {path}: {problem}"
        if report_file is not None:
            report_file.write(text + "\n")
        else:
            _err(f"  {text}")

    try:
        with _session(state, officer, passphrase_file, key_file) as session, _open_input(file) as handle:
            session.require_officer("rectify personal data" if updates else "enrol members")
            if report is not None:  # only once unlocked: a failed unlock leaves no file behind
                _write_new_file(report, "", option="--report")
                report_file = open(report, "a", encoding="utf-8")
            source = csvio.RecordSource(handle, session.policies, extra_columns=("member_id",) if updates else ("applied_at",))
            with _progress(handle, enabled=not state.json) as advance:
                try:
                    if updates:
                        counts = services.import_updates(session, source, _now(), report=note, skip_invalid=skip_invalid, progress=advance)
                    else:
                        counts = services.import_applications(
                            session, source, _now(), report=note, skip_invalid=skip_invalid, progress=advance
                        )
                except InvalidInput as exc:
                    if report is not None:
                        exc.hints = (*exc.hints, f"the invalid rows are listed in {report}")
                    raise
    finally:
        if report_file is not None:
            report_file.close()
    if report is not None and counts["invalid"]:
        _err(f"kss-panel: hint: the invalid rows are listed in {report}")
    summary = (
        f"{counts.get('updated', 0)} members updated, {counts.get('unchanged', 0)} unchanged, {counts['invalid']} rows invalid"
        if updates
        else f"{counts['imported']} applicants imported, {counts['invalid']} rows invalid"
    )
    _emit(state, counts, lambda: stdout.print(summary, markup=False))


class _open_input:
    """A binary, peekable stream of a file or stdin."""

    def __init__(self, file: str) -> None:
        self.file = file

    def __enter__(self) -> Any:
        if self.file == "-":
            self.handle = sys.stdin.buffer
            return self.handle
        try:
            self.handle = open(self.file, "rb")
        except FileNotFoundError:
            raise NotFound(f"input file not found: {self.file}") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read {self.file}", [("FILE", exc.strerror or "unreadable")]) from None
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.file != "-":
            self.handle.close()


@contextmanager
def _progress(handle: Any, *, enabled: bool) -> Iterator[Callable[[], None] | None]:
    """A progress bar on stderr by bytes read, only when stderr is a terminal."""
    if not (enabled and stderr.is_terminal):
        yield None
        return
    try:
        total = os.fstat(handle.fileno()).st_size or None
    except (OSError, ValueError):
        total = None
    with Progress(TextColumn("importing"), BarColumn(), TaskProgressColumn(), console=stderr, transient=True) as bar:
        task = bar.add_task("import", total=total)
        rows = 0

        def advance() -> None:
            nonlocal rows
            rows += 1
            if rows % 500 == 0:
                bar.update(task, completed=handle.tell())

        yield advance


CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Stop a spreadsheet from running a cell as a formula (OWASP CSV injection).

    A plain E.164 phone number (+ and digits) cannot run as a formula and is
    kept as it is, so the recipient gets usable numbers.
    """
    if cell.startswith(CSV_FORMULA_START) and not re.fullmatch(r"\+[0-9]{6,15}", cell):
        return "'" + cell
    return cell


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return neutralise(";".join(str(v) for v in value))
    return neutralise(str(value))


@export_app.command("disclosure")
def export_disclosure(
    ctx: typer.Context,
    recipient: Annotated[str, typer.Argument(help="Recipient key from policies/disclosure.yaml.", show_default=False)],
    purpose: Annotated[str, typer.Option("--purpose", help="Purpose the recipient receives the data for.", show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", help="New file to write (0600, never overwritten).")] = None,
    format_: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print only the counts; disclose nothing.")] = False,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Disclose to a processor exactly what the disclosure policy allows; every disclosure is logged.

    Only admitted members who are not restricted, have not objected and hold
    the purpose's consent; only the recipient's fields. CSV cells that a
    spreadsheet would run as formulas are neutralised.

    Example: kss-panel export disclosure direct-marketing --purpose marketing --out mailing.csv
    """
    state = _state(ctx, "export disclosure", as_json)
    if format_ not in ("csv", "json"):
        raise InvalidInput("invalid format", [("--format", "must be csv or json")])
    if out is None and not dry_run:
        raise InvalidInput("no output file", [("--out", "is required unless --dry-run")])
    with _session(state, officer, passphrase_file, key_file) as session:
        if dry_run:
            data = services.disclosure_export(session, recipient, purpose, _now())
        else:
            assert out is not None
            data = _disclose_to_file(session, recipient, purpose, out, format_)
    done = "would disclose" if dry_run else "disclosed"
    _emit(state, data, lambda: stdout.print(
        f"{done} {data['disclosed']} of {data['members']} members to {recipient} for {purpose}"
        f" (excluded: {data['restricted']} restricted, {data['objected']} objected, {data['no_consent']} without consent)"
        + ("" if dry_run else f"; wrote {out}"), markup=False))


def _disclose_to_file(session: services.Session, recipient: str, purpose: str, out: Path, format_: str) -> dict[str, Any]:
    _write_new_file(out, "", option="--out")
    try:
        with open(out, "w", encoding="utf-8", newline="") as handle:
            writer: Any = None
            first = True

            def write_row(row: dict[str, Any]) -> None:
                nonlocal writer, first
                if format_ == "csv":
                    if writer is None:
                        writer = csv.writer(handle)
                        writer.writerow(list(row))
                    writer.writerow([_csv_cell(value) for value in row.values()])
                else:
                    handle.write(("[\n" if first else ",\n") + json.dumps(row, ensure_ascii=False))
                    first = False

            data = services.disclosure_export(session, recipient, purpose, _now(), write_row=write_row)
            if format_ == "json":
                handle.write("[]\n" if first else "\n]\n")
            elif writer is None:
                csv.writer(handle).writerow(["member_id", *data["fields"]])
    except BaseException:
        out.unlink(missing_ok=True)  # nothing half-written is left behind
        raise
    return {**data, "file": str(out), "format": format_}


# --- data-subject rights ----------------------------------------------------------------------------------


@export_app.command("access")
def export_access(
    ctx: typer.Context,
    member: Annotated[str | None, typer.Argument(help="Member id; or find the member with an option below.", show_default=False)] = None,
    email: Annotated[str | None, typer.Option("--email", help="Find the member by email.")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="Find the member by phone.")] = None,
    customer_number: Annotated[str | None, typer.Option("--customer-number", help="Find the member by customer number.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON document and the HTML report here (0600).")] = None,
    request: RequestOpt = None,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The Article 15 answer: all of a member's data, purposes, disclosures, retention and rights.

    Writes a versioned JSON document and a printable HTML report in the member's
    language with --out DIR; --json prints the document in the JSON envelope.

    Example: kss-panel export access --email aino@example.fi --out exports/ --request 12
    """
    state = _state(ctx, "export access", as_json)
    lookups = {k: v for k, v in {"email": email, "phone": phone, "customer_number": customer_number}.items() if v is not None}
    if (member is None) == (not lookups) or len(lookups) > 1:
        raise InvalidInput("name one member", [("MEMBER|--email|--phone|--customer-number", "give exactly one")])
    with _session(state, officer, passphrase_file, key_file) as session:
        session.require_officer("export personal data")
        if member is None:
            [(kind, value)] = lookups.items()
            member = services.find(session, kind, value, _now())["member_id"]
        files: dict[str, str] = {}

        def deliver(export: dict[str, Any]) -> None:
            # Runs inside the service's transaction: files that cannot be written
            # leave no audit entry and no closed request; half-written ones are removed.
            if out is None:
                return
            stamp = export["generated_at"].replace("-", "").replace(":", "").replace("+0000", "Z")
            try:
                files["json"] = _write_export(out, f"access-{member}-{stamp}.json", json.dumps(export, ensure_ascii=False, indent=2) + "\n")
                files["html"] = _write_export(out, f"access-{member}-{stamp}.html", render.access_html(export, session.policies))
            except BaseException:
                for path in files.values():
                    Path(path).unlink(missing_ok=True)
                raise

        export = services.access_export(session, member, _now(), request=request, deliver=deliver)
    if out is None:
        _emit(state, export, lambda: typer.echo(json.dumps(export, ensure_ascii=False, indent=2)))
        return
    _emit(state, {"member_id": member, "files": files}, lambda: [typer.echo(path) for path in files.values()])


def _write_export(directory: Path, name: str, text: str) -> str:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {directory}", [("--out", exc.strerror or "cannot create")]) from None
    _write_new_file(directory / name, text, option="--out")
    return str(directory / name)


@app.command()
def erase(
    ctx: typer.Context,
    member: MemberArg,
    reason: Annotated[str, typer.Option("--reason", help="request (the member asked) or conditions-not-met.", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be erased; change nothing.")] = False,
    suppress: Annotated[
        bool, typer.Option("--suppress", help="Keep keyed hashes of email and phone to flag a person who objected if they apply again.")
    ] = False,
    request: RequestOpt = None,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Erase a member for good: destroy the data key, delete every row, securely; record the id.

    Example: kss-panel erase M3f7kq2x5v6n4p6rw --reason request --request 12
    """
    state = _state(ctx, "erase", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        data = services.erase(session, member, reason, _now(), dry_run=dry_run, suppress=suppress, request=request)
    verb = "would erase" if dry_run else "erased"
    _emit(state, data, lambda: stdout.print(f"{verb} {member} ({len(data['sections'])} sections, {data['disclosures']} disclosure records)", markup=False))


@app.command()
def consent(
    ctx: typer.Context,
    member: MemberArg,
    give: Annotated[list[str] | None, typer.Option("--give", help="Consent given (a name from the policy); repeatable.")] = None,
    withdraw: Annotated[list[str] | None, typer.Option("--withdraw", help="Consent withdrawn; repeatable.")] = None,
    object_: Annotated[
        bool, typer.Option("--object", help="Objection to direct marketing (Art. 21): withdraws every marketing consent.")
    ] = False,
    request: RequestOpt = None,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record consents given or withdrawn, or an objection to direct marketing.

    Example: kss-panel consent M3f7kq2x5v6n4p6rw --withdraw sms_marketing
    """
    state = _state(ctx, "consent", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        consents = services.consent(session, member, _now(), give=give or [], withdraw=withdraw or [], object_to_marketing=object_, request=request)
    rows = [{"consent": name, "given": value} for name, value in consents.items()]
    _emit(state, {"member_id": member, "consents": consents}, lambda: render.table(stdout, rows, ["consent", "given"]))


@app.command()
def restrict(
    ctx: typer.Context,
    member: MemberArg,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Art. 18(1) ground: accuracy-contested, unlawful-processing, legal-claims, objection-pending."),
    ] = None,
    lift: Annotated[bool, typer.Option("--lift", help="Lift the restriction.")] = False,
    request: RequestOpt = None,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Restrict processing of a member (GDPR Article 18): no disclosures, retention purges hold.

    Example: kss-panel restrict M3f7kq2x5v6n4p6rw --reason accuracy-contested
    """
    state = _state(ctx, "restrict", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        data = services.restrict(session, member, _now(), reason=reason, lift=lift, request=request)
    _emit(state, data, lambda: stdout.print(f"lifted the restriction of {member}" if lift else f"restricted {member} ({reason})", markup=False))


@request_app.command("open")
def request_open(
    ctx: typer.Context,
    type_: Annotated[str, typer.Option("--type", help="access, rectification, erasure, objection or restriction.", show_default=False)],
    member: Annotated[str, typer.Option("--member", help="The member who asked.", show_default=False)],
    received: Annotated[str | None, typer.Option("--received", help="Day the request arrived (YYYY-MM-DD; default today).")] = None,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a data-subject request; its deadline is one calendar month from receipt.

    Example: kss-panel request open --type access --member M3f7kq2x5v6n4p6rw --received 2026-11-20
    """
    state = _state(ctx, "request open", as_json)
    day = _parse_date(received, "--received") if received is not None else None
    with _session(state, officer, passphrase_file, key_file) as session:
        data = services.open_request(session, type_, member, _now(), received=day)
    _emit(state, data, lambda: stdout.print(f"request {data['id']} ({data['type']}) due {data['deadline']}", markup=False))


@request_app.command("list")
def request_list(
    ctx: typer.Context,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open requests past their deadline.")] = False,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List data-subject requests with deadlines; --overdue for those past due.

    Example: kss-panel request list --overdue
    """
    state = _state(ctx, "request list", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        rows = services.list_requests(session, _now(), overdue=overdue)
    _emit(state, rows, lambda: render.table(stdout, rows, ["id", "type", "member_id", "received", "deadline", "status", "overdue", "days_left"]))


@request_app.command("extend")
def request_extend(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="Request number.", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="complexity or number-of-requests.", show_default=False)],
    months: Annotated[int, typer.Option("--months", help="Further months, 1 or 2.")] = 2,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Extend a request's deadline by up to two months (tell the member why within the first month).

    Example: kss-panel request extend 12 --reason complexity
    """
    state = _state(ctx, "request extend", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        data = services.extend_request(session, request_id, reason, _now(), months=months)
    _emit(state, data, lambda: stdout.print(f"request {request_id} now due {data['deadline']}", markup=False))


@request_app.command("close")
def request_close(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="Request number.", show_default=False)],
    outcome: Annotated[
        str, typer.Option("--outcome", help="fulfilled, partially-fulfilled, refused-unfounded, refused-excessive, withdrawn, no-data.", show_default=False)
    ],
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a request with its outcome.

    Example: kss-panel request close 12 --outcome fulfilled
    """
    state = _state(ctx, "request close", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        data = services.close_request(session, request_id, outcome, _now())
    _emit(state, data, lambda: stdout.print(f"request {request_id} closed: {outcome}", markup=False))


@app.command()
def backup(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="New file for the copy (never overwritten; 0600).", show_default=False)],
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an online, consistent, still-encrypted copy of the register.

    Example: kss-panel backup /var/backups/kss-panel/panel-2026-11-24.db
    """
    state = _state(ctx, "backup", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        data = services.backup(session, path, _now())
    _emit(state, data, lambda: stdout.print(f"backed up to {path}", markup=False))


@app.command()
def restore(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A backup made by 'kss-panel backup'.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the register file is replaced.")] = False,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace the register with a backup; every erasure since the backup is applied again.

    The audit trail records the restore and is verified before the file is
    replaced. Take a new audit head afterwards: the old one is ahead of the backup.

    Example: kss-panel restore /var/backups/kss-panel/panel-2026-11-24.db --yes
    """
    state = _state(ctx, "restore", as_json)
    if not yes:
        raise InvalidInput("restore replaces the register", [("--yes", "is required to confirm")])
    if not path.is_file():
        raise NotFound(f"no backup at {path}")
    policies = state.policies()
    if key_file is not None:
        credentials = services.Credentials(key_secret=_key_secret(key_file))
    elif officer:
        credentials = services.Credentials(officer=officer, passphrase=_passphrase(passphrase_file))
    else:
        raise AuthError("no officer given", hints=("pass --officer or set KSS_PANEL_OFFICER, or use --key-file",))
    data = services.restore(state.config.db, path, policies, credentials, _now(), busy_timeout=state.config.busy_timeout)
    _emit(state, data, lambda: stdout.print(
        f"restored {state.config.db} from {path}; {data['erasures_reapplied']} erasures re-applied; new audit head {data['head']}", markup=False))


# --- policies -----------------------------------------------------------------------------------------------


@policy_app.command("check")
def policy_check(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Validate every policy file strictly; exit 6 listing each problem with file and line.

    Example: kss-panel --policies policies policy check
    """
    state = _state(ctx, "policy check", as_json)
    policies = state.policies()
    data = {"directory": str(state.config.policies), "hash": policies.hash, "files": sorted(policies.documents)}
    _emit(state, data, lambda: stdout.print(f"policies in {state.config.policies} are valid (hash {policies.hash})", markup=False))


@policy_app.command("show")
def policy_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the resolved policies and their hash (the hash every audit entry carries).

    Example: kss-panel policy show --json
    """
    state = _state(ctx, "policy show", as_json)
    policies = state.policies()
    data = {
        "hash": policies.hash,
        "register": policies.register.model_dump(mode="json", by_alias=True),
        "retention": policies.retention.model_dump(mode="json", exclude_none=True),
        "disclosure": policies.disclosure.model_dump(mode="json", exclude_none=True),
    }
    _emit(state, data, lambda: render.policies(stdout, policies))


# --- audit --------------------------------------------------------------------------------------------------


@audit_app.command("log")
def audit_log(
    ctx: typer.Context,
    member: Annotated[str | None, typer.Option("--member", help="Only entries about this member.")] = None,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the audit trail (who did what, when, to which fields; never values).

    Example: kss-panel audit log --member M3f7kq2x5v6n4p6rw
    """
    state = _state(ctx, "audit log", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        entries = services.audit_log(session, member)
    rows = [{**e, "fields": _fields_summary(e["fields"]), "detail": json.dumps(e["detail"]) if e["detail"] else None} for e in entries]
    _emit(state, entries, lambda: render.table(stdout, rows, ["seq", "at", "actor", "action", "member_id", "fields", "detail"]))


def _fields_summary(fields: list[str]) -> str:
    return ", ".join(fields) if len(fields) <= 3 else f"{len(fields)} fields"


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    head: Annotated[str | None, typer.Option("--head", help="A head printed earlier by 'audit head', kept outside the file.")] = None,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify the audit chain; exit 7 naming the first bad entry.

    Example: kss-panel audit verify --head "$(cat /var/backups/kss-panel.head)"
    """
    state = _state(ctx, "audit verify", as_json)
    expected = Head.parse(head) if head is not None else None
    with _session(state, officer, passphrase_file, key_file) as session:
        last = services.audit_verify(session, expected)
    data = {"entries": last.seq, "head": last.token()}
    _emit(state, data, lambda: stdout.print(f"audit trail verified: {last.seq} entries, head {last.token()}", markup=False))


@audit_app.command("head")
def audit_head(
    ctx: typer.Context,
    officer: OfficerOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the current audit head as one token; keep it outside the register file.

    Example: kss-panel audit head > /var/backups/kss-panel.head
    """
    state = _state(ctx, "audit head", as_json)
    with _session(state, officer, passphrase_file, key_file) as session:
        last = services.audit_head(session)
    _emit(state, {"head": last.token(), "entries": last.seq}, lambda: typer.echo(last.token()))


def main() -> None:
    app(prog_name="kss-panel")
