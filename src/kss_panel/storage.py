"""The register file: SQLite through sqlite-utils, named migrations, transactions.

Plain columns hold only what purge and lookups need (opaque ids, status,
dates, keyed hashes); everything personal is an encrypted box. Every write
runs in ``BEGIN IMMEDIATE`` with a busy timeout, so cron and an officer can
share the file; ``secure_delete`` zeroes deleted content in place.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .errors import Busy, IntegrityError, InvalidInput, NotFound

FORMAT = "kss-panel register"
DEFAULT_BUSY_TIMEOUT = 30.0


def _create_register(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["slots"].create(
        {"name": str, "role": str, "kind": str, "kdf": str, "wrapped": bytes, "created_at": str},
        pk="name",
        not_null={"role", "kind", "wrapped", "created_at"},
    )
    db["members"].create(
        {
            "member_id": str,
            "status": str,
            "applied_at": str,
            "admitted_at": str,
            "rejected_at": str,
            "last_activity_at": str,
            "updated_at": str,
            "wrapped_dek": bytes,
        },
        pk="member_id",
        not_null={"status", "applied_at", "wrapped_dek"},
    )
    db["members"].create_index(["status"])
    db["sections"].create(
        {"member_id": str, "section": str, "box": bytes},
        pk=("member_id", "section"),
        foreign_keys=[("member_id", "members", "member_id")],
        not_null={"box"},
    )
    db["lookups"].create(
        {"kind": str, "digest": str, "member_id": str},
        pk=("kind", "digest"),
        foreign_keys=[("member_id", "members", "member_id")],
        not_null={"member_id"},
    )
    db["lookups"].create_index(["member_id"])
    db["audit"].create(
        {
            "seq": int,
            "at": str,
            "actor": str,
            "action": str,
            "member_id": str,
            "fields": str,
            "policy_hash": str,
            "detail": str,
            "mac": str,
        },
        pk="seq",
        not_null={"at", "actor", "action", "fields", "policy_hash", "detail", "mac"},
    )
    db["audit"].create_index(["member_id"])


def _lifecycle(db: sqlite_utils.Database) -> None:
    members = db["members"]
    assert isinstance(members, sqlite_utils.db.Table)
    members.add_column("ineligible_at", str)
    members.add_column("restricted_at", str)
    members.add_column("restriction_reason", str)
    # The erasure ledger: ids only, so a restored backup can erase them again.
    db["erasures"].create(
        {"member_id": str, "erased_at": str, "reason": str, "rule": str},
        pk="member_id",
        not_null={"erased_at", "reason"},
    )


def _data_subject_rights(db: sqlite_utils.Database) -> None:
    members = db["members"]
    assert isinstance(members, sqlite_utils.db.Table)
    members.add_column("objected_at", str)
    members.add_column("suppression_match", int)
    db["disclosures"].create(
        {"id": int, "member_id": str, "recipient": str, "purpose": str, "fields": str, "disclosed_on": str},
        pk="id",
        not_null={"member_id", "recipient", "purpose", "fields", "disclosed_on"},
    )
    db["disclosures"].create_index(["member_id"])
    db["requests"].create(
        {
            "id": int,
            "type": str,
            "member_id": str,
            "received": str,
            "deadline": str,
            "extended_to": str,
            "extension_reason": str,
            "closed_on": str,
            "outcome": str,
        },
        pk="id",
        not_null={"type", "member_id", "received", "deadline"},
    )
    # Keyed hashes of the email and phone of people who objected and were
    # erased with --suppress: no value, only a way to recognise them again.
    db["suppressions"].create({"kind": str, "digest": str, "since": str}, pk=("kind", "digest"))


# Named migrations, applied in order; a register's schema version is how many
# of them it has. Never edit one that has shipped: add the next.
MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_create_register", _create_register),
    ("0002_lifecycle_and_erasure_ledger", _lifecycle),
    ("0003_data_subject_rights", _data_subject_rights),
]
SCHEMA_VERSION = len(MIGRATIONS)


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    # secure_delete overwrites deleted cells and freed pages with zeros; the
    # rollback journal (not WAL) is deleted at each commit; temp tables stay in
    # memory so no temporary file ever holds register content.
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA journal_mode = DELETE")
    return conn


@contextmanager
def _sqlite_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise Busy(
                "the register is busy: another command held it past the busy timeout",
                hints=("try again, or raise KSS_PANEL_BUSY_TIMEOUT",),
            ) from None
        raise
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.IntegrityError):
            raise
        raise IntegrityError("the register file is corrupt or not a kss-panel register") from None


class Store:
    """A register file. Open with ``Store.create`` or ``Store.open``."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._ledger_lines: list[str] = []
        # The erasure ledger beside the file: it outlives a lost or restored register.
        self.ledger_path = ledger_path(path)

    @classmethod
    def create(cls, path: Path, meta: dict[str, str], *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Store:
        try:
            # O_EXCL: never overwrite; 0600 from the first byte, before SQLite writes.
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            raise InvalidInput(f"{path} already exists: refusing to overwrite it", [("--db", "file exists")]) from None
        except OSError as exc:
            raise NotFound(f"cannot create {path}: {exc.strerror}") from None
        store = cls(path, _connect(path, busy_timeout))
        with store.write():
            store._migrate()
            store.db["meta"].insert_all([{"key": k, "value": v} for k, v in {"format": FORMAT, **meta}.items()])
        return store

    @classmethod
    def open(cls, path: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Store:
        if not path.is_file():
            raise NotFound(f"no register at {path}", hints=("create one with: kss-panel init",))
        with _sqlite_errors():
            store = cls(path, _connect(path, busy_timeout))
            try:
                tables = set(store.db.table_names())
                is_register = {"meta", "migrations"} <= tables and store.meta("format") == FORMAT
                version = store.conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.OperationalError:
                is_register = False  # a table of another shape: someone else's file
            if not is_register or version < 1:
                store.close()
                raise IntegrityError(f"{path} is not a kss-panel register")
        if version > SCHEMA_VERSION:
            raise IntegrityError(f"{path} was written by a newer kss-panel (schema {version})")
        if version < SCHEMA_VERSION:
            with store.write():
                store._migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def _migrate(self) -> None:
        if "migrations" not in self.db.table_names():
            self.db["migrations"].create({"name": str, "applied_at": str}, pk="name")
        done = {row["name"] for row in self.db["migrations"].rows}
        for name, migrate in MIGRATIONS:
            if name not in done:
                migrate(self.db)
                self.db["migrations"].insert({"name": name, "applied_at": _utc_now_text()})
        self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def write(self) -> Iterator[Store]:
        """One all-or-nothing write: BEGIN IMMEDIATE takes the write lock up front."""
        with _sqlite_errors():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._ledger_lines.clear()
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            self._flush_ledger()

    def sync_ledger(self) -> None:
        """Append to the ledger file every erasure it lacks (e.g. after a restore)."""
        present = read_ledger_file(self.ledger_path)
        self._ledger_lines += [
            f"{row['erased_at']} {row['member_id']} {row['reason']}\n" for row in self.erased() if row["member_id"] not in present
        ]
        self._flush_ledger()

    def _flush_ledger(self) -> None:
        # Written after COMMIT: a crash in between loses a line here, but the
        # register's own erasures table has it; never a line for a rolled-back erase.
        if self._ledger_lines:
            fd = os.open(self.ledger_path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "a", encoding="ascii") as handle:
                handle.writelines(self._ledger_lines)
                handle.flush()
                os.fsync(handle.fileno())
            self._ledger_lines.clear()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo one step of a longer write (a bad row of an import) and go on."""
        self.conn.execute("SAVEPOINT step")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO step")
            self.conn.execute("RELEASE step")
            raise
        self.conn.execute("RELEASE step")

    @contextmanager
    def read(self) -> Iterator[Store]:
        """A consistent snapshot for reads that change nothing."""
        with _sqlite_errors():
            self.conn.execute("BEGIN")
            try:
                yield self
            finally:
                self.conn.execute("ROLLBACK")

    # meta
    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db["meta"].upsert({"key": key, "value": value}, pk="key")

    # slots
    def add_slot(self, row: dict[str, Any]) -> None:
        try:
            self.db["slots"].insert(row)
        except sqlite3.IntegrityError:
            raise InvalidInput(f"an officer named {row['name']!r} already exists", [("name", "already exists")]) from None

    def slot(self, name: str) -> dict[str, Any] | None:
        return next(self.db["slots"].rows_where("name = ?", [name]), None)

    def slots(self, kind: str | None = None) -> list[dict[str, Any]]:
        if kind is None:
            return list(self.db["slots"].rows_where(order_by="name"))
        return list(self.db["slots"].rows_where("kind = ?", [kind], order_by="name"))

    def remove_slot(self, name: str) -> None:
        self.db["slots"].delete(name)

    # members
    def insert_member(self, row: dict[str, Any], boxes: dict[str, bytes], lookups: dict[str, str]) -> None:
        self.db["members"].insert(row)
        self.put_boxes(row["member_id"], boxes)
        self.put_lookups(row["member_id"], lookups)

    def insert_members_bulk(
        self,
        members: list[dict[str, Any]],
        boxes: list[tuple[str, str, bytes]],
        lookups: list[tuple[str, str, str]],
        audit: list[dict[str, Any]],
    ) -> None:
        """Many new members at once (imports): plain executemany, no per-row overhead."""
        self.conn.executemany(
            "INSERT INTO members (member_id, status, applied_at, updated_at, wrapped_dek, suppression_match)"
            " VALUES (:member_id, :status, :applied_at, :updated_at, :wrapped_dek, :suppression_match)",
            members,
        )
        self.conn.executemany("INSERT INTO sections (member_id, section, box) VALUES (?, ?, ?)", boxes)
        self.conn.executemany("INSERT INTO lookups (kind, digest, member_id) VALUES (?, ?, ?)", lookups)
        self.conn.executemany(AUDIT_INSERT, [_audit_params(row) for row in audit])

    def member(self, member_id: str) -> dict[str, Any] | None:
        cursor = self.conn.execute("SELECT * FROM members WHERE member_id = ?", (member_id,))
        row = cursor.fetchone()
        return dict(zip([c[0] for c in cursor.description], row, strict=True)) if row else None

    def members(self, status: str | None = None) -> list[dict[str, Any]]:
        return list(self.iter_members(status))

    def iter_members(self, status: str | None = None) -> Iterator[dict[str, Any]]:
        """Members' plain columns, streamed: memory stays flat however large the register."""
        columns = (
            "member_id, status, applied_at, admitted_at, rejected_at, last_activity_at, updated_at,"
            " ineligible_at, restricted_at, restriction_reason, objected_at, suppression_match"
        )
        where, params = ("WHERE status = ?", (status,)) if status is not None else ("", ())
        cursor = self.conn.execute(f"SELECT {columns} FROM members {where} ORDER BY applied_at, member_id", params)
        names = [c[0] for c in cursor.description]
        for row in cursor:
            yield dict(zip(names, row, strict=True))

    def update_member(self, member_id: str, changes: dict[str, Any]) -> None:
        self.db["members"].update(member_id, changes)

    def boxes(self, member_id: str) -> dict[str, bytes]:
        rows = self.conn.execute("SELECT section, box FROM sections WHERE member_id = ?", (member_id,))
        return {section: box for section, box in rows}

    def put_boxes(self, member_id: str, boxes: dict[str, bytes]) -> None:
        self.conn.execute("DELETE FROM sections WHERE member_id = ?", (member_id,))
        self.db["sections"].insert_all([{"member_id": member_id, "section": s, "box": b} for s, b in boxes.items()])

    def erase_member(self, member_id: str, erased_at: str, reason: str, rule: str | None = None) -> None:
        """Delete every row of a member (its wrapped DEK with it) and note the id in the ledger."""
        self.conn.execute("DELETE FROM sections WHERE member_id = ?", (member_id,))
        self.conn.execute("DELETE FROM lookups WHERE member_id = ?", (member_id,))
        self.conn.execute("DELETE FROM disclosures WHERE member_id = ?", (member_id,))
        self.conn.execute("DELETE FROM members WHERE member_id = ?", (member_id,))
        self.record_erasure(member_id, erased_at, reason, rule)

    def record_erasure(self, member_id: str, erased_at: str, reason: str, rule: str | None = None) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO erasures (member_id, erased_at, reason, rule) VALUES (?, ?, ?, ?)",
            (member_id, erased_at, reason, rule),
        )
        self._ledger_lines.append(f"{erased_at} {member_id} {reason}\n")

    def erased(self) -> list[dict[str, Any]]:
        return list(self.db["erasures"].rows_where(order_by="erased_at, member_id"))

    def member_ids_with(self, kind: str, digests: set[str]) -> set[str]:
        """Members whose keyed hash of ``kind`` is among ``digests``."""
        rows = self.conn.execute("SELECT digest, member_id FROM lookups WHERE kind = ?", (kind,))
        return {member_id for digest, member_id in rows if digest in digests}

    # disclosures, requests, suppressions
    def disclosures_of(self, member_id: str) -> list[dict[str, Any]]:
        rows = self.db["disclosures"].rows_where("member_id = ?", [member_id], order_by="disclosed_on, id")
        return [{**row, "fields": json.loads(row["fields"])} for row in rows]

    def log_disclosures(self, rows: list[dict[str, Any]]) -> None:
        self.db["disclosures"].insert_all([{**row, "fields": json.dumps(row["fields"])} for row in rows], batch_size=1000)

    def add_request(self, row: dict[str, Any]) -> int:
        return int(self.db["requests"].insert(row).last_pk)

    def request(self, request_id: int) -> dict[str, Any] | None:
        return next(self.db["requests"].rows_where("id = ?", [request_id]), None)

    def requests(self) -> list[dict[str, Any]]:
        return list(self.db["requests"].rows_where(order_by="id"))

    def update_request(self, request_id: int, changes: dict[str, Any]) -> None:
        self.db["requests"].update(request_id, changes)

    def suppress(self, digests: dict[str, str], since: str) -> None:
        self.db["suppressions"].insert_all([{"kind": k, "digest": d, "since": since} for k, d in digests.items()], replace=True)

    def has_suppressions(self) -> bool:
        return self.conn.execute("SELECT 1 FROM suppressions LIMIT 1").fetchone() is not None

    def suppressed(self, digests: dict[str, str]) -> bool:
        return any(
            self.conn.execute("SELECT 1 FROM suppressions WHERE kind = ? AND digest = ?", (k, d)).fetchone()
            for k, d in digests.items()
        )

    # lookups
    def put_lookups(self, member_id: str, lookups: dict[str, str]) -> None:
        """Replace a member's keyed hashes; a hash held by another member is a duplicate."""
        self.conn.execute("DELETE FROM lookups WHERE member_id = ?", (member_id,))
        clashes = [kind for kind, digest in lookups.items() if self.find(kind, digest)]
        if clashes:
            raise InvalidInput(
                "duplicate of a registered member",
                [(kind, "is already in the register") for kind in sorted(clashes)],
            )
        self.db["lookups"].insert_all([{"kind": k, "digest": d, "member_id": member_id} for k, d in lookups.items()])

    def find(self, kind: str, digest: str) -> str | None:
        row = self.conn.execute("SELECT member_id FROM lookups WHERE kind = ? AND digest = ?", (kind, digest)).fetchone()
        return row[0] if row else None

    # audit
    def append_audit(self, row: dict[str, Any]) -> None:
        self.conn.execute(AUDIT_INSERT, _audit_params(row))

    def last_audit(self) -> dict[str, Any] | None:
        cursor = self.conn.execute("SELECT * FROM audit ORDER BY seq DESC LIMIT 1")
        row = cursor.fetchone()
        return _audit_row(dict(zip([c[0] for c in cursor.description], row, strict=True))) if row else None

    def audit_rows(self, member_id: str | None = None) -> Iterator[dict[str, Any]]:
        rows = (
            self.db["audit"].rows_where(order_by="seq")
            if member_id is None
            else self.db["audit"].rows_where("member_id = ?", [member_id], order_by="seq")
        )
        for row in rows:
            yield _audit_row(row)


AUDIT_INSERT = (
    "INSERT INTO audit (seq, at, actor, action, member_id, fields, policy_hash, detail, mac)"
    " VALUES (:seq, :at, :actor, :action, :member_id, :fields, :policy_hash, :detail, :mac)"
)


def _audit_params(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "fields": json.dumps(row["fields"]), "detail": json.dumps(row["detail"], sort_keys=True)}


def ledger_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".erasures")


def read_ledger(db_path: Path) -> dict[str, str]:
    """Member id -> reason, from the ledger file beside a register (if any)."""
    return read_ledger_file(ledger_path(db_path))


def read_ledger_file(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError):
        raise IntegrityError(f"the erasure ledger {path} cannot be read") from None
    found: dict[str, str] = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            found[parts[1]] = parts[2]
    return found


def reserve_new_file(target: Path) -> None:
    """Create an empty 0600 file, refusing to overwrite one."""
    try:
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        raise InvalidInput(f"{target} already exists: refusing to overwrite it", [("PATH", "file exists")]) from None
    except OSError as exc:
        raise InvalidInput(f"cannot create {target}", [("PATH", exc.strerror or "cannot create")]) from None


def copy_database(source: sqlite3.Connection, target: Path, *, reserved: bool = False) -> None:
    """An online, consistent copy (SQLite's backup API) into a new 0600 file."""
    if not reserved:
        reserve_new_file(target)
    destination = sqlite3.connect(target)
    try:
        with _sqlite_errors():
            source.backup(destination)
    except BaseException:
        destination.close()
        target.unlink(missing_ok=True)
        raise
    destination.close()


def _audit_row(row: dict[str, Any]) -> dict[str, Any]:
    try:
        return {**row, "fields": json.loads(row["fields"]), "detail": json.loads(row["detail"])}
    except (TypeError, ValueError):
        raise IntegrityError(f"audit entry {row.get('seq')} is corrupt") from None


def _utc_now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
