"""The Art. 15 access export: `export access` as versioned JSON and a localised,
escaped HTML report.

The command line runs at a fixed instant (the ``clock`` fixture pins the CLI's clock to NOW, noon
UTC, the same day in Helsinki), so every date it writes is known; services are
called with the same ``now``.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kss_panel import reports
from kss_panel.services import disclosure, lifecycle, rights
from kss_panel.policy import Policies
from support import BROR, ILMA, Register, found

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # noon UTC: the same day in Helsinki
TODAY = "2026-06-15"

TOP_LEVEL_KEYS = {
    "schema", "schema_version", "generated_at", "language", "register", "controller", "member",
    "data", "purposes", "disclosures", "retention", "sources", "rights",
}

# Every free-text value of ILMA and BROR, to find one in the other's export.
ILMA_CANARIES = (
    "71234567", "Ilmatarvika", "Kanervistöläinen", "ilmatar.kanervisto@example.fi", "+358401112345",
    "Kanarialinnuntie 17 B", "45610", "Qwertyvaara", "sammalkeräily", "avantouinti",
)
BROR_CANARIES = (
    "82345678", "Brorgunnar", "Zetterqvistsson", "bror.zetterqvist@example.fi", "+358502223456",
    "Fyrmästargränd 9", "10600", "Ekenässkär", "segelflygning",
)

ERIN: dict[str, Any] = {
    "customer_number": "93456789",
    "contact": {"first_name": "Erinwyn", "last_name": "Oakhollow", "email": "erin.oakhollow@example.fi", "language": "en"},
    "consents": {"email_marketing": False, "sms_marketing": False, "partner_disclosure": False},
}

HOSTILE_HOBBY = "<script>alert(1)</script>"
HOSTILE_STREET = '"><img src=x onerror=alert(1)>'


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    """Ilma (fi, consents to email marketing) and Bror (sv, does not), both applicants."""
    return make_register({"ilma": ILMA, "bror": BROR}, NOW)


def with_disclosure(reg: Register) -> None:
    """Admit both; disclose to direct-marketing for marketing (only Ilma consents)."""
    with reg.session() as session:
        for name, data in (("ilma", ILMA), ("bror", BROR)):
            lifecycle.admit(session, reg.ids[name], [data["customer_number"]], NOW)
        summary = disclosure.disclose(session, "direct-marketing", "marketing", NOW, out=reg.dir / "mailing.csv")
    assert summary["disclosed"] == 1


def html_report(reg: Register, name: str) -> tuple[str, Path]:
    """`export access` of member ``name`` into reg.dir/exports, which must succeed: the HTML report and the directory."""
    out = reg.dir / "exports"
    result = reg.run("export", "access", reg.ids[name], "--out", str(out))
    assert result.exit_code == 0, result.stderr
    [html_file] = out.glob("*.html")
    return html_file.read_text(encoding="utf-8"), out


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the JSON document --------------------------------------------------------------------------------------


def test_json_export_holds_every_value_of_the_member_and_none_of_another(reg: Register) -> None:
    result = reg.run("export", "access", reg.ids["ilma"], "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    envelope = json.loads(result.stdout)  # nothing but the one document on stdout
    assert (envelope["kss_panel"], envelope["command"], envelope["ok"]) == (1, "export access", True)
    export = envelope["data"]
    text = json.dumps(export, ensure_ascii=False)
    assert found(text, ILMA_CANARIES) == list(ILMA_CANARIES)
    assert found(text, BROR_CANARIES) == []
    assert {section["category"]: section["value"] for section in export["data"]} == ILMA
    assert export["member"]["member_id"] == reg.ids["ilma"]
    assert export["member"]["status"] == "applicant"


def test_json_export_schema_is_versioned_and_its_keys_are_pinned(reg: Register) -> None:
    export = reg.json("export", "access", reg.ids["ilma"])
    assert export["schema"] == "kss-panel/access-export"
    assert export["schema_version"] == 1
    assert set(export) == TOP_LEVEL_KEYS
    assert export["generated_at"] == "2026-06-15T12:00:00+00:00"
    assert export["language"] == "fi"
    assert export["register"] == "KSS Energian asiakaspaneelin jäsenrekisteri"
    for section in export["data"]:
        assert set(section) == {"category", "title", "value"}


def test_export_lists_purposes_with_legal_bases(reg: Register, policies: Policies) -> None:
    export = reg.json("export", "access", reg.ids["ilma"])
    purposes = {p["purpose"]: p["legal_basis"] for p in export["purposes"]}
    assert purposes == {name: p.legal_basis for name, p in policies.register.purposes.items()}
    assert purposes["marketing"] == "consent"
    assert purposes["communication"] == "legitimate-interests"
    titles = {p["purpose"]: p["title"] for p in export["purposes"]}
    assert titles["market_research"] == "Markkinatutkimus"  # in the member's language (fi)


def test_export_lists_sources_rights_and_controller_contact(reg: Register) -> None:
    export = reg.json("export", "access", reg.ids["bror"])  # a Swedish-speaking member
    assert export["language"] == "sv"
    assert export["sources"] == ["Sökanden eller medlemmen själv"]
    assert [r["article"] for r in export["rights"]] == ["15", "16", "17", "18", "21", "7(3)", "77"]
    access_right = export["rights"][0]
    assert access_right["title"] == "Rätt till tillgång"
    assert access_right["how"].startswith("Du kan begära en kopia")
    assert export["controller"] == {
        "name": "KSS Energia Oy",
        "address": "Tommolansalmentie 3, 45100 Kouvola, Finland",
        "contact_person": {"role": "Customer panel register officer", "email": "asiakaspaneeli@kssenergia.fi"},
    }


def test_export_states_the_retention_rule_that_applies_and_when_it_fires(reg: Register) -> None:
    export = reg.json("export", "access", reg.ids["ilma"])
    retention = export["retention"]
    assert retention["rule"] == "applicant-not-admitted"
    assert retention["erased_on"] == "2026-09-13"  # applied 2026-06-15 + 90 days
    assert retention["held_by_restriction"] is False
    assert "90 days" in retention["description"]

    with_disclosure(reg)  # admits the member: now the inactivity rule applies
    retention = reg.json("export", "access", reg.ids["ilma"])["retention"]
    assert (retention["rule"], retention["erased_on"]) == ("inactive-member", "2028-06-15")  # admitted + 24 months


def test_export_lists_the_disclosure_log(reg: Register, policies: Policies) -> None:
    with_disclosure(reg)
    export = reg.json("export", "access", reg.ids["ilma"])
    recipient = policies.disclosure.recipients["direct-marketing"]
    assert export["disclosures"] == [
        {
            "recipient": "direct-marketing",
            "recipient_name": recipient.name,
            "country": "FI",
            "purpose": "marketing",
            "fields": list(recipient.fields),
            "date": TODAY,
        }
    ]
    # Bror withheld the consent: nothing was disclosed about him.
    assert reg.json("export", "access", reg.ids["bror"])["disclosures"] == []


def test_export_without_disclosures_says_so_in_the_report(reg: Register) -> None:
    html, _ = html_report(reg, "ilma")
    assert reports.REPORT_TEXT["fi"]["no_disclosures"] in html


# --- lookups ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option, value",
    [
        ("--email", "Ilmatar.Kanervisto@EXAMPLE.fi"),
        ("--phone", "040 111 2345"),
        ("--customer-number", "71234567"),
    ],
)
def test_export_finds_the_member_by_lookup(reg: Register, option: str, value: str) -> None:
    export = reg.json("export", "access", option, value)
    assert export["member"]["member_id"] == reg.ids["ilma"]
    text = json.dumps(export, ensure_ascii=False)
    assert found(text, ILMA_CANARIES) == list(ILMA_CANARIES)
    assert found(text, BROR_CANARIES) == []


def test_export_by_an_unknown_lookup_is_not_found(reg: Register) -> None:
    result = reg.run("export", "access", "--email", "nobody@example.fi")
    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("kss-panel: error: ")


def test_export_of_an_unknown_member_is_not_found(reg: Register) -> None:
    result = reg.run("export", "access", "Mnosuchmember00000")
    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        (),  # no member at all
        ("MEMBER", "--email", "ilmatar.kanervisto@example.fi"),
        ("--email", "ilmatar.kanervisto@example.fi", "--customer-number", "71234567"),
    ],
)
def test_export_needs_exactly_one_way_to_name_the_member(reg: Register, args: tuple[str, ...]) -> None:
    before = len(reg.audit())
    result = reg.run("export", "access", *(reg.ids["ilma"] if a == "MEMBER" else a for a in args))
    assert result.exit_code == 5, result.stderr
    assert result.stdout == ""
    assert len(reg.audit()) == before


# --- audit --------------------------------------------------------------------------------------------------


def test_each_export_appends_one_audit_entry_without_values(reg: Register) -> None:
    before = reg.audit()
    reg.json("export", "access", reg.ids["ilma"])
    after = reg.audit()
    assert len(after) == len(before) + 1
    entry = after[-1]
    assert (entry["action"], entry["member_id"]) == ("export-access", reg.ids["ilma"])
    assert "contact.email" in entry["fields"]
    assert found(json.dumps(after, ensure_ascii=False), ILMA_CANARIES) == []

    reg.json("export", "access", reg.ids["ilma"])
    assert [e["action"] for e in reg.audit()[len(before):]] == ["export-access", "export-access"]


def test_export_by_lookup_audits_the_export(reg: Register) -> None:
    before = len(reg.audit())
    reg.json("export", "access", "--customer-number", "82345678")
    entries = reg.audit()[before:]
    assert entries[-1]["action"] == "export-access"
    assert entries[-1]["member_id"] == reg.ids["bror"]


# --- files written with --out -------------------------------------------------------------------------------


def test_out_writes_json_and_html_files_mode_0600(reg: Register) -> None:
    out = reg.dir / "exports"
    result = reg.run("export", "access", reg.ids["ilma"], "--out", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    files = json.loads(result.stdout)["data"]["files"]
    json_file, html_file = Path(files["json"]), Path(files["html"])
    assert json_file.parent == out and html_file.parent == out
    assert json_file.name == f"access-{reg.ids['ilma']}-20260615T120000Z.json"
    assert html_file.name == f"access-{reg.ids['ilma']}-20260615T120000Z.html"
    assert sorted(out.iterdir()) == sorted([json_file, html_file])
    assert mode(json_file) == 0o600
    assert mode(html_file) == 0o600
    assert mode(out) & 0o077 == 0  # the directory it made is the officer's only
    export = json.loads(json_file.read_text(encoding="utf-8"))
    assert export["schema"] == "kss-panel/access-export" and export["schema_version"] == 1
    assert set(export) == TOP_LEVEL_KEYS
    assert found(json.dumps(export, ensure_ascii=False), ILMA_CANARIES) == list(ILMA_CANARIES)
    html = html_file.read_text(encoding="utf-8")
    assert found(html, ILMA_CANARIES) == list(ILMA_CANARIES)
    assert found(html, BROR_CANARIES) == []


def test_out_human_output_prints_the_paths_only(reg: Register) -> None:
    out = reg.dir / "exports"
    result = reg.run("export", "access", reg.ids["ilma"], "--out", str(out))
    assert result.exit_code == 0, result.stderr
    printed = [Path(line) for line in result.stdout.splitlines()]
    assert sorted(printed) == sorted(out.iterdir())
    assert found(result.stdout, ILMA_CANARIES) == []


def test_out_into_an_existing_directory_keeps_other_files(reg: Register) -> None:
    out = reg.dir / "exports"
    out.mkdir()
    (out / "other.txt").write_text("x")
    assert reg.run("export", "access", reg.ids["bror"], "--out", str(out)).exit_code == 0
    assert len(list(out.glob("access-*"))) == 2
    assert (out / "other.txt").read_text() == "x"


# --- the HTML report ----------------------------------------------------------------------------------------


def test_html_escapes_markup_in_every_field(make_register: Callable[..., Register]) -> None:
    hostile = {
        **ERIN,
        "contact": {**ERIN["contact"], "street_address": HOSTILE_STREET, "city": "<b>Town</b>"},
        "hobbies": [HOSTILE_HOBBY, "fishing"],
    }
    html, out = html_report(make_register({"erin": hostile}, NOW), "erin")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b&gt;Town&lt;/b&gt;" in html
    assert HOSTILE_HOBBY not in html
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert '"><img' not in html
    assert "<b>" not in html
    # The JSON document keeps the values exactly as stored.
    [json_file] = out.glob("*.json")
    export = json.loads(json_file.read_text(encoding="utf-8"))
    values = {section["category"]: section["value"] for section in export["data"]}
    assert values["hobbies"] == [HOSTILE_HOBBY, "fishing"]
    assert values["contact"]["street_address"] == HOSTILE_STREET


def test_access_html_escapes_when_rendered_directly(reg: Register, policies: Policies) -> None:
    with reg.session() as session:
        export = rights.access_export(session, reg.ids["ilma"], NOW)["document"]
    export["data"].append({"category": "hobbies", "title": "<i>t</i>", "value": [HOSTILE_HOBBY]})
    export["sources"] = [HOSTILE_STREET]
    html = reports.access_html(export, policies)
    assert "<script" not in html.lower() and "<img" not in html.lower() and "<i>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_report_is_in_the_members_language(make_register: Callable[..., Register], policies: Policies, language: str) -> None:
    data = {**ERIN, "contact": {**ERIN["contact"], "language": language}}
    html, out = html_report(make_register({"erin": data}, NOW), "erin")
    words = reports.REPORT_TEXT[language]
    assert f'<html lang="{language}">' in html
    for key in ("title", "data", "rights", "sources", "no_disclosures", "erased_on"):
        assert words[key] in html, key
    for other in {"fi", "sv", "en"} - {language}:
        assert reports.REPORT_TEXT[other]["title"] not in html
        assert reports.REPORT_TEXT[other]["rights"] not in html
    register_name = policies.register.register_info.name.get(language)
    assert register_name in html
    [json_file] = out.glob("*.json")
    assert json.loads(json_file.read_text(encoding="utf-8"))["language"] == language


def test_report_shows_disclosures_and_retention(reg: Register, policies: Policies) -> None:
    with_disclosure(reg)
    html, _ = html_report(reg, "ilma")
    assert policies.disclosure.recipients["direct-marketing"].name in html
    assert "2028-06-15" in html  # the day the inactivity rule fires
    assert reports.REPORT_TEXT["fi"]["no_disclosures"] not in html
    assert "asiakaspaneeli@kssenergia.fi" in html


def test_out_that_cannot_be_written_changes_nothing(reg: Register) -> None:
    """A failed export must not be recorded as made, nor close the request as fulfilled."""
    request = reg.open_request("access", "ilma")["id"]
    not_a_directory = reg.dir / "report.html"
    not_a_directory.write_text("an earlier file")
    before = reg.audit()
    result = reg.run("export", "access", reg.ids["ilma"], "--out", str(not_a_directory), "--request", str(request))
    assert result.exit_code == 5, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert not_a_directory.read_text() == "an earlier file"
    [listed] = reg.requests()
    assert (listed["status"], listed["outcome"]) == ("open", None)
    assert reg.audit() == before
