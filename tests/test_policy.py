"""Policies: strict validation with file and line, refusal of YAML tags, the policy hash.

Each case copies the shipped policies/ to a temporary directory and breaks one
thing, then runs ``kss-panel --policies DIR policy check`` and expects exit 6
with exactly one problem line naming the file, the line and what was expected.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import Result

from kss_panel.policy import Policies
from kss_panel.policy_files import load_policies
from kss_panel.retention import describe
from support import PASSPHRASE, Register, invoke
from support import POLICIES_DIR as SHIPPED

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
AINO = {
    "customer_number": "12345678",
    "contact": {"first_name": "Aino", "last_name": "Mäkelä", "email": "aino@example.fi", "language": "fi"},
}


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped policies, for one test to break."""
    return Path(shutil.copytree(SHIPPED, tmp_path / "policies"))


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    """A register with one applicant (``ids["aino"]``), unlocked on the command line by an officer key file."""
    return make_register({"aino": AINO}, NOW)


def run(policies: Path, *args: str, db: Path | None = None, env: dict[str, str] | None = None) -> Result:
    return invoke(*([] if db is None else ["--db", db]), "--policies", policies, *args, env=env)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {path.name} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def cut(path: Path, start: str, end: str) -> None:
    """Remove the text of ``path`` from ``start`` up to (not including) ``end``."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index(start)] + text[text.index(end):], encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    """1-based number of the only line of ``path`` that contains ``needle``."""
    found = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def problem_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("  ")]


def assert_policy_failure(result: Result, directory: Path) -> None:
    assert result.exit_code == 6, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr.splitlines()[0] == f"kss-panel: error: invalid policy in {directory}"
    assert result.stdout == ""
    assert "Traceback" not in result.output


def audit_rows(db: Path) -> list[tuple[int, str, str]]:
    conn = sqlite3.connect(db)
    try:
        return [(seq, action, policy.hex()) for seq, action, policy in conn.execute("SELECT seq, action, policy FROM audit ORDER BY seq")]
    finally:
        conn.close()


# --- the shipped policies -------------------------------------------------------------------------------------


def test_policy_check_accepts_the_shipped_policies() -> None:
    expected = load_policies(SHIPPED).hash
    result = run(SHIPPED, "policy", "check")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"policies in {SHIPPED} are valid (hash {expected})\n"
    assert result.stderr.splitlines() == [  # the shipped recipients are placeholders
        "kss-panel: warning: recipients marked as examples: panel-mailer, direct-marketing, sms-gateway, hosting, group-companies, partners",
        "kss-panel: hint: replace them with the parties of signed processor agreements and named companies before use",
    ]


def test_policy_check_json() -> None:
    result = run(SHIPPED, "policy", "check", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document == {
        "kss_panel": 1,
        "command": "policy check",
        "ok": True,
        "data": {
            "directory": str(SHIPPED),
            "hash": load_policies(SHIPPED).hash,
            "files": ["disclosure.yaml", "register.yaml", "retention.yaml", "surveys.yaml"],
            "examples": ["panel-mailer", "direct-marketing", "sms-gateway", "hosting", "group-companies", "partners"],
        },
    }


# --- one broken thing per case --------------------------------------------------------------------------------

RULE_KEYS = "name, description, status, clock, fallback_clock, period, action"

# (id, file, old text, new text, text on the line the problem must name, expected problem)
CASES = [
    (
        "unknown-key",
        "retention.yaml",
        "    status: applicant\n",
        "    status: applicant\n    colour: red\n",
        "colour: red",
        f"rules.0.colour: unknown key (expected one of: {RULE_KEYS})",
    ),
    (
        "wrong-type-retention",
        "retention.yaml",
        "period: {days: 90}",
        "period: {days: ninety}",
        "period: {days: ninety}",
        "rules.0.period.days: Input should be a valid integer",
    ),
    (
        "wrong-type-register",
        "register.yaml",
        "    max_items: 20",
        "    max_items: twenty",
        "max_items: twenty",
        "categories.hobbies.max_items: Input should be a valid integer",
    ),
    (
        "undefined-field",
        "disclosure.yaml",
        "      - contact.language\n\n  # §7: a company doing direct marketing",
        "      - contact.language\n      - contact.shoe_size\n\n  # §7: a company doing direct marketing",
        "contact.shoe_size",
        "recipients.panel-mailer.fields.4: undefined field 'contact.shoe_size' (expected a field path of register.yaml, like contact.email)",
    ),
    (
        "undefined-status",
        "retention.yaml",
        "    status: rejected\n",
        "    status: prospect\n",
        "status: prospect",
        "rules.1.status: Input should be 'applicant', 'member' or 'rejected'",
    ),
    (
        "undefined-consent",
        "disclosure.yaml",
        "marketing: {consent: sms_marketing}",
        "marketing: {consent: fax_marketing}",
        "fax_marketing",
        "recipients.sms-gateway.purposes.marketing.consent: undefined consent 'fax_marketing'"
        " (expected 'none' or one of email_marketing, sms_marketing, marketing_competitions, group_communication, group_market_research,"
        " group_marketing, group_competitions, partner_communication, partner_market_research, partner_marketing, partner_competitions)",
    ),
    (
        "undefined-purpose",
        "disclosure.yaml",
        "competitions: {consent: marketing_competitions}",
        "lottery: {consent: marketing_competitions}",
        "lottery:",
        "recipients.direct-marketing.purposes.lottery: undefined purpose 'lottery'"
        " (expected one of membership, communication, market_research, marketing, competitions)",
    ),
    (
        "outside-eu-eea-without-safeguard",
        "disclosure.yaml",
        "country: SE",
        "country: US",
        "country: US",
        "recipients.sms-gateway.country: US is outside the EU/EEA: the recipient needs a 'safeguard'",
    ),
    (
        "missing-key",
        "retention.yaml",
        "clock: rejected_at\n    period: {days: 30}\n    action: erase\n",
        "clock: rejected_at\n    period: {days: 30}\n",
        "- name: rejected-applicant",
        "rules.1.action: required key is missing",
    ),
    (
        "field-for-a-purpose-it-does-not-serve",
        "disclosure.yaml",
        "      - contact.language\n\n  # §7: a company doing direct marketing",
        "      - contact.language\n      - demographics.birth_year\n\n  # §7: a company doing direct marketing",
        "demographics.birth_year",
        "recipients.panel-mailer.fields.4: panel-mailer receives 'demographics.birth_year' for purpose 'communication',"
        " which the field does not serve (it serves: market_research, marketing)",
    ),
    (
        "purpose-without-legal-basis",
        "register.yaml",
        "    legal_basis: contract\n",
        "",
        "  membership:",
        "purposes.membership.legal_basis: required key is missing: every purpose needs its legal basis"
        " (GDPR Art. 6(1): consent, contract, legal-obligation, vital-interests, public-task, legitimate-interests)",
    ),
    (
        "purpose-on-consent-without-a-consent",
        "register.yaml",
        "\n# One consent, one purpose",
        "  newsletter:\n    title: {fi: Uutiskirje, sv: Nyhetsbrev, en: Newsletter}\n    legal_basis: consent  # newsletter\n\n# One consent, one purpose",
        "consent  # newsletter",
        "purposes.newsletter.legal_basis: purpose 'newsletter' is based on consent, but no consent is for it: it lacks its legal basis",
    ),
    (
        "consent-nobody-uses",
        "register.yaml",
        "  email_marketing:\n    purpose: marketing\n",
        "  partner_disclosure:\n    purpose: marketing\n    title: {fi: Luovutus kumppaneille, sv: Utlämnande till partner, en: Disclosure to partners}\n"
        "    text: {fi: Suostun luovutukseen., sv: Jag samtycker till utlämnandet., en: I consent to the disclosure.}\n"
        "  email_marketing:\n    purpose: marketing\n",
        "partner_disclosure:",
        "consents.partner_disclosure: consent 'partner_disclosure' is used by no purpose or recipient: list it under"
        " purposes.<name>.consents or as a recipient's consent in disclosure.yaml, or remove it",
    ),
    (
        "one-consent-one-purpose",
        "disclosure.yaml",
        "competitions: {consent: marketing_competitions}",
        "competitions: {consent: email_marketing}",
        "competitions: {consent: email_marketing}",
        "recipients.direct-marketing.purposes.competitions.consent: consent 'email_marketing' is for purpose 'marketing',"
        " not 'competitions': one consent, one purpose",
    ),
    (
        "survey-unknown-key",
        "surveys.yaml",
        "  per_year: 6\n",
        "  per_year: 6\n  colour: red\n",
        "colour: red",
        "rest.colour: unknown key (expected one of: days, per_year)",
    ),
    (
        "survey-recipient-undefined",
        "surveys.yaml",
        "recipient: panel-mailer",
        "recipient: survey-robot",
        "recipient: survey-robot",
        "recipient: undefined recipient 'survey-robot' (expected one of panel-mailer, direct-marketing, sms-gateway, hosting,"
        " group-companies, partners)",
    ),
    (
        "survey-recipient-not-for-the-purpose",
        "surveys.yaml",
        "recipient: panel-mailer",
        "recipient: direct-marketing",
        "recipient: direct-marketing",
        "recipient: direct-marketing does not receive data for purpose 'market_research' (disclosure.yaml lists: marketing, competitions)",
    ),
    (
        "survey-field-the-recipient-may-not-receive",
        "surveys.yaml",
        "  - contact.language\n\n# How often",
        "  - contact.language\n  - contact.phone\n\n# How often",
        "- contact.phone",
        "fields.3: panel-mailer may not receive 'contact.phone': it is not among the recipient's fields in disclosure.yaml",
    ),
    (
        "strata-of-free-text",
        "surveys.yaml",
        "  - contact.language\n\n# Prize draws",
        "  - contact.language\n  - contact.city\n\n# Prize draws",
        "- contact.city",
        "strata.10: 'contact.city' is of type text: strata take enum, boolean, integer, birth_year, score, postal_code",
    ),
    (
        "strata-listed-twice",
        "surveys.yaml",
        "  - contact.language\n\n# Prize draws",
        "  - contact.language\n  - demographics.gender  # again\n\n# Prize draws",
        "# again",
        "strata.10: 'demographics.gender' is listed twice",
    ),
    (
        "draw-consent-for-another-purpose",
        "surveys.yaml",
        "  consent: marketing_competitions",
        "  consent: email_marketing",
        "consent: email_marketing",
        "draws.consent: consent 'email_marketing' is for purpose 'marketing', not 'competitions': one consent, one purpose",
    ),
    (
        "invalid-yaml",
        "retention.yaml",
        "en: A rejected applicant is erased",
        "en: note: A rejected applicant is erased",
        "note: A rejected applicant",
        "not valid YAML: mapping values are not allowed in this context",
    ),
]


@pytest.mark.parametrize(("filename", "old", "new", "needle", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_policy_check_names_file_and_line(policy_dir: Path, filename: str, old: str, new: str, needle: str, problem: str) -> None:
    path = policy_dir / filename
    edit(path, old, new)
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    assert problem_lines(result) == [f"  {path}:{line_of(path, needle)}: {problem}"]


def test_a_status_without_retention_rule_is_an_error(policy_dir: Path) -> None:
    path = policy_dir / "retention.yaml"
    cut(path, "  - name: rejected-applicant", "  - name: conditions-not-met")
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    assert problem_lines(result) == [f"  {path}:{line_of(path, 'rules:')}: rules: data stored for status 'rejected' has no retention rule"]


def test_consent_naming_an_undefined_purpose_is_reported_at_its_line(policy_dir: Path) -> None:
    # register.yaml's own cross-reference: consents.<name>.purpose must be a defined purpose.
    path = policy_dir / "register.yaml"
    edit(path, "  sms_marketing:\n    purpose: marketing", "  sms_marketing:\n    purpose: advertising")
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    [line] = problem_lines(result)
    assert line.startswith(f"  {path}:{line_of(path, 'purpose: advertising')}: consents.sms_marketing.purpose: "), line
    assert "'advertising'" in line


def test_every_problem_is_listed_at_once(policy_dir: Path) -> None:
    retention, disclosure = policy_dir / "retention.yaml", policy_dir / "disclosure.yaml"
    edit(retention, "    status: applicant\n", "    status: applicant\n    colour: red\n")
    edit(disclosure, "country: SE", "country: US")
    edit(disclosure, "marketing: {consent: email_marketing}", "marketing: {consent: fax_marketing}")
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    # The retention error stops the cross-file checks, so only the per-file error is listed.
    assert problem_lines(result) == [f"  {retention}:{line_of(retention, 'colour')}: rules.0.colour: unknown key (expected one of: {RULE_KEYS})"]
    shutil.copy(SHIPPED / "retention.yaml", retention)
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    assert len(problem_lines(result)) == 2
    assert any(f"{disclosure}:{line_of(disclosure, 'country: US')}: " in line for line in problem_lines(result))
    assert any(f"{disclosure}:{line_of(disclosure, 'fax_marketing')}: " in line for line in problem_lines(result))


def test_a_duplicate_key_is_an_error(policy_dir: Path) -> None:
    # yaml.safe_load keeps the last of two equal keys silently; strict validation must not.
    path = policy_dir / "retention.yaml"
    edit(path, "restricted: hold\n", "restricted: hold\nrestricted: ignore\n")
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    [line] = problem_lines(result)
    assert line.startswith(f"  {path}:{line_of(path, 'restricted: ignore')}: "), line
    assert "restricted" in line and "duplicate" in line, line


def test_a_recipient_outside_the_eu_with_a_safeguard_passes(policy_dir: Path) -> None:
    edit(policy_dir / "disclosure.yaml", "country: SE", "country: US\n    safeguard: standard-contractual-clauses")
    result = run(policy_dir, "policy", "check")
    assert result.exit_code == 0, result.stderr
    assert load_policies(policy_dir).disclosure.recipients["sms-gateway"].safeguard == "standard-contractual-clauses"


def test_an_unknown_safeguard_is_an_error(policy_dir: Path) -> None:
    path = policy_dir / "disclosure.yaml"
    edit(path, "country: SE", "country: US\n    safeguard: a-handshake")
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    [line] = problem_lines(result)
    assert line.startswith(f"  {path}:{line_of(path, 'safeguard: a-handshake')}: recipients.sms-gateway.safeguard: "), line


def test_a_missing_policy_file_is_an_error(policy_dir: Path) -> None:
    (policy_dir / "disclosure.yaml").unlink()
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    assert problem_lines(result) == [f"  {policy_dir / 'disclosure.yaml'}: policy file is missing"]


# --- YAML tags never build objects ----------------------------------------------------------------------------

TAGS = [
    "!!python/object/apply:os.system [{command!r}]",
    "!!python/object/apply:subprocess.check_call [[sh, -c, {command!r}]]",
    "!!python/object/new:os.system [{command!r}]",
    "!!python/object:os.system {{x: {command!r}}}",
    "!!python/name:os.system",
]


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("filename", ["retention.yaml", "register.yaml"])
def test_python_tags_are_refused_and_never_executed(policy_dir: Path, tmp_path: Path, tag: str, filename: str) -> None:
    marker = tmp_path / "pwned"
    payload = tag.format(command=f"touch {marker}")
    path = policy_dir / filename
    edit(path, "\nversion: 1\n", f"\nversion: 1\nnote: {payload}\n")
    for args in (("policy", "check"), ("policy", "show"), ("purge",)):
        result = run(policy_dir, *args, db=tmp_path / "absent.db")
        assert_policy_failure(result, policy_dir)
        [line] = problem_lines(result)
        assert line.startswith(f"  {path}:{line_of(path, 'note: !!python')}: not valid YAML: could not determine a constructor for the tag"), line
    assert not marker.exists()


def test_a_tag_on_a_mapping_key_is_refused(policy_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    edit(policy_dir / "disclosure.yaml", "\nversion: 1\n", f"\nversion: 1\n? !!python/object/apply:os.system ['touch {marker}']\n: x\n")
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    assert not marker.exists()


# --- every command refuses a broken policy --------------------------------------------------------------------


def _commands(reg: Register, tmp_path: Path) -> dict[str, list[str]]:
    roster = tmp_path / "roster.csv"
    roster.write_text("customer_number\n12345678\n")
    activity = tmp_path / "activity.csv"
    activity.write_text(f"member_id,date\n{reg.ids['aino']},2026-06-01\n")
    applicant = tmp_path / "applicant.json"
    applicant.write_text(json.dumps({**AINO, "customer_number": "1234567", "contact": {**AINO["contact"], "email": "b@example.fi"}}))
    key = ["--key-file", str(reg.key_file)]
    return {
        "purge": ["purge", *key],
        "purge-apply": ["purge", "--apply", "--quiet", *key],
        "show": ["show", reg.ids["aino"], *key],
        "list": ["list", *key],
        "find": ["find", "--email", "aino@example.fi", *key],
        "enrol": ["enrol", "--file", str(applicant), *key],
        "update": ["update", reg.ids["aino"], "--set", "contact.first_name=Aina", *key],
        "admit": ["admit", reg.ids["aino"], "--customers", str(roster), *key],
        "reject": ["reject", reg.ids["aino"], "--reason", "not-a-customer", *key],
        "eligibility": ["eligibility", "--customers", str(roster), "--remove", *key],
        "activity-import": ["activity", "import", str(activity), *key],
        "officer-list": ["officer", "list", *key],
        "officer-remove": ["officer", "remove", "desk", *key],
        "audit-log": ["audit", "log", *key],
        "policy-show": ["policy", "show"],
    }


COMMANDS = [
    "purge", "purge-apply", "show", "list", "find", "enrol", "update", "admit", "reject", "eligibility",
    "activity-import", "officer-list", "officer-remove", "audit-log", "policy-show",
]


@pytest.mark.parametrize("command", [("audit", "verify"), ("audit", "head")])
def test_verifying_the_trail_needs_no_policy(policy_dir: Path, reg: Register, command: tuple[str, ...]) -> None:
    """An auditor may have the file and nothing else: verification reads no policy (nor key)."""
    edit(policy_dir / "disclosure.yaml", "country: SE", "country: US")
    result = run(policy_dir, *command, db=reg.db)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_exits_6_on_a_broken_policy(policy_dir: Path, reg: Register, tmp_path: Path, command: str) -> None:
    path = policy_dir / "disclosure.yaml"
    edit(path, "country: SE", "country: US")
    before = reg.db.read_bytes()
    result = run(policy_dir, *_commands(reg, tmp_path)[command], db=reg.db)
    assert_policy_failure(result, policy_dir)
    assert problem_lines(result) == [
        f"  {path}:{line_of(path, 'country: US')}: recipients.sms-gateway.country: US is outside the EU/EEA: the recipient needs a 'safeguard'"
    ]
    assert reg.db.read_bytes() == before


def test_init_refuses_a_broken_policy_and_creates_nothing(policy_dir: Path, tmp_path: Path) -> None:
    edit(policy_dir / "retention.yaml", "restricted: hold", "restricted: sometimes")
    db = tmp_path / "new.db"
    result = run(policy_dir, "init", "--officer", "aino", "--unlock-time", "0", db=db, env={"KSS_PANEL_PASSPHRASE": PASSPHRASE})
    assert_policy_failure(result, policy_dir)
    assert not db.exists()


def test_broken_policy_json_error(policy_dir: Path, reg: Register) -> None:
    path = policy_dir / "retention.yaml"
    edit(path, "period: {days: 90}", "period: {days: ninety}")
    result = run(policy_dir, "purge", "--json", "--key-file", str(reg.key_file), db=reg.db)
    assert result.exit_code == 6
    assert json.loads(result.stdout) == {
        "kss_panel": 1,
        "command": "purge",
        "ok": False,
        "error": {
            "code": 6,
            "type": "invalid_policy",
            "message": f"invalid policy in {policy_dir}",
            "problems": [{"path": f"{path}:{line_of(path, 'ninety')}", "problem": "rules.0.period.days: Input should be a valid integer"}],
        },
    }


# --- the policy hash ------------------------------------------------------------------------------------------


def test_policy_show_json_carries_the_hash_of_later_audit_entries(reg: Register, tmp_path: Path) -> None:
    result = run(SHIPPED, "policy", "show", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["command"] == "policy show"
    data = document["data"]
    assert set(data) == {"hash", "register", "retention", "disclosure", "surveys"}
    assert (data["surveys"]["recipient"], data["surveys"]["rest"]) == ("panel-mailer", {"days": 30, "per_year": 6})
    assert data["retention"]["restricted"] == "hold"
    assert [rule["name"] for rule in data["retention"]["rules"]] == [
        "applicant-not-admitted", "rejected-applicant", "conditions-not-met", "inactive-member",
    ]
    policy_hash = data["hash"]
    assert len(policy_hash) == 16 and policy_hash == load_policies(SHIPPED).hash

    seen = len(audit_rows(reg.db))
    roster = tmp_path / "roster.csv"
    roster.write_text("customer_number\n12345678\n")
    key = ["--key-file", str(reg.key_file)]
    assert run(SHIPPED, "admit", reg.ids["aino"], "--customers", str(roster), *key, db=reg.db).exit_code == 0
    assert run(SHIPPED, "show", reg.ids["aino"], *key, db=reg.db).exit_code == 0
    assert run(SHIPPED, "purge", "--apply", *key, db=reg.db).exit_code == 0
    later = audit_rows(reg.db)[seen:]
    assert [action for _, action, _ in later] == ["admit", "show"]
    assert {hash_ for _, _, hash_ in audit_rows(reg.db)} == {policy_hash}


def test_changing_a_policy_changes_the_hash(policy_dir: Path, reg: Register) -> None:
    original = load_policies(SHIPPED).hash
    assert load_policies(policy_dir).hash == original  # the hash names the content, not the directory
    edit(policy_dir / "retention.yaml", "    max_percent: 5\n    always_allowed: 3\n  eligibility", "    max_percent: 6\n    always_allowed: 3\n  eligibility")
    result = run(policy_dir, "policy", "show", "--json")
    assert result.exit_code == 0, result.stderr
    changed = json.loads(result.stdout)["data"]["hash"]
    assert changed != original

    edit(policy_dir / "register.yaml", "  outside-target-group:", "  withdrawn: {fi: Hakemus peruttu., sv: Ansökan återtagen., en: The application was withdrawn.}\n  outside-target-group:")
    changed_again = load_policies(policy_dir).hash
    assert changed_again not in (original, changed)

    seen = len(audit_rows(reg.db))
    result = run(policy_dir, "reject", reg.ids["aino"], "--reason", "withdrawn", "--key-file", str(reg.key_file), db=reg.db)
    assert result.exit_code == 0, result.stderr
    rows = audit_rows(reg.db)
    assert {hash_ for _, _, hash_ in rows[:seen]} == {original}
    assert [(action, hash_) for _, action, hash_ in rows[seen:]] == [("reject", changed_again)]


def test_loaded_policies_match_the_files(policy_dir: Path) -> None:
    policies: Policies = load_policies(policy_dir)
    assert policies.retention.restricted == "hold"
    assert [(r.name, r.status, r.clock, r.fallback_clock, describe(r.period)) for r in policies.retention.rules] == [
        ("applicant-not-admitted", "applicant", "applied_at", None, "90 days"),
        ("rejected-applicant", "rejected", "rejected_at", None, "30 days"),
        ("conditions-not-met", "member", "ineligible_at", None, "30 days"),
        ("inactive-member", "member", "last_activity_at", "admitted_at", "24 months"),
    ]


# --- every field accounted for -------------------------------------------------------------------------------

DIGITAL = """      digital_services:
        type: score
        label: {fi: Digitaalisten palvelujen käyttö (1–5), sv: Användning av digitala tjänster (1–5), en: Use of digital services (1–5)}
        purposes: [market_research]
"""
LABEL = "        label: {fi: Poliittinen kanta, sv: Politisk hållning, en: Political views}\n"


def add_field(directory: Path, field: str) -> Path:
    """A copy of the shipped register.yaml with ``field`` (YAML lines) added to the attitudes category."""
    path = directory / "register.yaml"
    edit(path, DIGITAL, DIGITAL + field)
    return path


def one_problem(directory: Path) -> str:
    result = run(directory, "policy", "check")
    assert_policy_failure(result, directory)
    [line] = problem_lines(result)
    return line


@pytest.mark.parametrize(("field", "needle", "problem"), [
    (
        "      shoe_size:\n        type: integer\n" + LABEL.replace("Poliittinen kanta", "Kengän koko"),
        "shoe_size:",
        "categories.attitudes.fields.shoe_size: field 'attitudes.shoe_size' serves no purpose:"
        " list its purposes (GDPR Art. 5(1)(b)-(c): no data without a purpose)",
    ),
    (
        "      political_views:\n        type: text\n" + LABEL + "        purposes: [market_research]\n",
        "political_views:",
        "categories.attitudes.fields.political_views: field 'attitudes.political_views' looks like a special category of personal data"
        " (GDPR Art. 9(1)): mark it with 'special_category' and its Art. 9(2) ground in 'special_category_ground', or remove it",
    ),
    (
        "      political_views:\n        type: text\n" + LABEL + "        purposes: [market_research]\n        special_category: political-opinions\n",
        "special_category: political-opinions",
        "categories.attitudes.fields.political_views.special_category: field 'attitudes.political_views' is a special category"
        " (political-opinions) with no Art. 9(2) ground: processing it is prohibited (GDPR Art. 9(1)); name the ground in 'special_category_ground'",
    ),
    (
        "      political_views:\n        type: text\n" + LABEL + "        purposes: [market_research]\n        special_category: political-opinions\n"
        "        special_category_ground: explicit-consent\n",
        "purposes: [market_research]\n        special_category:",
        "categories.attitudes.fields.political_views.purposes: field 'attitudes.political_views' rests on explicit consent (Art. 9(2)(a)),"
        " but purpose 'market_research' is not based on consent",
    ),
    (
        "      shoe_size:\n        type: integer\n        purposes: [market_research]\n",
        "shoe_size:",
        "categories.attitudes.fields.shoe_size: field 'attitudes.shoe_size' has no label: notices and reports name it in fi, sv and en",
    ),
    (
        "      shoe_size:\n        type: integer\n" + LABEL + "        purposes: [market_research, sales]\n",
        "purposes: [market_research, sales]",
        "categories.attitudes.fields.shoe_size.purposes.1: undefined purpose 'sales'"
        " (expected one of membership, communication, market_research, marketing, competitions)",
    ),
], ids=["no-purpose", "political-views-unmarked", "special-category-without-ground", "explicit-consent-without-consent", "no-label",
        "undefined-purpose"])
def test_a_field_not_accounted_for_is_an_invalid_policy(policy_dir: Path, field: str, needle: str, problem: str) -> None:
    path = add_field(policy_dir, field)
    line = one_problem(policy_dir)
    found = [n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle.split("\n")[0] in text]
    assert line == f"  {path}:{found[-1]}: {problem}"


def test_political_views_with_no_purpose_fails_twice(policy_dir: Path) -> None:
    path = add_field(policy_dir, "      political_views:\n        type: text\n" + LABEL)
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    at = f"  {path}:{line_of(path, 'political_views:')}: categories.attitudes.fields.political_views: field 'attitudes.political_views' "
    assert [line[: len(at)] for line in problem_lines(result)] == [at, at]
    assert "serves no purpose" in problem_lines(result)[0] and "special category" in problem_lines(result)[1]


def test_a_special_category_with_its_ground_and_explicit_consent_passes(policy_dir: Path) -> None:
    add_field(policy_dir, "      political_views:\n        type: text\n" + LABEL + "        purposes: [marketing]\n"
                          "        special_category: political-opinions\n        special_category_ground: explicit-consent\n")
    result = run(policy_dir, "policy", "check")
    assert result.exit_code == 0, result.stderr
    notice = run(policy_dir, "notice", "--lang", "en")
    assert "Special categories of personal data (Article 9 of the GDPR): Political views: political opinions (ground: explicit-consent)" in notice.stdout


def test_legitimate_interests_must_be_stated(policy_dir: Path) -> None:
    path = policy_dir / "register.yaml"
    cut(path, "    legitimate_interest:\n      fi: KSS Energian oikeutettu etu pitää", "  market_research:\n")
    assert one_problem(policy_dir) == (
        f"  {path}:{line_of(path, '  communication:')}: purposes.communication: a purpose based on legitimate interests states the interest"
        " in 'legitimate_interest' (GDPR Art. 13(1)(d)); no other purpose has one"
    )


@pytest.mark.parametrize(("old", "new", "needle", "problem"), [
    ("    access: hosting\n", "    access: hosting\n    fields: [contact.email]\n", "  hosting:",
     "recipients.hosting: a hosting recipient holds every field for every purpose: it takes no 'purposes' or 'fields'"),
    ("    access: hosting\n", "", "  hosting:", "recipients.hosting: a recipient of exports needs 'purposes' and 'fields'"),
])
def test_hosting_and_export_recipients_have_their_own_shape(policy_dir: Path, old: str, new: str, needle: str, problem: str) -> None:
    path = policy_dir / "disclosure.yaml"
    edit(path, old, new)
    assert one_problem(policy_dir) == f"  {path}:{line_of(path, needle)}: {problem}"


def test_an_enumeration_needs_its_labels(policy_dir: Path) -> None:
    path = policy_dir / "register.yaml"
    edit(path, "          farm: {fi: maatila, sv: lantgård, en: farm}", "          farm: maatila")
    line = one_problem(policy_dir)
    assert line.startswith(f"  {path}:{line_of(path, 'farm: maatila')}: categories.demographics.fields.dwelling_type.values.farm: "), line


def test_invitations_kept_shorter_than_the_rest_period_counts_are_refused(policy_dir: Path) -> None:
    retention, surveys = policy_dir / "retention.yaml", policy_dir / "surveys.yaml"
    edit(retention, "  survey_invitations:\n    period: {months: 24}", "  survey_invitations:\n    period: {months: 6}")
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    assert problem_lines(result) == [
        f"  {surveys}:{line_of(surveys, 'rest:')}: rest: the rest period counts a member's invitations of the last twelve months and 30 days,"
        " but retention.yaml keeps invitations only 6 months (records.survey_invitations)"
    ]


def test_a_strata_field_must_serve_the_surveys_purpose(policy_dir: Path) -> None:
    register, surveys = policy_dir / "register.yaml", policy_dir / "surveys.yaml"
    edit(register, "        label: {fi: Sukupuoli, sv: Kön, en: Gender}\n        purposes: [market_research, marketing]",
         "        label: {fi: Sukupuoli, sv: Kön, en: Gender}\n        purposes: [marketing]")
    result = run(policy_dir, "policy", "check")
    assert_policy_failure(result, policy_dir)
    assert problem_lines(result) == [
        f"  {surveys}:{line_of(surveys, '- demographics.gender')}: strata.1: 'demographics.gender' does not serve purpose 'market_research'"
        " (it serves: marketing)"
    ]
