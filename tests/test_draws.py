"""draw commit|run|verify: prize draws committed to before and checkable by anyone after.

The seed is sealed until the draw and its SHA-256 published before; the
winners follow from the seed and the sorted entrant ids by the algorithm of
docs/crypto.md §11 (re-implemented here from the text alone); only
respondents who hold the competitions consent enter; a draw is committed to
once and run once; verify catches a changed seed, commitment or result.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kss_panel.services import draws, rights, survey_sample, surveys
from support import Builder, Register, assert_failure, person

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SURVEY = "spring-2026"
SEED = bytes(range(32))


def respondents(b: Builder) -> dict[str, Any]:
    """Twelve admitted members, all invited to spring-2026 and all answered; 1-8 hold the competitions consent."""
    for n in range(1, 13):
        b.enrol(n, person(n, given=("marketing_competitions",) if n <= 8 else ("email_marketing",)))
        b.admit(n)
    surveys.create(b.session, SURVEY, "Spring 2026", NOW)
    out = b.session.store.path.with_name("draw-invitations.csv")
    survey_sample.sample(b.session, SURVEY, NOW, size=12, seed="everyone", out=out)
    ids = [row["member_id"] for row in csv.DictReader(open(out, encoding="utf-8"))]
    surveys.record_responses(b.session, SURVEY, [survey_response(line, member_id) for line, member_id in enumerate(ids, 2)], NOW)
    return {"consenting": sorted(b.ids[n] for n in range(1, 9))}


def survey_response(line: int, member_id: str) -> Any:
    from kss_panel.survey_files import Response

    return Response(line, member_id, None)


@pytest.fixture
def reg(make_register: Any, clock: Any) -> Register:
    register = make_register({}, NOW, populate=respondents)
    clock.now = NOW + timedelta(days=20)
    return register


def commit(reg: Register, seed: bytes = SEED) -> str:
    """Commit to ``seed`` through the service (the command draws a random one)."""
    with reg.session() as session:
        return str(draws.commit(session, SURVEY, NOW + timedelta(days=20), seed=seed)["commitment"])


def published_draw(seed: bytes, entrants: list[str], prizes: int) -> list[str]:
    """docs/crypto.md §11, step 2, as an outsider would write it."""
    pool = sorted(entrants)
    for i in range(prizes):
        m = len(pool) - i
        attempt = 0
        while True:
            x = int.from_bytes(hmac.new(seed, f"kss-panel draw {i} {attempt}".encode(), hashlib.sha256).digest(), "big")
            if x < (2**256 // m) * m:
                break
            attempt += 1
        j = i + x % m
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:prizes]


def test_commit_prints_the_sha256_of_a_sealed_seed(reg: Register) -> None:
    data = reg.json("draw", "commit", SURVEY)
    assert len(data["commitment"]) == 64
    (box,) = reg.sql("SELECT seed FROM draws")[0]
    assert bytes.fromhex(data["commitment"]) == reg.sql("SELECT commitment FROM draws")[0][0]
    run = reg.json("draw", "run", SURVEY, "--prizes", "2")
    seed = bytes.fromhex(run["seed"])
    assert hashlib.sha256(seed).hexdigest() == data["commitment"] == run["commitment"]
    assert seed not in reg.raw() and seed not in box  # the seed is sealed, never in plain


def test_the_winners_are_the_published_algorithms_among_the_consenting_respondents(reg: Register) -> None:
    assert commit(reg) == hashlib.sha256(SEED).hexdigest()
    data = reg.json("draw", "run", SURVEY, "--prizes", "3")
    consenting = reg.facts["consenting"]
    assert (data["entrants"], data["excluded"]) == (8, {"not_member": 0, "restricted": 0, "objected": 0, "no_consent": 4})
    assert [w["member_id"] for w in data["winners"]] == published_draw(SEED, consenting, 3)
    assert data["entrant_ids"] == consenting  # what the organiser publishes with the seed
    assert {w["member_id"] for w in data["winners"]} <= set(consenting)  # no entrant without the consent
    assert reg.sql("SELECT member_id, prize FROM draw_entries ORDER BY member_id") == [
        (m, next((w["prize"] for w in data["winners"] if w["member_id"] == m), None)) for m in consenting]
    entry = reg.audit()[-1]
    assert (entry["action"], entry["fields"]) == ("draw-run", ["consents.marketing_competitions"])
    assert entry["detail"] == {"survey": SURVEY, "prizes": 3, "entrants": 8, "commitment": hashlib.sha256(SEED).hexdigest(), "seed": SEED.hex()}


def test_a_consent_withdrawn_an_objection_or_a_restriction_keeps_a_respondent_out(reg: Register) -> None:
    commit(reg)
    first, second, third = reg.facts["consenting"][:3]
    with reg.session() as session:
        rights.consent(session, first, NOW, withdraw=("marketing_competitions",))
        rights.consent(session, second, NOW, object_to_marketing=True)  # Art. 21(2): competitions are direct marketing
        rights.restrict(session, third, NOW, reason="accuracy-contested")
    data = reg.json("draw", "run", SURVEY, "--prizes", "5")
    assert data["excluded"] == {"not_member": 0, "restricted": 1, "objected": 1, "no_consent": 5}
    assert {w["member_id"] for w in data["winners"]} == set(reg.facts["consenting"][3:])


def test_verify_re_runs_the_draw_and_catches_a_changed_result(reg: Register) -> None:
    commit(reg)
    data = reg.json("draw", "run", SURVEY, "--prizes", "2")
    verified = reg.json("draw", "verify", SURVEY)
    assert (verified["verified"], verified["winners"], verified["seed"]) == (True, data["winners"], SEED.hex())
    loser = next(m for m in reg.facts["consenting"] if m not in {w["member_id"] for w in data["winners"]})
    reg.sql("UPDATE draw_entries SET prize = NULL WHERE prize = 1")
    reg.sql("UPDATE draw_entries SET prize = 1 WHERE member_id = ?", (loser,))
    assert_failure(reg.run("draw", "verify", SURVEY), 7, f"the winners recorded for the draw of {SURVEY} are not the draw's: its entries were changed")


def test_verify_catches_a_commitment_changed_after_the_draw(reg: Register) -> None:
    commit(reg)
    assert reg.run("draw", "run", SURVEY, "--prizes", "1").exit_code == 0
    reg.sql("UPDATE draws SET commitment = ?", (hashlib.sha256(b"another seed").digest(),))
    assert_failure(reg.run("draw", "verify", SURVEY), 7, f"the seed of the draw of {SURVEY} does not match its commitment")


def test_a_seed_box_moved_to_another_draw_does_not_open(reg: Register) -> None:
    commit(reg)
    assert reg.run("survey", "create", "autumn-2026", "--title", "Autumn").exit_code == 0
    assert reg.run("draw", "commit", "autumn-2026").exit_code == 0
    reg.sql("UPDATE draws SET seed = (SELECT seed FROM draws WHERE survey = ?) WHERE survey = ?", (SURVEY, "autumn-2026"))
    reg.sql("UPDATE draws SET commitment = (SELECT commitment FROM draws WHERE survey = ?) WHERE survey = ?", (SURVEY, "autumn-2026"))
    assert_failure(reg.run("draw", "run", "autumn-2026", "--prizes", "1"), 7, "the seed of the draw of autumn-2026 does not open: it was changed,"
                   " moved or damaged")


def test_a_draw_is_committed_to_once_and_run_once_after_its_commitment(reg: Register) -> None:
    assert_failure(reg.run("draw", "run", SURVEY, "--prizes", "1"), 9,
                   f"no draw of {SURVEY} has been committed to: the commitment must be published before the draw")
    committed = commit(reg)
    assert_failure(reg.run("draw", "commit", SURVEY), 9, f"the draw of {SURVEY} was committed to on 2026-03-22: a draw has one commitment")
    assert_failure(reg.run("draw", "verify", SURVEY), 9, f"the draw of {SURVEY} has not been run yet: only its commitment can be published")
    assert reg.run("draw", "run", SURVEY, "--prizes", "1").exit_code == 0
    before = reg.tables()
    assert_failure(reg.run("draw", "run", SURVEY, "--prizes", "1"), 9, f"the draw of {SURVEY} was run on 2026-03-22: a draw is run once")
    assert reg.tables() == before and reg.sql("SELECT commitment FROM draws")[0][0].hex() == committed


def test_more_prizes_than_entrants_or_no_prize_is_refused(reg: Register) -> None:
    commit(reg)
    before = reg.tables()
    assert_failure(reg.run("draw", "run", SURVEY, "--prizes", "9"), 9, f"8 respondents may enter the draw of {SURVEY}: 9 prizes cannot be drawn")
    assert_failure(reg.run("draw", "run", SURVEY, "--prizes", "0"), 5, "invalid number of prizes", ["  --prizes: must be from 1 to 10000"])
    assert reg.tables() == before


def test_an_erased_entrant_leaves_the_commitment_and_the_count(reg: Register) -> None:
    commit(reg)
    data = reg.json("draw", "run", SURVEY, "--prizes", "1")
    winner = data["winners"][0]["member_id"]
    assert reg.run("erase", winner, "--reason", "request").exit_code == 0
    assert reg.sql("SELECT member_id FROM draw_entries WHERE member_id = ?", (winner,)) == []
    assert reg.sql("SELECT entrants, prizes, length(commitment) FROM draws") == [(8, 1, 32)]
    assert_failure(reg.run("draw", "verify", SURVEY), 9, f"the seed matches the commitment, but 1 of the draw's 8 entries are no longer in the"
                   " register (erased, or past their retention): the draw cannot be re-run from it")
    # Anyone with the seed and the entrant list published at the draw still can.
    assert published_draw(bytes.fromhex(data["seed"]), reg.facts["consenting"], 1) == [winner]


def test_key_rotation_seals_the_seed_again(reg: Register) -> None:
    commit(reg)
    (before,) = reg.sql("SELECT seed FROM draws")[0]
    assert reg.run("key", "rotate").exit_code == 0
    (after,) = reg.sql("SELECT seed FROM draws")[0]
    assert after != before
    assert reg.json("draw", "run", SURVEY, "--prizes", "1")["seed"] == SEED.hex()
    assert reg.json("draw", "verify", SURVEY)["verified"] is True
    assert json.loads(reg.cli("audit", "verify", "--json").stdout)["ok"] is True
