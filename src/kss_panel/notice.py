"""What the controller publishes, built from the policies alone: the privacy notice and the Art. 30 record.

The notice follows the sections 1-9 of the published register description
and adds what GDPR Art. 13 and 14 require that it lacks (legal bases,
retention, every right, whether the data must be given, automated
decisions); the record of processing activities follows Art. 30(1)(a)-(g).
Pure functions of the policies and a language: the same policies give the
same document, and its footer names the policy hash.
"""

from __future__ import annotations

from . import labels
from .documents import Block, Document, dl, h3, note, p, section, table, ul
from .labels import Vocabulary
from .notice_text import NOTICE_TEXT
from .policy import Policies, Recipient, field_specs


def notice(policies: Policies, language: str) -> Document:
    """The privacy notice (register description and Art. 13 information) in ``language``."""
    language = labels.language_of(language)
    t, words, register = NOTICE_TEXT[language], Vocabulary(policies, language), policies.register
    controller = register.controller
    sections = (
        section(t["s1"], p(f"{controller.name}, {controller.address}")),
        section(f"2. {controller.contact_person.role.get(language)}", *_contact(policies, t, language)),
        section(t["s3"], p(register.register_info.name.get(language))),
        section(t["s4"], p(register.register_info.purpose_statement.get(language)), _purposes(policies, t, language),
                *_consents(policies, t, words)),
        section(t["s5"], p(t["contents_intro"]), _contents(policies, t, words), _special(policies, t, words)),
        section(t["s6"], ul(source.get(language) for source in register.sources)),
        section(t["s7"], *_disclosure(policies, t, words)),
        section(t["s8"], dl(_rights(policies, t, language)), p(t["rights_how"]), p(register.register_info.membership_conditions.get(language))),
        section(t["s9"], ul(item.get(language) for item in register.security.statement)),
        section(t["s10"], *_retention(policies, t, language)),
        section(t["s11"], p(register.register_info.provision.get(language)), _required(policies, t, words)),
        section(t["s12"], p(register.register_info.automated_decisions.get(language))),
    )
    return Document(language, t["notice_title"], f"{register.register_info.name.get(language)} · {t['notice_subtitle']}",
                    sections=sections, footer=t["footer"].format(hash=policies.hash), kind="notice")


def record(policies: Policies, language: str) -> Document:
    """The record of processing activities (Art. 30(1), points a-g) in ``language``."""
    language = labels.language_of(language)
    t, words, register = NOTICE_TEXT[language], Vocabulary(policies, language), policies.register
    controller = register.controller
    sections = (
        section(t["ra"], dl([(t["controller"], f"{controller.name}, {controller.address}")]), *_contact(policies, t, language, as_pairs=True)),
        section(t["rb"], p(register.register_info.purpose_statement.get(language)), _purposes(policies, t, language),
                *_consents(policies, t, words, record=True)),
        section(t["rc"], h3(t["subjects"]), ul(subject.get(language) for subject in register.register_info.data_subjects),
                h3(t["data"]), _contents(policies, t, words), _special(policies, t, words)),
        section(t["rd"], *_recipients(policies, t, words)),
        section(t["re"], *_transfers(policies, t, words)),
        section(t["rf"], _time_limits(policies, t, language), p(t["restricted_hold"]) if policies.retention.restricted == "hold" else None),
        section(t["rg"], ul([*(item.get(language) for item in register.security.statement),
                             *(item.get(language) for item in register.security.measures)])),
    )
    return Document(language, t["record_title"], f"{register.register_info.name.get(language)} · {t['record_subtitle']}",
                    sections=sections, footer=t["footer"].format(hash=policies.hash), kind="record")


def _contact(policies: Policies, t: dict[str, str], language: str, *, as_pairs: bool = False) -> list[Block]:
    controller = policies.register.controller
    person, dpo = controller.contact_person, controller.data_protection_officer
    if as_pairs:
        pairs = [(person.role.get(language), f"{person.name}, {person.email}")]
        return [dl(pairs + ([(t["dpo"], f"{dpo.name}, {dpo.email}")] if dpo else []))]
    blocks = [p(f"{person.name}, {t['email']}: {person.email}")]
    return blocks + ([p(f"{t['dpo']}: {dpo.name}, {t['email']}: {dpo.email}")] if dpo else [])


def _purposes(policies: Policies, t: dict[str, str], language: str) -> Block:
    rows = []
    for purpose in policies.register.purposes.values():
        described = [labels.text(purpose.description, language)]
        if purpose.legitimate_interest is not None:
            described.append(f"{t['interest']}: {purpose.legitimate_interest.get(language)}")
        rows.append((purpose.title.get(language), " ".join(filter(None, described)), labels.legal_basis(purpose.legal_basis, language)))
    return table((t["purpose"], t["description"], t["basis"]), rows)


def _grants(recipient: Recipient, t: dict[str, str], words: Vocabulary) -> str:
    if recipient.access == "hosting":
        return t["hosting_purposes"]
    return "; ".join(
        f"{words.purpose(purpose)} ({t['no_consent'] if grant.consent == 'none' else t['with_consent'] + ': ' + words.consent(grant.consent)})"
        for purpose, grant in recipient.purposes.items()
    )


def _consents(policies: Policies, t: dict[str, str], words: Vocabulary, *, record: bool = False) -> list[Block]:
    """Each consent, its purpose and who processes under it: KSS Energia itself (or its processors), or a controller in its own right."""
    register, recipients = policies.register, policies.disclosure.recipients
    rows = []
    for name, consent in register.consents.items():
        granted = [(key, r) for key, r in recipients.items() if any(g.consent == name for g in r.purposes.values())]
        own = any(name in purpose.consents for purpose in register.purposes.values()) or any(not _controller(r) for _, r in granted)
        users = ([register.controller.name] if own else []) + [_name(key, r, t, words) for key, r in granted if _controller(r)]
        rows.append((consent.title.get(words.language), words.purpose(consent.purpose), "; ".join(users)))
    if not rows:
        return []
    intro = [p(t["record_consents_intro"])] if record else [p(t["consents_intro"]), p(t["others_intro"])]
    return [h3(t["consents_heading"]), *intro, table((t["consent"], t["purpose"], t["used_by"]), rows)]


def _controller(recipient: Recipient) -> bool:
    return recipient.role in ("controller", "joint-controller")


def _contents(policies: Policies, t: dict[str, str], words: Vocabulary) -> Block:
    register, specs = policies.register, field_specs(policies.register)
    rows = []
    for name, category in register.categories.items():
        if category.kind == "consents":
            fields = [t["consent_fields"]]
            purposes = {consent.purpose for consent in register.consents.values()}
        else:
            paths = [path for path in specs if path == name or path.startswith(f"{name}.")]
            fields = [words.field(path) + (f" ({t['required']})" if specs[path].required else "") for path in paths]
            purposes = {purpose for path in paths for purpose in specs[path].purposes}
        ordered = [words.purpose(purpose) for purpose in register.purposes if purpose in purposes]
        rows.append((category.title.get(words.language), ", ".join(fields), ", ".join(ordered)))
    return table((t["category"], t["fields"], t["purposes"]), rows)


def _special(policies: Policies, t: dict[str, str], words: Vocabulary) -> Block:
    special = [
        f"{words.field(path)}: {labels.word(labels.SPECIAL_CATEGORIES, spec.special_category, words.language)}"
        f" ({t['ground']}: {spec.special_category_ground})"
        for path, spec in field_specs(policies.register).items() if spec.special_category
    ]
    return ul(f"{t['special']}: {item}" for item in special) if special else p(t["no_special"])


def _name(key: str, recipient: Recipient, t: dict[str, str], words: Vocabulary) -> str:
    return words.recipient(key) + (f" [{t['example']}]" if recipient.example else "")


def _recipients(policies: Policies, t: dict[str, str], words: Vocabulary) -> list[Block]:
    """Each recipient or category of recipients: its role, purposes with the consent each needs, its data and its country."""
    language, recipients = words.language, policies.disclosure.recipients
    blocks: list[Block] = [note(t["example_note"])] if any(r.example for r in recipients.values()) else []
    for key, r in recipients.items():
        fields = t["all_fields"] if r.access == "hosting" else ", ".join(words.field(path) for path in r.fields)
        task = [(t["task"], r.category.get(language))] if r.name else []
        blocks += [h3((r.name or r.category.get(language)) + (f" [{t['example']}]" if r.example else "")), dl([
            *task, (t["role"], labels.word(labels.ROLES, r.role, language)), (t["purposes"], _grants(r, t, words)),
            (t["fields"], fields), (t["country"], labels.word(labels.COUNTRIES, r.country, language)),
        ])]
    return blocks


def _transfers(policies: Policies, t: dict[str, str], words: Vocabulary) -> list[Block]:
    outside = [
        f"{_name(key, r, t, words)}: {labels.word(labels.COUNTRIES, r.country, words.language)}"
        f" ({t['safeguard']}: {labels.word(labels.SAFEGUARDS, r.safeguard, words.language)})"
        for key, r in policies.disclosure.recipients.items() if not r.in_eu_eea
    ]
    found = [h3(t["outside"]), ul(outside)] if outside else [p(t["no_transfers"])]
    return [p(policies.disclosure.transfers.get(words.language)), *found]


def _disclosure(policies: Policies, t: dict[str, str], words: Vocabulary) -> list[Block]:
    return [p(policies.disclosure.statement.get(words.language)), *_recipients(policies, t, words), *_transfers(policies, t, words)]


def _rights(policies: Policies, t: dict[str, str], language: str) -> list[tuple[str, str]]:
    return [(f"{right.title.get(language)} ({t['article'].format(n=right.article)})", right.how.get(language)) for right in policies.register.rights]


def _retention(policies: Policies, t: dict[str, str], language: str) -> list[Block]:
    retention = policies.retention
    rules = [rule.description.get(language) for rule in retention.rules]
    kept = [kind.description.get(language) for _, kind in retention.records.items()]
    held = p(t["restricted_hold"]) if retention.restricted == "hold" else None
    return [block for block in (h3(t["status_rules"]), ul(rules), h3(t["records_heading"]), ul(kept), held) if block]


def _time_limits(policies: Policies, t: dict[str, str], language: str) -> Block:
    retention = policies.retention
    rows = [(labels.word(labels.STATUSES, rule.status, language).capitalize(), labels.period(rule.period, language), rule.description.get(language))
            for rule in retention.rules]
    rows += [(labels.word(labels.RECORD_KINDS, name, language), labels.period(kind.period, language), kind.description.get(language))
             for name, kind in retention.records.items()]
    return table((t["kept"], t["period"], t["description"]), rows)


def _required(policies: Policies, t: dict[str, str], words: Vocabulary) -> Block:
    required = [words.field(path) for path, spec in field_specs(policies.register).items() if spec.required]
    return p(f"{t['required_fields']}: {', '.join(required)}.")
