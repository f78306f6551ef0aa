"""The accountability tables of the register file (a part of ``storage.Store``): the wordings consents
were given under, notifications to recipients (Art. 19) and the breach register (Art. 33(5)).

None of them holds a personal value: wordings are the policy's texts;
notifications and breaches name members by id, recipients by key, and data by
field names and disclosure ids. What a notification needs of an erased
member's disclosure log is copied into it when the member is erased, since the
erasure deletes the log (``notify_erased``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from .storage_members import rows_of

EVENTS = ("rectified", "erased", "restricted")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def notification_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "fields": json.loads(row["fields"]), "disclosures": json.loads(row["disclosures"])}


class AccountabilityTables:
    """Consent wordings, notifications and breaches; mixed into ``Store``."""

    conn: sqlite3.Connection

    # --- the wordings consents were given under ---------------------------------------------------------------

    def keep_wordings(self, wordings: Iterable[tuple[str, str, dict[str, str]]], day: str) -> None:
        """Keep each (consent, version, text) not kept yet: the text a receipt's version stands for."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO consent_wordings (consent, version, text, first_used) VALUES (?, ?, ?, ?)",
            [(consent, version, json.dumps(text, ensure_ascii=False, sort_keys=True), day) for consent, version, text in wordings],
        )

    def wordings(self) -> dict[tuple[str, str], tuple[dict[str, str], str]]:
        """(consent, version) -> (the text in fi, sv and en, the day it was first used)."""
        rows = self.conn.execute("SELECT consent, version, text, first_used FROM consent_wordings")
        return {(consent, version): (json.loads(text), first) for consent, version, text, first in rows}

    # --- notifications to recipients (Art. 19) ----------------------------------------------------------------

    def received(self, member_id: str) -> dict[str, tuple[set[str], list[dict[str, Any]]]]:
        """What each recipient received of a member, by the disclosure log: recipient -> (field names, the disclosures)."""
        found: dict[str, tuple[set[str], list[dict[str, Any]]]] = {}
        query = "SELECT id, recipient, purpose, fields, disclosed_on FROM disclosures WHERE member_id = ? ORDER BY disclosed_on, id"
        for disclosure, recipient, purpose, fields, day in self.conn.execute(query, (member_id,)):
            names, refs = found.setdefault(recipient, (set(), []))
            names.update(json.loads(fields))
            refs.append({"disclosure": disclosure, "date": day, "purpose": purpose, "fields": json.loads(fields)})
        return found

    def told_of(self, member_ids: list[str]) -> set[str]:
        """Which of these members some recipient received (the disclosure log) or is still to be told of: those an
        erasure notifies (``notify_erased``), found a few hundred members a query."""
        return self.among("disclosures", member_ids) | self.among("notifications", member_ids, " AND sent_on IS NULL")  # type: ignore[attr-defined]

    def notify_erased(self, member_id: str, day: str) -> list[str]:
        """Before an erasure deletes a member's disclosure log: an erasure notification per recipient that received the
        member, holding only what telling it needs (member id, recipient, field names, disclosure ids, dates, purposes).

        It replaces any notification still pending about the member: nothing else is left to tell a recipient of
        data that is gone (one whose log entries retention pruned since is still told, from what was pending).
        """
        received = self.received(member_id)
        for row in self.notifications(member_id=member_id, sent=False):
            received.setdefault(row["recipient"], (set(row["fields"]), row["disclosures"]))
        self.conn.execute("DELETE FROM notifications WHERE member_id = ? AND sent_on IS NULL", (member_id,))
        self.conn.executemany(
            "INSERT INTO notifications (member_id, recipient, event, fields, disclosures, recorded_on) VALUES (?, ?, 'erased', ?, ?, ?)",
            [(member_id, recipient, _json(sorted(names)), _json(refs), day) for recipient, (names, refs) in sorted(received.items())],
        )
        return sorted(received)

    def notify(self, member_id: str, recipient: str, event: str, fields: Iterable[str], refs: list[dict[str, Any]], day: str) -> None:
        """A pending notification; one still pending of the same event and recipient takes the new fields in."""
        assert event in EVENTS, event
        pending = self.conn.execute(
            "SELECT id, fields FROM notifications WHERE member_id = ? AND recipient = ? AND event = ? AND sent_on IS NULL",
            (member_id, recipient, event),
        ).fetchone()
        if pending is None:
            self.conn.execute(
                "INSERT INTO notifications (member_id, recipient, event, fields, disclosures, recorded_on) VALUES (?, ?, ?, ?, ?, ?)",
                (member_id, recipient, event, _json(sorted(set(fields))), _json(refs), day),
            )
        else:
            merged = sorted(set(json.loads(pending[1])) | set(fields))
            self.conn.execute("UPDATE notifications SET fields = ?, disclosures = ? WHERE id = ?", (_json(merged), _json(refs), pending[0]))

    def drop_pending(self, member_id: str, event: str) -> list[str]:
        """Withdraw the pending notifications of ``event`` about a member (a restriction lifted before anyone was told)."""
        query = "SELECT recipient FROM notifications WHERE member_id = ? AND event = ? AND sent_on IS NULL ORDER BY recipient"
        recipients = [row[0] for row in self.conn.execute(query, (member_id, event))]
        self.conn.execute("DELETE FROM notifications WHERE member_id = ? AND event = ? AND sent_on IS NULL", (member_id, event))
        return recipients

    def notifications(self, *, recipient: str | None = None, member_id: str | None = None, sent: bool = True) -> list[dict[str, Any]]:
        """Notifications, oldest first: of one recipient or member, and without ``sent`` only those pending."""
        where, params = [], []
        for column, value in (("recipient", recipient), ("member_id", member_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if not sent:
            where.append("sent_on IS NULL")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = rows_of(self.conn.execute(f"SELECT * FROM notifications {clause} ORDER BY recipient, recorded_on, id", params))
        return [notification_row(row) for row in rows]

    def names_recipient(self, recipient: str) -> bool:
        """Whether the disclosure log or a notification names this recipient."""
        query = "SELECT 1 FROM disclosures WHERE recipient = ? UNION ALL SELECT 1 FROM notifications WHERE recipient = ? LIMIT 1"
        return self.conn.execute(query, (recipient, recipient)).fetchone() is not None

    def mark_sent(self, ids: list[int], day: str) -> None:
        self.conn.executemany("UPDATE notifications SET sent_on = ? WHERE id = ?", [(day, i) for i in ids])

    # --- the breach register (Art. 33(5)) ---------------------------------------------------------------------

    def add_breach(self, row: dict[str, Any]) -> int:
        return int(self._insert("breaches", row) or 0)  # type: ignore[attr-defined]

    def breach(self, breach_id: int) -> dict[str, Any] | None:
        return next(rows_of(self.conn.execute("SELECT * FROM breaches WHERE id = ?", (breach_id,))), None)

    def breaches(self) -> list[dict[str, Any]]:
        return list(rows_of(self.conn.execute("SELECT * FROM breaches ORDER BY id")))

    def update_breach(self, breach_id: int, changes: dict[str, Any]) -> None:
        self._update("breaches", "id", breach_id, changes)  # type: ignore[attr-defined]

    def breach_members(self, breach_id: int) -> list[dict[str, Any]]:
        rows = rows_of(self.conn.execute("SELECT * FROM breach_members WHERE breach_id = ? ORDER BY member_id", (breach_id,)))
        return [{**row, "fields": json.loads(row["fields"]), "sources": json.loads(row["sources"])} for row in rows]

    def add_breach_members(self, breach_id: int, affected: dict[str, set[str]], source: str, day: str) -> tuple[int, int]:
        """Record members affected (member id -> field names involved) from ``source``; (how many new, how many known already)."""
        known = {row["member_id"]: row for row in self.breach_members(breach_id)}
        new, again = [], []
        for member_id, names in sorted(affected.items()):
            if member_id in known:
                row = known[member_id]
                again.append((_json(sorted(set(row["fields"]) | names)), _json(sorted({*row["sources"], source})), breach_id, member_id))
            else:
                new.append((breach_id, member_id, _json(sorted(names)), _json([source]), day))
        self.conn.executemany("INSERT INTO breach_members (breach_id, member_id, fields, sources, added_on) VALUES (?, ?, ?, ?, ?)", new)
        self.conn.executemany("UPDATE breach_members SET fields = ?, sources = ? WHERE breach_id = ? AND member_id = ?", again)
        return len(new), len(again)

    def breach_summary(self, breach_id: int) -> tuple[int, int, set[str]]:
        """(members affected, how many of them erased since, every field name involved) of one breach."""
        count, erased = self.conn.execute(
            "SELECT count(*), coalesce(sum(m.member_id IS NULL), 0) FROM breach_members AS b"
            " LEFT JOIN members AS m ON m.member_id = b.member_id WHERE b.breach_id = ?", (breach_id,)
        ).fetchone()
        fields: set[str] = set()
        for (names,) in self.conn.execute("SELECT DISTINCT fields FROM breach_members WHERE breach_id = ?", (breach_id,)):
            fields.update(json.loads(names))
        return int(count), int(erased), fields

    def known_member(self, member_id: str) -> bool:
        """Whether the register holds, or once held and erased, this member id."""
        return self.conn.execute(
            "SELECT 1 FROM members WHERE member_id = ? UNION ALL SELECT 1 FROM erasures WHERE member_id = ? LIMIT 1", (member_id, member_id)
        ).fetchone() is not None

    def disclosed_between(self, recipient: str, start: str, end: str) -> Iterator[tuple[str, list[str]]]:
        """(member id, field names) of every disclosure to ``recipient`` from ``start`` to ``end`` (days, inclusive): the
        disclosure log, and the disclosures of erased members that their erasure notifications keep."""
        parsed: dict[str, list[str]] = {}
        query = "SELECT member_id, fields FROM disclosures WHERE recipient = ? AND disclosed_on BETWEEN ? AND ?"
        for member_id, fields in self.conn.execute(query, (recipient, start, end)):
            yield member_id, parsed.setdefault(fields, json.loads(fields))
        query = "SELECT member_id, disclosures FROM notifications WHERE recipient = ? AND event = 'erased'"
        for member_id, refs in self.conn.execute(query, (recipient,)):
            for ref in json.loads(refs):
                if start <= ref["date"] <= end:
                    yield member_id, ref["fields"]
