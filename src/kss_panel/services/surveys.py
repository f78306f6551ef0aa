"""Surveys: created under the survey policy, listed, shown with their response rates, and their responses
recorded from the processor's return file (the inactivity clock). Drawing a sample is ``survey_sample``;
prize draws are ``draws``."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from .. import crypto
from ..errors import IntegrityError, InvalidInput, NotFound, Param
from ..model import local_date
from ..record import clean_text
from ..survey_files import MAX_PROBLEMS, Response
from .disclosure import allowed
from .session import Session

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
MAX_TITLE = 200


# --- what is sealed, and where it is bound (docs/crypto.md §4) --------------------------------------------------


def sample_context(session: Session, sample_id: int) -> tuple[str, ...]:
    return ("survey-sample", session.register_id, str(sample_id))


def stratum_context(session: Session, survey: str, member_id: str) -> tuple[str, ...]:
    return ("survey-stratum", session.register_id, survey, member_id)


def seed_context(session: Session, survey: str) -> tuple[str, ...]:
    return ("draw-seed", session.register_id, survey)


def box_context(session: Session, table: str, key: tuple[Any, ...]) -> tuple[str, ...]:
    """The context of a box of the survey tables, by table and the row's key (``storage.survey_boxes``)."""
    if table == "survey_samples":
        return sample_context(session, key[0])
    if table == "survey_invitations":
        return stratum_context(session, *key)
    return seed_context(session, key[0])


def open_box(session: Session, box: bytes, context: tuple[str, ...], what: str) -> bytes:
    try:
        return crypto.Sealer(session.keys.data or b"").open(box, context)
    except crypto.InvalidToken:
        raise IntegrityError(f"{what} does not open: it was changed, moved or damaged") from None


def survey_row(session: Session, name: str) -> dict[str, Any]:
    """A survey's row (inside a transaction), or NotFound naming it."""
    row = session.store.survey(name)
    if row is None:
        raise NotFound(f"no survey {name!r}", hints=("kss-panel survey list shows the surveys",))
    return row


# --- surveys -----------------------------------------------------------------------------------------------------


def create(session: Session, name: str, title: str, now: datetime) -> dict[str, Any]:
    """A new survey, run by the survey policy's recipient for its purpose."""
    session.require_officer("create surveys")
    problems = [] if NAME.fullmatch(name) else [(Param("name"), "must be 1 to 63 lower-case letters, digits and hyphens, not starting with a hyphen")]
    try:
        title = clean_text(title, max_length=MAX_TITLE)
    except ValueError as exc:
        problems.append((Param("title"), str(exc)))
    if problems:
        raise InvalidInput("invalid survey", problems)
    policy = session.policies.surveys
    allowed(session, policy.recipient, policy.purpose)
    row = {"name": name, "title": title, "recipient": policy.recipient, "purpose": policy.purpose,
           "created_on": local_date(now).isoformat(), "created_by": session.actor}
    with session.store.write():
        if session.store.survey(name) is not None:
            raise InvalidInput(f"a survey named {name!r} already exists", [(Param("name"), "already exists")])
        session.store.add_survey(row)
        session.audit(now, "survey-create", detail={"survey": name, "recipient": policy.recipient, "purpose": policy.purpose})
    return row


def list_surveys(session: Session) -> list[dict[str, Any]]:
    """Every survey: invitations, responses and the response rate, and where its draw stands."""
    session.require_officer("list surveys")
    with session.store.read():
        return [{**row, "rate": rate(row["responded"], row["invited"])} for row in session.store.surveys()]


def rate(responded: int, invited: int) -> float | None:
    return round(responded / invited, 4) if invited else None


def show(session: Session, name: str, now: datetime) -> dict[str, Any]:
    """A survey: its samples (what each was drawn by), invited, responded and the rate overall, per sample and
    per stratum, and its draw. The strata are sealed: reading them is audited."""
    session.require_officer("read survey results")
    with session.store.write():
        survey = survey_row(session, name)
        samples = {row["id"]: _sample(session, row) for row in session.store.samples(name)}
        invited: Counter[tuple[int, tuple[str, ...]]] = Counter()
        responded: Counter[tuple[int, tuple[str, ...]]] = Counter()
        for row in session.store.invitations(name):
            stratum = tuple(json.loads(open_box(session, row["stratum"], stratum_context(session, name, row["member_id"]),
                                                f"the stratum of {row['member_id']}'s invitation"))) if row["stratum"] else ()
            invited[row["sample"], stratum] += 1
            responded[row["sample"], stratum] += row["responded_on"] is not None
        for sample_id, sample in samples.items():
            sample["strata"] = [
                {"stratum": dict(zip(sample["strata_paths"], stratum, strict=False)), "invited": n, "responded": responded[(of, stratum)],
                 "rate": rate(responded[(of, stratum)], n)}
                for (of, stratum), n in sorted(invited.items()) if of == sample_id
            ]
            sample["responded"] = sum(row["responded"] for row in sample["strata"])
            sample["rate"] = rate(sample["responded"], sum(row["invited"] for row in sample["strata"]))
        fields = sorted({path for sample in samples.values() for path in sample["strata_paths"]})
        session.audit(now, "survey-show", None, fields, {"survey": name})
        total, answered = sum(invited.values()), sum(responded.values())
        return {**survey, "invited": total, "responded": answered, "rate": rate(answered, total), "samples": list(samples.values()),
                "draw": draw_view(session, name)}


def draw_view(session: Session, name: str) -> dict[str, Any] | None:
    """A survey's draw as the officer sees it: the commitment, and once drawn the seed, the counts and the winners."""
    draw = session.store.draw(name)
    if draw is None:
        return None
    view: dict[str, Any] = {"commitment": draw["commitment"].hex(), "committed_on": draw["committed_on"], "drawn_on": draw["drawn_on"]}
    if draw["drawn_on"] is not None:
        seed = open_box(session, draw["seed"], seed_context(session, name), f"the seed of the draw of {name}")
        winners = sorted((prize, member_id) for member_id, prize in session.store.entries(name) if prize is not None)
        view.update({"seed": seed.hex(), "prizes": draw["prizes"], "entrants": draw["entrants"],
                     "winners": [{"prize": prize, "member_id": member_id} for prize, member_id in winners]})
    return view


def _sample(session: Session, row: dict[str, Any]) -> dict[str, Any]:
    spec = json.loads(open_box(session, row["spec"], sample_context(session, row["id"]), f"sample {row['id']}"))
    return {"id": row["id"], "drawn_on": row["drawn_on"], "invited": row["invited"], "seed": spec["seed"], "size": spec["size"],
            "strata_fields": spec["strata"], "strata_paths": [path.partition(":")[0] for path in spec["strata"]],
            "where": spec["where"], "quota": spec["quota"]}


# --- responses ---------------------------------------------------------------------------------------------------


def record_responses(session: Session, name: str, responses: Iterable[Response | tuple[str, str]], now: datetime) -> dict[str, Any]:
    """Record who answered, from the processor's return file; each response moves the member's last activity.

    ``responses`` holds the file's rows, and its problems as (where, problem).
    All or nothing: an unknown or uninvited member id, one listed twice, a day
    in the future or before the invitation is reported by line, and nothing is
    written. A member erased since the invitation is skipped and counted.
    """
    session.require_officer("record survey responses")
    today = local_date(now)
    with session.store.write():
        survey_row(session, name)
        valid, erased = _check_responses(session, name, responses, today)
        recorded, unchanged, active = [], 0, 0
        for response, invitation in valid:
            if invitation["responded_on"] is not None:
                unchanged += 1
                continue
            day = (response.day or today).isoformat()
            recorded.append((response.member_id, day))
            last = session.member_row(response.member_id)["last_activity_at"]
            if last is None or last < day:
                session.store.update_member(response.member_id, {"last_activity_at": day})
                active += 1
        session.store.record_responses(name, recorded)
        detail = {"survey": name, "recorded": len(recorded), "unchanged": unchanged, "erased": erased, "activity": active}
        session.audit(now, "survey-responses", None, [], detail)
    return {"survey": name, "responses": len(valid), "recorded": len(recorded), "unchanged": unchanged, "erased": erased, "activity_updated": active}


def _check_responses(
    session: Session, name: str, responses: Iterable[Response | tuple[str, str]], today: date
) -> tuple[list[tuple[Response, dict[str, Any]]], int]:
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    valid: list[tuple[Response, dict[str, Any]]] = []
    erased = 0
    for item in responses:
        if len(problems) >= MAX_PROBLEMS:
            raise InvalidInput(f"invalid return file for survey {name}", problems, hints=(f"the first {MAX_PROBLEMS} problems; the file was read no further",))
        if not isinstance(item, Response):
            problems.append(item)
            continue
        problem = _response_problem(session, name, item, today, seen)
        if problem == "erased":
            erased += 1
        elif problem is not None:
            problems.append((f"line {item.line}: {problem[0]}", problem[1]))
        else:
            seen[item.member_id] = item.line
            valid.append((item, session.store.invitation(name, item.member_id) or {}))
    if problems:
        raise InvalidInput(f"invalid return file for survey {name}", problems)
    return valid, erased


def _response_problem(session: Session, name: str, item: Response, today: date, seen: dict[str, int]) -> Any:
    if item.member_id in seen:
        return "member_id", f"is listed twice (first on line {seen[item.member_id]})"
    invitation = session.store.invitation(name, item.member_id)
    if invitation is None:
        if session.store.member(item.member_id) is not None:
            return "member_id", f"was not invited to survey {name}"
        return "erased" if session.store.is_erased(item.member_id) else ("member_id", "no such member")
    if item.day is not None and item.day > today:
        return "completed_on", "must not be in the future"
    if item.day is not None and item.day.isoformat() < invitation["invited_on"]:
        return "completed_on", "is before the member was invited"
    return None
