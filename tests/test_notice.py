"""kss-panel notice: the privacy notice and the Art. 30 record, from the policies alone.

No register and no credentials; the same policies give the same bytes; the
Finnish notice states every sentence of the published register description
(tests/fixtures/rekisteriseloste-kss-energia.txt, a copy of the description
as the project was given it).
"""

from __future__ import annotations

import html as html_module
import json
import re
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import Result

from kss_panel.policy_files import load_policies
from support import POLICIES_DIR, invoke

DESCRIPTION = Path(__file__).parent / "fixtures" / "rekisteriseloste-kss-energia.txt"
HASH = load_policies(POLICIES_DIR).hash
LANGUAGES = ("fi", "sv", "en")
TITLES = {"fi": "Tietosuojaseloste", "sv": "Dataskyddsbeskrivning", "en": "Privacy notice"}
RECORD_TITLES = {"fi": "Seloste käsittelytoimista", "sv": "Register över behandling", "en": "Record of processing activities"}

# Sentences of the description the notice states in other words, and the words it must hold for each:
# the repealed acts it cites are named as the acts in force, its rights of §8 are stated one right at a
# time, its categories of §5 are the category titles, and one slip of grammar ("joista") is mended.
RESTATED = {
    "Henkilötietoja käytetään henkilötietolain sallimissa ja velvoittamissa rajoissa KSS Energian Asiakaspaneelin jäsenrekisterissä.": [
        "Henkilötietoja käytetään tietosuojalainsäädännön", "sallimissa ja velvoittamissa rajoissa KSS Energian Asiakaspaneelin jäsenrekisterissä.",
    ],
    "• Oman talouden sähkönkulutukseen liittyviä tietoja": ["Oman talouden sähkönkulutukseen liittyvät tiedot"],
    "• Asenteita ja kulutuskäyttäytymistä kuvaavia tietoja": ["Asenteita ja kulutuskäyttäytymistä kuvaavat tiedot"],
    "Rekisterinpitäjä voi luovuttaa tietoja sähköisen viestinnän tietosuojalain nojalla toiselle yritykselle, joka toimii KSS Energian"
    " toimeksiannosta viestintää tai suoramarkkinointia varten.": [
        "Rekisterinpitäjä voi luovuttaa tietoja sähköisen viestinnän sääntelyn",
        "toiselle yritykselle, joka toimii KSS Energian toimeksiannosta viestintää tai suoramarkkinointia varten.",
    ],
    "Tietojen käsittelyn teknisen toteuttamisen johdosta osa tiedoista saattaa fyysisesti sijaita ulkopuolisen alihankkijan palvelimella,"
    " joista niitä käsitellään teknisen käyttöyhteyden avulla.": [
        "Tietojen käsittelyn teknisen toteuttamisen johdosta osa tiedoista saattaa fyysisesti sijaita ulkopuolisen alihankkijan palvelimella,"
        " josta niitä käsitellään teknisen käyttöyhteyden avulla.",
    ],
    "KSS Energian Asiakaspaneelin jäseneksi hakevalla ja jäsenellä on oikeus tarkastaa häntä koskevat rekisteriin tallennetut tiedot,"
    " tehdä niihin muutoksia tai poistaa ne.": [
        "Sinulla on oikeus tarkastaa sinua koskevat rekisteriin tallennetut tiedot.", "Sinulla on oikeus tehdä muutoksia tietoihisi.",
        "Sinulla on oikeus poistaa tietosi.",
    ],
    "Tarkastus- tai poistopyynnön tekee jäsen itse.": ["Teet tarkastuspyynnön itse", "Teet poistopyynnön itse"],
}


def run(*args: str | Path, policies: Path = POLICIES_DIR, db: Path | None = None) -> Result:
    return invoke(*(["--db", db] if db else []), "--policies", policies, "notice", *args)


def text(result: Result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    return result.stdout


def normal(value: str) -> str:
    """Compare as a reader would: the address written with (at), spacing and case aside."""
    return " ".join(value.replace("(at)", "@").split()).casefold()


def description_sentences() -> list[str]:
    """Every heading, line and sentence of the published description."""
    lines = [line.strip() for line in DESCRIPTION.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [sentence for line in lines for sentence in re.split(r"(?<=\D[.])\s+(?=[A-ZÄÖ])", line)]


def visible(page: str) -> str:
    """The text of an HTML page a reader sees: no style, no tags, entities resolved."""
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return html_module.unescape(re.sub(r"<[^>]+>", " ", page))


def policy_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(POLICIES_DIR, tmp_path / "policies"))


# --- what the notice says ---------------------------------------------------------------------------------


@pytest.mark.parametrize("format_", ["md", "html"])
def test_the_finnish_notice_states_every_sentence_of_the_published_description(format_: str) -> None:
    document = text(run("--format", format_))
    said = normal(visible(document) if format_ == "html" else document.replace("\\", ""))
    sentences = description_sentences()
    assert len(sentences) > 30 and set(RESTATED) <= set(sentences)
    missing = []
    for sentence in sentences:
        for fact in RESTATED.get(sentence, [sentence.removeprefix("• ")]):
            if normal(fact) not in said:
                missing.append(fact)
    assert missing == []


def test_the_notice_adds_what_article_13_requires() -> None:
    document = text(run("--lang", "fi"))
    for required in (
        "## 4. Henkilötietojen käsittelyn tarkoitus ja oikeusperuste",
        "| Markkinointi | KSS Energian suoramarkkinointi asiakaspaneelin jäsenille. | suostumus (tietosuoja-asetuksen 6 artiklan 1 kohdan a alakohta) |",
        "Oikeutettu etu: KSS Energian oikeutettu etu pitää yhteyttä",  # Art. 13(1)(d)
        "## 10. Tietojen säilytysaika",  # Art. 13(2)(a)
        "- Hakija, jota ei ole hyväksytty jäseneksi 90 päivän kuluessa hakemuksesta, poistetaan.",
        "poistetaan 36 kuukauden kuluttua pyynnön sulkemisesta",
        "Tapahtumalokin merkinnät",
        "**Oikeus siirtää tiedot järjestelmästä toiseen (20 artikla):**",  # Art. 13(2)(b)
        "**Suostumuksen peruuttaminen (7(3) artikla):**",  # Art. 13(2)(c)
        "tietosuojavaltuutetun toimistolle (tietosuoja.fi)",  # Art. 13(2)(d)
        "## 11. Tietojen antaminen",  # Art. 13(2)(e)
        "Pakolliset tiedot: Asiakasnumero, Etunimi, Sukunimi, Sähköposti, Asiointikieli.",
        "## 12. Automaattinen päätöksenteko ja profilointi",  # Art. 13(2)(f)
        "Rekisterissä ei käsitellä erityisiä henkilötietoryhmiä",
        "Pyyntöösi vastataan viimeistään kuukauden kuluessa",
    ):
        assert required in document, required


def test_every_recipient_and_consent_is_named_with_what_it_needs() -> None:
    document = text(run("--lang", "en"))
    policies = load_policies(POLICIES_DIR)
    for key, recipient in policies.disclosure.recipients.items():
        assert recipient.category.en in document, key
    for consent in policies.register.consents.values():
        assert f"consent: {consent.title.en}" in document, consent.title.en  # the recipient that needs it says which
    assert "Marketing (consent: Marketing by KSS Energia by email); Marketing competitions (consent: Taking part in KSS Energia's marketing competitions)" in document
    assert (  # the hosting subcontractor
        "### Esimerkki Palvelintilat Oy [EXAMPLE]\n\n"
        "- **Task:** Server subcontractor on whose server the data sits and is processed over a technical connection\n"
        "- **Role:** processor\n"
        "- **Purposes:** storing the data for every purpose\n"
        "- **Data:** all data of the register\n"
        "- **Country:** Finland\n"
    ) in document.replace("\\[", "[").replace("\\]", "]")
    assert "| Disclosure to partners for their marketing | Marketing | KSS Energia's partners, as controllers in their own right" in document
    assert "| Marketing by KSS Energia by email | Marketing | KSS Energia Oy |" in document
    assert "Personal data is not regularly disclosed outside the European Union or the European Economic Area." in document


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_notice_and_the_record_are_in_the_language_asked_for(language: str) -> None:
    for args, titles in ((("--lang", language), TITLES), (("--lang", language, "--record"), RECORD_TITLES)):
        document = text(run(*args))
        assert document.startswith(f"# {titles[language]}\n")
        for other in set(LANGUAGES) - {language}:
            assert TITLES[other] not in document and RECORD_TITLES[other] not in document
        page = text(run(*args, "--format", "html"))
        assert f'<html lang="{language}">' in page
        assert f"<h1>{titles[language]}</h1>" in page


def test_the_record_has_points_a_to_g() -> None:
    document = text(run("--record", "--lang", "en"))
    headings = re.findall(r"^## (.*)$", document, flags=re.M)
    assert headings == [
        "(a) Controller and contact person",
        "(b) Purposes of the processing", "(c) Categories of data subjects and of personal data", "(d) Categories of recipients",
        "(e) Transfers to third countries", "(f) Time limits for erasure", "(g) Technical and organisational security measures",
    ]
    for required in (
        "- **Controller:** KSS Energia Oy, Hovioikeudenkatu 3, 45100 Kouvola",
        "- **Contact person for register matters:** Essi Peltola, essi.peltola@kssenergia.fi",
        "- People applying for membership of KSS Energia's customer panel",
        "| Applicant | 90 days | An applicant not admitted within 90 days of applying is erased. |",
        "| Member | 24 months |",
        "| Disclosure log | 24 months |",
        "| Audit trail | 60 months |",
        "No recipient is located outside the EU or the EEA.",
        "- Each member's data is encrypted (AES-256-GCM) under a key of its own",
        "- The passwords needed to use the register are given only to specifically named persons.",
    ):
        assert required in document, required


# --- the same policies, the same bytes ---------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("args", [(), ("--record",)])
def test_the_output_is_deterministic_and_carries_the_policy_hash(tmp_path: Path, language: str, args: tuple[str, ...]) -> None:
    for format_ in ("md", "html"):
        first = text(run(*args, "--lang", language, "--format", format_))
        assert text(run(*args, "--lang", language, "--format", format_)) == first
        out = tmp_path / f"{language}-{format_}-{len(args)}"
        result = run(*args, "--lang", language, "--format", format_, "--out", out)
        assert result.exit_code == 0, result.stderr
        assert out.read_text(encoding="utf-8") == first
        assert HASH in first


def test_a_changed_policy_changes_the_document_and_its_hash(tmp_path: Path) -> None:
    directory = policy_copy(tmp_path)
    path = directory / "retention.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("period: {months: 36}\n    description:\n      fi: Tiedot rekisteröityjen",
                                                             "period: {months: 24}\n    description:\n      fi: Tiedot rekisteröityjen"),
                    encoding="utf-8")
    changed = load_policies(directory).hash
    assert changed != HASH
    document = text(run("--record", policies=directory))
    assert changed in document and HASH not in document
    assert "| Rekisteröityjen pyynnöt (suljetut) | 24 kuukautta |" in document


# --- files, errors, no register --------------------------------------------------------------------------------


def test_out_writes_a_new_0600_file_and_needs_no_register(tmp_path: Path) -> None:
    db = tmp_path / "absent.db"
    out = tmp_path / "tietosuojaseloste.html"
    result = run("--format", "html", "--out", out, db=db)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"wrote the notice (fi, html) to {out}\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not db.exists()  # the register is neither needed nor made
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "notice.md"
    out.write_text("the officer's own notice\n")
    result = run("--out", out)
    assert result.exit_code == 5, (result.stdout, result.stderr)
    assert result.stderr.splitlines()[0] == f"kss-panel: error: {out} already exists: refusing to overwrite it"
    assert "  --out: file exists" in result.stderr
    assert out.read_text() == "the officer's own notice\n"


@pytest.mark.parametrize(("args", "problem"), [
    (("--lang", "de"), "  --lang: must be one of fi, sv, en"),
    (("--format", "pdf"), "  --format: must be one of md, html"),
])
def test_an_unknown_language_or_format_is_invalid_input(tmp_path: Path, args: tuple[str, ...], problem: str) -> None:
    out = tmp_path / "notice.out"
    result = run(*args, "--out", out)
    assert result.exit_code == 5, (result.stdout, result.stderr)
    assert problem in result.stderr.splitlines()
    assert result.stdout == "" and "Traceback" not in result.output
    assert not out.exists()


def test_a_broken_policy_is_refused_with_file_and_line(tmp_path: Path) -> None:
    directory = policy_copy(tmp_path)
    path = directory / "register.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("legal_basis: contract", "legal_basis: whim"), encoding="utf-8")
    result = run(policies=directory)
    assert result.exit_code == 6
    assert result.stdout == ""
    assert re.search(rf"^  {re.escape(str(path))}:\d+: purposes\.membership\.legal_basis: ", result.stderr, flags=re.M), result.stderr


# --- examples, escaping, self-containment -------------------------------------------------------------------------


def test_example_recipients_are_marked_and_warned_about(tmp_path: Path) -> None:
    result = run("--lang", "en")
    assert "[EXAMPLE]" in result.stdout.replace("\\", "")
    assert "Recipients marked as examples must be replaced" in result.stdout
    assert result.stderr.splitlines() == [
        "kss-panel: warning: the policies name example recipients (panel-mailer, direct-marketing, sms-gateway, hosting, group-companies, partners)",
        "kss-panel: hint: replace them with the parties of signed processor agreements and named companies before publishing",
    ]
    directory = policy_copy(tmp_path)
    path = directory / "disclosure.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("    example: true\n", ""), encoding="utf-8")
    result = run("--lang", "en", policies=directory)
    assert result.exit_code == 0 and result.stderr == ""
    assert "EXAMPLE" not in result.stdout and "marked as examples" not in result.stdout


def test_json_carries_the_document_and_nothing_on_stderr() -> None:
    result = run("--lang", "sv", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    document = json.loads(result.stdout)
    assert (document["command"], document["ok"]) == ("notice", True)
    data = document["data"]
    assert {k: data[k] for k in ("document", "language", "format", "hash", "file")} == {
        "document": "notice", "language": "sv", "format": "md", "hash": HASH, "file": None,
    }
    assert data["text"] == text(run("--lang", "sv"))
    assert data["examples"] == ["panel-mailer", "direct-marketing", "sms-gateway", "hosting", "group-companies", "partners"]


def test_policy_text_is_escaped_in_both_formats(tmp_path: Path) -> None:
    directory = policy_copy(tmp_path)
    path = directory / "register.yaml"
    hostile = "<script>alert(1)</script> *bold* [link](http://evil.example) | cell"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "    en: Member register of KSS Energia's customer panel", f"    en: \"{hostile}\""), encoding="utf-8")
    page = text(run("--lang", "en", "--format", "html", policies=directory))
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    markdown = text(run("--lang", "en", policies=directory))
    assert "\\<script\\>alert(1)\\</script\\> \\*bold\\* \\[link\\](http://evil.example) \\| cell" in markdown
    assert "<script>" not in markdown


@pytest.mark.parametrize("args", [(), ("--record",)])
def test_the_html_page_is_self_contained(args: tuple[str, ...]) -> None:
    page = text(run(*args, "--format", "html"))
    assert "Content-Security-Policy\" content=\"default-src 'none'" in page
    for outside in ("<script", "<link", "<img", "src=", "href=", "@import", "url("):
        assert outside not in page, outside
