"""What the Art. 15 answer adds for accountability: the member's consent history (Art. 7(1)) and the recipients
told of a rectification or restriction (Art. 19), in the JSON document and, in words, in the printable report.

Pure: built from the policies, the member's consent history (``receipts.history``), the wordings their
receipts name, and their notifications. Kept apart from ``access_document`` and ``access_report`` so each
part of the answer stays one screen.
"""

from __future__ import annotations

from typing import Any

from . import labels
from .documents import Block, Section, dl, h3, note, p, section, table
from .labels import Vocabulary, Words
from .policy import Policies

TEXT: dict[str, dict[str, str]] = {
    "fi": {
        "consents": "Suostumushistoriasi", "consents_intro": "Jokainen antamasi tai peruuttamasi suostumus ja tekemäsi kielto: milloin, miten ja minkä sanamuodon mukaan.",
        "none": "Suostumuksistasi ei ole kirjauksia.", "when": "Aika", "what": "Suostumus tai kielto", "change": "Muutos", "how": "Miten",
        "outdated": "Suostumuksen sanamuoto on muuttunut antamisesi jälkeen: {names}. Voimme pyytää suostumustasi uudelleen.",
        "wordings": "Sanamuodot, joihin suostuit", "version": "versio {v}", "notified": "Vastaanottajille ilmoitetut muutokset",
        "notified_intro": "Kun tietojasi oikaistaan tai niiden käsittelyä rajoitetaan, ilmoitamme siitä vastaanottajille, joille tietojasi on luovutettu (tietosuoja-asetuksen 19 artikla).",
        "notified_none": "Kenellekään vastaanottajalle ei ole tarvinnut ilmoittaa muutoksista.", "recipient": "Vastaanottaja",
        "recorded": "Kirjattu", "sent": "Ilmoitettu", "not_sent": "ei vielä ilmoitettu", "fields": "Tiedot",
    },
    "sv": {
        "consents": "Din samtyckeshistorik", "consents_intro": "Varje samtycke du har gett eller återkallat och varje invändning du har gjort: när, hur och enligt vilken formulering.",
        "none": "Det finns inga registreringar om dina samtycken.", "when": "Tid", "what": "Samtycke eller invändning", "change": "Ändring", "how": "Hur",
        "outdated": "Formuleringen av samtycket har ändrats efter att du gav det: {names}. Vi kan be om ditt samtycke på nytt.",
        "wordings": "Formuleringar du samtyckte till", "version": "version {v}", "notified": "Ändringar som mottagarna har underrättats om",
        "notified_intro": "När dina uppgifter rättas eller behandlingen av dem begränsas underrättar vi de mottagare som dina uppgifter har lämnats ut till (artikel 19 i dataskyddsförordningen).",
        "notified_none": "Ingen mottagare har behövt underrättas om ändringar.", "recipient": "Mottagare",
        "recorded": "Registrerad", "sent": "Underrättad", "not_sent": "ännu inte underrättad", "fields": "Uppgifter",
    },
    "en": {
        "consents": "Your consent history", "consents_intro": "Every consent you gave or withdrew, and every objection you made: when, how, and under which wording.",
        "none": "There are no records of your consents.", "when": "Time", "what": "Consent or objection", "change": "Change", "how": "How",
        "outdated": "The wording of a consent has changed since you gave it: {names}. We may ask for your consent again.",
        "wordings": "The wordings you agreed to", "version": "version {v}", "notified": "Recipients told of changes",
        "notified_intro": "When your data is rectified or its processing restricted, we tell the recipients your data was disclosed to (Article 19 of the GDPR).",
        "notified_none": "No recipient has had to be told of a change.", "recipient": "Recipient",
        "recorded": "Recorded", "sent": "Told", "not_sent": "not yet told", "fields": "Data",
    },
}
CHANGES: Words = {
    "given": {"fi": "annettu", "sv": "givet", "en": "given"},
    "withdrawn": {"fi": "peruttu", "sv": "återkallat", "en": "withdrawn"},
    "objected": {"fi": "tehty", "sv": "gjord", "en": "made"},
    "objection-lifted": {"fi": "peruttu", "sv": "återkallad", "en": "withdrawn"},
    "rectified": {"fi": "oikaistu", "sv": "rättade", "en": "rectified"},
    "restricted": {"fi": "käsittelyä rajoitettu", "sv": "behandlingen begränsad", "en": "processing restricted"},
    "erased": {"fi": "poistettu", "sv": "raderade", "en": "erased"},
}
CHANNELS: Words = {
    "officer": {"fi": "rekisterinpitäjän kirjaamana", "sv": "registrerat av den personuppgiftsansvarige", "en": "recorded by the controller"},
    "import": {"fi": "hakemuksella verkkosivulla", "sv": "med ansökan på webbplatsen", "en": "in an application on the website"},
    "enrol": {"fi": "hakemuslomakkeella", "sv": "på ansökningsblanketten", "en": "on the application form"},
    "self-service": {"fi": "itse verkkosivulla", "sv": "själv på webbplatsen", "en": "yourself on the website"},
}
OBJECTIONS: Words = {
    "direct-marketing": {"fi": "Suoramarkkinoinnin kielto", "sv": "Invändning mot direktmarknadsföring", "en": "Objection to direct marketing"},
    "legitimate-interests": {"fi": "Oikeutettuun etuun perustuvan käsittelyn vastustaminen",
                             "sv": "Invändning mot behandling som grundar sig på berättigat intresse",
                             "en": "Objection to processing based on legitimate interests"},
}


def document_part(
    policies: Policies, consents: dict[str, Any], wordings: dict[tuple[str, str], dict[str, str]], notified: list[dict[str, Any]], language: str
) -> dict[str, Any]:
    """The keys the access document gains: ``consent_history``, ``outdated_consents``, ``consent_wordings``, ``recipients_notified``."""
    recipients = policies.disclosure.recipients
    return {
        "consent_history": consents["consent_history"],
        "outdated_consents": consents["outdated_consents"],
        "consent_wordings": [
            {"consent": consent, "version": version, "title": _title(policies, consent, language), "text": text.get(language) or text.get("en")}
            for (consent, version), text in sorted(wordings.items())
        ],
        "recipients_notified": [
            {"recipient": row["recipient"], "recipient_name": recipients[row["recipient"]].name if row["recipient"] in recipients else None,
             "event": row["event"], "fields": row["fields"], "recorded_on": row["recorded_on"], "sent_on": row["sent_on"]}
            for row in notified
        ],
    }


def _title(policies: Policies, consent: str, language: str) -> str:
    known = policies.register.consents.get(consent)
    return known.title.get(language) if known else consent


def sections(export: dict[str, Any], words: Vocabulary) -> tuple[Section, Section]:
    """The report's two sections: the consent history and the recipients told of changes."""
    return _consents(export, words), _notified(export, words)


def _consents(export: dict[str, Any], words: Vocabulary) -> Section:
    language = words.language
    t = TEXT[language]
    lines = export.get("consent_history", [])
    if not lines:
        return section(t["consents"], p(t["none"]))
    rows = [
        (labels.local_time(line["at"], language),
         words.consent(line["consent"]) if line["consent"] else labels.word(OBJECTIONS, line["objection"], language),
         labels.word(CHANGES, line["event"], language) + (f" ({t['version'].format(v=line['version'])})" if line["version"] else ""),
         labels.word(CHANNELS, line["channel"], language))
        for line in lines
    ]
    outdated = export.get("outdated_consents", {})
    blocks: list[Block | None] = [
        p(t["consents_intro"]), table((t["when"], t["what"], t["change"], t["how"]), rows),
        note(t["outdated"].format(names=", ".join(words.consent(name) for name in outdated))) if outdated else None,
    ]
    wordings = export.get("consent_wordings", [])
    if wordings:
        blocks += [h3(t["wordings"]), dl((f"{item['title']} ({t['version'].format(v=item['version'])})", item["text"]) for item in wordings)]
    return section(t["consents"], *blocks)


def _notified(export: dict[str, Any], words: Vocabulary) -> Section:
    language = words.language
    t = TEXT[language]
    notified = export.get("recipients_notified", [])
    if not notified:
        return section(t["notified"], p(t["notified_intro"]), p(t["notified_none"]))
    rows = [
        (labels.local_day(row["recorded_on"], language), words.recipient(row["recipient"]),
         labels.word(CHANGES, row["event"], language) + (": " + ", ".join(words.field(f) for f in row["fields"]) if row["event"] == "rectified" else ""),
         labels.local_day(row["sent_on"], language) if row["sent_on"] else t["not_sent"])
        for row in notified
    ]
    return section(t["notified"], p(t["notified_intro"]), table((t["recorded"], t["recipient"], t["change"], t["sent"]), rows))
