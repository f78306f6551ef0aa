"""Documents for people outside the terminal: the printable access report (HTML).

Jinja2 with autoescaping on, so every value (a hobby spelled ``<script>``)
prints as itself; the page is self-contained, with a CSP that loads nothing.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .policy import Policies


# The printable access report's own words, in the member's language.
REPORT_TEXT: dict[str, dict[str, Any]] = {
    "fi": {
        "title": "Tarkastuspyyntö: sinusta tallennetut tiedot", "generated": "Laadittu", "member_id": "Jäsentunnus",
        "status": "Tila", "data": "Tallennetut tiedot", "purposes": "Käsittelyn tarkoitukset ja oikeusperusteet",
        "disclosures": "Tietojen luovutukset", "recipient": "Vastaanottaja", "purpose": "Tarkoitus", "fields": "Tiedot",
        "date": "Päivä", "no_disclosures": "Tietojasi ei ole luovutettu.", "retention": "Säilytysaika",
        "erased_on": "Tiedot poistetaan viimeistään", "held": "pidossa käsittelyn rajoituksen ajan",
        "no_retention": "Säilytyssääntö ei koske tietojasi tällä hetkellä.", "sources": "Tietolähteet",
        "rights": "Oikeutesi", "article": "artikla", "contact": "Yhteyshenkilö", "restricted": "Käsittelyä rajoitettu",
        "objected": "Suoramarkkinointi kielletty",
        "processing_objected": "Vastustanut oikeutettuun etuun perustuvaa käsittelyä",
        "statuses": {"applicant": "hakija", "member": "jäsen", "rejected": "hylätty"},
        "dates": {"applied_at": "Hakemus", "admitted_at": "Hyväksytty", "rejected_at": "Hylätty",
                  "last_activity_at": "Viimeisin vastaus", "updated_at": "Päivitetty"},
        "bases": {"consent": "suostumus", "contract": "sopimus", "legal-obligation": "lakisääteinen velvoite",
                  "legitimate-interests": "oikeutettu etu"},
        "yes": "kyllä", "no": "ei",
    },
    "sv": {
        "title": "Begäran om tillgång: uppgifter som lagrats om dig", "generated": "Upprättad", "member_id": "Medlemsnummer",
        "status": "Status", "data": "Lagrade uppgifter", "purposes": "Ändamål och rättslig grund",
        "disclosures": "Utlämnanden", "recipient": "Mottagare", "purpose": "Ändamål", "fields": "Uppgifter",
        "date": "Datum", "no_disclosures": "Dina uppgifter har inte lämnats ut.", "retention": "Lagringstid",
        "erased_on": "Uppgifterna raderas senast", "held": "vilande under begränsningen",
        "no_retention": "Ingen lagringsregel gäller dina uppgifter just nu.", "sources": "Uppgiftskällor",
        "rights": "Dina rättigheter", "article": "artikel", "contact": "Kontaktperson", "restricted": "Behandlingen begränsad",
        "objected": "Direktmarknadsföring förbjuden",
        "processing_objected": "Invänt mot behandling som grundar sig på berättigat intresse",
        "statuses": {"applicant": "sökande", "member": "medlem", "rejected": "avslagen"},
        "dates": {"applied_at": "Ansökan", "admitted_at": "Antagen", "rejected_at": "Avslagen",
                  "last_activity_at": "Senaste svar", "updated_at": "Uppdaterad"},
        "bases": {"consent": "samtycke", "contract": "avtal", "legal-obligation": "rättslig förpliktelse",
                  "legitimate-interests": "berättigat intresse"},
        "yes": "ja", "no": "nej",
    },
    "en": {
        "title": "Access request: the data stored about you", "generated": "Prepared", "member_id": "Member id",
        "status": "Status", "data": "Stored data", "purposes": "Purposes and legal bases",
        "disclosures": "Disclosures", "recipient": "Recipient", "purpose": "Purpose", "fields": "Data",
        "date": "Date", "no_disclosures": "Your data has not been disclosed.", "retention": "Retention",
        "erased_on": "Your data will be erased on or before", "held": "on hold while processing is restricted",
        "no_retention": "No retention rule applies to your data at the moment.", "sources": "Sources of the data",
        "rights": "Your rights", "article": "Art.", "contact": "Contact person", "restricted": "Processing restricted",
        "objected": "Objected to direct marketing",
        "processing_objected": "Objected to processing based on legitimate interests",
        "statuses": {"applicant": "applicant", "member": "member", "rejected": "rejected"},
        "dates": {"applied_at": "Applied", "admitted_at": "Admitted", "rejected_at": "Rejected",
                  "last_activity_at": "Last survey answered", "updated_at": "Updated"},
        "bases": {"consent": "consent", "contract": "contract", "legal-obligation": "legal obligation",
                  "legitimate-interests": "legitimate interests"},
        "yes": "yes", "no": "no",
    },
}

_templates = Environment(
    loader=PackageLoader("kss_panel", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def field_labels(policies: Policies, language: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for name, category in policies.register.categories.items():
        for field, spec in (category.fields or {}).items():
            labels[f"{name}.{field}"] = spec.label.get(language) if spec.label else field.replace("_", " ")
        spec = category.field or category.item
        labels[name] = spec.label.get(language) if spec and spec.label else category.title.get(language)
        if category.kind == "consents":
            labels.update({f"{name}.{c}": v.title.get(language) for c, v in policies.register.consents.items()})
    return labels


def access_html(export: dict[str, Any], policies: Policies) -> str:
    """The printable, self-contained access report; every value is autoescaped."""
    language = export["language"] if export["language"] in REPORT_TEXT else "en"
    text = REPORT_TEXT[language]

    def show(value: Any) -> str:
        if isinstance(value, bool):
            return str(text["yes"] if value else text["no"])
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    template = _templates.get_template("access.html.j2")
    return template.render(export=export, t=text, labels=field_labels(policies, language), show=show)
