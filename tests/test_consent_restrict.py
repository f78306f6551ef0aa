"""Consents (Art. 7(3)), objection to direct marketing (Art. 21) and restriction
of processing (Art. 18), and how each takes effect in disclosures and purges.

The command line runs at a fixed instant (``cli._now`` is pinned to NOW).
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kss_panel import cli, crypto, services
from kss_panel.cli import app
from kss_panel.policy import Policies, load_policies

POLICIES_DIR = Path(__file__).resolve().parents[1] / "policies"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # noon UTC: the same day in Helsinki
TODAY = "2026-06-15"
FAR_FUTURE = date(2100, 1, 1)
FAST_KDF = crypto.KdfParams(salt=b"s" * 16, memory_kib=64, iterations=1, lanes=1)
PASSPHRASE = "correct horse battery"
runner = CliRunner()
GROUNDS = ("accuracy-contested", "unlawful-processing", "legal-claims", "objection-pending")
ALL_GIVEN = {"email_marketing": True, "sms_marketing": True, "partner_disclosure": True}
NONE_GIVEN = {"email_marketing": False, "sms_marketing": False, "partner_disclosure": False}


def person(n: int, consents: dict[str, bool]) -> dict[str, Any]:
    return {
        "customer_number": customer(n),
        "contact": {
            "first_name": "Aino",
            "last_name": "Mäkelä",
            "email": f"aino.{n}@example.fi",
            "phone": f"+35840{2000000 + n}",
            "postal_code": "45100",
            "city": "Kouvola",
            "language": "fi",
        },
        "demographics": {"birth_year": 1978},
        "electricity": {"heating": "heat_pump"},
        "hobbies": ["sauna"],
        "consents": consents,
    }


def customer(n: int) -> str:
    return f"{30000000 + n}"


_POLICIES: dict[Path, Policies] = {}


def cached_policies(directory: Path) -> Policies:
    """load_policies, parsed once per directory: the same policies, without
    re-reading the YAML on every command (that is most of a command's time)."""
    key = Path(directory).resolve()
    if key not in _POLICIES:
        _POLICIES[key] = load_policies(directory)
    return _POLICIES[key]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KSS_PANEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(cli, "_now", lambda: NOW)
    monkeypatch.setattr(cli, "load_policies", cached_policies)


@pytest.fixture(scope="module")
def policies() -> Policies:
    return load_policies(POLICIES_DIR)


@dataclass
class Reg:
    dir: Path
    db: Path
    key_file: Path
    policies: Policies
    ids: dict[str, str] = field(default_factory=dict)
    exports: int = 0

    def run(self, *args: str) -> Result:
        argv = ["--db", str(self.db), "--policies", str(POLICIES_DIR), *args, "--key-file", str(self.key_file)]
        return runner.invoke(app, argv, env={})

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return json.loads(result.stdout)["data"]

    def session(self) -> services.Session:
        secret = crypto.parse_key_file(self.key_file.read_text())
        return services.unlock(self.db, self.policies, services.Credentials(key_secret=secret))

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        conn = sqlite3.connect(self.db)
        try:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            return {n: conn.execute(f'SELECT * FROM "{n}" ORDER BY rowid').fetchall() for n in names}
        finally:
            conn.close()

    def audit(self) -> list[dict[str, Any]]:
        conn = sqlite3.connect(self.db)
        try:
            rows = conn.execute("SELECT action, member_id, fields, detail FROM audit ORDER BY seq").fetchall()
        finally:
            conn.close()
        return [{"action": a, "member_id": m, "fields": json.loads(f), "detail": json.loads(d)} for a, m, f, d in rows]

    def last(self, action: str) -> dict[str, Any]:
        """The latest audit entry of this action."""
        return [entry for entry in self.audit() if entry["action"] == action][-1]

    def admit(self, *names: str) -> None:
        roster = self.dir / "roster.csv"
        roster.write_text("customer_number\n" + "".join(customer(n) + "\n" for n in range(1, 10)), encoding="utf-8")
        for name in names:
            result = self.run("admit", self.ids[name], "--customers", str(roster))
            assert result.exit_code == 0, result.stderr

    def disclosed(self) -> set[str]:
        """Member ids in a fresh `export disclosure direct-marketing --purpose marketing` CSV."""
        self.exports += 1
        out = self.dir / f"mailing-{self.exports}.csv"
        result = self.run("export", "disclosure", "direct-marketing", "--purpose", "marketing", "--out", str(out))
        assert result.exit_code == 0, result.stderr
        with open(out, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return {row["member_id"] for row in rows}

    def consents(self, name: str) -> dict[str, bool]:
        return dict(self.json("show", self.ids[name])["consents"])


def make_register(directory: Path, policies: Policies, members: dict[str, dict[str, Any]]) -> Reg:
    db = directory / "register.db"
    key_text = crypto.new_key_file_text()
    key_file = directory / "desk.key"
    key_file.write_text(key_text)
    with services.init_register(db, policies, "aino", PASSPHRASE, FAST_KDF, NOW) as session:
        services.add_officer(session, "desk", "officer", NOW, key_secret=crypto.parse_key_file(key_text))
        ids = {name: services.enrol(session, data, NOW) for name, data in members.items()}
    return Reg(directory, db, key_file, policies, ids)


@pytest.fixture
def reg(tmp_path: Path, policies: Policies) -> Reg:
    """'yes' gave every consent, 'no' none; both applicants."""
    return make_register(tmp_path, policies, {"yes": person(1, ALL_GIVEN), "no": person(2, NONE_GIVEN)})


@pytest.fixture
def panel(tmp_path: Path, policies: Policies) -> Reg:
    """Five admitted members who all consent to email marketing, one who does not, one applicant who does."""
    members = {f"c{n}": person(n, ALL_GIVEN) for n in range(1, 6)}
    members["refuser"] = person(6, {**ALL_GIVEN, "email_marketing": False})
    members["applicant"] = person(7, ALL_GIVEN)
    reg = make_register(tmp_path, policies, members)
    with reg.session() as session:  # as `admit --customers` does (tested below), without a process per member
        for n, name in enumerate(["c1", "c2", "c3", "c4", "c5", "refuser"], start=1):
            services.admit(session, reg.ids[name], [customer(n)], NOW)
    return reg


def assert_failure(result: Result, code: int) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr.startswith("kss-panel: error: "), result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


# --- consent ------------------------------------------------------------------------------------------------


def test_give_and_withdraw_change_the_consents(reg: Reg) -> None:
    data = reg.json("consent", reg.ids["no"], "--give", "email_marketing", "--give", "sms_marketing")
    assert data == {"member_id": reg.ids["no"], "consents": {**NONE_GIVEN, "email_marketing": True, "sms_marketing": True}}
    assert reg.consents("no") == {**NONE_GIVEN, "email_marketing": True, "sms_marketing": True}

    reg.json("consent", reg.ids["no"], "--withdraw", "sms_marketing")
    assert reg.consents("no") == {**NONE_GIVEN, "email_marketing": True}
    assert reg.consents("yes") == ALL_GIVEN  # only the named member

    entry = reg.last("consent")
    assert entry["member_id"] == reg.ids["no"]
    assert entry["fields"] == ["consents.sms_marketing"]
    assert entry["detail"] == {"given": [], "withdrawn": ["sms_marketing"]}


def test_withdrawing_does_not_set_objected_at(reg: Reg) -> None:
    reg.json("consent", reg.ids["yes"], "--withdraw", "email_marketing")
    shown = reg.json("show", reg.ids["yes"])
    assert shown["objected_at"] is None
    assert shown["updated_at"] == TODAY


@pytest.mark.parametrize(
    "args",
    [
        ("--give", "newsletter"),
        ("--withdraw", "EMAIL_MARKETING"),
        ("--give", "email_marketing", "--withdraw", "telepathy"),
        (),
    ],
)
def test_unknown_consent_or_no_change_is_invalid(reg: Reg, args: tuple[str, ...]) -> None:
    before = reg.tables()
    assert_failure(reg.run("consent", reg.ids["no"], *args), 5)
    assert reg.tables() == before


def test_consent_of_an_unknown_member_is_not_found(reg: Reg) -> None:
    before = reg.tables()
    assert_failure(reg.run("consent", "Mnosuchmember00000", "--give", "email_marketing"), 4)
    assert reg.tables() == before


def test_direct_marketing_consents_of_the_shipped_policy(policies: Policies) -> None:
    register = policies.register
    marketing = {name for name, c in register.consents.items() if register.purposes[c.purpose].direct_marketing}
    assert marketing == {"email_marketing", "sms_marketing", "partner_disclosure"}


def test_object_withdraws_every_marketing_consent_and_sets_objected_at(reg: Reg) -> None:
    data = reg.json("consent", reg.ids["yes"], "--object")
    assert data["consents"] == NONE_GIVEN
    shown = reg.json("show", reg.ids["yes"])
    assert shown["consents"] == NONE_GIVEN
    assert shown["objected_at"] == TODAY
    entry = reg.last("object")
    assert entry["member_id"] == reg.ids["yes"]
    assert entry["detail"]["withdrawn"] == ["email_marketing", "partner_disclosure", "sms_marketing"]
    assert reg.json("show", reg.ids["no"])["objected_at"] is None


def test_object_without_any_consent_still_records_the_objection(reg: Reg) -> None:
    reg.json("consent", reg.ids["no"], "--object")
    shown = reg.json("show", reg.ids["no"])
    assert shown["objected_at"] == TODAY
    assert shown["consents"] == NONE_GIVEN


# --- consent and objection in disclosures -------------------------------------------------------------------


def test_only_consenting_admitted_members_are_disclosed(panel: Reg) -> None:
    assert panel.disclosed() == {panel.ids[f"c{n}"] for n in range(1, 6)}  # not the refuser, not the applicant


def test_members_admitted_with_the_roster_are_disclosed(reg: Reg) -> None:
    assert reg.disclosed() == set()  # applicants are never disclosed
    reg.admit("yes", "no")
    shown = reg.json("show", reg.ids["yes"])
    assert (shown["status"], shown["admitted_at"]) == ("member", TODAY)
    assert reg.disclosed() == {reg.ids["yes"]}
    reg.json("consent", reg.ids["no"], "--give", "email_marketing")
    reg.json("consent", reg.ids["yes"], "--object")
    assert reg.disclosed() == {reg.ids["no"]}


def test_withdrawn_consent_takes_effect_in_disclosures(panel: Reg) -> None:
    panel.json("consent", panel.ids["c1"], "--withdraw", "email_marketing")
    disclosed = panel.disclosed()
    assert panel.ids["c1"] not in disclosed
    assert panel.ids["c2"] in disclosed
    panel.json("consent", panel.ids["c1"], "--give", "email_marketing")
    assert panel.ids["c1"] in panel.disclosed()


def test_excluded_members_never_appear_in_the_disclosure_output(panel: Reg) -> None:
    panel.json("consent", panel.ids["c1"], "--withdraw", "email_marketing")
    panel.json("restrict", panel.ids["c2"], "--reason", "accuracy-contested")
    panel.json("consent", panel.ids["c3"], "--object")
    out = panel.dir / "mailing.json"
    data = panel.json("export", "disclosure", "direct-marketing", "--purpose", "marketing", "--out", str(out), "--format", "json")
    assert (data["members"], data["disclosed"], data["restricted"], data["objected"], data["no_consent"]) == (6, 2, 1, 1, 2)
    text = out.read_text(encoding="utf-8")
    disclosed = {row["member_id"] for row in json.loads(text)}
    assert disclosed == {panel.ids["c4"], panel.ids["c5"]}
    for excluded, n in {"c1": 1, "c2": 2, "c3": 3, "refuser": 6, "applicant": 7}.items():
        assert panel.ids[excluded] not in text
        assert f"aino.{n}@example.fi" not in text
    assert "aino.4@example.fi" in text and "aino.5@example.fi" in text
    # the disclosure log holds only the disclosed members
    with panel.session() as session, session.store.read():
        logged = {row["member_id"] for row in session.store.db["disclosures"].rows}
    assert logged == disclosed


def test_an_objector_who_gives_consent_again_is_still_not_disclosed(panel: Reg) -> None:
    panel.json("consent", panel.ids["c1"], "--object")
    panel.json("consent", panel.ids["c1"], "--give", "email_marketing")
    assert panel.consents("c1")["email_marketing"] is True
    assert panel.ids["c1"] not in panel.disclosed()


# --- restriction --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ground", GROUNDS)
def test_restrict_on_each_ground_shows_in_show_json(reg: Reg, ground: str) -> None:
    data = reg.json("restrict", reg.ids["yes"], "--reason", ground)
    assert (data["restricted_at"], data["restriction_reason"]) == (TODAY, ground)
    shown = reg.json("show", reg.ids["yes"])
    assert (shown["restricted_at"], shown["restriction_reason"]) == (TODAY, ground)
    assert reg.json("show", reg.ids["no"])["restricted_at"] is None
    entry = reg.last("restrict")
    assert (entry["member_id"], entry["fields"], entry["detail"]) == (reg.ids["yes"], [], {"reason": ground})


@pytest.mark.parametrize("ground", ["because", "accuracy", "objection", "ACCURACY-CONTESTED", ""])
def test_restrict_outside_the_art_18_grounds_is_invalid(reg: Reg, ground: str) -> None:
    before = reg.tables()
    assert_failure(reg.run("restrict", reg.ids["yes"], "--reason", ground), 5)
    assert reg.tables() == before


@pytest.mark.parametrize("args", [(), ("--reason", "legal-claims", "--lift")])
def test_restrict_needs_exactly_one_of_reason_and_lift(reg: Reg, args: tuple[str, ...]) -> None:
    before = reg.tables()
    assert_failure(reg.run("restrict", reg.ids["yes"], *args), 5)
    assert reg.tables() == before


def test_lifting_when_not_restricted_is_invalid(reg: Reg) -> None:
    before = reg.tables()
    assert_failure(reg.run("restrict", reg.ids["yes"], "--lift"), 5)
    assert reg.tables() == before


def test_restrict_an_unknown_member_is_not_found(reg: Reg) -> None:
    assert_failure(reg.run("restrict", "Mnosuchmember00000", "--reason", "legal-claims"), 4)


def test_lift_clears_the_restriction(reg: Reg) -> None:
    reg.json("restrict", reg.ids["yes"], "--reason", "unlawful-processing")
    data = reg.json("restrict", reg.ids["yes"], "--lift")
    assert (data["restricted_at"], data["restriction_reason"]) == (None, None)
    shown = reg.json("show", reg.ids["yes"])
    assert (shown["restricted_at"], shown["restriction_reason"]) == (None, None)
    assert reg.last("restrict-lift")["member_id"] == reg.ids["yes"]


def test_restricted_member_is_not_disclosed_until_lifted(panel: Reg) -> None:
    panel.json("restrict", panel.ids["c1"], "--reason", "accuracy-contested")
    assert panel.ids["c1"] not in panel.disclosed()
    panel.json("restrict", panel.ids["c1"], "--lift")
    assert panel.ids["c1"] in panel.disclosed()


def test_restricted_member_is_held_by_purge(panel: Reg) -> None:
    panel.json("restrict", panel.ids["c1"], "--reason", "legal-claims")
    with panel.session() as session:
        plan = services.plan_purge(session, FAR_FUTURE)
    due = {member_id for ids in plan.due.values() for member_id in ids}
    assert panel.ids["c1"] not in due
    assert panel.ids["c2"] in plan.due["inactive-member"]  # the same kind of member, unrestricted, is due
    assert panel.ids["applicant"] in plan.due["applicant-not-admitted"]

    panel.json("restrict", panel.ids["c1"], "--lift")
    with panel.session() as session:
        plan = services.plan_purge(session, FAR_FUTURE)
    assert panel.ids["c1"] in plan.due["inactive-member"]


def test_restricted_member_survives_purge_apply(panel: Reg) -> None:
    panel.json("restrict", panel.ids["c1"], "--reason", "legal-claims")
    later = datetime(2099, 6, 15, 12, 0, tzinfo=UTC)
    with panel.session() as session:
        services.purge(session, later)
    assert panel.json("show", panel.ids["c1"])["restriction_reason"] == "legal-claims"
    assert panel.run("show", panel.ids["c2"]).exit_code == 4  # erased on schedule


def test_access_export_says_retention_is_held_while_restricted(panel: Reg) -> None:
    panel.json("restrict", panel.ids["c1"], "--reason", "accuracy-contested")
    export = panel.json("export", "access", panel.ids["c1"])
    assert export["retention"]["held_by_restriction"] is True
    assert export["member"]["restriction_reason"] == "accuracy-contested"
