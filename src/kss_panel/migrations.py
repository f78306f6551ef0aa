"""The register's schema as named migrations (sqlite-utils), applied in order.

A register's schema version is how many of them it has (``PRAGMA
user_version``). Never edit one that has shipped: add the next.

``0004_format_2`` is format version 2 (docs/crypto.md). It needs no key: it
converts what can be converted without one (lookup and suppression digests,
the audit trail's entries, the tables' shape) and marks the register's keys
as still version 1 (``meta.keys_version``); an officer's next unlock re-seals
the records and gives every slot its key pairs (``services.upgrade``).
Later tables of format 2 belong in ``_format_2_tables`` (a new register runs
it too), conversions of version-1 content in ``_format_2``.
``0005_clear_unused_page_space`` changes no table: see ``free_space``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import free_space
from .audit import STATE_PREFIX
from .errors import IntegrityError

if TYPE_CHECKING:
    import sqlite_utils

DIGEST_BYTES = 16
# Index keys, written exactly so in the queries that use them (storage_members, storage_trail).
STATE_KEY = f"substr(member_id, 1, {STATE_PREFIX})"
STATUS_RANKS = {"applicant": 0, "member": 1, "rejected": 2}  # any other status ranks after them
STATUS_RANK = f"(CASE status {' '.join(f'WHEN {status!r} THEN {rank}' for status, rank in STATUS_RANKS.items())} ELSE {len(STATUS_RANKS)} END)"
APPLIED_DAY = "CAST(julianday(applied_at) - 2451545 AS INTEGER)"  # days since 2000-01-01
LISTED_KEY = f"{STATUS_RANK}, {APPLIED_DAY}"


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
    members = db.table("members")
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
    members = db.table("members")
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


def _format_2(db: sqlite_utils.Database) -> None:
    """Format version 2: one sealed box per member, binary digests, a compact signed trail."""
    legacy = db.execute("SELECT count(*) FROM slots").fetchone()[0] > 0
    _format_2_slots(db)
    _format_2_members(db)
    _format_2_digests(db)
    _format_2_trail(db)
    _format_2_tables(db)
    if not legacy or db.execute("SELECT count(*) FROM sections").fetchone()[0] == 0:
        db.execute("DROP TABLE sections")
    # Slots of a register made by format 1 hold their keys in their format-1 box
    # until an officer's unlock upgrades them; a new register starts at 2.
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('keys_version', ?)", ("1" if legacy else "2",))


def _format_2_slots(db: sqlite_utils.Database) -> None:
    # recipient/verifier: the slot's public keys; secrets: its private keys sealed
    # under its KEK; grant: the register keys sealed to its recipient; legacy: the
    # format-1 box of a slot not yet upgraded.
    db.execute(
        "CREATE TABLE slots_2 (name TEXT PRIMARY KEY, role TEXT NOT NULL, kind TEXT NOT NULL, kdf TEXT,"
        " created_at TEXT NOT NULL, recipient BLOB, verifier BLOB, secrets BLOB, grant BLOB, legacy BLOB)"
    )
    db.execute("INSERT INTO slots_2 (name, role, kind, kdf, created_at, legacy) SELECT name, role, kind, kdf, created_at, wrapped FROM slots")
    db.execute("DROP TABLE slots")
    db.execute("ALTER TABLE slots_2 RENAME TO slots")


def _format_2_members(db: sqlite_utils.Database) -> None:
    members = db.table("members")
    members.add_column("box", bytes)
    members.add_column("lookup_digests", bytes)
    # Fewer indexes: a status filter scans the table, which it sorts anyway.
    db.execute("DROP INDEX IF EXISTS idx_members_status")


def _format_2_digests(db: sqlite_utils.Database) -> None:
    """Lookup and suppression digests as 16 binary bytes; a format-1 digest's first 16 bytes are its format-2 digest."""
    db.execute("CREATE TABLE lookups_2 (digest BLOB PRIMARY KEY, member_id TEXT NOT NULL) WITHOUT ROWID")
    by_member: dict[str, list[bytes]] = {}
    for digest, member_id in db.execute("SELECT digest, member_id FROM lookups ORDER BY member_id, kind"):
        by_member.setdefault(member_id, []).append(_digest(digest))
    db.conn.executemany("INSERT INTO lookups_2 (digest, member_id) VALUES (?, ?)", [(d, m) for m, ds in by_member.items() for d in ds])
    db.conn.executemany("UPDATE members SET lookup_digests = ? WHERE member_id = ?", [(b"".join(ds), m) for m, ds in by_member.items()])
    db.execute("DROP TABLE lookups")
    db.execute("ALTER TABLE lookups_2 RENAME TO lookups")
    db.execute("CREATE TABLE suppressions_2 (digest BLOB PRIMARY KEY, since TEXT NOT NULL) WITHOUT ROWID")
    rows = [(_digest(digest), since) for digest, since in db.execute("SELECT digest, since FROM suppressions")]
    db.conn.executemany("INSERT OR IGNORE INTO suppressions_2 (digest, since) VALUES (?, ?)", rows)
    db.execute("DROP TABLE suppressions")
    db.execute("ALTER TABLE suppressions_2 RENAME TO suppressions")


def _digest(hex_digest: str) -> bytes:
    try:
        raw = bytes.fromhex(hex_digest)
    except (TypeError, ValueError):
        raise IntegrityError("a lookup digest of the version-1 register is corrupt") from None
    return raw[:DIGEST_BYTES]


def _format_2_trail(db: sqlite_utils.Database) -> None:
    """The compact trail: times as integers, field lists interned, binary hashes; format-1 entries keep their MAC."""
    db.execute("CREATE TABLE fieldsets (id INTEGER PRIMARY KEY, paths TEXT NOT NULL UNIQUE)")
    db.execute(
        "CREATE TABLE audit_2 (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,"
        " member_id TEXT, fields INTEGER, policy BLOB NOT NULL, detail TEXT, state BLOB, hash BLOB, sig BLOB, mac BLOB)"
    )
    fieldsets: dict[str, int] = {}
    rows = db.execute("SELECT seq, at, actor, action, member_id, fields, policy_hash, detail, mac FROM audit ORDER BY seq")
    db.conn.executemany(
        "INSERT INTO audit_2 (seq, at, actor, action, member_id, fields, policy, detail, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (_legacy_entry(db, fieldsets, row) for row in rows.fetchall()),
    )
    db.execute("DROP TABLE audit")
    db.execute("ALTER TABLE audit_2 RENAME TO audit")
    # The last entry that commits to a member's row (or, with no member, to the slot table), found by the
    # first 9 characters of the member id (40 random bits; a query also compares the whole id) and the seq
    # every index entry holds already (the rowid): half the size of an index of whole ids.
    db.execute(f"CREATE INDEX audit_state ON audit ({STATE_KEY}) WHERE state IS NOT NULL")


def _legacy_entry(db: sqlite_utils.Database, fieldsets: dict[str, int], row: tuple) -> tuple:  # type: ignore[type-arg]
    seq, at, actor, action, member_id, fields, policy_hash, detail, mac = row
    try:
        paths = ",".join(json.loads(fields))
        value = json.loads(detail)
        compact = json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":")) if value else None
        stamp = int(datetime.fromisoformat(at).timestamp())
        converted = (seq, stamp, actor, action, member_id, fieldset(db, fieldsets, paths), bytes.fromhex(policy_hash), compact, bytes.fromhex(mac))
    except (TypeError, ValueError):
        raise IntegrityError(f"audit entry {seq} of the version-1 register is corrupt") from None
    return converted


def fieldset(db: sqlite_utils.Database, cache: dict[str, int], paths: str) -> int | None:
    """The id of a list of field paths (comma-joined), added on first use; None for no fields."""
    if not paths:
        return None
    if paths not in cache:
        found = db.execute("SELECT id FROM fieldsets WHERE paths = ?", (paths,)).fetchone()
        cache[paths] = found[0] if found else db.execute("INSERT INTO fieldsets (paths) VALUES (?)", (paths,)).lastrowid
    return cache[paths]


def _format_2_tables(db: sqlite_utils.Database) -> None:
    """Tables and columns that format 2 adds. Other format-2 tables (surveys, receipts, breaches) go here."""
    _objections_and_request_subjects(db)
    _rejection_reason(db)
    _surveys_and_draws(db)
    _accountability(db)
    _listing_order(db)


def _listing_order(db: sqlite_utils.Database) -> None:
    """Members in the order they are listed (by status, then the day they applied, then as enrolled), so a
    walk over them streams with no sort. The key is small: the status's rank takes no byte for applicants
    and members, the day a 2-byte number."""
    db.execute(f"CREATE INDEX members_listed ON members ({LISTED_KEY})")


def _objections_and_request_subjects(db: sqlite_utils.Database) -> None:
    """Two kinds of objection (Art. 21(1) beside 21(2)), and requests about people who are not members.

    ``objected_at`` keeps its meaning (the objection to direct marketing);
    ``processing_objected_at`` is the objection to processing based on
    legitimate interests. A request names a member, or a person by the keyed
    digest of a lookup value, or by text; whoever it names, the value the
    officer typed is sealed (``subject_box``), never kept in plain.
    """
    db.table("members").add_column("processing_objected_at", str)
    requests = db.table("requests")
    requests.add_column("subject", str)
    requests.add_column("subject_digest", bytes)
    requests.add_column("subject_box", bytes)
    db.execute("UPDATE requests SET subject = 'member'")
    requests.transform(not_null={"member_id": False, "subject": True})
    requests.create_index(["subject", "subject_digest"])


def _rejection_reason(db: sqlite_utils.Database) -> None:
    """Keep a rejected applicant's reason beside the status (the access export states it, Art. 15).

    Registers made before format 2 held the reason only in the audit entry of the
    rejection: copy it from the latest such entry of each rejected applicant.
    """
    db.table("members").add_column("rejection_reason", str)
    db.execute(
        """UPDATE members SET rejection_reason = (
               SELECT json_extract(audit.detail, '$.reason') FROM audit
               WHERE audit.member_id = members.member_id AND audit.action = 'reject'
               ORDER BY audit.seq DESC LIMIT 1)
           WHERE status = 'rejected'"""
    )


def _surveys_and_draws(db: sqlite_utils.Database) -> None:
    """Surveys, their samples and invitations, and prize draws (the panel's own work, issue 13).

    Plain columns hold only what selection, retention and erasure need: names,
    member ids, days and counts. What a sample was drawn by (its seed, strata
    and filters), the stratum each invitation was drawn from, and a draw's
    seed are sealed under the data key (docs/crypto.md §4); a draw's
    commitment is public by design.
    """
    db.execute(
        "CREATE TABLE surveys (name TEXT PRIMARY KEY, title TEXT NOT NULL, recipient TEXT NOT NULL, purpose TEXT NOT NULL,"
        " created_on TEXT NOT NULL, created_by TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE survey_samples (id INTEGER PRIMARY KEY, survey TEXT NOT NULL REFERENCES surveys (name),"
        " drawn_on TEXT NOT NULL, invited INTEGER NOT NULL, spec BLOB NOT NULL)"
    )
    db.execute(
        "CREATE TABLE survey_invitations (survey TEXT NOT NULL, member_id TEXT NOT NULL, sample INTEGER NOT NULL,"
        " invited_on TEXT NOT NULL, responded_on TEXT, stratum BLOB, PRIMARY KEY (survey, member_id)) WITHOUT ROWID"
    )
    # The rest period looks up a member's invitations by day.
    db.execute("CREATE INDEX survey_invitations_member ON survey_invitations (member_id, invited_on)")
    db.execute(
        "CREATE TABLE draws (survey TEXT PRIMARY KEY REFERENCES surveys (name), commitment BLOB NOT NULL, seed BLOB NOT NULL,"
        " committed_on TEXT NOT NULL, drawn_on TEXT, prizes INTEGER, entrants INTEGER)"
    )
    db.execute(
        "CREATE TABLE draw_entries (survey TEXT NOT NULL, member_id TEXT NOT NULL, prize INTEGER,"
        " PRIMARY KEY (survey, member_id)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX draw_entries_member ON draw_entries (member_id)")


def _accountability(db: sqlite_utils.Database) -> None:
    """Consent receipts, notifications to recipients (Art. 19) and the breach register (Art. 33(5)).

    ``members.receipts``: the member's consent receipts, sealed under their data
    key (NULL until the first). ``consent_wordings``: each version of a
    consent's wording the register has recorded a receipt under (the text is
    the policy's, not personal; its hash is the version). ``notifications``: a
    recipient to tell of a rectification, erasure or restriction, what it
    received (field names and disclosure ids, never values) and when it was
    told; no foreign key, since an erased member's stay until sent.
    ``breaches`` and ``breach_members``: a breach, and the ids of the members
    it affected with the field names involved, never values.
    """
    db.table("members").add_column("receipts", bytes)
    db.execute(
        "CREATE TABLE consent_wordings (consent TEXT NOT NULL, version TEXT NOT NULL, text TEXT NOT NULL, first_used TEXT NOT NULL,"
        " PRIMARY KEY (consent, version)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE notifications (id INTEGER PRIMARY KEY, member_id TEXT NOT NULL, recipient TEXT NOT NULL, event TEXT NOT NULL,"
        " fields TEXT NOT NULL, disclosures TEXT NOT NULL, recorded_on TEXT NOT NULL, sent_on TEXT)"
    )
    db.execute("CREATE INDEX notifications_pending ON notifications (recipient, sent_on)")
    db.execute("CREATE INDEX notifications_member ON notifications (member_id)")
    db.execute(
        "CREATE TABLE breaches (id INTEGER PRIMARY KEY, title TEXT NOT NULL, discovered_at TEXT NOT NULL, recorded_at TEXT NOT NULL,"
        " authority_notified_on TEXT, delay_reason TEXT, not_notified_reason TEXT, closed_on TEXT, members_listed_on TEXT)"
    )
    db.execute(
        "CREATE TABLE breach_members (breach_id INTEGER NOT NULL, member_id TEXT NOT NULL, fields TEXT NOT NULL, sources TEXT NOT NULL,"
        " added_on TEXT NOT NULL, PRIMARY KEY (breach_id, member_id)) WITHOUT ROWID"
    )


def _clear_unused_page_space(db: sqlite_utils.Database) -> None:
    free_space.clear_register(db.conn)


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_create_register", _create_register),
    ("0002_lifecycle_and_erasure_ledger", _lifecycle),
    ("0003_data_subject_rights", _data_subject_rights),
    ("0004_format_2", _format_2),
    ("0005_clear_unused_page_space", _clear_unused_page_space),
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, now: datetime | None = None) -> list[str]:
    """Apply every migration the file lacks, inside the caller's transaction; return their names.

    sqlite-utils is imported only here: a register at the current schema is opened without it.
    """
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    if "migrations" not in db.table_names():
        db["migrations"].create({"name": str, "applied_at": str}, pk="name")
    done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    applied = []
    for name, step in MIGRATIONS:
        if name not in done:
            step(db)
            conn.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, stamp))
            applied.append(name)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return applied
