"""Use cases: one function each, time and actor passed in, orchestration only.

A ``Session`` is an unlocked register: the store, the policies, the slot that
unlocked it (the actor) and the keys that slot holds. Every function that
reads or changes personal data appends an audit entry in the same
transaction, so the change and its record commit together or not at all.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from . import audit, crypto
from .errors import AuthError, IntegrityError, InvalidInput, NotFound, Refused
from .model import STATUSES, RecordSchema, apply_patch, changed_fields, flatten, normalise_lookup
from .policy import Period, Policies, due_members, next_due
from .storage import copy_database, ledger_path, read_ledger, reserve_new_file
from .storage import DEFAULT_BUSY_TIMEOUT, Store

REGISTER_TZ = ZoneInfo("Europe/Helsinki")
ROLES = ("officer", "purger")
OFFICER_NAME_RE = r"^[a-z][a-z0-9._-]{0,31}$"
MEMBER_COLUMNS = (
    "member_id", "status", "applied_at", "admitted_at", "rejected_at", "last_activity_at", "updated_at",
    "ineligible_at", "restricted_at", "restriction_reason", "objected_at", "suppression_match",
)
ERASURE_REASONS = ("request", "conditions-not-met")
RESTRICTION_GROUNDS = ("accuracy-contested", "unlawful-processing", "legal-claims", "objection-pending")
REQUEST_TYPES = ("access", "rectification", "erasure", "objection", "restriction")
REQUEST_OUTCOMES = ("fulfilled", "partially-fulfilled", "refused-unfounded", "refused-excessive", "withdrawn", "no-data")
EXTENSION_REASONS = ("complexity", "number-of-requests")
ACCESS_EXPORT_SCHEMA = "kss-panel/access-export"
ACCESS_EXPORT_VERSION = 1
PURGE_BATCH = 500
SUPPRESSED_KINDS = ("email", "phone")


def local_date(now: datetime) -> date:
    """The register's calendar day (Finland) at the instant ``now``."""
    return now.astimezone(REGISTER_TZ).date()


@dataclass(frozen=True)
class Credentials:
    """What unlocks a slot: an officer and passphrase, or a key file's secret."""

    officer: str | None = None
    passphrase: str | None = None
    key_secret: bytes | None = None


@dataclass(frozen=True)
class Keyring:
    audit: bytes
    data: bytes | None = None
    lookup: bytes | None = None

    def sealed_payload(self, role: str) -> bytes:
        keys = {"audit": self.audit} if role == "purger" else {"audit": self.audit, "data": self.data, "lookup": self.lookup}
        return json.dumps({"role": role, **{k: crypto.b64encode(v) for k, v in keys.items() if v}}).encode()

    @classmethod
    def from_payload(cls, payload: bytes) -> tuple[str, Keyring]:
        raw = json.loads(payload)
        keys = {k: crypto.b64decode(raw[k]) for k in ("audit", "data", "lookup") if k in raw}
        return raw["role"], cls(**keys)


@dataclass
class Session:
    store: Store
    policies: Policies
    register_id: str
    actor: str
    role: str
    keys: Keyring
    schema: RecordSchema = field(init=False)
    hasher: crypto.LookupHasher | None = field(init=False)

    def __post_init__(self) -> None:
        self.schema = RecordSchema(self.policies)
        self.hasher = crypto.LookupHasher(self.keys.lookup) if self.keys.lookup else None

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def require_officer(self, what: str) -> None:
        """A purger slot holds no data key; refuse before trying anything."""
        if self.role != "officer" or self.keys.data is None or self.keys.lookup is None:
            raise AuthError(f"the {self.role} slot {self.actor!r} may not {what}", hints=("use an officer's passphrase or key file",))


# --- slots ---------------------------------------------------------------------------------------------------


def _slot_context(register_id: str, name: str, role: str, kind: str) -> tuple[str, ...]:
    return ("slot", register_id, name, role, kind)


def _check_officer_name(name: str) -> None:
    if not re.fullmatch(OFFICER_NAME_RE, name):
        raise InvalidInput(
            "invalid officer name",
            [("name", "must be 1-32 lowercase letters, digits, '.', '_' or '-', starting with a letter")],
        )


def _new_slot(
    register_id: str,
    keys: Keyring,
    name: str,
    role: str,
    now: datetime,
    *,
    passphrase: str | None = None,
    kdf: crypto.KdfParams | None = None,
    key_secret: bytes | None = None,
) -> dict[str, Any]:
    _check_officer_name(name)
    if role not in ROLES:
        raise InvalidInput("invalid role", [("--role", f"must be one of {', '.join(ROLES)}")])
    if passphrase is not None:
        if len(passphrase) < 12:
            raise InvalidInput("passphrase too short", [("passphrase", "must be at least 12 characters")])
        assert kdf is not None
        kind, kek, params = "passphrase", crypto.passphrase_key(passphrase, kdf), kdf.to_dict()
    else:
        assert key_secret is not None
        salt = crypto.random_key()[:16]
        kind, kek, params = "keyfile", crypto.key_file_key(key_secret, salt), {"alg": "hkdf-sha256", "salt": crypto.b64encode(salt)}
    wrapped = crypto.seal(kek, keys.sealed_payload(role), _slot_context(register_id, name, role, kind))
    return {
        "name": name,
        "role": role,
        "kind": kind,
        "kdf": json.dumps(params),
        "wrapped": wrapped,
        "created_at": now.astimezone(UTC).isoformat(timespec="seconds"),
    }


def _open_slot(register_id: str, slot: dict[str, Any], credentials: Credentials) -> tuple[str, Keyring] | None:
    """The slot's role and keys, or None when these credentials do not open it."""
    try:
        params = json.loads(slot["kdf"])
        if slot["kind"] == "passphrase":
            if credentials.passphrase is None:
                return None
            kek = crypto.passphrase_key(credentials.passphrase, crypto.KdfParams.from_dict(params))
        else:
            if credentials.key_secret is None:
                return None
            kek = crypto.key_file_key(credentials.key_secret, crypto.b64decode(params["salt"]))
        payload = crypto.open_sealed(kek, slot["wrapped"], _slot_context(register_id, slot["name"], slot["role"], slot["kind"]))
    except crypto.InvalidToken:
        return None
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(f"key slot {slot['name']!r} is corrupt") from None
    role, keys = Keyring.from_payload(payload)
    if role != slot["role"]:
        raise IntegrityError(f"key slot {slot['name']!r} is corrupt")
    return role, keys


def init_register(
    path: Path,
    policies: Policies,
    officer: str,
    passphrase: str,
    kdf: crypto.KdfParams,
    now: datetime,
    *,
    unlock_seconds: float = 0.5,
) -> Session:
    """Create a register with fresh random keys and its first officer's slot."""
    _check_officer_name(officer)
    register_id = crypto.new_register_id()
    keys = Keyring(audit=crypto.random_key(), data=crypto.random_key(), lookup=crypto.random_key())
    slot = _new_slot(register_id, keys, officer, "officer", now, passphrase=passphrase, kdf=kdf)
    store = Store.create(
        path,
        {
            "register_id": register_id,
            "created_at": now.astimezone(UTC).isoformat(timespec="seconds"),
            "unlock_seconds": str(unlock_seconds),
        },
    )
    session = Session(store, policies, register_id, officer, "officer", keys)
    with store.write():
        store.add_slot(slot)
        _audit(session, now, "init", detail={"officer": officer})
    return session


def unlock(path: Path, policies: Policies, credentials: Credentials, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Session:
    """Open a register and unlock one slot; AuthError when nothing opens."""
    store = Store.open(path, busy_timeout=busy_timeout)
    try:
        register_id = store.meta("register_id") or ""
        if credentials.key_secret is not None:
            candidates = [s for s in store.slots("keyfile") if credentials.officer in (None, s["name"])]
            failure = "the key file does not open any key slot of this register"
        elif credentials.officer is not None:
            slot = store.slot(credentials.officer)
            if slot is None or slot["kind"] != "passphrase":
                raise AuthError(f"no officer {credentials.officer!r} with a passphrase in this register")
            candidates = [slot]
            failure = f"wrong passphrase for officer {credentials.officer!r}"
        else:
            raise AuthError("no officer given", hints=("pass --officer or set KSS_PANEL_OFFICER, or use --key-file",))
        for slot in candidates:
            opened = _open_slot(register_id, slot, credentials)
            if opened:
                role, keys = opened
                return Session(store, policies, register_id, slot["name"], role, keys)
        raise AuthError(failure)
    except BaseException:
        store.close()
        raise


def add_officer(
    session: Session,
    name: str,
    role: str,
    now: datetime,
    *,
    passphrase: str | None = None,
    kdf: crypto.KdfParams | None = None,
    key_secret: bytes | None = None,
    write_key: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Add a slot; ``write_key`` (saving a new key file) runs inside the transaction,
    so a key file that cannot be written leaves no slot behind."""
    session.require_officer("manage officers")
    slot = _new_slot(session.register_id, session.keys, name, role, now, passphrase=passphrase, kdf=kdf, key_secret=key_secret)
    with session.store.write():
        session.store.add_slot(slot)
        if write_key is not None:
            write_key()
        _audit(session, now, "officer-add", detail={"officer": name, "role": role, "kind": slot["kind"]})
    return _slot_summary(slot)


def remove_officer(session: Session, name: str, now: datetime) -> None:
    session.require_officer("manage officers")
    with session.store.write():
        slot = session.store.slot(name)
        if slot is None:
            raise NotFound(f"no officer {name!r}")
        officers = [s for s in session.store.slots() if s["role"] == "officer"]
        if slot["role"] == "officer" and len(officers) == 1:
            raise InvalidInput("refusing to remove the last officer", [("name", "is the only officer-role slot")])
        session.store.remove_slot(name)
        _audit(session, now, "officer-remove", detail={"officer": name})


def list_officers(session: Session) -> list[dict[str, Any]]:
    with session.store.read():
        return [_slot_summary(slot) for slot in session.store.slots()]


def _slot_summary(slot: dict[str, Any]) -> dict[str, Any]:
    return {"name": slot["name"], "role": slot["role"], "kind": slot["kind"], "created_at": slot["created_at"]}


def unlock_seconds(session: Session) -> float:
    return float(session.store.meta("unlock_seconds") or 0.5)


# --- members -------------------------------------------------------------------------------------------------


def _dek_context(session: Session, member_id: str) -> tuple[str, ...]:
    return ("dek", session.register_id, member_id)


def _section_context(session: Session, member_id: str, section: str) -> tuple[str, ...]:
    return ("section", session.register_id, member_id, section)


def _seal_record(session: Session, member_id: str, dek: bytes, record: dict[str, Any]) -> dict[str, bytes]:
    plaintexts = {section: json.dumps(value, ensure_ascii=False).encode() for section, value in record.items()}
    return crypto.seal_many(dek, plaintexts, ("section", session.register_id, member_id))


def _lookups(session: Session, record: dict[str, Any]) -> dict[str, str]:
    assert session.hasher is not None
    return {kind: session.hasher.digest(kind, value) for kind, value in session.schema.lookups(record).items()}


def _member_row(store: Store, member_id: str) -> dict[str, Any]:
    row = store.member(member_id)
    if row is None:
        raise NotFound(f"no member {member_id!r}")
    return row


def _dek(session: Session, row: dict[str, Any]) -> bytes:
    assert session.keys.data is not None
    return crypto.open_sealed(session.keys.data, row["wrapped_dek"], _dek_context(session, row["member_id"]))


def _read_record(session: Session, row: dict[str, Any], sections: Iterable[str] | None = None) -> dict[str, Any]:
    dek = _dek(session, row)
    boxes = session.store.boxes(row["member_id"])
    wanted = boxes.keys() if sections is None else [s for s in sections if s in boxes]
    return session.schema.ordered({
        section: json.loads(crypto.open_sealed(dek, boxes[section], _section_context(session, row["member_id"], section)))
        for section in wanted
    })


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {column: row.get(column) for column in MEMBER_COLUMNS}


def enrol(session: Session, data: Any, now: datetime) -> str:
    """Validate one application and store it as an applicant; return its member id."""
    session.require_officer("enrol members")
    with session.store.write():
        member_id = _enrol_one(session, data, now)
    return member_id


def enrol_many(session: Session, records: Iterable[Any], now: datetime) -> list[str]:
    """Enrol several applications in one transaction: all of them or none."""
    session.require_officer("enrol members")
    with session.store.write():
        return [_enrol_one(session, data, now) for data in records]


def _enrol_one(session: Session, data: Any, now: datetime) -> str:
    today = local_date(now)
    record, applied_at = session.schema.validate(data, today=today)
    member_id = crypto.new_member_id()
    dek = crypto.random_key()
    assert session.keys.data is not None
    row = {
        "member_id": member_id,
        "status": "applicant",
        "applied_at": (applied_at or today).isoformat(),
        "updated_at": today.isoformat(),
        "wrapped_dek": crypto.seal(session.keys.data, dek, _dek_context(session, member_id)),
    }
    lookups = _lookups(session, record)
    if session.store.suppressed({k: v for k, v in lookups.items() if k in SUPPRESSED_KINDS}):
        # Someone who objected and was erased with --suppress applies again: flag, do not refuse.
        row["suppression_match"] = 1
    session.store.insert_member(row, _seal_record(session, member_id, dek, record), lookups)
    _audit(session, now, "enrol", member_id, sorted(flatten(record)), {"suppression_match": True} if "suppression_match" in row else None)
    return member_id


def status(session: Session, member_id: str) -> dict[str, Any]:
    """A member's plain columns only (no personal data, so not audited)."""
    with session.store.read():
        return _plain(_member_row(session.store, member_id))


def show(session: Session, member_id: str, now: datetime) -> dict[str, Any]:
    """A member's plain columns and whole decrypted record."""
    session.require_officer("read personal data")
    with session.store.write():
        row = _member_row(session.store, member_id)
        record = _read_record(session, row)
        _audit(session, now, "show", member_id, sorted(flatten(record)))
    return {**_plain(row), **record}


def find(session: Session, kind: str, value: str, now: datetime) -> dict[str, Any]:
    """Find a member by the keyed hash of a normalised lookup value; decrypts no one."""
    session.require_officer("look up members")
    assert session.hasher is not None
    digest = session.hasher.digest(kind, normalise_lookup(kind, value))
    with session.store.write():
        member_id = session.store.find(kind, digest)
        if member_id is None:
            raise NotFound(f"no member with that {kind.replace('_', ' ')}")
        row = _member_row(session.store, member_id)
        _audit(session, now, "find", member_id, [kind])
    return _plain(row)


def list_members(session: Session, now: datetime, *, status: str | None = None, names: bool = False) -> list[dict[str, Any]]:
    """Members' ids, status and dates; names only when asked (and audited)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput("invalid status", [("--status", f"must be one of {', '.join(STATUSES)}")])
    if names:
        session.require_officer("read members' names")
    with session.store.write() if names else session.store.read():
        rows = session.store.members(status)
        if not names:
            return [_plain(row) for row in rows]
        listed = []
        for row in rows:
            contact = _read_record(session, _member_row(session.store, row["member_id"]), ["contact"]).get("contact", {})
            listed.append({**_plain(row), "first_name": contact.get("first_name"), "last_name": contact.get("last_name")})
        _audit(session, now, "list-names", None, ["contact.first_name", "contact.last_name"], {"members": len(listed)})
        return listed


def update(session: Session, member_id: str, patch: dict[str, Any], now: datetime, *, request: int | None = None) -> list[str]:
    """Rectify a member's record with a merge patch; return the changed field paths."""
    session.require_officer("rectify personal data")
    if not isinstance(patch, dict) or not patch:
        raise InvalidInput("empty patch", [("(patch)", "must be a JSON object with at least one field")])
    if "applied_at" in patch:
        raise InvalidInput("invalid patch", [("applied_at", "cannot be changed by update")])
    with session.store.write():
        row = _member_row(session.store, member_id)
        before = _read_record(session, row)
        after, _ = session.schema.validate(apply_patch(before, patch), today=local_date(now))
        changed = changed_fields(before, after)
        if request is not None:
            _fulfil(session, request, member_id, "rectification", now)
        if not changed:
            return []
        session.store.put_boxes(member_id, _seal_record(session, member_id, _dek(session, row), after))
        session.store.put_lookups(member_id, _lookups(session, after))
        session.store.update_member(member_id, {"updated_at": local_date(now).isoformat()})
        _audit(session, now, "update", member_id, changed)
    return changed


# --- lifecycle -----------------------------------------------------------------------------------------------


def _roster_digests(session: Session, roster: Iterable[str]) -> set[str]:
    assert session.hasher is not None
    return {session.hasher.digest("customer_number", number) for number in roster}


def _require_status(row: dict[str, Any], status: str, action: str) -> None:
    if row["status"] != status:
        raise InvalidInput(f"cannot {action} {row['member_id']}", [("status", f"is {row['status']}, not {status}")])


def admit(session: Session, member_id: str, roster: Iterable[str], now: datetime) -> dict[str, Any]:
    """Admit an applicant whose customer number is in the customer roster."""
    session.require_officer("admit members")
    digests = _roster_digests(session, roster)
    with session.store.write():
        row = _member_row(session.store, member_id)
        _require_status(row, "applicant", "admit")
        if not session.store.member_ids_with("customer_number", digests) & {member_id}:
            raise Refused(
                f"{member_id} is not a KSS Energia customer: the customer number is not in the roster",
                hints=("only customers may join the panel; reject with --reason not-a-customer",),
            )
        today = local_date(now).isoformat()
        session.store.update_member(member_id, {"status": "member", "admitted_at": today, "updated_at": today})
        _audit(session, now, "admit", member_id, ["customer_number"])
        return _plain(_member_row(session.store, member_id))


def reject(session: Session, member_id: str, reason: str, now: datetime) -> dict[str, Any]:
    """Reject an applicant for one of the policy's rejection reasons."""
    session.require_officer("reject applicants")
    reasons = session.policies.register.rejection_reasons
    if reason not in reasons:
        raise InvalidInput("invalid rejection reason", [("--reason", f"must be one of {', '.join(reasons)}")])
    with session.store.write():
        row = _member_row(session.store, member_id)
        _require_status(row, "applicant", "reject")
        today = local_date(now).isoformat()
        session.store.update_member(member_id, {"status": "rejected", "rejected_at": today, "updated_at": today})
        _audit(session, now, "reject", member_id, detail={"reason": reason})
        return _plain(_member_row(session.store, member_id))


def eligibility(session: Session, roster: Iterable[str], now: datetime, *, remove: bool = False) -> list[str]:
    """Members whose customer number is no longer in the roster.

    The check records the day each was first found ineligible (the clock of the
    conditions-not-met retention rule) and clears it for members back in the
    roster; with ``remove`` they are erased at once.
    """
    session.require_officer("check eligibility")
    digests = _roster_digests(session, roster)
    today = local_date(now).isoformat()
    with session.store.write():
        members = session.store.members("member")
        eligible = session.store.member_ids_with("customer_number", digests)
        failing = [row for row in members if row["member_id"] not in eligible]
        for row in members:
            if row["member_id"] in eligible and row["ineligible_at"]:
                session.store.update_member(row["member_id"], {"ineligible_at": None})
        for row in failing:
            if not row["ineligible_at"]:
                session.store.update_member(row["member_id"], {"ineligible_at": today})
        _audit(session, now, "eligibility-check", None, ["customer_number"], {"members": len(members), "ineligible": len(failing)})
        if remove:
            for row in failing:
                _erase(session, row["member_id"], "conditions-not-met", now)
    return [row["member_id"] for row in failing]


def record_activity(session: Session, activity: Iterable[tuple[int, str, date]], now: datetime) -> dict[str, int]:
    """Keep each member's last survey date (the clock of the inactivity rule).

    ``activity`` holds (line, member id, date). All or nothing: an unknown
    member or a future date is reported by line, and nothing is written.
    """
    session.require_officer("record activity")
    today = local_date(now)
    problems: list[tuple[str, str]] = []
    latest: dict[str, date] = {}
    with session.store.write():
        for line, member_id, when in activity:
            if when > today:
                problems.append((f"line {line}: date", "must not be in the future"))
            elif session.store.member(member_id) is None:
                problems.append((f"line {line}: member_id", "no such member"))
            elif member_id not in latest or when > latest[member_id]:
                latest[member_id] = when
        if problems:
            raise InvalidInput("invalid activity file", problems)
        changed = 0
        for member_id, when in latest.items():
            current = _member_row(session.store, member_id)["last_activity_at"]
            if current is None or date.fromisoformat(current) < when:
                session.store.update_member(member_id, {"last_activity_at": when.isoformat()})
                changed += 1
        _audit(session, now, "activity-import", None, [], {"rows": len(latest), "changed": changed})
    return {"members": len(latest), "updated": changed}


def _erase(session: Session, member_id: str, reason: str, now: datetime, rule: str | None = None) -> None:
    """Crypto-shred and delete one member; call inside a write transaction."""
    session.store.erase_member(member_id, local_date(now).isoformat(), reason, rule)
    _audit(session, now, "erase", member_id, [], {"reason": reason, **({"rule": rule} if rule else {})})


@dataclass(frozen=True)
class PurgePlan:
    as_of: date
    due: dict[str, list[str]]

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.due.values())


def plan_purge(session: Session, as_of: date) -> PurgePlan:
    """Which members each retention rule makes due on ``as_of`` (reads plain columns only)."""
    with session.store.read():
        due = due_members(session.policies.retention, session.store.iter_members(), as_of)
    return PurgePlan(as_of, {rule: [row["member_id"] for row in rows] for rule, rows in due.items()})


def purge(session: Session, now: datetime) -> PurgePlan:
    """Erase every member due today, in batches, each batch its own transaction.

    A crash between batches leaves whole members erased or untouched; the next
    run recomputes what is due and finishes the job. A purger slot suffices.
    """
    plan = plan_purge(session, local_date(now))
    todo = [(rule, member_id) for rule, ids in plan.due.items() for member_id in ids]
    erased: dict[str, list[str]] = {rule: [] for rule in plan.due}
    for start in range(0, len(todo), PURGE_BATCH):
        with session.store.write():
            for rule, member_id in todo[start : start + PURGE_BATCH]:
                # Re-check inside the transaction: an officer may have changed the member since the plan.
                row = session.store.member(member_id)
                if row is not None and due_members(session.policies.retention, [row], plan.as_of)[rule]:
                    _erase(session, member_id, "retention", now, rule)
                    erased[rule].append(member_id)
    done = PurgePlan(plan.as_of, erased)
    if done.total:
        with session.store.write():
            _audit(session, now, "purge", None, [], {"erased": done.total, "rules": {r: len(ids) for r, ids in erased.items() if ids}})
    return done


# --- bulk intake ---------------------------------------------------------------------------------------------

IMPORT_BATCH = 1000
Report = Callable[[int, str, str], None]
Validated = tuple[int, dict[str, Any], date | None, list[tuple[str, str]]]


def _validated(schema: RecordSchema, rows: Iterable[tuple[int, Any, list[tuple[str, str]]]], today: date) -> Iterator[Validated]:
    for line, data, problems in rows:
        if problems:
            yield line, {}, None, problems
            continue
        try:
            record, applied_at = schema.validate(data, today=today)
        except InvalidInput as exc:
            yield line, {}, None, exc.problems
            continue
        yield line, record, applied_at, []


def import_applications(
    session: Session,
    rows: Iterable[tuple[int, Any, list[tuple[str, str]]]],
    now: datetime,
    *,
    report: Report,
    skip_invalid: bool = False,
    progress: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Enrol a stream of applications in one transaction.

    Every invalid row is passed to ``report`` (line, field path, problem; never
    a value). By default any invalid row means nothing is written; with
    ``skip_invalid`` the valid rows are kept. Duplicates, within the file and
    against the register, are found by keyed hash; rows go in in batches, so
    memory stays flat.
    """
    session.require_officer("enrol members")
    assert session.keys.data is not None
    today = local_date(now)
    counts = {"rows": 0, "imported": 0, "invalid": 0, "flagged": 0}
    with session.store.write():
        last = session.store.last_audit()
        suppressions = session.store.has_suppressions()
        batch: dict[str, list[Any]] = {"members": [], "boxes": [], "lookups": [], "audit": []}
        pending: set[tuple[str, str]] = set()
        for line, record, applied_at, problems in _validated(session.schema, rows, today):
            counts["rows"] += 1
            if progress:
                progress()
            if not problems:
                lookups = _lookups(session, record)
                problems = [
                    (kind, "is already in the register or earlier in the file")
                    for kind, digest in sorted(lookups.items())
                    if (kind, digest) in pending or session.store.find(kind, digest)
                ]
            if problems:
                counts["invalid"] += 1
                for path, problem in problems:
                    report(line, path, problem)
                continue
            member_id, dek = crypto.new_member_id(), crypto.random_key()
            flagged = suppressions and session.store.suppressed({k: v for k, v in lookups.items() if k in SUPPRESSED_KINDS})
            counts["flagged"] += flagged
            batch["members"].append({
                "member_id": member_id,
                "status": "applicant",
                "applied_at": (applied_at or today).isoformat(),
                "updated_at": today.isoformat(),
                "wrapped_dek": crypto.seal(session.keys.data, dek, _dek_context(session, member_id)),
                "suppression_match": 1 if flagged else None,
            })
            batch["boxes"] += [(member_id, section, box) for section, box in _seal_record(session, member_id, dek, record).items()]
            batch["lookups"] += [(kind, digest, member_id) for kind, digest in lookups.items()]
            pending.update(lookups.items())
            last = audit.seal_entry(
                session.keys.audit, session.register_id, last,
                _audit_entry(session, now, "enrol", member_id, sorted(flatten(record)), {"import": True, **({"suppression_match": True} if flagged else {})}),
            )
            batch["audit"].append(last)
            counts["imported"] += 1
            if len(batch["members"]) >= IMPORT_BATCH:
                session.store.insert_members_bulk(batch["members"], batch["boxes"], batch["lookups"], batch["audit"])
                batch = {key: [] for key in batch}
                pending.clear()  # now in the lookups table, where find() sees them
        session.store.insert_members_bulk(batch["members"], batch["boxes"], batch["lookups"], batch["audit"])
        if counts["rows"] == 0:
            raise InvalidInput("the file holds no records", [("(file)", "no rows after the header")])
        if counts["invalid"] and not skip_invalid:
            raise InvalidInput(f"{counts['invalid']} of {counts['rows']} records are invalid: nothing was imported")
        _audit(session, now, "import", None, [], {"imported": counts["imported"], "invalid": counts["invalid"]})
    return counts


def import_updates(
    session: Session,
    rows: Iterable[tuple[int, Any, list[tuple[str, str]]]],
    now: datetime,
    *,
    report: Report,
    skip_invalid: bool = False,
    progress: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Apply self-service changes (member id or email, plus changed fields) as rectifications.

    A row naming no known member is reported, never guessed. Each changed
    member gets its own audit entry listing the changed fields.
    """
    session.require_officer("rectify personal data")
    assert session.hasher is not None
    today = local_date(now)
    counts = {"rows": 0, "updated": 0, "unchanged": 0, "invalid": 0}
    with session.store.write():
        for line, data, problems in rows:
            counts["rows"] += 1
            if progress:
                progress()
            if not problems:
                try:
                    with session.store.savepoint():
                        changed = _apply_self_service(session, dict(data), now, today)
                    counts["updated" if changed else "unchanged"] += 1
                    continue
                except InvalidInput as exc:
                    problems = exc.problems
            counts["invalid"] += 1
            for path, problem in problems:
                report(line, path, problem)
        if counts["rows"] == 0:
            raise InvalidInput("the file holds no records", [("(file)", "no rows after the header")])
        if counts["invalid"] and not skip_invalid:
            raise InvalidInput(f"{counts['invalid']} of {counts['rows']} updates are invalid: nothing was changed")
        _audit(session, now, "import-updates", None, [], {k: v for k, v in counts.items() if k != "rows"})
    return counts


def _apply_self_service(session: Session, patch: dict[str, Any], now: datetime, today: date) -> list[str]:
    assert session.hasher is not None
    member_id = patch.pop("member_id", None)
    if member_id is None:
        email = patch.get("contact", {}).get("email") if isinstance(patch.get("contact"), dict) else None
        if not isinstance(email, str):
            raise InvalidInput("no member named", [("member_id", "give member_id or contact.email")])
        member_id = session.store.find("email", session.hasher.digest("email", normalise_lookup("email", email)))
        if member_id is None:
            raise InvalidInput("unknown member", [("contact.email", "no member has this email")])
    row = session.store.member(str(member_id))
    if row is None:
        raise InvalidInput("unknown member", [("member_id", "no such member")])
    if "applied_at" in patch:
        raise InvalidInput("invalid update", [("applied_at", "cannot be changed by an update")])
    before = _read_record(session, row)
    after, _ = session.schema.validate(apply_patch(before, patch), today=today)
    changed = changed_fields(before, after)
    if changed:
        session.store.put_boxes(row["member_id"], _seal_record(session, row["member_id"], _dek(session, row), after))
        session.store.put_lookups(row["member_id"], _lookups(session, after))
        session.store.update_member(row["member_id"], {"updated_at": today.isoformat()})
        _audit(session, now, "update", row["member_id"], changed, {"source": "self-service"})
    return changed


# --- disclosure ----------------------------------------------------------------------------------------------


def disclosure_export(
    session: Session,
    recipient: str,
    purpose: str,
    now: datetime,
    *,
    write_row: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Disclose to a recipient for a purpose, as the disclosure policy allows.

    Only admitted members who are not restricted, have not objected and hold
    the consent the purpose requires; only the recipient's fields. Each
    disclosed member gets a disclosure-log entry. Without ``write_row`` this
    is a dry run: counts only, nothing logged.
    """
    session.require_officer("disclose personal data")
    policy = session.policies.disclosure.recipients.get(recipient)
    if policy is None:
        raise Refused(f"the disclosure policy names no recipient {recipient!r}",
                      hints=(f"recipients: {', '.join(session.policies.disclosure.recipients)}",))
    grant = policy.purposes.get(purpose)
    if grant is None:
        raise Refused(f"{recipient} may not receive data for purpose {purpose!r}",
                      hints=(f"allowed purposes: {', '.join(policy.purposes)}",))
    if not policy.in_eu_eea and policy.safeguard is None:
        raise Refused(f"{recipient} is outside the EU/EEA ({policy.country}) and declares no safeguard")
    consent_needed = None if grant.consent == "none" else grant.consent
    sections = sorted({path.partition(".")[0] for path in policy.fields} | ({"consents"} if consent_needed else set()))
    counts = {"members": 0, "disclosed": 0, "restricted": 0, "objected": 0, "no_consent": 0}
    today = local_date(now).isoformat()
    with session.store.write():
        log: list[dict[str, Any]] = []
        for row in session.store.iter_members("member"):
            counts["members"] += 1
            if row["restricted_at"]:
                counts["restricted"] += 1
                continue
            if row["objected_at"]:
                counts["objected"] += 1
                continue
            record = _read_record(session, _member_row(session.store, row["member_id"]), sections)
            if consent_needed and not record.get("consents", {}).get(consent_needed, False):
                counts["no_consent"] += 1
                continue
            counts["disclosed"] += 1
            if write_row is None:
                continue
            flat = flatten(record)
            write_row({"member_id": row["member_id"], **{path: flat.get(path, record.get(path)) for path in policy.fields}})
            log.append({"member_id": row["member_id"], "recipient": recipient, "purpose": purpose,
                        "fields": list(policy.fields), "disclosed_on": today})
            if len(log) >= IMPORT_BATCH:
                session.store.log_disclosures(log)
                log = []
        if write_row is not None:
            session.store.log_disclosures(log)
            _audit(session, now, "export-disclosure", None, list(policy.fields),
                   {"recipient": recipient, "purpose": purpose, "members": counts["disclosed"]})
    return {"recipient": recipient, "purpose": purpose, "fields": list(policy.fields), "dry_run": write_row is None, **counts}


# --- data-subject rights -------------------------------------------------------------------------------------


def erase(
    session: Session,
    member_id: str,
    reason: str,
    now: datetime,
    *,
    dry_run: bool = False,
    suppress: bool = False,
    request: int | None = None,
) -> dict[str, Any]:
    """Erase a member: destroy the data key, delete every row, note the id in the ledger.

    With ``suppress``, keyed hashes of the email and phone are kept so a person
    who objected is flagged if they apply again (opt-in; no value is kept).
    """
    session.require_officer("erase members")
    if reason not in ERASURE_REASONS:
        raise InvalidInput("invalid erasure reason", [("--reason", f"must be one of {', '.join(ERASURE_REASONS)}")])
    with session.store.write():
        row = _member_row(session.store, member_id)
        sections = sorted(session.store.boxes(member_id))
        summary = {"member_id": member_id, "sections": sections, "disclosures": len(session.store.disclosures_of(member_id))}
        if dry_run:
            return {**summary, "erased": False}
        if suppress:
            record = _read_record(session, row, ["contact"])
            lookups = {k: v for k, v in _lookups(session, record).items() if k in SUPPRESSED_KINDS}
            session.store.suppress(lookups, local_date(now).isoformat())
        if request is not None:
            _fulfil(session, request, member_id, "erasure", now)
        _erase(session, member_id, reason, now, "suppress" if suppress else None)
    return {**summary, "erased": True, "suppressed": suppress}


def consent(
    session: Session,
    member_id: str,
    now: datetime,
    *,
    give: list[str] = (),  # type: ignore[assignment]
    withdraw: list[str] = (),  # type: ignore[assignment]
    object_to_marketing: bool = False,
    request: int | None = None,
) -> dict[str, bool]:
    """Give or withdraw consents; an objection (Art. 21) withdraws every marketing consent."""
    session.require_officer("change consents")
    known = session.policies.register.consents
    unknown = [name for name in [*give, *withdraw] if name not in known]
    if unknown or not (give or withdraw or object_to_marketing):
        raise InvalidInput(
            "invalid consent change",
            [("--give/--withdraw", f"must name one of {', '.join(known)}")],
        )
    marketing = [
        name for name, c in known.items() if session.policies.register.purposes[c.purpose].direct_marketing
    ]
    with session.store.write():
        row = _member_row(session.store, member_id)
        before = _read_record(session, row)
        consents = dict(before.get("consents", {}))
        consents.update({name: True for name in give})
        consents.update({name: False for name in [*withdraw, *(marketing if object_to_marketing else [])]})
        after = {**before, "consents": consents}
        changed = changed_fields(before, after)
        if changed:
            session.store.put_boxes(member_id, _seal_record(session, member_id, _dek(session, row), after))
        today = local_date(now).isoformat()
        plain = {"updated_at": today} if changed else {}
        if object_to_marketing and not row.get("objected_at"):
            plain["objected_at"] = today
        if plain:
            session.store.update_member(member_id, plain)
        if request is not None:
            _fulfil(session, request, member_id, "objection", now)
        _audit(session, now, "object" if object_to_marketing else "consent", member_id, changed,
               {"given": sorted(give), "withdrawn": sorted(set(withdraw) | set(marketing if object_to_marketing else []))})
    return consents


def restrict(
    session: Session, member_id: str, now: datetime, *, reason: str | None = None, lift: bool = False, request: int | None = None
) -> dict[str, Any]:
    """Restrict processing (Art. 18) on one of its grounds, or lift the restriction."""
    session.require_officer("restrict processing")
    if lift == (reason is not None):
        raise InvalidInput("give --reason or --lift", [("--reason|--lift", "exactly one of them is required")])
    if reason is not None and reason not in RESTRICTION_GROUNDS:
        raise InvalidInput("invalid restriction ground", [("--reason", f"must be one of {', '.join(RESTRICTION_GROUNDS)}")])
    with session.store.write():
        row = _member_row(session.store, member_id)
        today = local_date(now).isoformat()
        if lift:
            if not row.get("restricted_at"):
                raise InvalidInput(f"{member_id} is not restricted", [("--lift", "no restriction to lift")])
            session.store.update_member(member_id, {"restricted_at": None, "restriction_reason": None})
        else:
            session.store.update_member(member_id, {"restricted_at": today, "restriction_reason": reason})
        if request is not None:
            _fulfil(session, request, member_id, "restriction", now)
        _audit(session, now, "restrict-lift" if lift else "restrict", member_id, [], {} if lift else {"reason": reason})
        return _plain(_member_row(session.store, member_id))


def access_export(
    session: Session,
    member_id: str,
    now: datetime,
    *,
    request: int | None = None,
    deliver: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The Art. 15 answer: every stored datum and what the register does with it.

    ``deliver`` (writing the files) runs inside the transaction, so an export
    that cannot be delivered is neither audited nor closes the request.
    """
    session.require_officer("export personal data")
    with session.store.write():
        row = _member_row(session.store, member_id)
        record = _read_record(session, row)
        export = _access_document(session, row, record, session.store.disclosures_of(member_id), now)
        if request is not None:
            _fulfil(session, request, member_id, "access", now)
        _audit(session, now, "export-access", member_id, sorted(flatten(record)))
        if deliver is not None:
            deliver(export)
    return export


def _access_document(
    session: Session, row: dict[str, Any], record: dict[str, Any], disclosures: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    register = session.policies.register
    language = record.get("contact", {}).get("language", "fi")
    due = next_due(session.policies.retention, row)
    recipients = session.policies.disclosure.recipients
    return {
        "schema": ACCESS_EXPORT_SCHEMA,
        "schema_version": ACCESS_EXPORT_VERSION,
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "language": language,
        "register": register.register_info.name.get(language),
        "controller": {
            "name": register.controller.name,
            "address": register.controller.address,
            "contact_person": register.controller.contact_person.model_dump(),
        },
        "member": _plain(row),
        "data": [
            {
                "category": name,
                "title": register.categories[name].title.get(language),
                "value": value,
            }
            for name, value in record.items()
        ],
        "purposes": [
            {"purpose": name, "title": p.title.get(language), "legal_basis": p.legal_basis} for name, p in register.purposes.items()
        ],
        "disclosures": [
            {
                "recipient": d["recipient"],
                "recipient_name": recipients[d["recipient"]].name if d["recipient"] in recipients else None,
                "country": recipients[d["recipient"]].country if d["recipient"] in recipients else None,
                "purpose": d["purpose"],
                "fields": d["fields"],
                "date": d["disclosed_on"],
            }
            for d in disclosures
        ],
        "retention": (
            {"rule": due[0].name, "description": due[0].description, "erased_on": due[1].isoformat(),
             "held_by_restriction": bool(row.get("restricted_at")) and session.policies.retention.restricted == "hold"}
            if due
            else None
        ),
        "sources": [source.get(language) for source in register.sources],
        "rights": [{"article": r.article, "title": r.title.get(language), "how": r.how.get(language)} for r in register.rights],
    }


# --- requests (Art. 12(3)) --------------------------------------------------------------------------------------

FULFILS = {"access": "access", "rectification": "rectification", "erasure": "erasure", "objection": "objection", "restriction": "restriction"}


def request_deadline(received: date, extended_months: int = 0) -> date:
    """One calendar month from receipt, plus any extension (Art. 12(3))."""
    return Period(months=1 + extended_months).after(received)


def open_request(session: Session, kind: str, member_id: str, now: datetime, *, received: date | None = None) -> dict[str, Any]:
    session.require_officer("record requests")
    if kind not in REQUEST_TYPES:
        raise InvalidInput("invalid request type", [("--type", f"must be one of {', '.join(REQUEST_TYPES)}")])
    today = local_date(now)
    received = received or today
    if received > today:
        raise InvalidInput("invalid receipt date", [("--received", "must not be in the future")])
    with session.store.write():
        _member_row(session.store, member_id)
        request_id = session.store.add_request(
            {"type": kind, "member_id": member_id, "received": received.isoformat(), "deadline": request_deadline(received).isoformat()}
        )
        _audit(session, now, "request-open", member_id, [], {"request": request_id, "type": kind})
        return _request_view(session.store.request(request_id) or {}, today)


def list_requests(session: Session, now: datetime, *, overdue: bool = False) -> list[dict[str, Any]]:
    today = local_date(now)
    with session.store.read():
        views = [_request_view(row, today) for row in session.store.requests()]
    return [v for v in views if v["overdue"]] if overdue else views


def extend_request(session: Session, request_id: int, reason: str, now: datetime, *, months: int = 2) -> dict[str, Any]:
    session.require_officer("extend requests")
    if reason not in EXTENSION_REASONS:
        raise InvalidInput("invalid extension reason", [("--reason", f"must be one of {', '.join(EXTENSION_REASONS)}")])
    if months not in (1, 2):
        raise InvalidInput("invalid extension", [("--months", "may be 1 or 2 (Art. 12(3): at most two further months)")])
    with session.store.write():
        row = _open_request_row(session, request_id)
        if row["extended_to"]:
            raise InvalidInput(f"request {request_id} was already extended", [("request", "can be extended once")])
        extended = request_deadline(date.fromisoformat(row["received"]), months)
        session.store.update_request(request_id, {"extended_to": extended.isoformat(), "extension_reason": reason})
        _audit(session, now, "request-extend", row["member_id"], [], {"request": request_id, "reason": reason, "months": months})
        return _request_view(session.store.request(request_id) or {}, local_date(now))


def close_request(session: Session, request_id: int, outcome: str, now: datetime) -> dict[str, Any]:
    session.require_officer("close requests")
    if outcome not in REQUEST_OUTCOMES:
        raise InvalidInput("invalid outcome", [("--outcome", f"must be one of {', '.join(REQUEST_OUTCOMES)}")])
    with session.store.write():
        row = _open_request_row(session, request_id)
        _close_request(session, row, outcome, now)
        return _request_view(session.store.request(request_id) or {}, local_date(now))


def _open_request_row(session: Session, request_id: int) -> dict[str, Any]:
    row = session.store.request(request_id)
    if row is None:
        raise NotFound(f"no request {request_id}")
    if row["closed_on"]:
        raise InvalidInput(f"request {request_id} is already closed", [("request", f"closed on {row['closed_on']}")])
    return row


def _close_request(session: Session, row: dict[str, Any], outcome: str, now: datetime) -> None:
    session.store.update_request(row["id"], {"closed_on": local_date(now).isoformat(), "outcome": outcome})
    _audit(session, now, "request-close", row["member_id"], [], {"request": row["id"], "outcome": outcome})


def _fulfil(session: Session, request_id: int, member_id: str, kind: str, now: datetime) -> None:
    """Close request ``request_id`` as fulfilled by this command; it must match."""
    row = _open_request_row(session, request_id)
    if row["member_id"] != member_id:
        raise InvalidInput(f"request {request_id} is about another member", [("--request", "member does not match")])
    if row["type"] != FULFILS[kind]:
        raise InvalidInput(f"request {request_id} is a {row['type']} request", [("--request", f"this command fulfils {kind} requests")])
    _close_request(session, row, "fulfilled", now)


def _request_view(row: dict[str, Any], today: date) -> dict[str, Any]:
    deadline = date.fromisoformat(row["extended_to"] or row["deadline"])
    is_open = not row["closed_on"]
    return {
        "id": row["id"],
        "type": row["type"],
        "member_id": row["member_id"],
        "received": row["received"],
        "deadline": deadline.isoformat(),
        "extended": bool(row["extended_to"]),
        "extension_reason": row["extension_reason"],
        "status": "open" if is_open else "closed",
        "closed_on": row["closed_on"],
        "outcome": row["outcome"],
        "overdue": is_open and today > deadline,
        "days_left": (deadline - today).days if is_open else None,
    }


# --- backup and restore -----------------------------------------------------------------------------------------


def backup(session: Session, target: Path, now: datetime) -> dict[str, Any]:
    """An online, consistent, still-encrypted copy of the register (0600)."""
    session.require_officer("back up the register")
    reserve_new_file(target)  # before the audit entry: an existing file is refused with nothing recorded
    try:
        with session.store.write():
            _audit(session, now, "backup", None, [], {})
        # SQLite's backup API cannot run inside our own write transaction; the
        # copy is taken right after, and holds the entry that records it.
        copy_database(session.store.conn, target, reserved=True)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return {"backup": str(target), "audit_entries": audit_head(session).seq}


def restore(
    db: Path, source: Path, policies: Policies, credentials: Credentials, now: datetime, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> dict[str, Any]:
    """Replace the register with a backup, then erase again everyone erased since.

    The erasures come from the ledger beside the register and, when it can
    still be read, the current register's own ledger table. The restored audit
    trail records the restore and must verify before the file is replaced.
    """
    erased = read_ledger(db)
    current_id = None
    with ExitStack() as hold:
        if db.exists():
            try:
                current = hold.enter_context(unlock(db, policies, credentials, busy_timeout=busy_timeout))
                # Hold the write lock until the file is replaced: a purge or erase
                # must not commit to the old file while the backup takes its place.
                hold.enter_context(current.store.write())
                current_id = current.register_id
                erased.update({row["member_id"]: row["reason"] for row in current.store.erased()})
            except IntegrityError:
                pass  # a corrupt register is what restores are for; the ledger file still speaks
        staging = db.with_name(db.name + ".restoring")
        staging.unlink(missing_ok=True)
        with unlock(source, policies, credentials, busy_timeout=busy_timeout) as backup_session:
            if current_id is not None and backup_session.register_id != current_id:
                raise InvalidInput(f"{source} is a backup of another register", [("PATH", "register id differs")])
            backup_head = audit_verify(backup_session)
            copy_database(backup_session.store.conn, staging)
        try:
            with unlock(staging, policies, credentials, busy_timeout=busy_timeout) as session:
                session.store.ledger_path = ledger_path(db)
                with session.store.write():
                    known = {row["member_id"] for row in session.store.erased()}
                    reapplied = 0
                    for member_id, reason in sorted(erased.items()):
                        if session.store.member(member_id) is not None:
                            _erase(session, member_id, reason, now, "restore")
                            reapplied += 1
                        elif member_id not in known:
                            session.store.record_erasure(member_id, local_date(now).isoformat(), reason, "restore")
                    _audit(session, now, "restore", None, [], {"backup_entries": backup_head.seq, "erasures_reapplied": reapplied})
                head = audit_verify(session)
                session.store.sync_ledger()
            journal = db.with_name(db.name + "-journal")
            journal.unlink(missing_ok=True)  # a stale journal must never be replayed onto another file
            os.replace(staging, db)
        finally:
            staging.unlink(missing_ok=True)
    return {"restored_from": str(source), "erasures_reapplied": reapplied, "audit_entries": head.seq, "head": head.token()}


# --- audit ---------------------------------------------------------------------------------------------------


def _audit(
    session: Session,
    now: datetime,
    action: str,
    member_id: str | None = None,
    fields: list[str] | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one chained entry; call inside the write transaction it records."""
    entry = _audit_entry(session, now, action, member_id, fields, detail)
    session.store.append_audit(audit.seal_entry(session.keys.audit, session.register_id, session.store.last_audit(), entry))


def _audit_entry(
    session: Session,
    now: datetime,
    action: str,
    member_id: str | None = None,
    fields: list[str] | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "actor": session.actor,
        "action": action,
        "member_id": member_id,
        "fields": list(fields or []),
        "policy_hash": session.policies.hash,
        "detail": detail or {},
    }


def audit_log(session: Session, member_id: str | None = None) -> list[dict[str, Any]]:
    with session.store.read():
        return [{k: row[k] for k in audit.ENTRY_FIELDS} for row in session.store.audit_rows(member_id)]


def audit_verify(session: Session, head: audit.Head | None = None) -> audit.Head:
    with session.store.read():
        return audit.verify(session.keys.audit, session.register_id, session.store.audit_rows(), head)


def audit_head(session: Session) -> audit.Head:
    return audit_verify(session)
