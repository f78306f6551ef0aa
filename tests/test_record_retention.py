"""Retention of the records kept beside members' data: closed requests, the disclosure log and
suppression digests are erased by `purge` once the period of policies/retention.yaml has passed.

The register is built through the services, each step on its own day; the
command line runs at NOW. Periods of the shipped policy: closed requests 36
months after closing, the disclosure log 24 months after the disclosure,
suppression digests 36 months after the erasure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from kss_panel.policy import Period
from kss_panel.retention import latest_start, period_end
from kss_panel.services import disclosure, requests, rights
from support import Builder, Register, noon, person

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
BUILT = noon("2021-12-01")
ACTIVE = date(2025, 6, 1)  # every member answered a survey lately: the member purge erases no one


def populate(b: Builder) -> dict[str, Any]:
    """anna, bertta and cecilia members; two disclosures; requests closed long ago and lately, one open;
    cecilia restricted; dora and elsa erased with --suppress, long ago and lately."""
    for n, name in enumerate(("anna", "bertta", "cecilia"), start=1):
        b.enrol(name, person(n, name.capitalize(), given=()), noon("2021-12-01"))
        b.admit(name, at=noon("2022-01-01"))
    session = b.session
    for day in ("2022-01-10", "2024-06-01"):
        disclosure.disclose(session, "panel-mailer", "communication", noon(day), out=session.store.path.parent / f"mailing-{day}.csv")
    old = requests.open_request(session, "access", b.ids["anna"], noon("2022-02-01"))["id"]
    requests.close_request(session, old, "fulfilled", noon("2022-02-15"))
    recent = requests.open_request(session, "access", b.ids["bertta"], noon("2024-04-20"))["id"]
    requests.close_request(session, recent, "fulfilled", noon("2024-05-01"))
    held = requests.open_request(session, "rectification", b.ids["cecilia"], noon("2022-01-20"))["id"]
    requests.close_request(session, held, "fulfilled", noon("2022-02-01"))
    still_open = requests.open_request(session, "erasure", b.ids["anna"], noon("2022-03-01"))["id"]
    b.restrict("cecilia", "legal-claims", at=noon("2024-01-01"))
    for n, (name, day) in enumerate((("dora", "2022-03-01"), ("elsa", "2024-06-01")), start=4):
        b.enrol(name, person(n, name.capitalize(), given=("email_marketing",)), noon("2021-12-01"))
        rights.consent(session, b.ids[name], noon(day), object_to_marketing=True)
        rights.erase(session, b.ids[name], "request", noon(day), suppress=True)
    for name in ("anna", "bertta", "cecilia"):
        b.activity(name, ACTIVE)
    return {"old": old, "recent": recent, "held": held, "open": still_open}


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register({}, BUILT, populate=populate, purger=True)


def disclosure_log(reg: Register) -> list[tuple[str, str]]:
    return sorted((reg.names[m], day) for m, day in reg.sql("SELECT member_id, disclosed_on FROM disclosures"))


def request_ids(reg: Register) -> set[int]:
    return {row[0] for row in reg.sql("SELECT id FROM requests")}


DUE = {"closed_requests": 1, "disclosure_log": 2, "suppressions": 2, "notifications": 0, "breaches": 0, "survey_invitations": 0, "competition_winners": 0, "audit_trail": 0}


def test_a_dry_run_counts_the_records_past_their_period_and_erases_nothing(reg: Register) -> None:
    before = reg.tables()
    result = reg.run("purge", key="cron")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "records past their retention period: closed requests 1 (36 months), disclosure log 2 (24 months), suppressions 2 (36 months),"
        " notifications 0 (36 months), breaches 0 (60 months), survey invitations 0 (24 months), competition winners 0 (84 months), audit trail 0 (60 months)"
    )
    assert reg.json("purge", key="cron")["records"] == DUE
    assert reg.tables() == before


def test_apply_erases_exactly_the_records_past_their_period(reg: Register) -> None:
    facts = reg.facts
    result = reg.run("purge", "--apply", key="cron")  # the purger key: no personal data is read
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "purged 0 members\nerased 5 records past their retention period (closed requests 1, disclosure log 2, suppressions 2)\n"
    # The request closed 2022-02-15 is past 36 months; the one closed 2024-05-01 is not; an open request is never erased;
    # cecilia's is held by her restriction.
    assert request_ids(reg) == {facts["recent"], facts["held"], facts["open"]}
    # The disclosures of 2022-01-10 are past 24 months, but cecilia's, held by her restriction.
    assert disclosure_log(reg) == [("anna", "2024-06-01"), ("bertta", "2024-06-01"), ("cecilia", "2022-01-10"), ("cecilia", "2024-06-01")]
    assert reg.sql("SELECT since FROM suppressions ORDER BY since") == [("2024-06-01",), ("2024-06-01",)]  # elsa's email and phone
    entry = reg.audit("actor")[-1]
    assert (entry["action"], entry["actor"], entry["member_id"], entry["fields"]) == ("purge-records", "cron", None, [])
    assert entry["detail"] == {"erased": {kind: n for kind, n in DUE.items() if n}}


def test_the_purge_is_idempotent_and_quiet_when_nothing_is_due(reg: Register) -> None:
    assert reg.run("purge", "--apply", key="cron").exit_code == 0
    before = reg.tables()
    result = reg.run("purge", "--apply", key="cron")
    assert (result.exit_code, result.stdout) == (0, "purged 0 members\n")
    assert reg.run("purge", "--apply", "--quiet", key="cron").stdout == ""
    assert reg.tables() == before  # not even an audit entry
    assert reg.json("purge", key="cron")["records"] == dict.fromkeys(DUE, 0)


def test_as_of_plans_the_records_of_another_day(reg: Register) -> None:
    # 2026-06-01: anna's and bertta's 2024-06-01 disclosures are exactly 24 months old; elsa's digests are not yet 36 months.
    assert reg.json("purge", "--as-of", "2026-06-01", key="cron")["records"] == {**DUE, "disclosure_log": 4}
    assert reg.json("purge", "--as-of", "2026-05-31", key="cron")["records"] == DUE


def test_the_periods_are_declared_for_every_record_kind(reg: Register) -> None:
    shown = json.loads(reg.cli("policy", "show", "--json").stdout)["data"]["retention"]["records"]
    assert {kind: record["period"] for kind, record in shown.items()} == {
        "closed_requests": {"months": 36}, "disclosure_log": {"months": 24}, "suppressions": {"months": 36}, "audit_trail": {"months": 60},
        "survey_invitations": {"months": 24}, "competition_winners": {"months": 84},
        "notifications": {"months": 36}, "breaches": {"months": 60},
    }


@pytest.mark.parametrize(("period", "as_of", "start"), [
    (Period(days=30), date(2025, 6, 15), date(2025, 5, 16)),
    (Period(days=0), date(2025, 6, 15), date(2025, 6, 15)),
    (Period(months=36), date(2025, 6, 15), date(2022, 6, 15)),
    (Period(months=24), date(2026, 2, 28), date(2024, 2, 29)),  # 2024-02-29 + 24 months clamps to 2026-02-28
    (Period(months=1), date(2025, 2, 28), date(2025, 1, 31)),  # so do 29, 30 and 31 January
    (Period(months=1), date(2025, 3, 30), date(2025, 2, 28)),
])
def test_latest_start_is_the_last_day_whose_period_has_ended(period: Period, as_of: date, start: date) -> None:
    assert latest_start(period, as_of) == start
    assert period_end(period, start) <= as_of
    assert period_end(period, date.fromordinal(start.toordinal() + 1)) > as_of
