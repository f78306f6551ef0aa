"""The printable Art. 15 report: the access document in words, every value in the member's language.

Built from the JSON document ``access_document`` makes and the policies: codes
become their labels (enumerations, purposes, fields, consents, recipients,
statuses, grounds, countries), days and the generated time are written as
the language writes them. No policy key or raw code reaches the page.
"""

from __future__ import annotations

from typing import Any

from . import access_accountability, access_surveys, labels
from .documents import Block, Document, Section, dl, h3, note, p, section, table, ul
from .labels import Vocabulary
from .policy import Policies

ACCESS_TEXT: dict[str, dict[str, str]] = {
    "fi": {
        "title": "Tarkastuspyyntö: sinusta tallennetut tiedot", "controller": "Rekisterinpitäjä", "generated": "Laadittu",
        "member_id": "Jäsentunnus", "status_heading": "Jäsenyytesi", "status": "Tila", "rejection": "Hylkäämisen syy",
        "restricted": "Käsittelyä rajoitettu", "since": "alkaen", "objected": "Suoramarkkinointi kielletty", "processing_objected": "Vastustanut oikeutettuun etuun perustuvaa käsittelyä",
        "ineligible": "Jäsenehtojen todettu jääneen täyttymättä", "suppression": "Merkintä",
        "suppression_text": "Hakemuksesi on merkitty, koska sähköpostiosoitteesi tai puhelinnumerosi vastaa aiemmin annettua suoramarkkinointikieltoa.",
        "data": "Sinusta tallennetut tiedot", "purposes": "Käsittelyn tarkoitukset ja oikeusperusteet", "purpose": "Tarkoitus",
        "basis": "Oikeusperuste", "description": "Kuvaus", "interest": "Oikeutettu etu",
        "recipients": "Vastaanottajat, joille tietojasi luovutetaan", "recipient": "Vastaanottaja", "role": "Rooli",
        "fields": "Tiedot", "country": "Maa", "recipients_intro": "Nykyisen jäsenyytesi ja suostumustesi perusteella tietojasi saavat tai säilyttävät:",
        "no_recipients": "Tietojasi ei luovuteta kenellekään.", "not_member": "Tietojasi luovutetaan vasta, kun sinut on hyväksytty jäseneksi.",
        "held_recipients": "Käsittelyn rajoituksen aikana tietojasi ei luovuteta.", "rejected_none": "Hylätyn hakijan tietoja ei luovuteta.", "objected_none": "Koska olet kieltänyt suoramarkkinoinnin, tietojasi ei luovuteta.", "processing_objected_none": "Koska olet vastustanut oikeutettuun etuun perustuvaa käsittelyä, tietojasi ei luovuteta viestintää tai markkinatutkimusta varten.", "hosting_purposes": "tietojen säilytys kaikkia tarkoituksia varten",
        "all_fields": "kaikki tietosi", "with_consent": "suostumuksellasi", "transfers": "Siirrot EU:n ja ETA:n ulkopuolelle",
        "no_transfers": "Tietojasi ei siirretä EU:n tai ETA:n ulkopuolelle.", "safeguard": "suojatoimi",
        "disclosures": "Tähän mennessä tehdyt luovutukset", "date": "Päivä", "no_disclosures": "Tietojasi ei ole luovutettu.",
        "retention": "Säilytysaika", "erased_on": "Tietosi poistetaan viimeistään", "held": "poisto odottaa käsittelyn rajoituksen ajan",
        "no_retention": "Mikään säilytyssääntö ei tällä hetkellä koske tietojasi.", "sources": "Tietolähteet",
        "automated": "Automaattinen päätöksenteko", "rights": "Oikeutesi", "article": "{n} artikla", "contact": "Yhteystiedot",
        "footer": "Vastaus tarkastuspyyntöön EU:n yleisen tietosuoja-asetuksen 15 artiklan mukaisesti.",
    },
    "sv": {
        "title": "Begäran om tillgång: uppgifter som lagrats om dig", "controller": "Personuppgiftsansvarig", "generated": "Upprättad",
        "member_id": "Medlemsnummer", "status_heading": "Ditt medlemskap", "status": "Status", "rejection": "Skäl till avslag",
        "restricted": "Behandlingen begränsad", "since": "sedan", "objected": "Direktmarknadsföring förbjuden", "processing_objected": "Invänt mot behandling som grundar sig på berättigat intresse",
        "ineligible": "Medlemsvillkoren konstaterades inte vara uppfyllda", "suppression": "Anteckning",
        "suppression_text": "Din ansökan är märkt eftersom din e-postadress eller ditt telefonnummer motsvarar en tidigare invändning mot direktmarknadsföring.",
        "data": "Uppgifter som lagrats om dig", "purposes": "Ändamål och rättslig grund för behandlingen", "purpose": "Ändamål",
        "basis": "Rättslig grund", "description": "Beskrivning", "interest": "Berättigat intresse",
        "recipients": "Mottagare som dina uppgifter lämnas ut till", "recipient": "Mottagare", "role": "Roll",
        "fields": "Uppgifter", "country": "Land", "recipients_intro": "Utifrån ditt nuvarande medlemskap och dina samtycken får eller förvarar följande dina uppgifter:",
        "no_recipients": "Dina uppgifter lämnas inte ut till någon.", "not_member": "Dina uppgifter lämnas ut först när du har antagits som medlem.",
        "held_recipients": "Under begränsningen av behandlingen lämnas dina uppgifter inte ut.", "rejected_none": "En avslagen sökandes uppgifter lämnas inte ut.", "objected_none": "Eftersom du har invänt mot direktmarknadsföring lämnas dina uppgifter inte ut.", "processing_objected_none": "Eftersom du har invänt mot behandling som grundar sig på berättigat intresse lämnas dina uppgifter inte ut för kommunikation eller marknadsundersökningar.", "hosting_purposes": "förvaring av uppgifterna för alla ändamål",
        "all_fields": "alla dina uppgifter", "with_consent": "med ditt samtycke", "transfers": "Överföringar utanför EU och EES",
        "no_transfers": "Dina uppgifter överförs inte utanför EU eller EES.", "safeguard": "skyddsåtgärd",
        "disclosures": "Utlämnanden hittills", "date": "Datum", "no_disclosures": "Dina uppgifter har inte lämnats ut.",
        "retention": "Lagringstid", "erased_on": "Dina uppgifter raderas senast", "held": "raderingen väntar så länge behandlingen är begränsad",
        "no_retention": "Ingen lagringsregel gäller dina uppgifter just nu.", "sources": "Uppgiftskällor",
        "automated": "Automatiserat beslutsfattande", "rights": "Dina rättigheter", "article": "artikel {n}", "contact": "Kontaktuppgifter",
        "footer": "Svar på begäran om tillgång enligt artikel 15 i EU:s allmänna dataskyddsförordning.",
    },
    "en": {
        "title": "Access request: the data stored about you", "controller": "Controller", "generated": "Prepared",
        "member_id": "Member id", "status_heading": "Your membership", "status": "Status", "rejection": "Reason for rejection",
        "restricted": "Processing restricted", "since": "since", "objected": "Objected to direct marketing", "processing_objected": "Objected to processing based on legitimate interests",
        "ineligible": "Found not to meet the membership conditions", "suppression": "Note",
        "suppression_text": "Your application is flagged because your email address or phone number matches an earlier objection to direct marketing.",
        "data": "The data stored about you", "purposes": "Purposes and legal bases of the processing", "purpose": "Purpose",
        "basis": "Legal basis", "description": "Description", "interest": "Legitimate interest",
        "recipients": "Recipients your data is disclosed to", "recipient": "Recipient", "role": "Role",
        "fields": "Data", "country": "Country", "recipients_intro": "Under your current membership and consents, these receive or hold your data:",
        "no_recipients": "Your data is not disclosed to anyone.", "not_member": "Your data is disclosed only once you have been admitted as a member.",
        "held_recipients": "While processing is restricted, your data is not disclosed.", "rejected_none": "A rejected applicant's data is not disclosed.", "objected_none": "As you objected to direct marketing, your data is not disclosed.", "processing_objected_none": "As you objected to processing based on legitimate interests, your data is not disclosed for communication or market research.", "hosting_purposes": "storing the data for every purpose",
        "all_fields": "all your data", "with_consent": "with your consent", "transfers": "Transfers outside the EU and the EEA",
        "no_transfers": "Your data is not transferred outside the EU or the EEA.", "safeguard": "safeguard",
        "disclosures": "Disclosures made so far", "date": "Date", "no_disclosures": "Your data has not been disclosed.",
        "retention": "Retention", "erased_on": "Your data will be erased on or before", "held": "the erasure waits while processing is restricted",
        "no_retention": "No retention rule applies to your data at the moment.", "sources": "Sources of the data",
        "automated": "Automated decision-making", "rights": "Your rights", "article": "Art. {n}", "contact": "Contact details",
        "footer": "Answer to an access request under Article 15 of the EU General Data Protection Regulation.",
    },
}
DATES = {  # the member's plain dates, in the order the report shows them
    "applied_at": {"fi": "Hakemus", "sv": "Ansökan", "en": "Applied"},
    "admitted_at": {"fi": "Hyväksytty jäseneksi", "sv": "Antagen som medlem", "en": "Admitted"},
    "rejected_at": {"fi": "Hylätty", "sv": "Avslagen", "en": "Rejected"},
    "last_activity_at": {"fi": "Viimeisin kyselyvastaus", "sv": "Senaste enkätsvar", "en": "Last survey answered"},
    "updated_at": {"fi": "Tietoja päivitetty", "sv": "Uppgifterna uppdaterade", "en": "Data updated"},
}


def report(export: dict[str, Any], policies: Policies) -> Document:
    """The printable report of an access document, in the document's language."""
    language = labels.language_of(export["language"])
    t = ACCESS_TEXT[language]
    words = Vocabulary(policies, language)
    controller = export["controller"]
    return Document(
        language=language,
        title=t["title"],
        subtitle=export["register"],
        meta=(
            (t["controller"], f"{controller['name']}, {controller['address']}"),
            (t["generated"], labels.local_time(export["generated_at"], language)),
            (t["member_id"], export["member"]["member_id"]),
        ),
        sections=(
            _status(export, t, words),
            _data(export, t, words),
            _purposes(export, t),
            _recipients(export, t, words),
            _transfers(export, t, words),
            _disclosures(export, t, words),
            access_surveys.report_section(export),
            *access_accountability.sections(export, words),
            _retention(export, t),
            section(t["sources"], ul(export["sources"])),
            section(t["automated"], p(export["automated_decisions"])),
            section(t["rights"], dl((f"{r['title']} ({t['article'].format(n=r['article'])})", r["how"]) for r in export["rights"])),
            _contact(export, t),
        ),
        footer=t["footer"],
        kind="access",
    )


def _status(export: dict[str, Any], t: dict[str, str], words: Vocabulary) -> Section:
    member, language = export["member"], words.language
    pairs = [(t["status"], labels.word(labels.STATUSES, member["status"], language))]
    pairs += [(DATES[key][language], labels.local_day(member[key], language)) for key in DATES if member.get(key)]
    if export.get("rejection"):
        pairs.append((t["rejection"], words.rejection(export["rejection"]["reason"])))
    if member.get("ineligible_at"):
        pairs.append((t["ineligible"], labels.local_day(member["ineligible_at"], language)))
    if member.get("restricted_at"):
        ground = labels.word(labels.RESTRICTION_GROUNDS, member.get("restriction_reason"), language)
        pairs.append((t["restricted"], f"{t['since']} {labels.local_day(member['restricted_at'], language)}: {ground}"))
    for key, column in (("objected", "objected_at"), ("processing_objected", "processing_objected_at")):
        if member.get(column):
            pairs.append((t[key], f"{t['since']} {labels.local_day(member[column], language)}"))
    if member.get("suppression_match"):
        pairs.append((t["suppression"], t["suppression_text"]))
    return section(t["status_heading"], dl(pairs))


def _data(export: dict[str, Any], t: dict[str, str], words: Vocabulary) -> Section:
    blocks: list[Block] = []
    for part in export["data"]:
        category, value = part["category"], part["value"]
        pairs = [(words.field(f"{category}.{key}"), words.value(f"{category}.{key}", inner)) for key, inner in value.items()] if isinstance(
            value, dict) else [(words.field(category), words.value(category, value))]
        blocks += [h3(part["title"]), dl(pairs)]
    return section(t["data"], *blocks)


def _purposes(export: dict[str, Any], t: dict[str, str]) -> Section:
    language = export["language"]
    rows = [
        (item["title"],
         " ".join(filter(None, [item.get("description"), f"{t['interest']}: {item['legitimate_interest']}" if item.get("legitimate_interest") else None])),
         labels.legal_basis(item["legal_basis"], language))
        for item in export["purposes"]
    ]
    return section(t["purposes"], table((t["purpose"], t["description"], t["basis"]), rows))


def _recipients(export: dict[str, Any], t: dict[str, str], words: Vocabulary) -> Section:
    language, found = words.language, export["recipients"]
    rows = []
    for r in found:
        if r["access"] == "hosting":
            purposes, fields = t["hosting_purposes"], t["all_fields"]
        else:
            purposes = ", ".join(words.purpose(item["purpose"]) + (f" ({t['with_consent']})" if item["consent"] else "") for item in r["purposes"])
            fields = ", ".join(words.field(path) for path in r["fields"])
        rows.append((words.recipient(r["recipient"]), labels.word(labels.ROLES, r["role"], language), purposes, fields,
                     labels.word(labels.COUNTRIES, r["country"], language)))
    held = note(t["held_recipients"]) if any(r["held_by_restriction"] for r in found) else None
    return section(
        t["recipients"], p(t["recipients_intro"]) if rows else p(t["no_recipients"]), _why_not(export, t), held,
        table((t["recipient"], t["role"], t["purpose"], t["fields"], t["country"]), rows) if rows else None,
    )


def _why_not(export: dict[str, Any], t: dict[str, str]) -> Block | None:
    """Why no one receives a file of this member's data, when no one does."""
    if any(r["access"] == "export" for r in export["recipients"]):
        return None
    member = export["member"]
    if member["status"] != "member":
        return p(t["not_member"] if member["status"] == "applicant" else t["rejected_none"])
    if member.get("objected_at"):
        return p(t["objected_none"])
    return p(t["processing_objected_none"]) if member.get("processing_objected_at") else None


def _transfers(export: dict[str, Any], t: dict[str, str], words: Vocabulary) -> Section:
    language = words.language
    outside = [
        f"{words.recipient(item['recipient'])}: {labels.word(labels.COUNTRIES, item['country'], language)}"
        f" ({t['safeguard']}: {labels.word(labels.SAFEGUARDS, item['safeguard'], language)})"
        for item in export["transfers"]["outside_eu_eea"]
    ]
    return section(t["transfers"], p(export["transfers"]["statement"]), ul(outside) if outside else p(t["no_transfers"]))


def _disclosures(export: dict[str, Any], t: dict[str, str], words: Vocabulary) -> Section:
    rows = [
        (labels.local_day(d["date"], words.language), words.recipient(d["recipient"]), words.purpose(d["purpose"]),
         ", ".join(words.field(path) for path in d["fields"]))
        for d in export["disclosures"]
    ]
    if not rows:
        return section(t["disclosures"], p(t["no_disclosures"]))
    return section(t["disclosures"], table((t["date"], t["recipient"], t["purpose"], t["fields"]), rows))


def _retention(export: dict[str, Any], t: dict[str, str]) -> Section:
    kept = export["retention"]
    if kept is None:
        return section(t["retention"], p(t["no_retention"]))
    when = f"{t['erased_on']} {labels.local_day(kept['erased_on'], export['language'])}"
    return section(t["retention"], p(kept["description"]), p(when + (f" ({t['held']})." if kept["held_by_restriction"] else ".")))


def _contact(export: dict[str, Any], t: dict[str, str]) -> Section:
    controller = export["controller"]
    person = controller["contact_person"]
    pairs = [(person["role"], f"{person['name']}, {person['email']}"), (t["controller"], f"{controller['name']}, {controller['address']}")]
    return section(t["contact"], dl(pairs))
