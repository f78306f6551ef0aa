"""The survey tables of the register file: surveys, samples, invitations, prize draws and their entries
(a part of ``storage.Store``).

Plain columns hold names, member ids, days and counts; what describes a
person (the stratum an invitation was drawn from) and what must stay secret
until the draw (its seed) are sealed boxes the services make.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from .storage_members import rows_of

# (table, the day column its retention period counts from) of the survey records retention prunes.
SURVEY_RECORDS = {"survey_invitations": "invited_on", "competition_winners": "drawn_on"}
CANDIDATE_COLUMNS = ("member_id", "restricted_at", "objected_at", "processing_objected_at", "invited", "recent", "this_year", "wrapped_dek", "box")
_RESTRICTED = "member_id IN (SELECT member_id FROM members WHERE restricted_at IS NOT NULL)"


class SurveyTables:
    """Surveys, samples, invitations, draws and draw entries; mixed into ``Store``."""

    conn: sqlite3.Connection

    # --- surveys and samples --------------------------------------------------------------------------------

    def add_survey(self, row: dict[str, Any]) -> None:
        self._insert("surveys", row)  # type: ignore[attr-defined]

    def survey(self, name: str) -> dict[str, Any] | None:
        return next(rows_of(self.conn.execute("SELECT * FROM surveys WHERE name = ?", (name,))), None)

    def surveys(self) -> list[dict[str, Any]]:
        """Every survey with its counts of invitations and responses, and its draw's state."""
        return list(rows_of(self.conn.execute(
            "SELECT s.*, (SELECT count(*) FROM survey_invitations i WHERE i.survey = s.name) AS invited,"
            " (SELECT count(*) FROM survey_invitations i WHERE i.survey = s.name AND i.responded_on IS NOT NULL) AS responded,"
            " (SELECT count(*) FROM survey_samples p WHERE p.survey = s.name) AS samples,"
            " d.committed_on, d.drawn_on FROM surveys s LEFT JOIN draws d ON d.survey = s.name ORDER BY s.created_on, s.name"
        )))

    def add_sample(self, row: dict[str, Any]) -> int:
        return int(self._insert("survey_samples", row) or 0)  # type: ignore[attr-defined]

    def set_sample_spec(self, sample_id: int, box: bytes) -> None:
        self.conn.execute("UPDATE survey_samples SET spec = ? WHERE id = ?", (box, sample_id))

    def samples(self, survey: str) -> list[dict[str, Any]]:
        return list(rows_of(self.conn.execute("SELECT * FROM survey_samples WHERE survey = ? ORDER BY id", (survey,))))

    # --- invitations ----------------------------------------------------------------------------------------

    def candidates(self, survey: str, rest_since: str, year_since: str) -> sqlite3.Cursor:
        """Admitted members, streamed (in no particular order) as tuples of CANDIDATE_COLUMNS: the plain columns
        selection needs, whether this survey invited them already, their invitations after ``rest_since`` and
        after ``year_since``, and their sealed record."""
        params = {"survey": survey, "rest": rest_since, "year": year_since}
        counted = self.conn.execute(
            "SELECT 1 FROM survey_invitations WHERE survey = :survey OR invited_on > :rest OR invited_on > :year LIMIT 1", params
        ).fetchone()
        # With no invitation that could count (a first survey, a quiet year) the rest period needs no look-up per member.
        invitations = (
            " EXISTS (SELECT 1 FROM survey_invitations i WHERE i.survey = :survey AND i.member_id = m.member_id),"
            " (SELECT count(*) FROM survey_invitations i WHERE i.member_id = m.member_id AND i.invited_on > :rest),"
            " (SELECT count(*) FROM survey_invitations i WHERE i.member_id = m.member_id AND i.invited_on > :year),"
        ) if counted else " 0, 0, 0,"
        return self.conn.execute(
            f"SELECT m.member_id, m.restricted_at, m.objected_at, m.processing_objected_at,{invitations}"
            " m.wrapped_dek, m.box FROM members m WHERE m.status = 'member'",
            params,
        )

    def count_members(self, status: str) -> int:
        return int(self.conn.execute("SELECT count(*) FROM members WHERE status = ?", (status,)).fetchone()[0])

    def add_invitations(self, rows: list[dict[str, Any]]) -> None:
        self.conn.executemany(
            "INSERT INTO survey_invitations (survey, member_id, sample, invited_on, stratum)"
            " VALUES (:survey, :member_id, :sample, :invited_on, :stratum)",
            rows,
        )

    def invitations(self, survey: str) -> Iterator[dict[str, Any]]:
        return rows_of(self.conn.execute("SELECT * FROM survey_invitations WHERE survey = ? ORDER BY member_id", (survey,)))

    def invitation(self, survey: str, member_id: str) -> dict[str, Any] | None:
        query = "SELECT * FROM survey_invitations WHERE survey = ? AND member_id = ?"
        return next(rows_of(self.conn.execute(query, (survey, member_id))), None)

    def record_responses(self, survey: str, responses: list[tuple[str, str]]) -> None:
        """(member id, day) of each response to ``survey``."""
        self.conn.executemany(
            "UPDATE survey_invitations SET responded_on = ? WHERE survey = ? AND member_id = ?",
            [(day, survey, member_id) for member_id, day in responses],
        )

    def respondents(self, survey: str) -> list[str]:
        query = "SELECT member_id FROM survey_invitations WHERE survey = ? AND responded_on IS NOT NULL ORDER BY member_id"
        return [row[0] for row in self.conn.execute(query, (survey,))]

    def participation_of(self, member_id: str) -> list[dict[str, Any]]:
        """A member's invitations, responses and draw entries, survey by survey (an entry may outlive its invitation)."""
        return list(rows_of(self.conn.execute(
            "SELECT s.name AS survey, s.title, i.invited_on, i.responded_on, d.drawn_on, e.prize, e.member_id IS NOT NULL AS entered"
            " FROM surveys s LEFT JOIN survey_invitations i ON i.survey = s.name AND i.member_id = :member"
            " LEFT JOIN draw_entries e ON e.survey = s.name AND e.member_id = :member LEFT JOIN draws d ON d.survey = s.name"
            " WHERE i.member_id IS NOT NULL OR e.member_id IS NOT NULL ORDER BY coalesce(i.invited_on, d.drawn_on), s.name",
            {"member": member_id},
        )))

    # --- draws ----------------------------------------------------------------------------------------------

    def draw(self, survey: str) -> dict[str, Any] | None:
        return next(rows_of(self.conn.execute("SELECT * FROM draws WHERE survey = ?", (survey,))), None)

    def add_draw(self, row: dict[str, Any]) -> None:
        self._insert("draws", row)  # type: ignore[attr-defined]

    def update_draw(self, survey: str, changes: dict[str, Any]) -> None:
        self._update("draws", "survey", survey, changes)  # type: ignore[attr-defined]

    def add_entries(self, survey: str, entrants: list[str], prizes: dict[str, int]) -> None:
        self.conn.executemany(
            "INSERT INTO draw_entries (survey, member_id, prize) VALUES (?, ?, ?)",
            [(survey, member_id, prizes.get(member_id)) for member_id in entrants],
        )

    def entries(self, survey: str) -> list[tuple[str, int | None]]:
        """(member id, prize or None) of every entry the register still holds, in member id order."""
        return [(m, p) for m, p in self.conn.execute("SELECT member_id, prize FROM draw_entries WHERE survey = ? ORDER BY member_id", (survey,))]

    # --- sealed boxes, for key rotation ---------------------------------------------------------------------

    def survey_boxes(self, batch: int = 1000) -> Iterator[list[tuple[str, tuple[Any, ...], bytes]]]:
        """(table, key, box) of every box sealed under the data key in the survey tables, a batch at a time
        (read before the caller replaces them, so memory stays flat however many invitations there are)."""
        queries = {
            "survey_samples": ("SELECT id, spec FROM survey_samples WHERE id > ? ORDER BY id LIMIT ?", (0,)),
            "draws": ("SELECT survey, seed FROM draws WHERE survey > ? ORDER BY survey LIMIT ?", ("",)),
            "survey_invitations": ("SELECT survey, member_id, stratum FROM survey_invitations WHERE (survey, member_id) > (?, ?)"
                                   " AND stratum IS NOT NULL ORDER BY survey, member_id LIMIT ?", ("", "")),
        }
        for table, (query, start) in queries.items():
            after: tuple[Any, ...] = start
            while rows := self.conn.execute(query, (*after, batch)).fetchall():
                yield [(table, tuple(row[:-1]), row[-1]) for row in rows]
                after = tuple(rows[-1][:-1])

    def replace_survey_boxes(self, boxes: list[tuple[str, tuple[Any, ...], bytes]]) -> None:
        statements = {
            "survey_samples": "UPDATE survey_samples SET spec = ? WHERE id = ?",
            "survey_invitations": "UPDATE survey_invitations SET stratum = ? WHERE survey = ? AND member_id = ?",
            "draws": "UPDATE draws SET seed = ? WHERE survey = ?",
        }
        for table, statement in statements.items():
            self.conn.executemany(statement, [(box, *key) for kind, key, box in boxes if kind == table])

    # --- retention and erasure ------------------------------------------------------------------------------

    def erase_participation(self, member_ids: list[str]) -> None:
        """Members' invitations, responses and draw entries go with them (a few hundred members a statement); a
        draw keeps its count."""
        for start in range(0, len(member_ids), 500):
            chunk = member_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            self.conn.execute(f"DELETE FROM survey_invitations WHERE member_id IN ({marks})", chunk)
            self.conn.execute(f"DELETE FROM draw_entries WHERE member_id IN ({marks})", chunk)

    def old_survey_records(self, kind: str, cutoff: str, *, hold_restricted: bool, delete: bool = False) -> int:
        """How many survey records of ``kind`` are dated on or before ``cutoff``; with ``delete``, delete them.

        ``survey_invitations``: invitations (and their responses) by the day of
        the invitation; the draw entries of members who did not win go with
        them. ``competition_winners``: the winning entries, by the day of the
        draw. With ``hold_restricted``, a restricted member's records are kept.
        """
        held = f" AND NOT {_RESTRICTED}" if hold_restricted else ""
        if kind == "survey_invitations":
            where = f"invited_on <= ?{held}"
            table = "survey_invitations"
        else:
            where = f"prize IS NOT NULL AND survey IN (SELECT survey FROM draws WHERE drawn_on <= ?){held}"
            table = "draw_entries"
        if not delete:
            return int(self.conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", (cutoff,)).fetchone()[0])
        count = self.conn.execute(f"DELETE FROM {table} WHERE {where}", (cutoff,)).rowcount
        if kind == "survey_invitations":
            self.conn.execute(
                "DELETE FROM draw_entries WHERE prize IS NULL AND NOT EXISTS (SELECT 1 FROM survey_invitations i"
                " WHERE i.survey = draw_entries.survey AND i.member_id = draw_entries.member_id)"
            )
        return count
