"""Data-subject requests (Art. 12(3)): one calendar month from receipt, one
extension of up to two further months, overdue tracking, closing, and the
`--request N` option that closes a request as fulfilled by the command.

The command line runs at an instant each test picks (the ``clock`` fixture pins the CLI's clock,
NOW unless a test moves the clock); services get their ``now`` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from kss_panel.services import requests, trail
from kss_panel import model
from support import Clock, Register, assert_failure, noon, person

NOW = datetime(2029, 6, 15, 12, 0, tzinfo=UTC)  # noon UTC; after every receipt date used below
TODAY = "2029-06-15"


def request_open(reg: Register, kind: str, name: str = "a", received: str | None = None) -> dict[str, Any]:
    """`request open` on the command line."""
    return reg.json("request", "open", "--type", kind, "--member", reg.ids[name], *(("--received", received) if received else ()))


def request(reg: Register, request_id: int) -> dict[str, Any]:
    return next(row for row in reg.requests() if row["id"] == request_id)


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    """Members 'a' and 'b' (applicants); officer 'desk' unlocks with a key file."""
    return make_register({"a": person(1), "b": person(2)}, NOW)


BOUNDARIES = [
    ("2026-01-31", "2026-02-28"),  # month end into a short month
    ("2028-01-31", "2028-02-29"),  # leap year
    ("2026-03-15", "2026-04-15"),
    ("2026-12-31", "2027-01-31"),  # into the next year
    ("2026-03-31", "2026-04-30"),
    ("2026-02-28", "2026-03-28"),  # not the month end of March: one month from the 28th
    ("2028-02-29", "2028-03-29"),
]


# --- deadlines ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("received, deadline", BOUNDARIES)
def test_request_deadline_is_one_calendar_month(received: str, deadline: str) -> None:
    assert model.request_deadline(date.fromisoformat(received)) == date.fromisoformat(deadline)


@pytest.mark.parametrize(
    "received, months, deadline",
    [
        ("2026-01-31", 2, "2026-04-30"),
        ("2026-01-31", 1, "2026-03-31"),
        ("2026-12-31", 2, "2027-03-31"),
        ("2027-11-30", 2, "2028-02-29"),
        ("2026-03-15", 2, "2026-06-15"),
    ],
)
def test_request_deadline_with_an_extension(received: str, months: int, deadline: str) -> None:
    assert model.request_deadline(date.fromisoformat(received), months) == date.fromisoformat(deadline)


@pytest.mark.parametrize("received, deadline", BOUNDARIES)
def test_request_open_with_received_sets_the_deadline(reg: Register, received: str, deadline: str) -> None:
    opened = request_open(reg, "access", received=received)
    assert (opened["received"], opened["deadline"], opened["status"], opened["extended"]) == (received, deadline, "open", False)
    [listed] = reg.json("request", "list")
    assert listed == opened
    assert (listed["type"], listed["member_id"], listed["received"], listed["deadline"]) == ("access", reg.ids["a"], received, deadline)


def test_request_open_defaults_to_today(reg: Register) -> None:
    opened = request_open(reg, "erasure")
    assert (opened["received"], opened["deadline"], opened["overdue"], opened["days_left"]) == (TODAY, "2029-07-15", False, 30)


def test_request_open_human_output(reg: Register) -> None:
    result = reg.run("request", "open", "--type", "access", "--member", reg.ids["a"], "--received", "2026-01-31")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "request 1 (access) due 2026-02-28\n"


def test_request_open_received_in_the_future_is_invalid(reg: Register) -> None:
    before = reg.tables()
    assert_failure(reg.run("request", "open", "--type", "access", "--member", reg.ids["a"], "--received", "2029-06-16"), 5)
    assert reg.tables() == before


@pytest.mark.parametrize(
    "args, code",
    [
        (("--type", "complaint", "--member", "A"), 5),
        (("--type", "access", "--member", "A", "--received", "31.1.2026"), 5),
        (("--type", "access", "--member", "A", "--received", "2026-02-30"), 5),
        (("--type", "access", "--member", "Mnosuchmember00000"), 4),
    ],
)
def test_request_open_refusals(reg: Register, args: tuple[str, ...], code: int) -> None:
    before = reg.tables()
    assert_failure(reg.run("request", "open", *(reg.ids["a"] if a == "A" else a for a in args)), code)
    assert reg.tables() == before


# --- extension ----------------------------------------------------------------------------------------------


def test_extend_by_default_adds_two_further_months(reg: Register, clock: Clock) -> None:
    clock.now = noon("2026-02-10")  # within the first month, when the member must be told
    opened = reg.open_request("access", "a", received="2026-01-31", now=clock.now)
    data = reg.json("request", "extend", str(opened["id"]), "--reason", "complexity")
    assert (data["deadline"], data["extended"], data["extension_reason"]) == ("2026-04-30", True, "complexity")
    assert request(reg, opened["id"])["deadline"] == "2026-04-30"


def test_extend_by_one_month(reg: Register, clock: Clock) -> None:
    clock.now = noon("2026-02-10")
    opened = reg.open_request("rectification", "a", received="2026-01-31", now=clock.now)
    data = reg.json("request", "extend", str(opened["id"]), "--reason", "number-of-requests", "--months", "1")
    assert (data["deadline"], data["extension_reason"]) == ("2026-03-31", "number-of-requests")


def test_a_second_extension_is_refused(reg: Register, clock: Clock) -> None:
    clock.now = noon("2026-02-10")
    opened = reg.open_request("access", "a", received="2026-01-31", now=clock.now)
    assert reg.run("request", "extend", str(opened["id"]), "--reason", "complexity", "--months", "1").exit_code == 0
    before = reg.tables()
    assert_failure(
        reg.run("request", "extend", str(opened["id"]), "--reason", "complexity", "--months", "1"), 9,
        f"request {opened['id']} was already extended, to 2026-03-31",
    )
    assert reg.tables() == before
    assert request(reg, opened["id"])["deadline"] == "2026-03-31"


@pytest.mark.parametrize(
    "args",
    [
        ("--reason", "complexity", "--months", "3"),
        ("--reason", "complexity", "--months", "0"),
        ("--reason", "complexity", "--months", "-1"),
        ("--reason", "holidays"),
        ("--reason", "Complexity"),
    ],
)
def test_extend_refusals(reg: Register, args: tuple[str, ...]) -> None:
    opened = reg.open_request("access", "a", received="2026-01-31")
    before = reg.tables()
    assert_failure(reg.run("request", "extend", str(opened["id"]), *args), 5)
    assert reg.tables() == before
    assert request(reg, opened["id"])["deadline"] == "2026-02-28"


def test_extend_a_closed_or_unknown_request(reg: Register) -> None:
    opened = reg.open_request("access", "a", received="2026-01-31")
    reg.json("request", "close", str(opened["id"]), "--outcome", "withdrawn")
    assert_failure(reg.run("request", "extend", str(opened["id"]), "--reason", "complexity"), 5)
    assert_failure(reg.run("request", "extend", "99", "--reason", "complexity"), 4)


# --- overdue ------------------------------------------------------------------------------------------------


def test_overdue_from_the_day_after_the_deadline(reg: Register) -> None:
    with reg.session() as session:
        opened = requests.open_request(session, "access", reg.ids["a"], noon("2026-03-05"), received=date(2026, 1, 31))
        assert opened["deadline"] == "2026-02-28"
        [on_the_day] = requests.list_requests(session, noon("2026-02-28"))
        assert (on_the_day["overdue"], on_the_day["days_left"]) == (False, 0)
        assert requests.list_requests(session, noon("2026-02-28"), overdue=True) == []
        [day_after] = requests.list_requests(session, noon("2026-03-01"))
        assert (day_after["overdue"], day_after["days_left"]) == (True, -1)
        assert [r["id"] for r in requests.list_requests(session, noon("2026-03-01"), overdue=True)] == [opened["id"]]


def test_overdue_counts_the_finnish_day(reg: Register) -> None:
    with reg.session() as session:
        requests.open_request(session, "access", reg.ids["a"], noon("2026-03-05"), received=date(2026, 1, 31))
        # 21:59 UTC is 23:59 in Helsinki (UTC+2 in winter): still the deadline day
        assert requests.list_requests(session, datetime(2026, 2, 28, 21, 59, tzinfo=UTC), overdue=True) == []
        # 22:00 UTC is already 1 March in Helsinki
        assert len(requests.list_requests(session, datetime(2026, 2, 28, 22, 0, tzinfo=UTC), overdue=True)) == 1


def test_extended_request_is_overdue_only_after_the_extended_deadline(reg: Register) -> None:
    with reg.session() as session:
        opened = requests.open_request(session, "access", reg.ids["a"], noon("2026-02-10"), received=date(2026, 1, 31))
        requests.extend_request(session, opened["id"], "complexity", noon("2026-02-10"))
        assert requests.list_requests(session, noon("2026-03-01"), overdue=True) == []
        assert requests.list_requests(session, noon("2026-04-30"), overdue=True) == []
        assert len(requests.list_requests(session, noon("2026-05-01"), overdue=True)) == 1


def test_a_closed_request_is_never_overdue(reg: Register) -> None:
    with reg.session() as session:
        opened = requests.open_request(session, "access", reg.ids["a"], noon("2026-02-10"), received=date(2026, 1, 31))
        requests.close_request(session, opened["id"], "fulfilled", noon("2026-02-11"))
        [closed] = requests.list_requests(session, noon("2027-01-01"))
        assert (closed["status"], closed["overdue"], closed["days_left"]) == ("closed", False, None)
        assert requests.list_requests(session, noon("2027-01-01"), overdue=True) == []


def test_request_list_overdue_on_the_command_line(reg: Register) -> None:
    old = reg.open_request("access", "a", received="2026-01-31")
    fresh = reg.open_request("erasure", "b", received="2029-06-01")
    assert [r["id"] for r in reg.json("request", "list", "--overdue")] == [old["id"]]
    assert [r["id"] for r in reg.json("request", "list")] == [old["id"], fresh["id"]]


# --- closing ------------------------------------------------------------------------------------------------


def test_close_a_request(reg: Register) -> None:
    opened = reg.open_request("access", "a", received="2026-01-31")
    data = reg.json("request", "close", str(opened["id"]), "--outcome", "fulfilled")
    assert (data["status"], data["outcome"], data["closed_on"], data["overdue"]) == ("closed", "fulfilled", TODAY, False)
    assert request(reg, opened["id"]) == data


def test_closing_twice_is_invalid(reg: Register) -> None:
    opened = reg.open_request("access", "a", received="2026-01-31")
    reg.json("request", "close", str(opened["id"]), "--outcome", "fulfilled")
    before = reg.tables()
    assert_failure(reg.run("request", "close", str(opened["id"]), "--outcome", "withdrawn"), 5)
    assert reg.tables() == before
    assert request(reg, opened["id"])["outcome"] == "fulfilled"


def test_close_refusals(reg: Register) -> None:
    opened = reg.open_request("access", "a", received="2026-01-31")
    before = reg.tables()
    assert_failure(reg.run("request", "close", str(opened["id"]), "--outcome", "done"), 5)
    assert_failure(reg.run("request", "close", "99", "--outcome", "fulfilled"), 4)
    assert reg.tables() == before


# --- --request N on the commands that fulfil requests -------------------------------------------------------

Fulfil = Callable[[Register, str, int], tuple[str, ...]]
FULFILLING: dict[str, tuple[str, Fulfil]] = {
    "export access": ("access", lambda reg, m, n: ("export", "access", m, "--request", str(n))),
    "erase": ("erasure", lambda reg, m, n: ("erase", m, "--reason", "request", "--request", str(n))),
    "update": ("rectification", lambda reg, m, n: ("update", m, "--set", "contact.city=Kotka", "--request", str(n))),
    "consent": ("objection", lambda reg, m, n: ("consent", m, "--object", "--request", str(n))),
    "restrict": ("restriction", lambda reg, m, n: ("restrict", m, "--reason", "accuracy-contested", "--request", str(n))),
}
OTHER_TYPE = {"access": "erasure", "erasure": "access", "rectification": "objection", "objection": "restriction", "restriction": "rectification"}


@pytest.mark.parametrize("command", sorted(FULFILLING))
def test_request_option_closes_the_matching_request_as_fulfilled(reg: Register, command: str) -> None:
    kind, args = FULFILLING[command]
    opened = reg.open_request(kind, "a", received="2029-06-01")
    other = reg.open_request(kind, "b", received="2029-06-01")
    result = reg.run(*args(reg, reg.ids["a"], opened["id"]))
    assert result.exit_code == 0, result.stderr
    closed = request(reg, opened["id"])
    assert (closed["status"], closed["outcome"], closed["closed_on"]) == ("closed", "fulfilled", TODAY)
    assert request(reg, other["id"])["status"] == "open"
    with reg.session() as session:
        closes = [e for e in trail.audit_log(session) if e["action"] == "request-close"]
    assert [(e["member_id"], e["detail"]) for e in closes] == [(reg.ids["a"], {"request": opened["id"], "outcome": "fulfilled"})]


@pytest.mark.parametrize("command", sorted(FULFILLING))
def test_request_option_refuses_a_request_of_another_member(reg: Register, command: str) -> None:
    kind, args = FULFILLING[command]
    others = reg.open_request(kind, "b", received="2029-06-01")
    before = reg.tables()
    assert_failure(reg.run(*args(reg, reg.ids["a"], others["id"])), 5)
    assert reg.tables() == before  # the member unchanged, the request still open, nothing audited
    assert request(reg, others["id"])["status"] == "open"


@pytest.mark.parametrize("command", sorted(FULFILLING))
def test_request_option_refuses_a_request_of_another_type(reg: Register, command: str) -> None:
    kind, args = FULFILLING[command]
    wrong = reg.open_request(OTHER_TYPE[kind], "a", received="2029-06-01")
    before = reg.tables()
    assert_failure(reg.run(*args(reg, reg.ids["a"], wrong["id"])), 5)
    assert reg.tables() == before
    assert request(reg, wrong["id"])["status"] == "open"


@pytest.mark.parametrize("command", sorted(FULFILLING))
def test_request_option_refuses_a_closed_or_unknown_request(reg: Register, command: str) -> None:
    kind, args = FULFILLING[command]
    opened = reg.open_request(kind, "a", received="2029-06-01")
    reg.json("request", "close", str(opened["id"]), "--outcome", "withdrawn")
    before = reg.tables()
    assert_failure(reg.run(*args(reg, reg.ids["a"], opened["id"])), 5)
    assert_failure(reg.run(*args(reg, reg.ids["a"], 99)), 4)
    assert reg.tables() == before


def test_refused_request_leaves_no_export_files(reg: Register) -> None:
    wrong = reg.open_request("erasure", "a", received="2029-06-01")
    out = reg.dir / "exports"
    assert_failure(reg.run("export", "access", reg.ids["a"], "--out", str(out), "--request", str(wrong["id"])), 5)
    assert not out.exists() or list(out.iterdir()) == []
