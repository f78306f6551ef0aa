"""Human output read in any terminal: at 80 columns, narrower, or piped.

Member ids, dates, request numbers and deadlines are never cut or wrapped;
names and other free text wrap instead. `list` sorts by status and then the
day each member applied, and filters --restricted and --objected. Counts and
articles agree with their nouns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kss_panel.services import requests
from support import Builder, Register, assert_failure, letters, noon, person

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
LONG_FIRST = "Marja-Leena Annukka Kaarina"
LONG_LAST = "Kanervistöläinen-Qwertyvaarallinen"
DATE = re.compile(r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}\b")


def populate(b: Builder) -> None:
    """Applicants, members and rejected people applied on different days, and twelve requests."""
    b.applicant("late applicant", date(2026, 6, 10))
    b.applicant("early applicant", date(2026, 5, 1), person(90, LONG_FIRST, LONG_LAST, contact__email="marja-leena.90@example.fi"))
    b.member("member", date(2026, 4, 1), date(2026, 4, 2), date(2026, 5, 5))
    b.member("restricted member", date(2026, 3, 1), date(2026, 3, 2))
    b.rejected("rejected", date(2026, 2, 1), date(2026, 2, 3))
    b.restrict("restricted member", "legal-claims")
    for n in range(12):
        name = ["late applicant", "early applicant", "member"][n % 3]
        received = date(2026, 5, 1) + timedelta(days=4 * n)
        kind = ["access", "erasure", "rectification"][n % 3]
        opened = requests.open_request(b.session, kind, b.ids[name], noon(received), received=received)
        if n == 4:
            requests.extend_request(b.session, opened["id"], "complexity", noon(received))


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register({}, NOW, populate=populate)


def at(reg: Register, columns: int, *args: str) -> str:
    result = reg.run(*args, env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def assert_whole(text: str, tokens: list[str]) -> None:
    """Every token stands whole on one line of ``text``: not cut, not wrapped, no ellipsis."""
    lines = text.splitlines()
    missing = [token for token in tokens if not any(token in line for line in lines)]
    assert not missing, (missing, text)
    assert "…" not in text


# --- never cut -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 60, 40])
def test_request_list_keeps_ids_numbers_dates_and_deadlines_whole(reg: Register, columns: int) -> None:
    views = reg.json("request", "list")
    text = at(reg, columns, "request", "list")
    tokens = [v["member_id"] for v in views] + [v["received"] for v in views] + [v["deadline"] for v in views]
    assert_whole(text, tokens)
    numbers = [line.split()[0] for line in text.splitlines()[3:] if line[:1].isdigit()]
    assert numbers == [str(v["id"]) for v in views]  # every request number, whole, first on its row
    if columns == 80:
        assert max(len(line) for line in text.splitlines()) <= 80


def test_request_list_at_80_columns_reads_as_it_should(reg: Register) -> None:
    text = at(reg, 80, "request", "list", "--overdue")
    lines = text.splitlines()
    assert lines[0] == "4 requests"
    assert lines[1].split() == ["#", "type", "about", "received", "deadline", "status"]
    assert lines[3].split() == ["1", "access", reg.ids["late applicant"], "2026-05-01", "2026-06-01", "overdue", "by", "14", "days"]
    text = at(reg, 80, "request", "list")
    [row] = [line for line in text.splitlines() if line.startswith("5 ")]
    assert row.split()[3:] == ["2026-05-17", "2026-08-17", "open,", "63", "days", "left"]
    assert "extended" in text.splitlines()[text.splitlines().index(row) + 1]


@pytest.mark.parametrize("columns", [80, 60])
def test_list_with_long_names_wraps_the_names_and_keeps_ids_and_dates(reg: Register, columns: int) -> None:
    rows = reg.json("list")
    text = at(reg, columns, "list", "--names")
    tokens = [row["member_id"] for row in rows] + [row[c] for row in rows for c in ("applied_at", "admitted_at") if row[c]]
    assert_whole(text, tokens)
    words = " ".join(text.split())
    for word in ("Marja-Leena", "Annukka", "Kaarina"):
        assert word in words
    if columns == 80:
        assert max(len(line) for line in text.splitlines()) <= 80


def test_piped_output_without_columns_is_80_wide_and_whole(reg: Register) -> None:
    result = reg.run("list", "--names", env={"COLUMNS": ""})
    assert result.exit_code == 0
    assert_whole(result.stdout, [row["member_id"] for row in reg.json("list")])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=st.integers(min_value=20, max_value=160), reveal=st.booleans())
def test_no_width_cuts_an_id_or_a_date(reg: Register, columns: int, reveal: bool) -> None:
    for args in (("list", "--names"), ("request", "list", *(["--reveal"] if reveal else [])), ("officer", "list")):
        text = at(reg, columns, *args)
        tokens = re.findall(r"M[a-z2-7]{16}", text) + DATE.findall(text)
        assert tokens or args[0] == "officer"
        assert_whole(text, tokens)
    assert len(set(re.findall(r"M[a-z2-7]{16}", at(reg, columns, "list")))) == 5


# --- list: order and filters ------------------------------------------------------------------------------------------


def test_list_sorts_by_status_then_the_day_of_application(reg: Register) -> None:
    order = [reg.names[row["member_id"]] for row in reg.json("list")]
    assert order == ["early applicant", "late applicant", "restricted member", "member", "rejected"]
    text = at(reg, 80, "list")
    positions = [text.index(reg.ids[name]) for name in order]
    assert positions == sorted(positions)


def test_list_restricted_and_objected(reg: Register) -> None:
    assert [reg.names[r["member_id"]] for r in reg.json("list", "--restricted")] == ["restricted member"]
    assert reg.json("list", "--objected") == []
    reg.json("consent", reg.ids["member"], "--object-processing")
    assert [reg.names[r["member_id"]] for r in reg.json("list", "--objected", "--status", "member")] == ["member"]
    assert reg.json("list", "--objected", "--restricted") == []
    text = at(reg, 80, "list", "--restricted")
    assert text.startswith("1 member\n") and text.splitlines()[4].split() == ["restricted"]


# --- counts and articles ----------------------------------------------------------------------------------------------


def test_counts_agree_with_their_nouns(reg: Register) -> None:
    assert at(reg, 80, "list", "--restricted").splitlines()[0] == "1 member"
    assert at(reg, 80, "list", "--status", "rejected").splitlines()[0] == "1 member"
    assert at(reg, 80, "list").splitlines()[0] == "5 members"
    assert at(reg, 80, "list", "--objected").splitlines()[0] == "0 members"


@pytest.mark.parametrize(("kind", "article"), [("erasure", "an"), ("access", "an"), ("objection", "an"), ("rectification", "a"),
                                               ("restriction", "a")])
def test_a_request_of_the_wrong_kind_is_named_with_its_article(reg: Register, kind: str, article: str) -> None:
    opened = reg.open_request(kind, "member", received="2026-06-01")
    result = reg.run("update", reg.ids["member"], "--set", "contact.city=Kotka", "--request", str(opened["id"])) if kind != "rectification" \
        else reg.run("restrict", reg.ids["member"], "--reason", "legal-claims", "--request", str(opened["id"]))
    assert_failure(result, 5, f"request {opened['id']} is {article} {kind} request")


def test_one_row_of_an_import_is_one_row(reg: Register) -> None:
    bad = person(91, "Eero", letters(3).capitalize(), contact__language="de")
    path = reg.file("customer_number,contact.first_name,contact.last_name,contact.email,contact.language\n"
                    f"{bad['customer_number']},Eero,Nieminen,{bad['contact']['email']},de\n")
    result = reg.run("import", str(path))
    assert_failure(result, 5, "1 of 1 record is invalid: nothing was imported")
