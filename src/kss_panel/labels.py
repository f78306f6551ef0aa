"""Words for codes, in fi, sv and en: what documents for people show instead of a policy key or a code.

The policy's own names (purposes, consents, fields, enumeration values,
rejection reasons, recipients) carry their labels in policies/*.yaml; this
module holds the codes the tool itself defines (legal bases, roles,
safeguards, statuses, restriction grounds, countries) and writes dates and
periods the way each language does. Pure data and functions.
"""

from __future__ import annotations

from datetime import date, datetime

from .model import REGISTER_TZ
from .policy import LANGUAGES, Localised, Period, Policies, field_specs

Words = dict[str, dict[str, str]]  # code -> language -> text


def language_of(language: str | None) -> str:
    """One of fi, sv, en (en for anything else)."""
    return language if language in LANGUAGES else "en"


LEGAL_BASES: Words = {
    "consent": {"fi": "suostumus", "sv": "samtycke", "en": "consent"},
    "contract": {"fi": "sopimus (jäsenyys)", "sv": "avtal (medlemskap)", "en": "contract (membership)"},
    "legal-obligation": {"fi": "lakisääteinen velvoite", "sv": "rättslig förpliktelse", "en": "legal obligation"},
    "vital-interests": {"fi": "elintärkeä etu", "sv": "grundläggande intresse", "en": "vital interests"},
    "public-task": {"fi": "yleinen etu tai julkinen valta", "sv": "allmänt intresse eller myndighetsutövning", "en": "public task"},
    "legitimate-interests": {"fi": "oikeutettu etu", "sv": "berättigat intresse", "en": "legitimate interests"},
}
# GDPR Art. 6(1) point of each legal basis.
LEGAL_BASIS_POINTS = {
    "consent": "a", "contract": "b", "legal-obligation": "c", "vital-interests": "d", "public-task": "e", "legitimate-interests": "f",
}
ROLES: Words = {
    "processor": {"fi": "henkilötietojen käsittelijä", "sv": "personuppgiftsbiträde", "en": "processor"},
    "sub-processor": {"fi": "alihankkija (käsittelijän käsittelijä)", "sv": "underbiträde", "en": "sub-processor"},
    "controller": {"fi": "itsenäinen rekisterinpitäjä", "sv": "självständig personuppgiftsansvarig", "en": "controller in its own right"},
    "joint-controller": {"fi": "yhteisrekisterinpitäjä", "sv": "gemensamt personuppgiftsansvarig", "en": "joint controller"},
}
SAFEGUARDS: Words = {
    "adequacy-decision": {"fi": "komission tietosuojan riittävyyttä koskeva päätös", "sv": "kommissionens beslut om adekvat skyddsnivå",
                          "en": "an adequacy decision of the Commission"},
    "standard-contractual-clauses": {"fi": "komission vakiosopimuslausekkeet", "sv": "kommissionens standardavtalsklausuler",
                                     "en": "the Commission's standard contractual clauses"},
    "binding-corporate-rules": {"fi": "yritystä koskevat sitovat säännöt", "sv": "bindande företagsbestämmelser", "en": "binding corporate rules"},
    "derogation-art-49": {"fi": "tietosuoja-asetuksen 49 artiklan poikkeus", "sv": "undantag enligt artikel 49 i dataskyddsförordningen",
                          "en": "a derogation under Article 49 of the GDPR"},
}
STATUSES: Words = {
    "applicant": {"fi": "hakija", "sv": "sökande", "en": "applicant"},
    "member": {"fi": "jäsen", "sv": "medlem", "en": "member"},
    "rejected": {"fi": "hylätty hakija", "sv": "avslagen sökande", "en": "rejected applicant"},
}
RESTRICTION_GROUNDS: Words = {
    "accuracy-contested": {"fi": "tietojen paikkansapitävyys on kiistetty", "sv": "uppgifternas riktighet har bestridits",
                           "en": "the accuracy of the data is contested"},
    "unlawful-processing": {"fi": "käsittely on lainvastaista", "sv": "behandlingen är olaglig", "en": "the processing is unlawful"},
    "legal-claims": {"fi": "tietoja tarvitaan oikeudellisen vaateen vuoksi", "sv": "uppgifterna behövs för rättsliga anspråk",
                     "en": "the data is needed for legal claims"},
    "objection-pending": {"fi": "vastustamisen käsittely on kesken", "sv": "en invändning håller på att prövas", "en": "an objection is being assessed"},
}
SPECIAL_CATEGORIES: Words = {
    "racial-or-ethnic-origin": {"fi": "rotu tai etninen alkuperä", "sv": "ras eller etniskt ursprung", "en": "racial or ethnic origin"},
    "political-opinions": {"fi": "poliittiset mielipiteet", "sv": "politiska åsikter", "en": "political opinions"},
    "religious-or-philosophical-beliefs": {"fi": "uskonnollinen tai filosofinen vakaumus", "sv": "religiös eller filosofisk övertygelse",
                                           "en": "religious or philosophical beliefs"},
    "trade-union-membership": {"fi": "ammattiliiton jäsenyys", "sv": "medlemskap i fackförening", "en": "trade union membership"},
    "genetic-data": {"fi": "geneettiset tiedot", "sv": "genetiska uppgifter", "en": "genetic data"},
    "biometric-data": {"fi": "biometriset tunnistetiedot", "sv": "biometriska uppgifter", "en": "biometric data"},
    "health": {"fi": "terveystiedot", "sv": "uppgifter om hälsa", "en": "data concerning health"},
    "sex-life-or-sexual-orientation": {"fi": "seksuaalinen käyttäytyminen tai suuntautuminen", "sv": "sexualliv eller sexuell läggning",
                                       "en": "sex life or sexual orientation"},
}
# EU and EEA states, and the countries with an adequacy decision, by ISO 3166 code.
COUNTRIES: Words = {
    "AT": {"fi": "Itävalta", "sv": "Österrike", "en": "Austria"}, "BE": {"fi": "Belgia", "sv": "Belgien", "en": "Belgium"},
    "BG": {"fi": "Bulgaria", "sv": "Bulgarien", "en": "Bulgaria"}, "HR": {"fi": "Kroatia", "sv": "Kroatien", "en": "Croatia"},
    "CY": {"fi": "Kypros", "sv": "Cypern", "en": "Cyprus"}, "CZ": {"fi": "Tšekki", "sv": "Tjeckien", "en": "Czechia"},
    "DK": {"fi": "Tanska", "sv": "Danmark", "en": "Denmark"}, "EE": {"fi": "Viro", "sv": "Estland", "en": "Estonia"},
    "FI": {"fi": "Suomi", "sv": "Finland", "en": "Finland"}, "FR": {"fi": "Ranska", "sv": "Frankrike", "en": "France"},
    "DE": {"fi": "Saksa", "sv": "Tyskland", "en": "Germany"}, "GR": {"fi": "Kreikka", "sv": "Grekland", "en": "Greece"},
    "HU": {"fi": "Unkari", "sv": "Ungern", "en": "Hungary"}, "IE": {"fi": "Irlanti", "sv": "Irland", "en": "Ireland"},
    "IT": {"fi": "Italia", "sv": "Italien", "en": "Italy"}, "LV": {"fi": "Latvia", "sv": "Lettland", "en": "Latvia"},
    "LT": {"fi": "Liettua", "sv": "Litauen", "en": "Lithuania"}, "LU": {"fi": "Luxemburg", "sv": "Luxemburg", "en": "Luxembourg"},
    "MT": {"fi": "Malta", "sv": "Malta", "en": "Malta"}, "NL": {"fi": "Alankomaat", "sv": "Nederländerna", "en": "the Netherlands"},
    "PL": {"fi": "Puola", "sv": "Polen", "en": "Poland"}, "PT": {"fi": "Portugali", "sv": "Portugal", "en": "Portugal"},
    "RO": {"fi": "Romania", "sv": "Rumänien", "en": "Romania"}, "SK": {"fi": "Slovakia", "sv": "Slovakien", "en": "Slovakia"},
    "SI": {"fi": "Slovenia", "sv": "Slovenien", "en": "Slovenia"}, "ES": {"fi": "Espanja", "sv": "Spanien", "en": "Spain"},
    "SE": {"fi": "Ruotsi", "sv": "Sverige", "en": "Sweden"}, "IS": {"fi": "Islanti", "sv": "Island", "en": "Iceland"},
    "LI": {"fi": "Liechtenstein", "sv": "Liechtenstein", "en": "Liechtenstein"}, "NO": {"fi": "Norja", "sv": "Norge", "en": "Norway"},
    "AD": {"fi": "Andorra", "sv": "Andorra", "en": "Andorra"}, "AR": {"fi": "Argentiina", "sv": "Argentina", "en": "Argentina"},
    "CA": {"fi": "Kanada", "sv": "Kanada", "en": "Canada"}, "CH": {"fi": "Sveitsi", "sv": "Schweiz", "en": "Switzerland"},
    "FO": {"fi": "Färsaaret", "sv": "Färöarna", "en": "the Faroe Islands"}, "GB": {"fi": "Yhdistynyt kuningaskunta", "sv": "Förenade kungariket", "en": "the United Kingdom"},
    "GG": {"fi": "Guernsey", "sv": "Guernsey", "en": "Guernsey"}, "IL": {"fi": "Israel", "sv": "Israel", "en": "Israel"},
    "IM": {"fi": "Mansaari", "sv": "Isle of Man", "en": "the Isle of Man"}, "JE": {"fi": "Jersey", "sv": "Jersey", "en": "Jersey"},
    "JP": {"fi": "Japani", "sv": "Japan", "en": "Japan"}, "KR": {"fi": "Etelä-Korea", "sv": "Sydkorea", "en": "South Korea"},
    "NZ": {"fi": "Uusi-Seelanti", "sv": "Nya Zeeland", "en": "New Zealand"}, "US": {"fi": "Yhdysvallat", "sv": "USA", "en": "the United States"},
    "UY": {"fi": "Uruguay", "sv": "Uruguay", "en": "Uruguay"},
}
RECORD_KINDS: Words = {
    "closed_requests": {"fi": "Rekisteröityjen pyynnöt (suljetut)", "sv": "De registrerades begäranden (avslutade)", "en": "Data subjects' requests (closed)"},
    "disclosure_log": {"fi": "Luovutusloki", "sv": "Logg över utlämnanden", "en": "Disclosure log"},
    "suppressions": {"fi": "Suoramarkkinointikiellot (tiivisteet)", "sv": "Invändningar mot direktmarknadsföring (hashvärden)",
                     "en": "Objections to direct marketing (hashes)"},
    "audit_trail": {"fi": "Tapahtumaloki", "sv": "Händelselogg", "en": "Audit trail"},
    "notifications": {"fi": "Ilmoitukset vastaanottajille (oikaisu, poisto, rajoitus)", "sv": "Underrättelser till mottagare (rättelse, radering, begränsning)",
                      "en": "Notifications to recipients (rectification, erasure, restriction)"},
    "breaches": {"fi": "Tietoturvaloukkausten kirjaukset", "sv": "Registrering av personuppgiftsincidenter", "en": "Record of personal-data breaches"},
}
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
PERIOD_UNITS = {  # (one, many) of days and months
    "fi": {"days": ("päivä", "päivää"), "months": ("kuukausi", "kuukautta")},
    "sv": {"days": ("dag", "dagar"), "months": ("månad", "månader")},
    "en": {"days": ("day", "days"), "months": ("month", "months")},
}
YES_NO = {"fi": ("kyllä", "ei"), "sv": ("ja", "nej"), "en": ("yes", "no")}


def word(table: Words, code: str | None, language: str) -> str:
    """The word for ``code`` in ``language``; a code the table lacks is shown as it is."""
    if code is None:
        return ""
    return table.get(code, {}).get(language_of(language), code)


def legal_basis(code: str, language: str) -> str:
    """A legal basis with its GDPR point: "suostumus (6 art. 1 a)"."""
    point = LEGAL_BASIS_POINTS.get(code, "")
    article = {"fi": f"tietosuoja-asetuksen 6 artiklan 1 kohdan {point} alakohta", "sv": f"artikel 6.1 {point} i dataskyddsförordningen",
               "en": f"GDPR Art. 6(1)({point})"}[language_of(language)]
    return f"{word(LEGAL_BASES, code, language)} ({article})" if point else word(LEGAL_BASES, code, language)


def local_day(value: date | str | None, language: str) -> str:
    """A day as each language writes it: 15.6.2026, 15.6.2026, 15 June 2026."""
    if value is None:
        return ""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    if language_of(language) == "en":
        return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"
    return f"{day.day}.{day.month}.{day.year}"


def local_time(instant: datetime | str, language: str) -> str:
    """An instant in Finnish time, as each language writes it: 15.6.2026 klo 15.00."""
    moment = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    local = moment.astimezone(REGISTER_TZ)
    day = local_day(local.date(), language)
    return {"fi": f"{day} klo {local:%H.%M}", "sv": f"{day} kl. {local:%H.%M}", "en": f"{day} at {local:%H:%M} Finnish time"}[language_of(language)]


def period(value: Period, language: str) -> str:
    """A retention period in words: 90 päivää, 24 månader, 1 month."""
    unit, count = ("days", value.days) if value.days is not None else ("months", value.months)
    one, many = PERIOD_UNITS[language_of(language)][unit]
    return f"{count} {one if count == 1 else many}"


def yes_no(value: bool, language: str) -> str:
    return YES_NO[language_of(language)][0 if value else 1]


def text(value: Localised | None, language: str) -> str:
    return value.get(language_of(language)) if value is not None else ""


class Vocabulary:
    """The policy's own words in one language: field labels, enumeration values, purposes, consents, recipients."""

    def __init__(self, policies: Policies, language: str) -> None:
        self.policies = policies
        self.language = language_of(language)
        register = policies.register
        self.specs = field_specs(register)
        self.fields = {path: text(spec.label, self.language) or path for path, spec in self.specs.items()}
        self.fields.update({f"{name}.{c}": consent.title.get(self.language) for name, category in register.categories.items()
                            if category.kind == "consents" for c, consent in register.consents.items()})

    def field(self, path: str) -> str:
        return self.fields.get(path, path)

    def value(self, path: str, value: object) -> str:
        """A stored value as a person reads it: an enumeration's label, yes or no, a list joined."""
        spec = self.specs.get(path)
        if isinstance(value, bool):
            return yes_no(value, self.language)
        if isinstance(value, list):
            return ", ".join(self.value(path, item) for item in value)
        if spec is not None and spec.values and isinstance(value, str) and value in spec.values:
            return spec.values[value].get(self.language)
        return "" if value is None else str(value)

    def purpose(self, name: str) -> str:
        purpose = self.policies.register.purposes.get(name)
        return purpose.title.get(self.language) if purpose else name

    def consent(self, name: str) -> str:
        consent = self.policies.register.consents.get(name)
        return consent.title.get(self.language) if consent else name

    def recipient(self, key: str) -> str:
        """A recipient by name (and category), or by its category when it is one."""
        recipient = self.policies.disclosure.recipients.get(key)
        if recipient is None:
            return key
        category = recipient.category.get(self.language)
        return f"{recipient.name} ({category})" if recipient.name else category

    def rejection(self, reason: str | None) -> str:
        label = self.policies.register.rejection_reasons.get(reason or "")
        return label.get(self.language) if label else (reason or "")
