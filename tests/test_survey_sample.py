"""survey sample: a random sample of the members who may be invited, drawn inside the register.

Only admitted members who are not restricted, have no objection covering the
survey's purpose, hold the consent it needs and are outside their rest period;
strata read from the records and never disclosed; the same seed gives the same
sample; proportional allocation within one member of each stratum's share; a
quota that cannot be filled refused; the invitation list holds the survey,
the member id and the recipient's fields, nothing else; every invitation in the
disclosure log, and one audit entry per sample.
"""

from __future__ import annotations

import csv
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kss_panel.sampling import allocate
from kss_panel.vault import read_categories
from kss_panel.services import rights
from support import Builder, Register, assert_failure, canaries, canary_person, found, person

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SURVEY = "spring-2026"
STRATA = "demographics.gender,demographics.birth_year:1960,1975,1990"
FIELDS = ["survey", "member_id", "contact.first_name", "contact.email", "contact.language"]
ELIGIBLE = 48


def year(n: int) -> int:
    return 1945 + (n * 7) % 60  # 1945 … 2004, spread over the bins


def panel(b: Builder) -> None:
    """48 members who may be invited (30 female, 18 male), and one of each kind who may not, or who may after all."""
    for n in range(1, ELIGIBLE + 1):
        language = "sv" if n % 8 == 0 else "fi"
        b.enrol(n, person(n, demographics__gender="female" if n <= 30 else "male", demographics__birth_year=year(n), contact__language=language))
        b.admit(n)
    for n, name in enumerate(("restricted", "objected", "no-direct-marketing", "applicant", "rejected"), start=101):
        b.enrol(name, person(n, demographics__gender="female", demographics__birth_year=1980))
        if name != "applicant" and name != "rejected":
            b.admit(name)
    b.restrict("restricted")
    b.object("objected", marketing=False, processing=True)  # Art. 21(1): out of market research
    b.object("no-direct-marketing")  # Art. 21(2) only: market research is not direct marketing
    from kss_panel.services import lifecycle

    lifecycle.reject(b.session, b.ids["rejected"], "not-a-customer", b.now)


@pytest.fixture
def reg(make_register: Any) -> Register:
    register = make_register({}, NOW, populate=panel)
    assert register.run("survey", "create", SURVEY, "--title", "Spring 2026").exit_code == 0
    return register


def sample(reg: Register, *args: str | Path) -> dict[str, Any]:
    return reg.json("survey", "sample", SURVEY, *args)


def invited(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def tables_but_the_trail(reg: Register) -> dict[str, Any]:
    return {name: rows for name, rows in reg.tables().items() if name not in ("audit", "fieldsets")}


# --- the dry run --------------------------------------------------------------------------------------------------


def test_the_dry_run_prints_the_strata_table_and_discloses_nothing(reg: Register) -> None:
    before = tables_but_the_trail(reg)
    result = reg.run("survey", "sample", SURVEY, "--size", "12", "--strata", STRATA, "--seed", "s1")
    assert result.exit_code == 0, result.stderr
    assert [line.rstrip() for line in result.stdout.splitlines()] == [
        "dry run: nothing was disclosed",
        "seed s1 (--seed draws this very sample)",
        "51 admitted members, 49 eligible",
        "excluded: 1 restricted, 1 objected",
        "gender  birth_year  eligible  to draw",
        "─────────────────────────────────────",
        "female  ..1959      8         2",
        "female  1960..1974  8         2",
        "female  1975..1989  8         2",
        "female  1990..      7         2",
        "male    ..1959      4         1",
        "male    1960..1974  5         1",
        "male    1975..1989  5         1",
        "male    1990..      4         1",
        "to draw 12 of 12 asked",
    ]
    assert tables_but_the_trail(reg) == before
    entry = reg.audit()[-1]
    assert (entry["action"], entry["member_id"], entry["fields"]) == ("survey-sample-plan", None, ["demographics.birth_year", "demographics.gender"])
    assert entry["detail"] == {"survey": SURVEY, "eligible": 49, "to_draw": 12}


def test_the_same_seed_draws_the_same_sample_and_apply_invites_it(reg: Register, make_register: Any, tmp_path: Path) -> None:
    planned = sample(reg, "--size", "12", "--strata", STRATA, "--seed", "same")
    assert sample(reg, "--size", "12", "--strata", STRATA, "--seed", "same")["member_ids"] == planned["member_ids"]
    assert sample(reg, "--size", "12", "--strata", STRATA, "--seed", "other")["member_ids"] != planned["member_ids"]
    assert len(set(planned["member_ids"])) == 12
    # The same register elsewhere (a copy of the same template) draws the same members with the same seed.
    twin = make_register({}, NOW, populate=panel, directory=tmp_path / "twin")
    assert twin.run("survey", "create", SURVEY, "--title", "Spring 2026").exit_code == 0
    assert twin.json("survey", "sample", SURVEY, "--size", "12", "--strata", STRATA, "--seed", "same")["member_ids"] == planned["member_ids"]
    done = sample(reg, "--size", "12", "--strata", STRATA, "--seed", "same", "--apply", "--out", reg.dir / "invitations.csv")
    assert (done["invited"], done["seed"], done["dry_run"]) == (12, "same", False)
    assert [row["member_id"] for row in invited(reg.dir / "invitations.csv")] == planned["member_ids"]


def test_without_a_seed_one_is_drawn_and_kept_with_the_sample(reg: Register) -> None:
    first, second = sample(reg, "--size", "5"), sample(reg, "--size", "5")
    assert first["seed"] != second["seed"] and len(first["seed"]) == 32
    done = sample(reg, "--size", "5", "--seed", first["seed"], "--apply", "--out", reg.dir / "a.csv")
    assert [row["member_id"] for row in invited(reg.dir / "a.csv")] == first["member_ids"]
    shown = reg.json("survey", "show", SURVEY)
    assert [(s["id"], s["seed"], s["size"]) for s in shown["samples"]] == [(done["sample"], first["seed"], 5)]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.tuples(st.text(max_size=3)), st.integers(0, 10_000), min_size=1, max_size=30), st.integers(0, 20_000))
def test_proportional_allocation_is_within_one_member_of_each_exact_share(counts: dict[tuple[str], int], size: int) -> None:
    total = sum(counts.values())
    given_ = allocate(counts, size)
    assert set(given_) == set(counts)
    if total == 0:
        assert set(given_.values()) == {0}
        return
    assert sum(given_.values()) == size
    for stratum, count in counts.items():
        assert abs(given_[stratum] - size * count / total) < 1
        assert given_[stratum] <= count or size > total


def test_each_stratum_draws_its_share_from_its_own_members(reg: Register) -> None:
    data = sample(reg, "--size", "20", "--strata", STRATA, "--seed", "share")
    total = data["eligible"]
    assert sum(row["to_draw"] for row in data["strata"]) == 20 == len(data["member_ids"])
    for row in data["strata"]:
        assert abs(row["to_draw"] - 20 * row["eligible"] / total) < 1, row
    # Each member drawn is of the stratum the table counts them in.
    by_id = {member_id: name for name, member_id in reg.ids.items()}
    drawn: dict[tuple[str, str], int] = {}
    for member_id in data["member_ids"]:
        n = by_id[member_id]
        born, gender = (1980, "female") if n == "no-direct-marketing" else (year(n), "female" if n <= 30 else "male")
        key = (gender, next(label for label in ("..1959", "1960..1974", "1975..1989", "1990..") if _in(born, label)))
        drawn[key] = drawn.get(key, 0) + 1
    assert drawn == {(row["stratum"]["demographics.gender"], row["stratum"]["demographics.birth_year"]): row["to_draw"]
                     for row in data["strata"] if row["to_draw"]}


def _in(value: int, label: str) -> bool:
    low, _, high = label.partition("..")
    return (not low or value >= int(low)) and (not high or value <= int(high))


# --- who may be invited -------------------------------------------------------------------------------------------


def test_every_exclusion_is_honoured(reg: Register) -> None:
    data = sample(reg, "--size", "49", "--seed", "all")
    assert data["excluded"] == {"restricted": 1, "objected": 1, "invited": 0, "resting": 0, "no_consent": 0, "filtered": 0}
    assert data["members"] == 51  # admitted: the applicant and the rejected are not even counted
    chosen = set(data["member_ids"])
    assert len(chosen) == 49 and data["short"] == 0
    for name in ("restricted", "objected", "applicant", "rejected"):
        assert reg.ids[name] not in chosen, name
    assert reg.ids["no-direct-marketing"] in chosen  # an objection to direct marketing does not cover market research


def test_a_member_already_invited_to_the_survey_is_not_invited_again(reg: Register) -> None:
    first = sample(reg, "--size", "10", "--apply", "--out", reg.dir / "first.csv")
    second = sample(reg, "--size", "39", "--apply", "--out", reg.dir / "second.csv", "--allow-short")
    assert second["excluded"]["invited"] == 10 and second["excluded"]["resting"] == 0
    assert not set(row["member_id"] for row in invited(reg.dir / "second.csv")) & set(row["member_id"] for row in invited(reg.dir / "first.csv"))
    assert first["invited"] + second["invited"] == 49


def test_the_rest_period_keeps_a_member_out_of_every_survey_for_30_days(reg: Register, clock: Any) -> None:
    assert sample(reg, "--size", "49", "--apply", "--out", reg.dir / "all.csv")["invited"] == 49
    assert reg.run("survey", "create", "autumn-2026", "--title", "Autumn").exit_code == 0
    clock.now = NOW + timedelta(days=29)
    resting = reg.json("survey", "sample", "autumn-2026", "--size", "1")
    assert (resting["eligible"], resting["excluded"]["resting"], resting["short"]) == (0, 49, 1)
    clock.now = NOW + timedelta(days=30)
    rested = reg.json("survey", "sample", "autumn-2026", "--size", "1")
    assert (rested["eligible"], rested["excluded"]["resting"]) == (49, 0)


def test_at_most_per_year_invitations_in_any_twelve_months(reg: Register, clock: Any) -> None:
    reg.edit_policies("surveys.yaml", "  days: 30\n  per_year: 6\n", "  days: 1\n  per_year: 2\n")
    for day, name in ((0, "one"), (1, "two"), (2, "three")):
        clock.now = NOW + timedelta(days=day)
        assert reg.run("survey", "create", name, "--title", name).exit_code == 0
        data = reg.json("survey", "sample", name, "--size", "49", "--allow-short", "--apply", "--out", reg.dir / f"{name}.csv")
        assert data["invited"] == (49 if day < 2 else 0), (day, data)
    clock.now = datetime(2027, 3, 2, 10, 0, tzinfo=UTC)  # twelve months after the first: only the second still counts
    assert reg.run("survey", "create", "next-year", "--title", "Next year").exit_code == 0
    assert reg.json("survey", "sample", "next-year", "--size", "1")["eligible"] == 49


def test_a_purpose_that_needs_a_consent_draws_only_members_who_gave_it(reg: Register) -> None:
    reg.edit_policies("disclosure.yaml", "      market_research: {consent: none}\n    fields:\n      - contact.first_name\n      - contact.last_name\n"
                      "      - contact.email\n      - contact.language\n\n  # §7: a company doing direct marketing",
                      "      market_research: {consent: group_market_research}\n    fields:\n      - contact.first_name\n      - contact.last_name\n"
                      "      - contact.email\n      - contact.language\n\n  # §7: a company doing direct marketing")
    given_ids = [reg.ids[n] for n in (3, 17, 40)]
    with reg.session() as session:
        for member_id in given_ids:
            rights.consent(session, member_id, NOW, give=("group_market_research",))
    data = sample(reg, "--size", "10", "--allow-short", "--apply", "--out", reg.dir / "consented.csv")
    assert sorted(row["member_id"] for row in invited(reg.dir / "consented.csv")) == sorted(given_ids)
    assert (data["eligible"], data["excluded"]["no_consent"], data["short"]) == (3, 46, 7)
    assert "consents.group_market_research" in reg.audit()[-1]["fields"]


def test_where_keeps_only_the_members_whose_field_holds_a_value(reg: Register) -> None:
    data = sample(reg, "--size", "49", "--where", "contact.language=sv", "--allow-short", "--apply", "--out", reg.dir / "sv.csv")
    rows = invited(reg.dir / "sv.csv")
    assert {row["contact.language"] for row in rows} == {"sv"} and len(rows) == 6
    assert data["excluded"]["filtered"] == 43
    ranged = sample(reg, "--size", "49", "--where", "demographics.birth_year=..1959,1990..", "--where", "demographics.gender=male")
    assert ranged["eligible"] == 8


# --- quotas ------------------------------------------------------------------------------------------------------


def test_a_quota_draws_its_count_from_each_stratum_listed(reg: Register) -> None:
    quota = reg.file("demographics.gender,count\nfemale,4\nmale,2\n")
    data = sample(reg, "--quota", quota, "--strata", "demographics.gender", "--seed", "q")
    assert [(row["stratum"], row["eligible"], row["to_draw"], row["short"]) for row in data["strata"]] == [
        ({"demographics.gender": "female"}, 31, 4, 0), ({"demographics.gender": "male"}, 18, 2, 0)]
    assert (data["asked"], data["to_draw"], len(data["member_ids"])) == (6, 6, 6)


def test_a_quota_that_cannot_be_filled_is_reported_and_refused(reg: Register) -> None:
    quota = reg.file("demographics.gender,demographics.birth_year,count\nmale,..1959,3\nmale,1960..,9\nother,..1959,1\n")
    strata = "demographics.gender,demographics.birth_year:1960"
    dry = sample(reg, "--quota", quota, "--strata", strata)
    assert [(tuple(row["stratum"].values()), row["eligible"], row["to_draw"], row["short"]) for row in dry["strata"]] == [
        (("female", "..1959"), 8, 0, 0), (("female", "1960.."), 23, 0, 0),  # not in the quota: not drawn from
        (("male", "..1959"), 4, 3, 0), (("male", "1960.."), 14, 9, 0), (("other", "..1959"), 0, 0, 1)]
    assert dry["short"] == 1
    shown = reg.run("survey", "sample", SURVEY, "--quota", quota, "--strata", strata)
    assert shown.stdout.splitlines()[-1] == "to draw 12 of 13 asked: 1 short"
    before = tables_but_the_trail(reg)
    result = reg.run("survey", "sample", SURVEY, "--quota", quota, "--strata", strata, "--apply", "--out", reg.dir / "q.csv")
    assert_failure(result, 9, "the sample is 1 short of the 13 asked for: nothing was disclosed",
                   ["  demographics.gender=other, demographics.birth_year=..1959: 0 eligible for the 1 asked"])
    assert tables_but_the_trail(reg) == before and not (reg.dir / "q.csv").exists()
    done = sample(reg, "--quota", quota, "--strata", strata, "--apply", "--out", reg.dir / "q.csv", "--allow-short")
    assert (done["invited"], done["short"]) == (12, 1)
    assert reg.audit()[-1]["detail"]["short"] == 1


def test_a_size_larger_than_the_eligible_members_is_short_too(reg: Register) -> None:
    result = reg.run("survey", "sample", SURVEY, "--size", "60", "--apply", "--out", reg.dir / "x.csv")
    assert_failure(result, 9, "the sample is 11 short of the 60 asked for: nothing was disclosed", ["  (all members): 49 eligible for the 60 asked"])


@pytest.mark.parametrize(("text", "problems"), [
    ("demographics.gender,count\nfemale,4\nfemale,2\n", ["  line 3: names a stratum a line before it named"]),
    ("demographics.gender,count\nwoman,4\n", ["  line 2: demographics.gender: is not a stratum of demographics.gender (expected one of female, male, other,"
                                              " undisclosed, (none))"]),
    ("demographics.gender,count\nfemale,many\nmale,-1\n", ["  line 2: count: must be a whole number from 0 to 100000",
                                                           "  line 3: count: must be a whole number from 0 to 100000"]),
    ("gender,count\nfemale,4\n", ["  line 1: no column 'demographics.gender'", "  line 1: column 'gender' is not a field of --strata"]),
    ("demographics.gender,count\nfemale,0\n", ["  count: the counts add up to 0: a sample draws from 1 to 100000 members"]),
])
def test_an_invalid_quota_is_refused_by_line(reg: Register, text: str, problems: list[str]) -> None:
    before = reg.tables()
    result = reg.run("survey", "sample", SURVEY, "--quota", reg.file(text), "--strata", "demographics.gender")
    assert_failure(result, 5, problems=problems)
    assert reg.tables() == before


# --- what is disclosed --------------------------------------------------------------------------------------------


def test_the_invitation_list_holds_the_recipients_fields_and_nothing_else(reg: Register) -> None:
    out = reg.dir / "invitations.csv"
    sample(reg, "--size", "12", "--strata", STRATA, "--seed", "fields", "--apply", "--out", out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = invited(out)
    assert list(rows[0]) == FIELDS
    by_id = {member_id: name for name, member_id in reg.ids.items()}
    for row in rows:
        data = reg.records[by_id[row["member_id"]]]
        assert row == {"survey": SURVEY, "member_id": row["member_id"], "contact.first_name": data["contact"]["first_name"],
                       "contact.email": data["contact"]["email"], "contact.language": data["contact"]["language"]}
    text = out.read_text(encoding="utf-8")
    assert "female" not in text and "1975" not in text and "Mäkelä" not in text  # strata and the last name stay inside


def test_the_invitation_list_as_json(reg: Register) -> None:
    out = reg.dir / "invitations.json"
    sample(reg, "--size", "3", "--apply", "--out", out, "--format", "json")
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert [list(row) for row in rows] == [FIELDS] * 3


def test_every_invitation_is_in_the_disclosure_log_and_the_sample_has_one_audit_entry(reg: Register) -> None:
    entries = len(reg.audit())
    data = sample(reg, "--size", "12", "--strata", STRATA, "--where", "contact.language=fi", "--apply", "--out", reg.dir / "i.csv")
    ids = [row["member_id"] for row in invited(reg.dir / "i.csv")]
    log = reg.sql("SELECT member_id, recipient, purpose, fields, disclosed_on FROM disclosures ORDER BY member_id")
    fields = json.dumps(FIELDS[2:])
    assert log == [(member_id, "panel-mailer", "market_research", fields, "2026-03-02") for member_id in sorted(ids)]
    assert reg.sql("SELECT member_id, sample, invited_on, responded_on FROM survey_invitations ORDER BY member_id") == [
        (member_id, data["sample"], "2026-03-02", None) for member_id in sorted(ids)]
    new = reg.audit()[entries:]
    assert [(e["action"], e["member_id"]) for e in new] == [("survey-sample", None)]
    assert new[0]["fields"] == ["contact.email", "contact.first_name", "contact.language", "demographics.birth_year", "demographics.gender"]
    assert new[0]["detail"] == {"survey": SURVEY, "sample": data["sample"], "recipient": "panel-mailer", "purpose": "market_research", "invited": 12}
    # The member's access export lists the invitation among the disclosures.
    export = reg.json("export", "access", ids[0])
    assert [(d["recipient"], d["purpose"], d["date"]) for d in export["disclosures"]] == [("panel-mailer", "market_research", "2026-03-02")]


def test_strata_and_filters_stay_sealed_in_the_file(make_register: Any) -> None:
    people = {n: canary_person(n) for n in range(1, 7)}
    reg = make_register(people, NOW)
    reg.admit(*people)
    assert reg.run("survey", "create", SURVEY, "--title", "Canaries").exit_code == 0
    out = reg.dir / "canaries.csv"
    sample(reg, "--size", "6", "--strata", "contact.postal_code:2,electricity.heating", "--where", "demographics.gender=female",
           "--apply", "--out", out)
    raw = reg.raw()
    assert [c for n in people for c in found(raw, canaries(people[n]))] == []
    trail = json.dumps(reg.audit(), ensure_ascii=False)
    assert "heat_pump" not in trail and "female" not in trail and '"45"' not in trail  # the postal strata value (a hex digest may start with 45)
    assert b"heat_pump" not in raw and b"female" not in raw  # the strata and the filter are sealed with the sample
    text = out.read_text(encoding="utf-8")
    for data in people.values():
        assert data["contact"]["last_name"] not in text and data["contact"]["street_address"] not in text


# --- invalid input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "problems"), [
    (("--size", "0"), ["  --size: must be from 1 to 100000"]),
    ((), ["  --size|--quota: exactly one of them is required"]),
    (("--size", "5", "--strata", "contact.email"), ["  --strata: contact.email is not a field surveys.yaml lets a sample use (strata:"
                                                    " demographics.birth_year, demographics.gender, demographics.household_size,"
                                                    " demographics.dwelling_type, electricity.annual_consumption_kwh, electricity.heating,"
                                                    " electricity.has_solar_panels, electricity.has_electric_vehicle, contact.postal_code,"
                                                    " contact.language)"]),
    (("--size", "5", "--strata", "demographics.gender:1,2"), ["  --strata: demographics.gender is of type enum: only numbers are binned"]),
    (("--size", "5", "--strata", "demographics.birth_year:1990,1960"), ["  --strata: demographics.birth_year needs edges in increasing order, at most 20"]),
    (("--size", "5", "--strata", "contact.postal_code:6"), ["  --strata: contact.postal_code groups postal codes by their first N digits:"
                                                           " give one N from 1 to 5 (such as :2)"]),
    (("--size", "5", "--strata", "demographics.gender,demographics.gender"), ["  --strata: demographics.gender is named twice"]),
    (("--size", "5", "--where", "demographics.gender=woman"), ["  --where: demographics.gender takes female, male, other, undisclosed"]),
    (("--size", "5", "--where", "demographics.birth_year=old"), ["  --where: demographics.birth_year takes a number or a range such as"
                                                                 " 1960..1974, ..1959 or 1990.."]),
    (("--size", "5", "--seed", "no spaces"), ["  --seed: must be 1 to 64 letters, digits, '.', '_' or '-'"]),
    (("--size", "5", "--apply"), ["  --apply/--out: give both to invite, neither for a dry run"]),
    (("--size", "5", "--allow-short"), ["  --allow-short: needs --apply: a dry run invites no one"]),
    (("--quota", "q.csv"), ["  --quota: needs --strata, naming the fields of its columns"]),
])
def test_invalid_options_are_refused_naming_the_option(reg: Register, args: tuple[str, ...], problems: list[str]) -> None:
    before = reg.tables()
    args = tuple(str(reg.file("demographics.gender,count\nfemale,1\n")) if a == "q.csv" else a for a in args)
    assert_failure(reg.run("survey", "sample", SURVEY, *args), 5, problems=problems)
    assert reg.tables() == before


def test_an_unknown_survey_is_not_found(reg: Register) -> None:
    assert_failure(reg.run("survey", "sample", "autumn-2026", "--size", "1"), 4, "no survey 'autumn-2026'")


def test_a_chosen_member_changed_by_hand_is_refused_and_nothing_is_invited(reg: Register) -> None:
    chosen = sample(reg, "--size", "5", "--seed", "tamper")["member_ids"]
    reg.sql("UPDATE members SET last_activity_at = '2026-01-01' WHERE member_id = ?", (chosen[0],))
    before = reg.tables()
    result = reg.run("survey", "sample", SURVEY, "--size", "5", "--seed", "tamper", "--apply", "--out", reg.dir / "t.csv")
    assert_failure(result, 7, f"the row of {chosen[0]} does not match the audit trail: it was changed by hand since its last entry")
    assert reg.tables() == before and not (reg.dir / "t.csv").exists()


# --- reading the strata fields ---------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=8), st.sets(st.text(max_size=12), max_size=4))
def test_reading_some_categories_gives_what_the_whole_record_holds(record: dict[str, Any], wanted: set[str]) -> None:
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    assert read_categories(text, frozenset(wanted)) == {name: value for name, value in record.items() if name in wanted}


def test_a_survey_created_under_another_recipient_is_not_sampled(reg: Register) -> None:
    reg.edit_policies("surveys.yaml", "recipient: panel-mailer", "recipient: group-companies")
    reg.edit_policies("surveys.yaml", "  - contact.first_name\n  - contact.email\n  - contact.language\n\n",
                      "  - contact.first_name\n  - contact.email\n\n")
    before = reg.tables()
    assert_failure(reg.run("survey", "sample", SURVEY, "--size", "1"), 9, f"survey {SURVEY} is run by panel-mailer for market_research, but"
                   " surveys.yaml now names group-companies for market_research: its invitations would go elsewhere")
    assert reg.tables() == before


def test_an_invitation_list_is_never_written_over_a_file(reg: Register) -> None:
    out = reg.file("already here\n")
    before = reg.tables()
    assert_failure(reg.run("survey", "sample", SURVEY, "--size", "3", "--apply", "--out", out), 5, f"{out} already exists: refusing to overwrite it",
                   ["  --out: file exists"])
    assert reg.tables() == before and out.read_text() == "already here\n"
