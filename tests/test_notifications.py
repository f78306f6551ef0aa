"""Telling recipients of a rectification, erasure or restriction (GDPR Art. 19).

- pending notifications exactly for the recipients the disclosure log shows received the member, and of a
  rectification only for the fields each received;
- notify export writes a new 0600 manifest that never carries a value the recipient did not receive, and marks
  the notifications sent; an erasure keeps only what the notification needs, no value, until it is sent;
- the member's access export names the recipients told.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from kss_panel.services import disclosure
from support import Builder, Register, assert_failure, canaries, person

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TODAY = "2026-03-02"
PEOPLE = {
    "both": person(1, "Aino", given=("email_marketing", "sms_marketing")),
    "mail": person(2, "Bertta", given=("email_marketing",)),
    "quiet": person(3, "Cecilia", given=()),
    "applicant": person(4, "Doris", given=("email_marketing", "sms_marketing")),
}
DM = ["contact.city", "contact.email", "contact.first_name", "contact.language", "contact.last_name", "contact.postal_code", "contact.street_address"]
SMS = ["contact.first_name", "contact.language", "contact.phone"]
MAILER = ["contact.email", "contact.first_name", "contact.language", "contact.last_name"]


def disclosed(b: Builder) -> None:
    """Three members admitted and disclosed: 'both' to direct-marketing, sms-gateway and panel-mailer; 'mail' to
    direct-marketing and panel-mailer; 'quiet' to panel-mailer only. The applicant to no one."""
    b.admit("both", "mail", "quiet")
    for recipient, purpose in (("direct-marketing", "marketing"), ("sms-gateway", "marketing"), ("panel-mailer", "communication")):
        disclosure.disclose(b.session, recipient, purpose, b.now, out=b.session.store.path.parent / f"{recipient}.csv")


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register(PEOPLE, NOW, populate=disclosed, purger=True)


def pending(reg: Register, **options: str) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(member name, recipient) -> (event, fields) of every pending notification."""
    args = [item for key, value in options.items() for item in (f"--{key}", value)]
    return {(reg.names[n["member_id"]], n["recipient"]): (n["event"], n["fields"]) for n in reg.json("notify", "list", *args)}


# --- who is owed what ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "changes", "expected"), [
    ("both", ["contact.city=Kotka"], {"direct-marketing": ["contact.city"]}),
    ("both", ["contact.phone=0401112223"], {"sms-gateway": ["contact.phone"]}),
    ("both", ["contact.email=aino.new@example.fi"], {"direct-marketing": ["contact.email"], "panel-mailer": ["contact.email"]}),
    ("both", ["contact.first_name=Aini", "contact.city=Kotka"],
     {"direct-marketing": ["contact.city", "contact.first_name"], "panel-mailer": ["contact.first_name"], "sms-gateway": ["contact.first_name"]}),
    ("quiet", ["contact.email=cecilia.new@example.fi", "contact.city=Kotka"], {"panel-mailer": ["contact.email"]}),
    ("both", ["demographics.household_size=5", "hobbies=sauna"], {}),  # no recipient received either
    ("applicant", ["contact.city=Kotka"], {}),  # disclosed to no one
])
def test_a_rectification_is_owed_to_exactly_the_recipients_that_received_a_changed_field(
    reg: Register, name: str, changes: list[str], expected: dict[str, list[str]]
) -> None:
    data = reg.json("update", reg.ids[name], *[item for change in changes for item in ("--set", change)])
    assert data["notify"] == sorted(expected)
    assert pending(reg) == {(name, recipient): ("rectified", fields) for recipient, fields in expected.items()}
    entry = reg.audit()[-1]
    assert entry["action"] == "update" and entry["detail"] == ({"notify": sorted(expected)} if expected else {})


def test_a_second_rectification_adds_its_fields_to_the_pending_notification(reg: Register) -> None:
    reg.json("update", reg.ids["both"], "--set", "contact.city=Kotka")
    reg.json("update", reg.ids["both"], "--set", "contact.postal_code=48100", "--set", "contact.city=Hamina")
    assert pending(reg) == {("both", "direct-marketing"): ("rectified", ["contact.city", "contact.postal_code"])}


def test_self_service_changes_are_owed_too(reg: Register) -> None:
    path = reg.csv([{"member_id": reg.ids["mail"], "contact.city": "Kotka"}], ["member_id", "contact.city"])
    assert reg.run("import", path, "--updates").exit_code == 0
    assert pending(reg) == {("mail", "direct-marketing"): ("rectified", ["contact.city"])}


# --- the manifest ------------------------------------------------------------------------------------------------------------------


def test_a_manifest_carries_only_the_new_values_of_fields_the_recipient_received(reg: Register) -> None:
    both = reg.ids["both"]
    reg.json("update", both, "--set", "contact.city=Qwertyvaara", "--set", "contact.phone=0405556667",
             "--set", "contact.street_address=", "--set", "demographics.household_size=7")
    out = reg.dir / "dm.json"
    result = reg.run("notify", "export", "direct-marketing", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"wrote 1 notification about 1 member for direct-marketing (1 rectified) to {out}; marked sent\n"
    assert os.stat(out).st_mode & 0o777 == 0o600
    manifest = json.loads(out.read_text(encoding="utf-8"))
    assert manifest["schema"] == "kss-panel/recipient-notifications" and manifest["schema_version"] == 1
    assert manifest["recipient"] == {"key": "direct-marketing", "name": "Esimerkki Suoramarkkinointi Oy"}
    [entry] = manifest["notifications"]
    assert entry["member_id"] == both and entry["event"] == "rectified" and entry["recorded_on"] == TODAY
    assert entry["values"] == {"contact.city": "Qwertyvaara", "contact.street_address": None}  # null: removed
    assert [d["purpose"] for d in entry["disclosures"]] == ["marketing"]
    text = out.read_text(encoding="utf-8")
    for unreceived in ("+358405556667", "0405556667", "household_size", '"7"', PEOPLE["both"]["contact"]["email"]):
        assert unreceived not in text
    sms = reg.dir / "sms.json"
    assert reg.run("notify", "export", "sms-gateway", "--out", sms).exit_code == 0
    assert json.loads(sms.read_text(encoding="utf-8"))["notifications"][0]["values"] == {"contact.phone": "+358405556667"}
    assert "Qwertyvaara" not in sms.read_text(encoding="utf-8")


def test_export_marks_them_sent_and_a_second_export_writes_nothing(reg: Register) -> None:
    reg.json("update", reg.ids["mail"], "--set", "contact.email=bertta.new@example.fi")
    assert reg.json("notify", "export", "panel-mailer", "--out", reg.dir / "one.json")["notifications"] == 1
    assert pending(reg) == {("mail", "direct-marketing"): ("rectified", ["contact.email"])}
    again = reg.run("notify", "export", "panel-mailer", "--out", reg.dir / "two.json")
    assert (again.exit_code, again.stdout) == (0, "nothing to notify panel-mailer of: no file written\n")
    assert not (reg.dir / "two.json").exists()
    sent = [n for n in reg.json("notify", "list", "--sent") if n["sent_on"]]
    assert [(n["recipient"], n["sent_on"]) for n in sent] == [("panel-mailer", TODAY)]
    entries = [e for e in reg.audit() if e["action"] == "notify-recipient"]
    assert [(e["member_id"], e["fields"], e["detail"]["recipient"]) for e in entries] == [(reg.ids["mail"], ["contact.email"], "panel-mailer")]


def test_a_manifest_that_cannot_be_written_marks_nothing_sent(reg: Register) -> None:
    reg.json("update", reg.ids["mail"], "--set", "contact.city=Kotka")
    out = reg.dir / "exists.json"
    out.write_text("keep me")
    before = reg.tables()
    result = reg.run("notify", "export", "direct-marketing", "--out", out)
    assert_failure(result, 5, f"{out} already exists: refusing to overwrite it")
    assert reg.tables() == before and out.read_text() == "keep me"


def test_who_may_list_and_who_may_export(reg: Register) -> None:
    reg.json("update", reg.ids["mail"], "--set", "contact.city=Kotka")
    assert len(reg.json("notify", "list", key="cron")) == 1  # ids, field names, days: no personal data
    assert_failure(reg.run("notify", "export", "direct-marketing", "--out", reg.dir / "x.json", key="cron"), 3)
    assert_failure(reg.run("notify", "export", "nobody", "--out", reg.dir / "x.json"), 4)
    assert_failure(reg.run("notify", "list", "--recipient", "nobody"), 5)


# --- erasure and restriction -----------------------------------------------------------------------------------------------------


def test_an_erasure_is_owed_to_every_recipient_and_keeps_no_value(reg: Register) -> None:
    both = reg.ids["both"]
    reg.json("update", both, "--set", "contact.city=Kotka")  # pending, and replaced by the erasure
    data = reg.json("erase", both, "--reason", "request")
    assert data["notify"] == ["direct-marketing", "panel-mailer", "sms-gateway"]
    assert pending(reg) == {("both", "direct-marketing"): ("erased", DM), ("both", "panel-mailer"): ("erased", MAILER),
                            ("both", "sms-gateway"): ("erased", SMS)}
    assert reg.sql("SELECT count(*) FROM disclosures WHERE member_id = ?", (both,)) == [(0,)]
    stored = json.dumps(reg.sql("SELECT * FROM notifications"), ensure_ascii=False)
    assert [text for text in canaries(PEOPLE["both"]) if text in stored] == []
    out = reg.dir / "erased.json"
    assert reg.run("notify", "export", "sms-gateway", "--out", out).exit_code == 0
    [entry] = json.loads(out.read_text(encoding="utf-8"))["notifications"]
    assert (entry["member_id"], entry["event"], entry["fields"]) == (both, "erased", SMS) and "values" not in entry
    assert reg.run("audit", "verify").exit_code == 0


def test_an_erasure_still_tells_a_recipient_whose_log_entries_were_pruned(reg: Register) -> None:
    reg.json("update", reg.ids["mail"], "--set", "contact.city=Kotka")
    reg.sql("DELETE FROM disclosures WHERE member_id = ? AND recipient = 'direct-marketing'", (reg.ids["mail"],))  # as retention prunes
    assert reg.json("erase", reg.ids["mail"], "--reason", "request")["notify"] == ["direct-marketing", "panel-mailer"]


def test_a_dry_run_names_whom_an_erasure_would_owe_and_writes_nothing(reg: Register) -> None:
    before = reg.tables()
    result = reg.run("erase", reg.ids["mail"], "--reason", "request", "--dry-run")
    assert result.stdout.splitlines()[-1] == "would notify (Art. 19): direct-marketing, panel-mailer"
    assert reg.tables() == before


def test_the_nightly_purge_owes_the_same(reg: Register, clock: Any) -> None:
    clock.now = datetime(2028, 3, 3, 12, 0, tzinfo=UTC)  # every member inactive for 24 months, the applicant long due
    result = reg.run("purge", "--apply", "--expect", "4", key="cron")
    assert result.exit_code == 0, result.stderr
    assert {(name, recipient) for name, recipient in pending(reg, )} == {
        ("both", "direct-marketing"), ("both", "sms-gateway"), ("both", "panel-mailer"), ("mail", "direct-marketing"),
        ("mail", "panel-mailer"), ("quiet", "panel-mailer")}
    erasures = {e["member_id"]: e["detail"].get("notify") for e in reg.audit() if e["action"] == "erase"}
    assert erasures[reg.ids["quiet"]] == ["panel-mailer"] and erasures[reg.ids["applicant"]] is None


def test_a_restriction_is_owed_to_every_recipient_and_a_lift_before_sending_withdraws_it(reg: Register) -> None:
    both = reg.ids["both"]
    assert reg.json("restrict", both, "--reason", "accuracy-contested")["notify"] == ["direct-marketing", "panel-mailer", "sms-gateway"]
    assert pending(reg)[("both", "sms-gateway")] == ("restricted", SMS)
    assert reg.run("notify", "export", "sms-gateway", "--out", reg.dir / "sms.json").exit_code == 0
    lifted = reg.run("restrict", both, "--lift")
    assert lifted.stdout.splitlines()[-1] == "notifications withdrawn, none sent yet: direct-marketing, panel-mailer"
    assert pending(reg) == {}
    assert [(n["recipient"], n["event"]) for n in reg.json("notify", "list", "--sent")] == [("sms-gateway", "restricted")]


def test_the_access_export_names_the_recipients_told_and_to_be_told(reg: Register) -> None:
    both = reg.ids["both"]
    reg.json("update", both, "--set", "contact.city=Kotka", "--set", "contact.phone=0405556667")
    assert reg.run("notify", "export", "sms-gateway", "--out", reg.dir / "sms.json").exit_code == 0
    told = reg.json("export", "access", both)["recipients_notified"]
    assert told == [
        {"recipient": "direct-marketing", "recipient_name": "Esimerkki Suoramarkkinointi Oy", "event": "rectified", "fields": ["contact.city"],
         "recorded_on": TODAY, "sent_on": None},
        {"recipient": "sms-gateway", "recipient_name": "Esimerkki SMS Oy", "event": "rectified", "fields": ["contact.phone"],
         "recorded_on": TODAY, "sent_on": TODAY},
    ]
    out = reg.dir / "access"
    assert reg.run("export", "access", both, "--out", out, "--lang", "en").exit_code == 0
    html = next(out.glob("*.html")).read_text(encoding="utf-8")
    assert "Recipients told of changes" in html and "not yet told" in html and "Esimerkki SMS Oy" in html


def test_sent_notifications_are_kept_for_their_period_and_pending_ones_always(reg: Register) -> None:
    reg.json("update", reg.ids["mail"], "--set", "contact.email=bertta.new@example.fi")
    assert reg.run("notify", "export", "panel-mailer", "--out", reg.dir / "n.json").exit_code == 0
    counts = {day: reg.json("purge", "--as-of", day, key="cron")["records"]["notifications"] for day in ("2029-03-01", "2029-03-02")}
    assert counts == {"2029-03-01": 0, "2029-03-02": 1}  # 36 months after it was sent; the direct-marketing one is pending
