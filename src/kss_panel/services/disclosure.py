"""Disclosure to recipients (processors): exactly what the disclosure policy allows, logged per member."""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from ..errors import Refused
from ..model import local_date, objection_against, one_of
from ..policy import Purpose, PurposeGrant, Recipient
from ..record import values_at
from ..writers import FORMATS, RowWriter
from .session import Session

LOG_BATCH = 1000


def allowed(session: Session, recipient: str, purpose: str) -> tuple[Recipient, PurposeGrant]:
    """The recipient and its grant for ``purpose``, or Refused naming what the policy lacks."""
    policy = session.policies.disclosure.recipients.get(recipient)
    if policy is None:
        raise Refused(f"the disclosure policy names no recipient {recipient!r}",
                      hints=(f"recipients: {', '.join(session.policies.disclosure.recipients)}",))
    if policy.access == "hosting":
        raise Refused(f"{recipient} hosts the register's data on its servers: it receives no disclosure files",
                      hints=(f"recipients of exports: {', '.join(k for k, r in session.policies.disclosure.recipients.items() if r.access == 'export')}",))
    grant = policy.purposes.get(purpose)
    if grant is None:
        raise Refused(f"{recipient} may not receive data for purpose {purpose!r}", hints=(f"allowed purposes: {', '.join(policy.purposes)}",))
    if not policy.in_eu_eea and policy.safeguard is None:
        raise Refused(f"{recipient} is outside the EU/EEA ({policy.country}) and declares no safeguard")
    return policy, grant


def disclose(
    session: Session,
    recipient: str,
    purpose: str,
    now: datetime,
    *,
    out: Path | None = None,
    format_: str = "csv",
) -> dict[str, Any]:
    """Disclose to a recipient for a purpose, as the disclosure policy allows.

    Only admitted members who are not restricted, have no objection that
    covers the purpose (Art. 21: direct marketing, or processing based on
    legitimate interests) and hold the consent the purpose requires; only the
    recipient's fields, written to
    ``out`` (a new 0600 file). Each disclosed member gets a disclosure-log
    entry. Without ``out`` this is a dry run: counts only, nothing logged.
    """
    session.require_officer("disclose personal data")
    one_of(format_, FORMATS, "format", "format")
    policy, grant = allowed(session, recipient, purpose)
    grounds = session.policies.register.purposes[purpose]
    result: dict[str, Any] = {"recipient": recipient, "purpose": purpose, "fields": list(policy.fields), "dry_run": out is None}
    with session.store.write():
        if out is None:
            return {**result, **_disclose_rows(session, policy, grant, grounds, None)}
        with RowWriter(out, ["member_id", *policy.fields], format_) as writer:
            log = _Log(session, recipient, purpose, list(policy.fields), local_date(now).isoformat())
            counts = _disclose_rows(session, policy, grant, grounds, writer, log)
            log.flush()
        session.audit(now, "export-disclosure", None, list(policy.fields), {"recipient": recipient, "purpose": purpose, "members": counts["disclosed"]})
    return {**result, **counts, "file": str(out), "format": format_}


class _Log:
    """The disclosure log, written a batch at a time so memory stays flat."""

    def __init__(self, session: Session, recipient: str, purpose: str, fields: list[str], day: str) -> None:
        self.store = session.store
        self.entry = (recipient, purpose, fields, day)
        self.pending: list[str] = []

    def add(self, member_id: str) -> None:
        self.pending.append(member_id)
        if len(self.pending) >= LOG_BATCH:
            self.flush()

    def flush(self) -> None:
        self.store.log_disclosures(self.pending, *self.entry)
        self.pending = []


def _disclose_rows(
    session: Session, policy: Recipient, grant: PurposeGrant, purpose: Purpose, writer: RowWriter | None, log: _Log | None = None
) -> dict[str, int]:
    """Every admitted member once, each row checked against the trail: the exclusions counted, the rest written.

    The hot loop of a disclosure (a register's every member): a tuple per
    member, the record read only as far as the recipient's categories (and the
    consent's), nothing but that done per member."""
    consent = None if grant.consent == "none" else grant.consent
    categories = frozenset(path.partition(".")[0] for path in policy.fields) | ({"consents"} if consent else set())
    counts = {"members": 0, "disclosed": 0, "restricted": 0, "objected": 0, "no_consent": 0}
    columns, rows = session.checked_members("member")
    parts = itemgetter(*(columns.index(name) for name in ("member_id", "wrapped_dek", "box", "restricted_at", "objected_at", "processing_objected_at")))
    open_stored, read = session.vault.open_stored, values_at(policy.fields)
    for row in rows:
        member_id, wrapped_dek, box, restricted, objected, processing_objected = parts(row)
        counts["members"] += 1
        if restricted:
            counts["restricted"] += 1
            continue
        if (objected or processing_objected) and objection_against({"objected_at": objected, "processing_objected_at": processing_objected}, purpose):
            counts["objected"] += 1
            continue
        record = open_stored(member_id, wrapped_dek, box, categories)
        if consent and not record.get("consents", {}).get(consent, False):
            counts["no_consent"] += 1
            continue
        counts["disclosed"] += 1
        if writer is not None and log is not None:
            writer.write_values([member_id, *read(record)])
            log.add(member_id)
    return counts
