"""The Art. 15 access export: `export access` as versioned JSON and a localised,
escaped HTML report.

The command line runs at a fixed instant (the ``clock`` fixture pins the CLI's clock to NOW, noon
UTC, the same day in Helsinki), so every date it writes is known; services are
called with the same ``now``.
"""

from __future__ import annotations

import html as html_module
import json
import re
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kss_panel import access_report, reports
from kss_panel.model import RESTRICTION_GROUNDS, STATUSES
from kss_panel.policy import LANGUAGES, LEGAL_BASES, field_specs
from kss_panel.record import flatten
from kss_panel.services import access, disclosure, lifecycle
from kss_panel.policy import Policies
from support import BROR, ILMA, Register, consents, found

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # noon UTC: the same day in Helsinki
TODAY = "2026-06-15"

TOP_LEVEL_KEYS = {
    "schema", "schema_version", "generated_at", "language", "register", "controller", "member", "objections",
    "data", "purposes", "disclosures", "retention", "sources", "rights",
    # added in the same schema version 1: nothing above changed, so a reader of the first version reads these too
    "rejection", "recipients", "transfers", "automated_decisions", "surveys",
    "consent_history", "outdated_consents", "consent_wordings", "recipients_notified",
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
    "consents": consents(),
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
    """`export access` of member ``name`` into a new directory beside the register, which must succeed: the HTML report and the directory."""
    out = reg.path("", "exports")
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
    assert export["register"] == "KSS Energian Asiakaspaneelin jäsenrekisteri"
    for section in export["data"]:
        assert set(section) == {"category", "title", "value"}


def test_export_lists_purposes_with_legal_bases(reg: Register, policies: Policies) -> None:
    export = reg.json("export", "access", reg.ids["ilma"])
    purposes = {p["purpose"]: p["legal_basis"] for p in export["purposes"]}
    assert purposes == {name: p.legal_basis for name, p in policies.register.purposes.items()}
    assert purposes["marketing"] == "consent"
    assert purposes["communication"] == "legitimate-interests"
    titles = {p["purpose"]: p["title"] for p in export["purposes"]}
    assert titles["market_research"] == "Markkinatutkimukset"  # in the member's language (fi)
    interests = {p["purpose"]: p["legitimate_interest"] for p in export["purposes"]}
    assert interests["marketing"] is None and interests["communication"].startswith("KSS Energian oikeutettu etu")


def test_export_lists_sources_rights_and_controller_contact(reg: Register) -> None:
    export = reg.json("export", "access", reg.ids["bror"])  # a Swedish-speaking member
    assert export["language"] == "sv"
    assert export["sources"] == [
        "Alla uppgifter samlas in av den som ansöker om medlemskap i KSS Energias kundpanel eller senare av medlemmen själv.",
        "Medlemmen förvaltar själv sina kontaktuppgifter via gemenskapens webbplats.",
        "Att medlemsvillkoren uppfylls (kundförhållande hos KSS Energia) kontrolleras utifrån kundnumret i KSS Energias kunduppgifter.",
    ]
    assert [r["article"] for r in export["rights"]] == ["15", "16", "17", "18", "20", "21(1)", "21(2)", "7(3)", "77"]
    access_right = export["rights"][0]
    assert access_right["title"] == "Rätt till tillgång"
    assert access_right["how"].startswith("Du har rätt att ta del av")
    assert export["controller"] == {
        "name": "KSS Energia Oy",
        "address": "Hovioikeudenkatu 3, 45100 Kouvola",
        "contact_person": {"name": "Essi Peltola", "role": "Kontaktperson i registerärenden", "email": "essi.peltola@kssenergia.fi"},
    }


def test_export_states_the_retention_rule_that_applies_and_when_it_fires(reg: Register) -> None:
    export = reg.json("export", "access", reg.ids["ilma"])
    retention = export["retention"]
    assert retention["rule"] == "applicant-not-admitted"
    assert retention["erased_on"] == "2026-09-13"  # applied 2026-06-15 + 90 days
    assert retention["held_by_restriction"] is False
    assert retention["description"] == "Hakija, jota ei ole hyväksytty jäseneksi 90 päivän kuluessa hakemuksesta, poistetaan."

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
    assert access_report.ACCESS_TEXT["fi"]["no_disclosures"] in html


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
        export = access.access_export(session, reg.ids["ilma"], NOW)["document"]
    export["data"].append({"category": "hobbies", "title": "<i>t</i>", "value": [HOSTILE_HOBBY]})
    export["sources"] = [HOSTILE_STREET]
    html = reports.html(access_report.report(export, policies))
    assert "<script" not in html.lower() and "<img" not in html.lower() and "<i>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_report_is_in_the_members_language(make_register: Callable[..., Register], policies: Policies, language: str) -> None:
    data = {**ERIN, "contact": {**ERIN["contact"], "language": language}}
    html, out = html_report(make_register({"erin": data}, NOW), "erin")
    words = access_report.ACCESS_TEXT[language]
    assert f'<html lang="{language}">' in html
    for key in ("title", "data", "rights", "sources", "no_disclosures", "erased_on"):
        assert words[key] in html, key
    for other in {"fi", "sv", "en"} - {language}:
        assert access_report.ACCESS_TEXT[other]["title"] not in html
        assert access_report.ACCESS_TEXT[other]["rights"] not in html
    register_name = policies.register.register_info.name.get(language)
    assert register_name.replace("'", "&#39;") in html  # autoescaped
    [json_file] = out.glob("*.json")
    assert json.loads(json_file.read_text(encoding="utf-8"))["language"] == language


def test_report_shows_disclosures_and_retention(reg: Register, policies: Policies) -> None:
    with_disclosure(reg)
    html, _ = html_report(reg, "ilma")
    assert policies.disclosure.recipients["direct-marketing"].name in html
    assert "Tietosi poistetaan viimeistään 15.6.2028." in html  # the day the inactivity rule fires
    assert access_report.ACCESS_TEXT["fi"]["no_disclosures"] not in html
    assert "Essi Peltola, essi.peltola@kssenergia.fi" in html


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


# --- Art. 15(1)(c), 15(2), the rejection, --lang, words not codes ------------------------------------------------


def recipients(export: dict[str, Any]) -> dict[str, list[tuple[str, str | None]]]:
    """Recipient -> [(purpose, consent needed)] of an access document; a hosting recipient has no purposes."""
    return {r["recipient"]: [(p["purpose"], p["consent"]) for p in r["purposes"]] for r in export["recipients"]}


def test_recipients_follow_the_status_and_the_consents(reg: Register) -> None:
    # Applicants: their data sits on the hosting subcontractor's server, and nothing is disclosed.
    export = reg.json("export", "access", reg.ids["ilma"])
    assert recipients(export) == {"hosting": []}
    [hosting] = export["recipients"]
    assert hosting["fields"] == sorted(flatten(ILMA))  # every field Ilma has
    assert (hosting["access"], hosting["role"], hosting["country"], hosting["in_eu_eea"]) == ("hosting", "processor", "FI", True)

    with_disclosure(reg)  # both admitted
    assert recipients(reg.json("export", "access", reg.ids["ilma"])) == {
        "panel-mailer": [("communication", None), ("market_research", None)],
        "direct-marketing": [("marketing", "email_marketing"), ("competitions", "marketing_competitions")],
        "hosting": [],
        "partners": [("marketing", "partner_marketing")],  # her one consent to partners, and nothing of the group
    }
    bror = reg.json("export", "access", reg.ids["bror"])
    assert recipients(bror) == {
        "panel-mailer": [("communication", None), ("market_research", None)], "sms-gateway": [("marketing", "sms_marketing")], "hosting": [],
    }
    assert bror["transfers"] == {
        "statement": "Personuppgifter lämnas inte regelbundet ut utanför Europeiska unionen eller Europeiska ekonomiska samarbetsområdet.",
        "outside_eu_eea": [],
    }
    assert all(r["held_by_restriction"] is False for r in bror["recipients"])


def test_a_restriction_holds_every_disclosure_and_an_objection_ends_them(reg: Register) -> None:
    with_disclosure(reg)
    assert reg.run("restrict", reg.ids["ilma"], "--reason", "legal-claims").exit_code == 0
    export = reg.json("export", "access", reg.ids["ilma"])
    assert {r["recipient"]: r["held_by_restriction"] for r in export["recipients"]} == {
        "panel-mailer": True, "direct-marketing": True, "hosting": False, "partners": True,
    }
    html, _ = html_report(reg, "ilma")
    assert access_report.ACCESS_TEXT["fi"]["held_recipients"] in html
    assert "Käsittelyä rajoitettu" in html and "tietoja tarvitaan oikeudellisen vaateen vuoksi" in html

    # An objection to direct marketing (Art. 21(2)) ends the marketing disclosures only; one to processing
    # on legitimate interests (21(1)) ends panel communication and market research too.
    assert reg.run("consent", reg.ids["bror"], "--object").exit_code == 0
    assert recipients(reg.json("export", "access", reg.ids["bror"])) == {
        "hosting": [], "panel-mailer": [("communication", None), ("market_research", None)],
    }
    assert reg.run("consent", reg.ids["bror"], "--object-processing").exit_code == 0
    assert recipients(reg.json("export", "access", reg.ids["bror"])) == {"hosting": []}
    html, _ = html_report(reg, "bror")
    assert "Eftersom du har invänt mot direktmarknadsföring lämnas dina uppgifter inte ut." in html


def test_a_transfer_outside_the_eea_is_stated_with_its_safeguard(reg: Register) -> None:
    reg.custom_policies("""
  survey-cloud:
    name: Example Survey Cloud Inc.
    category: {fi: Kyselypalvelu, sv: Enkättjänst, en: Survey service}
    role: processor
    country: US
    safeguard: standard-contractual-clauses
    purposes:
      market_research: {consent: none}
    fields:
      - contact.first_name
      - contact.email
""")
    with_disclosure(reg)
    export = reg.json("export", "access", reg.ids["ilma"])
    assert export["transfers"]["outside_eu_eea"] == [{"recipient": "survey-cloud", "country": "US", "safeguard": "standard-contractual-clauses"}]
    html, _ = html_report(reg, "ilma")
    assert "Example Survey Cloud Inc. (Kyselypalvelu): Yhdysvallat (suojatoimi: komission vakiosopimuslausekkeet)" in html


def test_a_rejected_applicant_is_told_the_reason(reg: Register) -> None:
    assert reg.run("reject", reg.ids["bror"], "--reason", "outside-target-group").exit_code == 0
    assert reg.member(reg.ids["bror"])["rejection_reason"] == "outside-target-group"
    export = reg.json("export", "access", reg.ids["bror"])
    assert export["member"]["rejection_reason"] == "outside-target-group"
    assert export["rejection"] == {"reason": "outside-target-group", "text": "Sökanden hör inte till panelens målgrupp."}
    assert reg.json("export", "access", reg.ids["ilma"])["rejection"] is None
    html, _ = html_report(reg, "bror")
    assert "<dt>Skäl till avslag</dt><dd>Sökanden hör inte till panelens målgrupp.</dd>" in html


def test_the_answer_states_automated_decisions_and_portability(reg: Register, policies: Policies) -> None:
    export = reg.json("export", "access", reg.ids["ilma"])
    assert export["automated_decisions"] == policies.register.register_info.automated_decisions.fi
    assert [r["title"] for r in export["rights"] if r["article"] == "20"] == ["Oikeus siirtää tiedot järjestelmästä toiseen"]


def test_lang_overrides_the_members_language(reg: Register) -> None:
    export = reg.json("export", "access", reg.ids["ilma"], "--lang", "sv")  # Ilma's own language is Finnish
    assert export["language"] == "sv"
    assert export["register"] == "KSS Energias kundpanels medlemsregister"
    assert {section["category"]: section["value"] for section in export["data"]}["contact"]["language"] == "fi"
    out = reg.dir / "exports"
    assert reg.run("export", "access", reg.ids["ilma"], "--lang", "en", "--out", str(out)).exit_code == 0
    [html_file] = out.glob("*.html")
    page = html_file.read_text(encoding="utf-8")
    assert '<html lang="en">' in page and access_report.ACCESS_TEXT["en"]["title"] in page
    assert "<dt>Language</dt><dd>Finnish</dd>" in page


def test_an_unknown_lang_is_invalid_input_and_nothing_is_audited(reg: Register) -> None:
    before = reg.audit()
    result = reg.run("export", "access", reg.ids["ilma"], "--lang", "de")
    assert result.exit_code == 5, result.stderr
    assert result.stderr.splitlines() == ["kss-panel: error: invalid language", "  --lang: must be one of fi, sv, en"]
    assert result.stdout == "" and reg.audit() == before


def visible(page: str) -> str:
    """The text a reader of an HTML page sees: no style sheet, no tags, entities resolved."""
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return html_module.unescape(re.sub(r"<[^>]+>", " ", page))


def policy_codes(policies: Policies) -> set[str]:
    """Every key and code of the policies and the tool that a report could show instead of its words.

    Two-letter language codes are left out ("en" is a Swedish word, "fi" ends every .fi address);
    the language is checked as a word instead.
    """
    register, recipients = policies.register, policies.disclosure.recipients
    codes = {*register.purposes, *register.consents, *register.categories, *register.rejection_reasons}
    for path, spec in field_specs(register).items():
        codes |= {path, *path.split("."), *(spec.values or {})}
    codes |= {*recipients, *(r.role for r in recipients.values()), *(r.country for r in recipients.values())}
    codes |= {rule.name for rule in policies.retention.rules} | {rule.clock for rule in policies.retention.rules}
    codes |= {*STATUSES, *RESTRICTION_GROUNDS, *LEGAL_BASES, "hosting", "export", "standard-contractual-clauses"}
    return codes - set(LANGUAGES)


@pytest.mark.parametrize("name", ["ilma", "bror"])  # a Finnish and a Swedish member
def test_no_policy_key_or_raw_code_appears_in_a_finnish_or_swedish_report(reg: Register, policies: Policies, name: str) -> None:
    with_disclosure(reg)  # admitted, and Ilma's data disclosed for marketing
    assert reg.run("restrict", reg.ids["ilma"], "--reason", "legal-claims").exit_code == 0
    assert reg.run("consent", reg.ids["bror"], "--object").exit_code == 0
    page, _ = html_report(reg, name)
    text = visible(page)
    tokens = set(re.findall(r"[\w-]+", text))
    assert tokens & policy_codes(policies) == set()
    assert not re.search(r"\b20[0-9]{2}-[0-9]{2}-[0-9]{2}\b", text)  # no ISO date: days as the language writes them
    language = {"ilma": "suomi", "bror": "svenska"}[name]
    assert f"<dd>{language}</dd>" in page
    assert "15.6.2026 klo 15.00" in text if name == "ilma" else "15.6.2026 kl. 15.00" in text  # noon UTC is 15.00 in Finland
    assert len(tokens) > 300  # the report is not empty of words either


def test_an_applicant_flagged_by_an_earlier_objection_is_told_of_the_flag(reg: Register) -> None:
    assert reg.run("consent", reg.ids["bror"], "--object").exit_code == 0
    assert reg.run("erase", reg.ids["bror"], "--reason", "request", "--suppress").exit_code == 0
    reg.ids["bror again"] = reg.enrol(BROR)
    assert reg.json("export", "access", reg.ids["bror again"])["member"]["suppression_match"] == 1
    html, _ = html_report(reg, "bror again")
    assert ("<dt>Anteckning</dt><dd>Din ansökan är märkt eftersom din e-postadress eller ditt telefonnummer motsvarar"
            " en tidigare invändning mot direktmarknadsföring.</dd>") in html
    assert "Anteckning" not in html_report(reg, "ilma")[0] and "Merkintä" not in html_report(reg, "ilma")[0]
