"""The breach register (GDPR Art. 33(5)) and telling the members affected (Art. 34).

- breach open records a breach discovered at a Finnish wall-clock minute, stored in UTC, with its 72-hour
  deadline; breach list shows the deadline and the status as the clock runs;
- breach affected finds the members from the disclosure log (a recipient and a window, erased members
  included) or from a leaked export (the member ids in it), with the fields involved, never values;
- breach close records the notification of the Data Protection Ombudsman (late ones with reasons) or why not;
- breach notify-members writes the affected members' contact details to a new 0600 file, an audited read;
- bad input is exit 5 with every problem listed and nothing written.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kss_panel.services import disclosure, rights
from support import Builder, Clock, Register, assert_failure, canaries, noon, person

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # 15:00 in Helsinki (summer time)
PEOPLE = {
    "may": person(1, "Aino", given=("email_marketing",)),
    "june": person(2, "Bertta", given=("email_marketing", "sms_marketing")),
    "gone": person(3, "Cecilia", given=("email_marketing",)),
    "never": person(4, "Doris", given=()),
}


def disclosed(b: Builder) -> None:
    """Disclosures to direct-marketing: 'may' and 'gone' on 2026-05-20, 'june' and 'gone' on 2026-06-10 (and 'june' to
    sms-gateway then); 'gone' erased on 2026-06-12. 'never' disclosed to no export recipient but panel-mailer."""
    b.admit("may", "june", "gone", "never", at=noon("2026-05-01"))
    directory = b.session.store.path.parent
    rights.consent(b.session, b.ids["june"], noon("2026-05-02"), withdraw=("email_marketing",))
    disclosure.disclose(b.session, "direct-marketing", "marketing", noon("2026-05-20"), out=directory / "may.csv")
    rights.consent(b.session, b.ids["june"], noon("2026-06-01"), give=("email_marketing",))
    rights.consent(b.session, b.ids["may"], noon("2026-06-01"), withdraw=("email_marketing",))
    disclosure.disclose(b.session, "direct-marketing", "marketing", noon("2026-06-10"), out=directory / "june.csv")
    disclosure.disclose(b.session, "sms-gateway", "marketing", noon("2026-06-10"), out=directory / "sms.csv")
    rights.erase(b.session, b.ids["gone"], "request", noon("2026-06-12"))


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register(PEOPLE, NOW, populate=disclosed, purger=True)


def opened(reg: Register, discovered: str = "2026-06-15T09:40") -> int:
    return int(reg.json("breach", "open", "--title", "Mailing list sent to the wrong partner", "--discovered", discovered)["id"])


def affected(reg: Register, breach: int) -> dict[str, tuple[list[str], list[str]]]:
    """Member name -> (fields involved, sources) of a breach, as stored."""
    rows = reg.sql("SELECT member_id, fields, sources FROM breach_members WHERE breach_id = ?", (breach,))
    return {reg.names[m]: (json.loads(f), json.loads(s)) for m, f, s in rows}


DM_FIELDS = ["contact.city", "contact.email", "contact.first_name", "contact.language", "contact.last_name", "contact.postal_code",
             "contact.street_address"]


# --- open and list: the 72 hours -----------------------------------------------------------------------------------------------


def test_a_breach_is_recorded_in_utc_with_its_deadline_72_hours_on(reg: Register, clock: Clock) -> None:
    data = reg.json("breach", "open", "--title", "Laptop lost", "--discovered", "2026-06-15T09:40")
    assert (data["id"], data["discovered_at"], data["deadline"]) == (1, "2026-06-15T06:40:00+00:00", "2026-06-18T06:40:00+00:00")
    assert (data["status"], data["hours_left"], data["affected"]) == ("open", 66, 0)
    result = reg.run("breach", "open", "--title", "Second", "--discovered", "2026-06-15T14:59")
    assert result.stdout == "breach 2 recorded; notify the Data Protection Ombudsman by 2026-06-18 14:59 (Finnish time) or record why not\n"
    clock.now = datetime(2026, 6, 18, 9, 0, tzinfo=UTC)
    listed = {row["id"]: (row["status"], row["hours_left"]) for row in reg.json("breach", "list")}
    assert listed == {1: ("overdue", -3), 2: ("open", 2)}
    table = reg.run("breach", "list", env={"COLUMNS": "80"}).stdout
    assert table.splitlines()[0] == "2 breaches (deadlines in Finnish time)"
    assert "2026-06-18 09:40" in table and "2026-06-18 14:59" in table and "overdue by 3" in table
    entry = reg.audit()[-1]
    assert (entry["action"], entry["detail"]) == ("breach-open", {"breach": 2})  # the title is not in the trail


@pytest.mark.parametrize(("text", "utc"), [
    ("2026-10-25T03:30", "2026-10-25T00:30:00+00:00"),  # the hour the clocks go back happens twice: the earlier is taken
    ("2026-01-10T12:00", "2026-01-10T10:00:00+00:00"),  # winter time
])
def test_finnish_time_in_and_out_of_summer(reg: Register, clock: Clock, text: str, utc: str) -> None:
    clock.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert reg.json("breach", "open", "--title", "x", "--discovered", text)["discovered_at"] == utc


def test_bad_input_is_refused_with_every_problem_and_nothing_written(reg: Register) -> None:
    before = reg.tables()
    result = reg.run("breach", "open", "--title", "a\x07b", "--discovered", "2026-03-29T03:30")
    assert_failure(result, 5, "invalid breach", [
        "  --title: must not contain control characters",
        "  --discovered: does not exist in Finnish time (the clocks moved forward past it)",
    ])
    assert_failure(reg.run("breach", "open", "--title", "x" * 201, "--discovered", "2026-06-15T15:01"), 5, "invalid breach", [
        "  --title: must be at most 200 characters", "  --discovered: must not be in the future"])
    assert reg.tables() == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=40))
def test_any_discovery_time_is_taken_or_refused_cleanly(reg: Register, text: str) -> None:
    with reg.restored():
        result = reg.run("breach", "open", "--title", "Lost", "--discovered", text)
        assert result.exit_code in (0, 5), result.output
        if result.exit_code == 5:
            assert result.stderr.startswith("kss-panel: error: invalid breach\n") and "Traceback" not in result.output


# --- affected: from the disclosure log and from a leaked file ------------------------------------------------------------------


def test_affected_from_the_disclosure_log_in_a_window_erased_members_included(reg: Register) -> None:
    breach = opened(reg)
    data = reg.json("breach", "affected", str(breach), "--recipient", "direct-marketing", "--from", "2026-06-01", "--to", "2026-06-30")
    assert (data["members"], data["added"], data["erased"], data["categories"]) == (2, 2, 1, ["contact"])
    source = "disclosures to direct-marketing from 2026-06-01 to 2026-06-30"
    assert affected(reg, breach) == {"june": (DM_FIELDS, [source]), "gone": (DM_FIELDS, [source])}  # not 'may': disclosed in May
    reg.json("breach", "affected", str(breach), "--recipient", "direct-marketing", "--from", "2026-05-20", "--to", "2026-05-20")
    assert set(affected(reg, breach)) == {"may", "june", "gone"}
    assert len(affected(reg, breach)["gone"][1]) == 2  # found by both windows: one entry, both sources
    [listed] = reg.json("breach", "list")
    assert (listed["affected"], listed["erased"], listed["categories"]) == (3, 1, ["contact"])


def leaked_sms_file(reg: Register) -> object:
    """A disclosure file to the sms-gateway, as that processor leaked it (June's members with the sms consent)."""
    result, path = reg.disclose("sms-gateway", "marketing")
    assert result.exit_code == 0, result.stderr
    return path


def test_affected_from_a_leaked_export(reg: Register) -> None:
    breach = opened(reg)
    leaked = leaked_sms_file(reg)
    data = reg.json("breach", "affected", str(breach), "--file", leaked)
    assert (data["members"], data["added"]) == (1, 1)
    assert affected(reg, breach) == {"june": (["contact.first_name", "contact.language", "contact.phone"], ["leaked file"])}
    # A JSON export of only two columns: the fields it holds are the fields involved.
    rows = [{"member_id": reg.ids["may"], "contact.email": "x@example.fi"}, {"member_id": reg.ids["gone"], "contact.email": "y@example.fi"}]
    reg.json("breach", "affected", str(breach), "--file", reg.file(json.dumps(rows), ".json"))
    assert affected(reg, breach)["may"] == (["contact.email"], ["leaked file"])
    assert reg.json("breach", "list")[0]["categories"] == ["contact"]


def test_a_bad_leaked_file_is_refused_by_line_never_by_value(reg: Register) -> None:
    breach = opened(reg)
    before = reg.tables()
    text = f"member_id,contact.email\n{reg.ids['may']},a@example.fi\nnot-an-id,secret.value@example.fi\nMcccccccccccccccc,b@example.fi\n,c@example.fi\n"
    result = reg.run("breach", "affected", str(breach), "--file", reg.file(text))
    assert_failure(result, 5, "invalid leaked file", [
        "  line 3: member_id: is not a member id",
        "  line 4: member_id: is no member of this register, present or erased",
        "  line 5: member_id: is missing",
    ])
    assert "secret.value" not in result.stderr
    assert_failure(reg.run("breach", "affected", str(breach), "--file", reg.file("contact.email\na@example.fi\n")), 5, "invalid leaked file",
                   ["  (file): has no member_id: which members leaked cannot be told"])
    assert_failure(reg.run("breach", "affected", str(breach), "--file", reg.file(f"member_id\n{reg.ids['may']}\n")), 5, "invalid leaked file",
                   ["  (file): holds no field of the register: which data leaked cannot be told"])
    assert_failure(reg.run("breach", "affected", str(breach), "--file", reg.file("member_id,surname\nx,y\n")), 5)
    assert reg.tables() == before


def test_bad_affected_options_are_listed_together(reg: Register) -> None:
    breach = opened(reg)
    before = reg.tables()
    assert_failure(reg.run("breach", "affected", str(breach), "--from", "2026-06-30", "--to", "1.6.2026"), 5, "invalid affected members", [
        "  --recipient|--file: give exactly one", "  --from: goes with --recipient", "  --to: goes with --recipient"])
    assert_failure(reg.run("breach", "affected", str(breach), "--recipient", "direct-marketing", "--from", "2026-06-30", "--to", "2026-06-01"),
                   5, "invalid affected members", ["  --from/--to: the window ends before it starts"])
    assert_failure(reg.run("breach", "affected", str(breach), "--recipient", "direct-marketing"), 5, "invalid affected members",
                   ["  --from: is required with --recipient", "  --to: is required with --recipient"])
    assert_failure(reg.run("breach", "affected", "9", "--recipient", "direct-marketing", "--from", "2026-06-01", "--to", "2026-06-30"), 4,
                   "no breach 9")
    assert reg.tables() == before


def test_the_breach_record_holds_ids_and_field_names_never_values(reg: Register) -> None:
    breach = opened(reg)
    reg.json("breach", "affected", str(breach), "--recipient", "direct-marketing", "--from", "2026-05-01", "--to", "2026-06-30")
    reg.json("breach", "affected", str(breach), "--file", leaked_sms_file(reg))
    stored = json.dumps([reg.sql("SELECT * FROM breaches"), reg.sql("SELECT * FROM breach_members")], ensure_ascii=False)
    assert [text for name in PEOPLE for text in canaries(PEOPLE[name]) if text in stored] == []
    entries = [e for e in reg.audit() if e["action"] == "breach-affected"]
    assert [e["detail"]["source"] for e in entries] == ["disclosure-log", "file"] and all(e["fields"] == [] for e in entries)


# --- close -----------------------------------------------------------------------------------------------------------------------


def test_close_with_the_day_the_ombudsman_was_notified(reg: Register, clock: Clock) -> None:
    breach = opened(reg)
    clock.now = datetime(2026, 6, 16, 9, 0, tzinfo=UTC)
    data = reg.json("breach", "close", str(breach), "--notified-authority", "2026-06-16")
    assert (data["status"], data["late"], data["closed_on"], data["hours_left"]) == ("notified", False, "2026-06-16", None)
    assert_failure(reg.run("breach", "close", str(breach), "--not-notified", "no risk"), 5, f"cannot close breach {breach}",
                   ["  BREACH: was closed on 2026-06-16"])


def test_a_late_notification_needs_the_reasons_for_the_delay(reg: Register, clock: Clock) -> None:
    breach = opened(reg)
    clock.now = datetime(2026, 6, 22, 9, 0, tzinfo=UTC)
    before = reg.tables()
    assert_failure(reg.run("breach", "close", str(breach), "--notified-authority", "2026-06-19"), 5, f"cannot close breach {breach}", [
        "  --delay-reason: is required: the notification came after the 72-hour deadline (2026-06-18), so Art. 33(1) asks the reasons for the delay"])
    assert reg.tables() == before
    data = reg.json("breach", "close", str(breach), "--notified-authority", "2026-06-19", "--delay-reason", "the processor reported late")
    assert (data["status"], data["late"], data["delay_reason"]) == ("notified", True, "the processor reported late")


def test_close_without_notifying_and_the_combinations_refused(reg: Register) -> None:
    breach = opened(reg)
    before = reg.tables()
    assert_failure(reg.run("breach", "close", str(breach)), 5, f"cannot close breach {breach}",
                   ["  --notified-authority|--not-notified: give exactly one"])
    assert_failure(reg.run("breach", "close", str(breach), "--not-notified", "x", "--delay-reason", "y"), 5, f"cannot close breach {breach}",
                   ["  --delay-reason: goes with --notified-authority"])
    assert_failure(reg.run("breach", "close", str(breach), "--notified-authority", "2026-06-14"), 5, f"cannot close breach {breach}",
                   ["  --notified-authority: must not be before the breach was discovered"])
    assert reg.tables() == before
    data = reg.json("breach", "close", str(breach), "--not-notified", "the list held only ids the partner cannot link to anyone")
    assert data["status"] == "not-notified"


# --- notify-members ---------------------------------------------------------------------------------------------------------------


def test_notify_members_lists_contact_details_of_the_affected_still_here(reg: Register) -> None:
    breach = opened(reg)
    reg.json("breach", "affected", str(breach), "--recipient", "direct-marketing", "--from", "2026-05-01", "--to", "2026-06-30")
    out = reg.dir / "tell.csv"
    result = reg.run("breach", "notify-members", str(breach), "--out", out)
    assert result.stdout == f"wrote the contact details of 2 members to {out}; 1 member erased since, not listed\n"
    assert os.stat(out).st_mode & 0o777 == 0o600
    with open(out, encoding="utf-8", newline="") as handle:
        rows = {row["member_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {reg.ids["may"], reg.ids["june"]}
    assert rows[reg.ids["june"]]["contact.email"] == PEOPLE["june"]["contact"]["email"]
    assert rows[reg.ids["june"]]["contact.language"] == "fi"
    reads = [e for e in reg.audit() if e["action"] == "breach-notify-members"]
    assert {e["member_id"] for e in reads} == set(rows) and all(e["detail"] == {"breach": breach} for e in reads)
    assert reg.json("breach", "list")[0]["members_listed_on"] == "2026-06-15"
    assert_failure(reg.run("breach", "notify-members", str(breach), "--out", out), 5)  # never over an existing file


def test_notify_members_needs_an_officer(reg: Register) -> None:
    breach = opened(reg)
    assert_failure(reg.run("breach", "notify-members", str(breach), "--out", reg.dir / "x.csv", key="cron"), 3)
    assert len(reg.json("breach", "list", key="cron")) == 1


def test_closed_breaches_are_erased_after_their_period(reg: Register, clock: Clock) -> None:
    breach = opened(reg)
    reg.json("breach", "affected", str(breach), "--recipient", "direct-marketing", "--from", "2026-05-01", "--to", "2026-06-30")
    reg.json("breach", "close", str(breach), "--notified-authority", "2026-06-15")
    opened(reg)  # open: never erased
    counts = {day: reg.json("purge", "--as-of", day, key="cron")["records"]["breaches"] for day in ("2031-06-14", "2031-06-15")}
    assert counts == {"2031-06-14": 0, "2031-06-15": 1}
    clock.now = datetime(2031, 6, 15, 12, 0, tzinfo=UTC)
    assert reg.run("purge", "--apply", "--expect", "3", key="cron").exit_code == 0
    assert reg.sql("SELECT id FROM breaches") == [(2,)] and reg.sql("SELECT count(*) FROM breach_members") == [(0,)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(
    st.binary(max_size=300),
    st.lists(st.lists(st.text(max_size=20), min_size=1, max_size=4), max_size=6).map(lambda rows: "\n".join(",".join(r) for r in rows)),
    st.lists(st.dictionaries(st.sampled_from(["member_id", "contact.email", "hobbies", "x"]), st.one_of(st.none(), st.text(max_size=10),
                                                                                                       st.integers())), max_size=4).map(json.dumps),
))
def test_any_leaked_file_is_taken_or_refused_cleanly(reg: Register, content: bytes | str) -> None:
    with reg.restored():
        breach = opened(reg)
        before = reg.tables()
        result = reg.run("breach", "affected", str(breach), "--file", reg.file(content))
        assert result.exit_code in (0, 5), result.output
        assert "Traceback" not in result.output
        if result.exit_code == 5:
            assert reg.tables() == before
