"""A member's surveys inside the register's protections: `show` and the access export list invitations,
responses and prizes; erasure takes them with the member; the purge keeps them for their retention
periods; key rotation seals the strata and samples again; a box moved by hand does not open; only officers
run surveys."""

from __future__ import annotations

import csv
import html as html_module
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kss_panel.access_surveys import TEXT
from kss_panel.services import draws, survey_sample, surveys
from kss_panel.survey_files import Response
from support import Builder, Register, assert_failure, person

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SURVEY = "spring-2026"
SEED = bytes(32)


def a_drawn_survey(b: Builder) -> dict[str, Any]:
    """Four admitted members (1-2 answer in Finnish, 3 in Swedish, 4 in English), all invited to spring-2026 on NOW
    by gender, all answered on NOW + 3 days; its draw of one prize was run on NOW + 10 days; a fifth member is restricted."""
    for n, language in ((1, "fi"), (2, "fi"), (3, "sv"), (4, "en")):
        b.enrol(n, person(n, contact__language=language, demographics__gender="female" if n % 2 else "male", given=("marketing_competitions",)))
        b.admit(n)
    surveys.create(b.session, SURVEY, "Kevät 2026", NOW)
    out = b.session.store.path.with_name("records-invitations.csv")
    survey_sample.sample(b.session, SURVEY, NOW, size=4, strata=("demographics.gender",), seed="records", out=out)
    ids = [row["member_id"] for row in csv.DictReader(open(out, encoding="utf-8"))]
    surveys.record_responses(b.session, SURVEY, [Response(line, m, (NOW + timedelta(days=3)).date()) for line, m in enumerate(ids, 2)],
                             NOW + timedelta(days=3))
    draws.commit(b.session, SURVEY, NOW + timedelta(days=4), seed=SEED)
    drawn = draws.run(b.session, SURVEY, 1, NOW + timedelta(days=10))
    return {"winner": drawn["winners"][0]["member_id"]}


@pytest.fixture
def reg(make_register: Any, clock: Any) -> Register:
    register = make_register({}, NOW, populate=a_drawn_survey)
    clock.now = NOW + timedelta(days=20)
    return register


def loser(reg: Register) -> str:
    return next(m for n, m in reg.ids.items() if m != reg.facts["winner"])


def test_show_lists_the_members_invitations_responses_and_prizes(reg: Register) -> None:
    winner = reg.facts["winner"]
    shown = reg.json("show", winner)
    assert shown["surveys"] == [{"survey": SURVEY, "title": "Kevät 2026", "invited_on": "2026-03-02", "responded_on": "2026-03-05",
                                 "draw": {"drawn_on": "2026-03-12", "prize": 1}}]
    assert reg.json("show", loser(reg))["surveys"][0]["draw"] == {"drawn_on": "2026-03-12", "prize": None}
    text = reg.run("show", winner).stdout
    assert "Surveys and prize draws" in text and "spring-2026" in text and "prize 1, 2026-03-12" in text


def test_the_access_export_lists_them_in_the_members_language(reg: Register) -> None:
    for name, language in ((1, "fi"), (3, "sv"), (4, "en")):
        member_id = reg.ids[name]
        out = reg.dir / f"export-{name}"
        assert reg.run("export", "access", member_id, "--out", out).exit_code == 0
        [html_file] = out.glob("*.html")
        page = html_module.unescape(html_file.read_text(encoding="utf-8"))
        words = TEXT[language]
        assert words["heading"] in page and words["intro"] in page and "Kevät 2026" in page
        expected = words["won"].format(n=1, day="") if member_id == reg.facts["winner"] else words["entered"].format(day="")
        assert expected.split("(")[0] in page
        assert reg.json("export", "access", member_id)["surveys"][0]["survey"] == SURVEY


def test_a_member_never_invited_reads_so(make_register: Any) -> None:
    reg = make_register({"aino": person(1)}, NOW)
    export = reg.json("export", "access", reg.ids["aino"])
    assert export["surveys"] == []
    out = reg.dir / "export"
    assert reg.run("export", "access", reg.ids["aino"], "--out", out).exit_code == 0
    assert TEXT["fi"]["none"] in next(out.glob("*.html")).read_text(encoding="utf-8")


def test_erasure_takes_invitations_and_entries_and_the_draw_keeps_its_count(reg: Register) -> None:
    winner = reg.facts["winner"]
    assert reg.run("erase", winner, "--reason", "request").exit_code == 0
    for table in ("survey_invitations", "draw_entries", "disclosures"):
        assert reg.sql(f"SELECT count(*) FROM {table} WHERE member_id = ?", (winner,)) == [(0,)], table
    assert reg.sql("SELECT entrants, prizes FROM draws") == [(4, 1)]
    shown = reg.json("survey", "show", SURVEY)
    assert (shown["invited"], shown["responded"]) == (3, 3)
    assert shown["draw"]["winners"] == [] and shown["draw"]["entrants"] == 4
    assert winner.encode() not in b"".join(row[0].encode() for row in reg.sql("SELECT member_id FROM survey_invitations"))


def test_the_purge_keeps_invitations_24_months_and_winners_84(reg: Register, clock: Any) -> None:
    winner = reg.facts["winner"]
    # The members stay throughout: they answered on 2026-03-05, so the inactivity rule is due on 2028-03-05.
    clock.now = datetime(2028, 3, 1, 12, 0, tzinfo=UTC)  # 2026-03-02 + 24 months is due on 2028-03-02
    assert reg.json("purge")["records"]["survey_invitations"] == 0
    clock.now = datetime(2028, 3, 2, 12, 0, tzinfo=UTC)
    plan = reg.json("purge")
    assert (plan["total"], plan["records"]["survey_invitations"], plan["records"]["competition_winners"]) == (0, 4, 0)
    assert reg.run("purge", "--apply").exit_code == 0
    assert reg.sql("SELECT count(*) FROM survey_invitations") == [(0,)]
    # The entries that did not win went with their invitations; the winner's stays for the accounting.
    assert reg.sql("SELECT member_id, prize FROM draw_entries") == [(winner, 1)]


def test_the_winners_record_goes_after_84_months(make_register: Any, clock: Any) -> None:
    reg = make_register({}, NOW, populate=a_drawn_survey)
    assert reg.run("restrict", loser(reg), "--reason", "legal-claims").exit_code == 0
    with reg.session() as session, session.store.write():
        session.store.conn.execute("UPDATE survey_invitations SET invited_on = '2019-01-01'")  # long past: only the winner's entry is left
    clock.now = datetime(2033, 3, 12, 12, 0, tzinfo=UTC)  # the draw of 2026-03-12 + 84 months
    records = reg.json("purge")["records"]
    assert records["competition_winners"] == 1
    with reg.session() as session:
        from kss_panel.services import records as record_service

        record_service.prune_records(session, clock.now)
    assert reg.sql("SELECT count(*) FROM draw_entries WHERE prize IS NOT NULL") == [(0,)]
    assert reg.sql("SELECT count(*) FROM survey_invitations WHERE member_id = ?", (loser(reg),)) == [(1,)]  # held: restricted


def test_key_rotation_seals_strata_and_samples_again(reg: Register) -> None:
    before = {row for row in reg.sql("SELECT stratum FROM survey_invitations")} | {row for row in reg.sql("SELECT spec FROM survey_samples")}
    shown = reg.json("survey", "show", SURVEY)
    assert reg.run("key", "rotate").exit_code == 0
    after = {row for row in reg.sql("SELECT stratum FROM survey_invitations")} | {row for row in reg.sql("SELECT spec FROM survey_samples")}
    assert not before & after
    assert reg.json("survey", "show", SURVEY) == shown
    assert reg.cli("audit", "verify").exit_code == 0


def test_a_stratum_moved_to_another_invitation_does_not_open(reg: Register) -> None:
    first, second = sorted(reg.ids.values())[:2]
    reg.sql("UPDATE survey_invitations SET stratum = (SELECT stratum FROM survey_invitations WHERE member_id = ?) WHERE member_id = ?",
            (first, second))
    assert_failure(reg.run("survey", "show", SURVEY), 7, f"the stratum of {second}'s invitation does not open: it was changed, moved or damaged")


def test_survey_show_and_list_read_at_80_columns(reg: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    shown = [line.rstrip() for line in reg.run("survey", "show", SURVEY).stdout.splitlines()]
    assert shown[:5] == [
        "survey spring-2026: Kevät 2026",
        "run by panel-mailer for market_research; created 2026-03-02 by aino",
        "4 members invited, 4 responded (100.0%)",
        "sample 1 of 2026-03-02: 4 members invited by demographics.gender (seed records)",
        "gender  invited  responded  rate",
    ]
    assert all(len(line) <= 80 for line in shown)
    listed = reg.run("survey", "list").stdout.splitlines()
    assert listed[0] == "1 survey"
    assert listed[3].split() == ["spring-2026", "Kevät", "2026-03-02", "4", "4", "100.0%", "drawn", "2026-03-12"]


@pytest.mark.parametrize(("name", "title", "problems"), [
    ("Spring", "x", ["  NAME: must be 1 to 63 lower-case letters, digits and hyphens, not starting with a hyphen"]),
    ("a_b", "x", ["  NAME: must be 1 to 63 lower-case letters, digits and hyphens, not starting with a hyphen"]),
    ("ok", "  ", ["  --title: must not be empty"]),
    ("ok", "a\x07b", ["  --title: must not contain control characters"]),
])
def test_a_survey_name_and_title_are_checked(reg: Register, name: str, title: str, problems: list[str]) -> None:
    before = reg.tables()
    assert_failure(reg.run("survey", "create", name, "--title", title), 5, problems=problems)
    assert reg.tables() == before


def test_a_survey_name_is_taken_once(reg: Register) -> None:
    assert_failure(reg.run("survey", "create", SURVEY, "--title", "Again"), 5, f"a survey named '{SURVEY}' already exists")


def test_a_purger_runs_no_survey(make_register: Any) -> None:
    reg = make_register({}, NOW, populate=a_drawn_survey, purger=True)
    for args in (("survey", "list"), ("survey", "sample", SURVEY, "--size", "1"), ("draw", "verify", SURVEY), ("survey", "show", SURVEY)):
        assert_failure(reg.run(*args, key="cron"), 3)


def test_the_tables_hold_no_stratum_in_plain(reg: Register) -> None:
    raw = reg.raw()
    assert b"female" not in raw  # the strata are sealed with each invitation
    assert b"records" not in raw  # the sample's seed too
