"""Disclosure to recipients (processors): exactly what the disclosure policy allows, logged per member."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import Refused
from ..model import local_date, objection_against, one_of
from ..policy import Purpose, PurposeGrant, Recipient
from ..record import flatten
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
            log = _Log(session, {"recipient": recipient, "purpose": purpose, "fields": list(policy.fields), "disclosed_on": local_date(now).isoformat()})
            counts = _disclose_rows(session, policy, grant, grounds, writer, log)
            log.flush()
        session.audit(now, "export-disclosure", None, list(policy.fields), {"recipient": recipient, "purpose": purpose, "members": counts["disclosed"]})
    return {**result, **counts, "file": str(out), "format": format_}


class _Log:
    """The disclosure log, written a batch at a time so memory stays flat."""

    def __init__(self, session: Session, entry: dict[str, Any]) -> None:
        self.session = session
        self.entry = entry
        self.pending: list[dict[str, Any]] = []

    def add(self, member_id: str) -> None:
        self.pending.append({"member_id": member_id, **self.entry})
        if len(self.pending) >= LOG_BATCH:
            self.flush()

    def flush(self) -> None:
        self.session.store.log_disclosures(self.pending)
        self.pending = []


def _disclose_rows(
    session: Session, policy: Recipient, grant: PurposeGrant, purpose: Purpose, writer: RowWriter | None, log: _Log | None = None
) -> dict[str, int]:
    consent_needed = None if grant.consent == "none" else grant.consent
    sections = sorted({path.partition(".")[0] for path in policy.fields} | ({"consents"} if consent_needed else set()))
    counts = {"members": 0, "disclosed": 0, "restricted": 0, "objected": 0, "no_consent": 0}
    for row in session.checked_members("member"):
        counts["members"] += 1
        if row["restricted_at"]:
            counts["restricted"] += 1
            continue
        if objection_against(row, purpose):
            counts["objected"] += 1
            continue
        record = session.record(row, sections)
        if consent_needed and not record.get("consents", {}).get(consent_needed, False):
            counts["no_consent"] += 1
            continue
        counts["disclosed"] += 1
        if writer is not None and log is not None:
            flat = flatten(record)
            writer.write({"member_id": row["member_id"], **{path: flat.get(path, record.get(path)) for path in policy.fields}})
            log.add(row["member_id"])
    return counts
