"""Prize draws of marketing competitions among a survey's respondents: a seed committed to before, winners
that follow from it, and a check anyone can make after (``draws`` holds the algorithm)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from .. import crypto, draws
from ..errors import IntegrityError, InvalidInput, Param, Refused
from ..model import local_date, objection_against
from .session import Session
from .surveys import open_box, seed_context, survey_row

EXCLUSIONS = ("not_member", "restricted", "objected", "no_consent")
MAX_PRIZES = 10_000


def commit(session: Session, survey: str, now: datetime, *, seed: bytes | None = None) -> dict[str, Any]:
    """Draw a secret seed for the survey's prize draw, keep it sealed, and return its commitment to publish.

    A draw has one commitment: a second would let the organiser pick among seeds.
    ``seed`` is for tests; otherwise 32 random bytes.
    """
    session.require_officer("commit prize draws")
    seed = seed if seed is not None else secrets.token_bytes(draws.SEED_BYTES)
    committed = draws.commitment(seed)
    with session.store.write():
        survey_row(session, survey)
        existing = session.store.draw(survey)
        if existing is not None:
            raise Refused(
                f"the draw of {survey} was committed to on {existing['committed_on']}: a draw has one commitment",
                hints=(f"its commitment is {existing['commitment'].hex()}",),
            )
        box = crypto.Sealer(session.keys.data or b"").seal(seed, seed_context(session, survey))
        session.store.add_draw({"survey": survey, "commitment": committed, "seed": box, "committed_on": local_date(now).isoformat()})
        session.audit(now, "draw-commit", None, [], {"survey": survey, "commitment": committed.hex()})
    return {"survey": survey, "commitment": committed.hex(), "committed_on": local_date(now).isoformat()}


def run(session: Session, survey: str, prizes: int, now: datetime) -> dict[str, Any]:
    """Reveal the seed and draw ``prizes`` winners among the survey's respondents who may enter.

    An entrant is a respondent who is an admitted member, not restricted, with
    no objection covering the draw's purpose, who holds the draw's consent
    (surveys.yaml). Every entry is kept (winners with their prize), so the draw
    can be checked later; each winner's record has its own retention period.
    """
    session.require_officer("run prize draws")
    if not 1 <= prizes <= MAX_PRIZES:
        raise InvalidInput("invalid number of prizes", [(Param("prizes"), f"must be from 1 to {MAX_PRIZES}")])
    policy = session.policies.surveys.draws
    purpose = session.policies.register.purposes[policy.purpose]
    with session.store.write():
        survey_row(session, survey)
        draw = _committed(session, survey)
        if draw["drawn_on"] is not None:
            raise Refused(f"the draw of {survey} was run on {draw['drawn_on']}: a draw is run once",
                          hints=(f"check it with: kss-panel draw verify {survey}",))
        seed = _seed(session, survey, draw)
        excluded = dict.fromkeys(EXCLUSIONS, 0)
        entrants = []
        for member_id in session.store.respondents(survey):
            reason = _excluded(session, member_id, purpose, policy.consent)
            if reason is None:
                entrants.append(member_id)
            else:
                excluded[reason] += 1
        if prizes > len(entrants):
            raise Refused(f"{len(entrants)} respondents may enter the draw of {survey}: {prizes} prizes cannot be drawn",
                          hints=(f"respondents without the {policy.consent} consent do not enter; give --prizes from 1 to {len(entrants)}"
                                 if entrants else "record the survey's responses first: kss-panel survey responses",))
        winners = draws.winners(seed, entrants, prizes)
        session.store.add_entries(survey, entrants, {member_id: index + 1 for index, member_id in enumerate(winners)})
        day = local_date(now).isoformat()
        session.store.update_draw(survey, {"drawn_on": day, "prizes": prizes, "entrants": len(entrants)})
        detail = {"survey": survey, "prizes": prizes, "entrants": len(entrants), "commitment": draw["commitment"].hex(), "seed": seed.hex()}
        session.audit(now, "draw-run", None, [f"consents.{policy.consent}"], detail)
    return {"survey": survey, "drawn_on": day, "seed": seed.hex(), "commitment": draw["commitment"].hex(), "prizes": prizes,
            "entrants": len(entrants), "excluded": excluded, "winners": [{"prize": i + 1, "member_id": m} for i, m in enumerate(winners)],
            "entrant_ids": sorted(entrants)}


def _committed(session: Session, survey: str) -> dict[str, Any]:
    draw = session.store.draw(survey)
    if draw is None:
        raise Refused(f"no draw of {survey} has been committed to: the commitment must be published before the draw",
                      hints=(f"kss-panel draw commit {survey}, then publish the commitment with the competition's rules",))
    return draw


def _seed(session: Session, survey: str, draw: dict[str, Any]) -> bytes:
    """The draw's seed, opened and checked against its commitment (IntegrityError when either fails)."""
    seed = open_box(session, draw["seed"], seed_context(session, survey), f"the seed of the draw of {survey}")
    if not draws.seed_matches(seed, draw["commitment"]):
        raise IntegrityError(f"the seed of the draw of {survey} does not match its commitment")
    return seed


def _excluded(session: Session, member_id: str, purpose: Any, consent: str) -> str | None:
    row = session.member_row(member_id)
    if row["status"] != "member":
        return "not_member"
    if row["restricted_at"]:
        return "restricted"
    if objection_against(row, purpose):
        return "objected"
    return None if session.record(row, ["consents"]).get("consents", {}).get(consent) else "no_consent"


def verify(session: Session, survey: str, now: datetime) -> dict[str, Any]:
    """Check a draw from the register: the seed against its commitment, and the winners against a re-run over the
    entries the register still holds. IntegrityError when either fails; Refused when entries have gone since
    (erased with their members, or past their retention), so the draw can no longer be re-run from the register
    (its count and commitment stay). Audited when it verifies."""
    session.require_officer("verify prize draws")
    with session.store.write():
        survey_row(session, survey)
        draw = _committed(session, survey)
        if draw["drawn_on"] is None:
            raise Refused(f"the draw of {survey} has not been run yet: only its commitment can be published",
                          hints=(f"its commitment is {draw['commitment'].hex()}",))
        seed = _seed(session, survey, draw)
        entries = session.store.entries(survey)
        if len(entries) != draw["entrants"]:
            raise Refused(
                f"the seed matches the commitment, but {draw['entrants'] - len(entries)} of the draw's {draw['entrants']} entries"
                " are no longer in the register (erased, or past their retention): the draw cannot be re-run from it",
                hints=("anyone with the seed and the entrant list published at the draw can re-run it (docs/crypto.md §11)",),
            )
        recorded = [member_id for _, member_id in sorted((prize, member_id) for member_id, prize in entries if prize is not None)]
        again = draws.winners(seed, entrants_of(entries), draw["prizes"])
        if recorded != again:
            raise IntegrityError(f"the winners recorded for the draw of {survey} are not the draw's: its entries were changed")
        session.audit(now, "draw-verify", None, [], {"survey": survey, "entrants": draw["entrants"], "prizes": draw["prizes"]})
    return {"survey": survey, "verified": True, "seed": seed.hex(), "commitment": draw["commitment"].hex(), "prizes": draw["prizes"],
            "entrants": draw["entrants"], "winners": [{"prize": i + 1, "member_id": m} for i, m in enumerate(again)],
            "entrant_ids": entrants_of(entries)}


def entrants_of(entries: list[tuple[str, int | None]]) -> list[str]:
    return [member_id for member_id, _ in entries]
