"""survey responses: who answered, from the processor's return file, all or nothing.

Each response records the day and moves the member's last activity (the
clock of the inactivity rule); an unknown or uninvited member id, one listed
twice, a day in the future or before the invitation is reported by line and
nothing is written; a member erased since is skipped and counted; hostile
files are invalid input, never a traceback, never a value echoed.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kss_panel import survey_files
from support import CANARY_STRINGS, Builder, Register, assert_failure, assert_no_traceback, person

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=10)
SURVEY = "spring-2026"
UNKNOWN = "Mcccccccccccccccc"


def six_members(b: Builder) -> dict[str, Any]:
    """Six admitted members, the first five invited to spring-2026 on NOW; the sixth never invited."""
    from kss_panel.services import survey_sample, surveys

    for n in range(1, 7):
        b.enrol(n, person(n))
        b.admit(n)
    surveys.create(b.session, SURVEY, "Spring 2026", NOW)
    out = b.session.store.path.with_name("template-invitations.csv")  # the invitation list, beside the template
    chosen = survey_sample.sample(b.session, SURVEY, NOW, size=5, seed="respond", out=out)
    return {"invited": [row["member_id"] for row in csv.DictReader(open(out, encoding="utf-8"))], "sample": chosen["sample"]}


@pytest.fixture
def reg(make_register: Any, clock: Any) -> Register:
    register = make_register({}, NOW, populate=six_members)
    clock.now = LATER
    return register


def invited(reg: Register) -> list[str]:
    return list(reg.facts["invited"])


def uninvited(reg: Register) -> str:
    return next(member_id for member_id in reg.ids.values() if member_id not in invited(reg))


def returns(reg: Register, *lines: str, header: str = "member_id,completed_on") -> Path:
    return reg.file(header + "\n" + "".join(line + "\n" for line in lines))


def respond(reg: Register, path: Path) -> Any:
    return reg.json("survey", "responses", SURVEY, path)


def test_responses_are_recorded_and_move_the_members_last_activity(reg: Register) -> None:
    a, b, c = invited(reg)[:3]
    data = respond(reg, returns(reg, f"{a},2026-03-05", f"{b},", f"{c},2026-03-04T23:30:00Z"))
    assert data == {"survey": SURVEY, "responses": 3, "recorded": 3, "unchanged": 0, "erased": 0, "activity_updated": 3}
    days = dict(reg.sql("SELECT member_id, responded_on FROM survey_invitations WHERE responded_on IS NOT NULL"))
    assert days == {a: "2026-03-05", b: "2026-03-12", c: "2026-03-05"}  # no day: today; a time: its day in Finland
    assert {m: reg.member(m)["last_activity_at"] for m in (a, b, c)} == days
    entry = reg.audit()[-1]
    assert (entry["action"], entry["member_id"], entry["fields"]) == ("survey-responses", None, [])
    assert entry["detail"] == {"survey": SURVEY, "recorded": 3, "unchanged": 0, "erased": 0, "activity": 3}
    shown = reg.json("survey", "show", SURVEY)
    assert (shown["invited"], shown["responded"], shown["rate"]) == (5, 3, 0.6)
    assert reg.cli("audit", "verify").exit_code == 0  # each member's changed row is committed to the trail


def test_a_response_never_moves_the_last_activity_back(reg: Register) -> None:
    a = invited(reg)[0]
    assert reg.run("activity", "import", reg.file(f"member_id,date\n{a},2026-03-11\n")).exit_code == 0
    data = respond(reg, returns(reg, f"{a},2026-03-03"))
    assert (data["recorded"], data["activity_updated"]) == (1, 0)
    assert reg.member(a)["last_activity_at"] == "2026-03-11"


def test_the_same_file_twice_records_nothing_new(reg: Register) -> None:
    path = returns(reg, *(f"{m},2026-03-05" for m in invited(reg)[:2]))
    respond(reg, path)
    before = {name: rows for name, rows in reg.tables().items() if name not in ("audit", "fieldsets")}
    assert respond(reg, path) == {"survey": SURVEY, "responses": 2, "recorded": 0, "unchanged": 2, "erased": 0, "activity_updated": 0}
    assert {name: rows for name, rows in reg.tables().items() if name not in ("audit", "fieldsets")} == before


def test_every_problem_is_reported_by_line_and_nothing_is_written(reg: Register) -> None:
    a, b = invited(reg)[:2]
    before = reg.tables()
    path = returns(reg, f"{a},2026-03-05", f"{uninvited(reg)},2026-03-05", f"{UNKNOWN},", "M123,", f"{a},2026-03-06",
                   f"{b},2026-03-13", f"{b},2026-03-01", f"{b},yesterday", f"{b},2026-03-05T12:00:00")
    assert_failure(reg.run("survey", "responses", SURVEY, path), 5, f"invalid return file for survey {SURVEY}", [
        f"  line 3: member_id: was not invited to survey {SURVEY}",
        "  line 4: member_id: no such member",
        "  line 5: member_id: is not a member id (M and 16 letters or digits)",
        "  line 6: member_id: is listed twice (first on line 2)",
        "  line 7: completed_on: must not be in the future",
        "  line 8: completed_on: is before the member was invited",
        "  line 9: completed_on: must be a day as YYYY-MM-DD, or a time as YYYY-MM-DDTHH:MM:SS+HH:MM",
        "  line 10: completed_on: a time needs its offset from UTC (such as Z or +02:00)",
    ])
    assert reg.tables() == before


def test_a_member_erased_since_the_invitation_is_skipped_and_counted(reg: Register) -> None:
    a, b = invited(reg)[:2]
    assert reg.run("erase", a, "--reason", "request").exit_code == 0
    data = respond(reg, returns(reg, f"{a},2026-03-05", f"{b},2026-03-05"))
    assert (data["recorded"], data["erased"]) == (1, 1)
    assert reg.member(a) is None and reg.sql("SELECT member_id FROM survey_invitations WHERE member_id = ?", (a,)) == []


def test_a_file_without_member_ids_or_a_survey_that_is_not_there(reg: Register) -> None:
    assert_failure(reg.run("survey", "responses", SURVEY, returns(reg, "x", header="id")), 5, problems=["  line 1: no column 'member_id'"])
    assert_failure(reg.run("survey", "responses", "autumn-2026", returns(reg)), 4, "no survey 'autumn-2026'")
    assert_failure(reg.run("survey", "responses", SURVEY, reg.dir / "missing.csv"), 4)


def test_at_most_a_thousand_problems_and_the_file_is_read_no_further(reg: Register) -> None:
    path = returns(reg, *(["M123,"] * 1500))
    result = reg.run("survey", "responses", SURVEY, path)
    assert_failure(result, 5)
    assert result.stderr.count("is not a member id") == 1000
    assert "kss-panel: hint: the first 1000 problems; the file was read no further" in result.stderr


def test_a_file_over_the_size_limit_is_refused(reg: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(survey_files, "MAX_FILE_BYTES", 100)
    path = returns(reg, *(f"{m}," for m in invited(reg)))
    assert_failure(reg.run("survey", "responses", SURVEY, path), 5, f"invalid return file {path}", [f"  {path}: is larger than 0 MiB"])


# --- hostile files ----------------------------------------------------------------------------------------------

GOOD = st.sampled_from(["{0}", "{0},2026-03-05", "{1},", "{1},2026-03-12"])
# A first cell that is never blank and never a member id, then anything.
HOSTILE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40).map(lambda text: "x" + text)
HOSTILE = st.one_of(
    HOSTILE_TEXT.map(lambda text: text.replace("{", "(").replace("}", ")")),
    st.sampled_from([*CANARY_STRINGS, UNKNOWN + ",", "{2},", "{0},2027-01-01", "{0},1999-12-31", "{0},2026-02-30", "{0},\x00", '"{0}',
                     "{0},2026-03-05,extra", "\ufeff{0}", "{0},2026-03-05T10:00"]),
)
RAW = st.sampled_from([b"\xff\xfe\x00", b"\xc3\x28", b"\x00\x00", b"\r\r\r\x85"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(GOOD, max_size=4), st.lists(HOSTILE, min_size=1, max_size=3), st.lists(RAW, max_size=1), st.randoms())
def test_a_hostile_return_file_is_invalid_input_and_writes_nothing(
    reg: Register, good: list[str], hostile: list[str], raw: list[bytes], random: Any
) -> None:
    ids = [*invited(reg)[:2], uninvited(reg)]
    lines = [line.format(*ids).encode("utf-8", "surrogatepass") for line in [*good, *hostile]] + raw
    random.shuffle(lines)
    path = reg.file(b"member_id,completed_on\n" + b"\n".join(lines) + b"\n")
    before = reg.tables()
    with reg.restored():
        result = reg.run("survey", "responses", SURVEY, path)
        assert result.exit_code == 5, (result.stdout, result.stderr, lines)
        assert_no_traceback(result)
        assert result.stderr.startswith("kss-panel: error: ")
        assert reg.tables() == before
    for text in hostile:
        for word in text.replace(",", " ").split():
            if len(word) >= 6 and word.isalpha():
                assert word not in result.stderr, word
