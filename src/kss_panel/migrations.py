"""The register's schema as named migrations (sqlite-utils), applied in order.

A register's schema version is how many of them it has (``PRAGMA
user_version``). Never edit one that has shipped: add the next.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils


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


def _objections_and_request_subjects(db: sqlite_utils.Database) -> None:
    """Two kinds of objection (Art. 21(1) beside 21(2)), and requests about people who are not members.

    ``objected_at`` keeps its meaning (the objection to direct marketing);
    ``processing_objected_at`` is the objection to processing based on
    legitimate interests. A request names a member, or a person by the keyed
    hash of a lookup value, or by text; whoever it names, the value the
    officer typed is sealed (``subject_box``), never kept in plain.
    """
    db.table("members").add_column("processing_objected_at", str)
    requests = db.table("requests")
    requests.add_column("subject", str)
    requests.add_column("subject_digest", str)
    requests.add_column("subject_box", bytes)
    db.execute("UPDATE requests SET subject = 'member'")
    requests.transform(not_null={"member_id": False, "subject": True})
    requests.create_index(["subject", "subject_digest"])


def _rejection_reason(db: sqlite_utils.Database) -> None:
    """Keep a rejected applicant's reason beside the status (the access export states it, Art. 15).

    Registers made before this step held the reason only in the audit entry of the
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


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_create_register", _create_register),
    ("0002_lifecycle_and_erasure_ledger", _lifecycle),
    ("0003_data_subject_rights", _data_subject_rights),
    # Folded into 0004_format_2 (branch keys) when the branches merge.
    ("0004_objections_and_request_subjects", _objections_and_request_subjects),
    ("0004_rejection_reason", _rejection_reason),
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, now: datetime | None = None) -> list[str]:
    """Apply every migration the file lacks, inside the caller's transaction; return their names."""
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
