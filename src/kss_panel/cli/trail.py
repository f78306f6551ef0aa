"""audit log|verify|head: the tamper-evident trail."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InvalidInput
from ..words import plural
from .root import GROUPS, Call, command
from .output import out, stdout

if TYPE_CHECKING:
    from ..audit import Head
    from ..audit_verify import Trail

group = GROUPS["audit"]


@command(group, "log")
def audit_log(
    call: Call,
    member: Annotated[str | None, typer.Option("--member", help="Only entries about this member.")] = None,
) -> None:
    """Print the audit trail (who did what, when, to which fields; never values).

    Example: kss-panel audit log --member M3f7kq2x5v6n4p6rw
    """
    from .. import render
    from ..services import trail

    entries = call.unlocked(trail.audit_log, member)
    rows = [{**e, "fields": _fields_summary(e["fields"]), "detail": json.dumps(e["detail"]) if e["detail"] else None} for e in entries]
    call.emit(entries, lambda: render.table(stdout, rows, ["seq", "at", "actor", "action", "member_id", "fields", "detail"]))


def _fields_summary(fields: list[str]) -> str:
    return ", ".join(fields) if len(fields) <= 3 else plural(len(fields), "field")


def _verified(call: Call, head: Head | None = None) -> Trail:
    """Verify with the file alone; credentials are read only for a register whose trail is still format 1."""
    from ..services import trail

    assert call.credentials is not None
    given = call.credentials.officer or call.credentials.key_file
    return trail.verify_file(
        call.db, head=head, busy_timeout=call.state.config.busy_timeout,
        credentials=call.credentials.resolve if given else None, policies=lambda: call.policies,
    )


@command(group, "verify")
def audit_verify(
    call: Call,
    head: Annotated[str | None, typer.Option("--head", help="A head printed earlier by 'audit head', kept outside the file.")] = None,
) -> None:
    """Verify the audit trail with no key: the chain, every signature, every member's and slot's row against it.

    Exit 7 naming the first entry edited, deleted, reordered or signed by a
    slot that did not exist, had been removed or did not write it, or the
    first row changed by hand. Needs no passphrase or key file.

    Example: kss-panel audit verify --head "$(cat /var/backups/kss-panel.head)"
    """
    from ..audit import Head

    try:
        expected = Head.parse(head) if head is not None else None
    except ValueError:
        raise InvalidInput("invalid audit head", [("--head", "must be a token printed by 'kss-panel audit head'")]) from None
    verified = _verified(call, expected)
    last, checkpoint = verified.head, verified.checkpoint
    data: dict[str, Any] = {"entries": last.seq, "head": last.token()}
    if checkpoint is None:
        said = f"audit trail verified: {plural(last.seq, 'entry', 'entries')}, head {last.token()}"
    else:
        data.update(pruned_through=checkpoint.pruned_through, checkpoint=checkpoint.seq)
        said = (f"audit trail verified: entries {checkpoint.pruned_through + 1} to {last.seq} (1 to {checkpoint.pruned_through} pruned"
                f" by retention, as checkpoint entry {checkpoint.seq} says), head {last.token()}")
    call.emit(data, lambda: out(said))


@command(group, "head")
def audit_head(call: Call) -> None:
    """Print the current audit head as one token (after verifying the trail); keep it outside the register file.

    Needs no passphrase or key file.

    Example: kss-panel audit head > /var/backups/kss-panel.head
    """
    last = _verified(call).head
    call.emit({"head": last.token(), "entries": last.seq}, lambda: typer.echo(last.token()))
