"""check_members: every member's row against its last committing entry, merged from two index orders
(rows by member id, entries by the id's first STATE_PREFIX characters then seq) so that memory stays
flat in the register. Ids that share a prefix, erasures before and after, and each kind of hand edit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kss_panel.audit import STATE_PREFIX, Head, member_digester
from kss_panel.audit_verify import SlotHistory, Trail, check_members
from kss_panel.errors import IntegrityError

COLUMNS = ["member_id", "status", "box"]
DIGEST = member_digester(COLUMNS)


def _trail(erased: dict[str, int] | None = None) -> Trail:
    return Trail(Head(1, "0" * 64), None, erased or {}, SlotHistory(), None, True)


def _entries(committed: dict[str, list[tuple[int, tuple[Any, ...]]]]) -> list[tuple[str, int, bytes]]:
    """(member id, seq, state) as the state index yields them: by the id's prefix, then seq."""
    flat = [(member_id, seq, DIGEST(row)) for member_id, rows in committed.items() for seq, row in rows]
    return sorted(flat, key=lambda entry: (entry[0][:STATE_PREFIX], entry[1]))


def _check(rows: list[tuple[Any, ...]], committed: dict[str, list[tuple[int, tuple[Any, ...]]]], erased: dict[str, int] | None = None) -> int:
    return check_members(_trail(erased), COLUMNS, sorted(rows), _entries(committed))


# Two ids share their first nine characters: the merge holds both in one group.
A, B, C = "Maaaaaaaa1xxxxxxx", "Maaaaaaaa2xxxxxxx", "Mbbbbbbbbbxxxxxxx"


def test_rows_that_match_their_last_entries_pass() -> None:
    old, new = (A, "applicant", b"1"), (A, "member", b"2")
    assert _check([new, (B, "member", b"3"), (C, "member", b"4")],
                  {A: [(2, old), (7, new)], B: [(3, (B, "member", b"3"))], C: [(5, (C, "member", b"4"))]}) == 3


def test_a_row_as_an_earlier_entry_committed_it_is_a_hand_edit() -> None:
    old, new = (A, "applicant", b"1"), (A, "member", b"2")
    with pytest.raises(IntegrityError, match=f"the row of {A} does not match its last audit entry 7: it was changed by hand"):
        _check([old, (B, "member", b"3")], {A: [(2, old), (7, new)], B: [(3, (B, "member", b"3"))]})


def test_a_row_without_entries_was_added_by_hand() -> None:
    with pytest.raises(IntegrityError, match=f"member {B} has no entry in the audit trail: the row was added by hand"):
        _check([(A, "member", b"1"), (B, "member", b"2")], {A: [(2, (A, "member", b"1"))]})


def test_a_missing_row_never_erased_was_deleted_by_hand_the_earliest_named() -> None:
    committed = {A: [(9, (A, "member", b"1"))], B: [(4, (B, "member", b"2"))], C: [(6, (C, "member", b"3"))]}
    with pytest.raises(IntegrityError, match=f"member {B} was deleted by hand: its last audit entry is 4 and it was never erased"):
        _check([(C, "member", b"3")], committed)


def test_an_erased_member_has_no_row_and_a_row_after_the_erasure_was_added_by_hand() -> None:
    committed = {A: [(2, (A, "member", b"1"))], B: [(3, (B, "member", b"2"))]}
    assert _check([(B, "member", b"2")], committed, erased={A: 5}) == 1
    with pytest.raises(IntegrityError, match=f"member {A} has no entry in the audit trail: the row was added by hand"):
        _check([(A, "member", b"1"), (B, "member", b"2")], committed, erased={A: 5})


ids = st.text("abcM", min_size=STATE_PREFIX - 1, max_size=STATE_PREFIX + 2).map(lambda tail: "M" + tail)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(ids, st.tuples(st.integers(1, 3), st.booleans()), max_size=12), st.data())
def test_the_merge_finds_what_a_dictionary_of_every_member_would(members: dict[str, tuple[int, bool]], data: st.DataObject) -> None:
    """Against the plain rule (each member's last entry, held in memory): the same members pass, the same fail."""
    committed: dict[str, list[tuple[int, tuple[Any, ...]]]] = {}
    seq = 0
    for member_id, (count, _) in sorted(members.items()):
        committed[member_id] = [(seq := seq + 1, (member_id, "member", bytes([n]))) for n in range(count)]
    rows = [(member_id, "member", bytes([count - 1])) for member_id, (count, present) in members.items() if present]
    tampered = data.draw(st.sampled_from(rows)) if rows and data.draw(st.booleans()) else None
    if tampered is not None:
        rows = [(row[0], row[1], b"x") if row == tampered else row for row in rows]
    expected_ok = tampered is None and all(present for _, present in members.values())
    if expected_ok:
        assert _check(rows, committed) == len(rows)
    else:
        with pytest.raises(IntegrityError):
            _check(rows, committed)
