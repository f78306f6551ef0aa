"""Drawing a survey's sample inside the register: only members who may be contacted for the survey's
purpose, strata read from their records and never disclosed, an invitation list of the recipient's fields
alone, and every invitation in the disclosure log."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .. import crypto
from ..errors import FileRefused, InvalidInput, NotFound, Param, Refused
from ..model import local_date, objection_against, one_of
from ..policy import Purpose, PurposeGrant, Recipient, field_specs
from ..record import flatten, value_at
from ..sampling import (
    MAX_SAMPLE, Filter, Reservoirs, Stratifier, Stratum, allocate, check_seed, parse_strata, parse_where, quota_counts, rest_days,
    sample_keys, stratum_order, stratum_reader,
)
from ..survey_files import QuotaFile
from ..writers import FORMATS, RowWriter
from .disclosure import allowed
from .session import Progress, Session
from .surveys import sample_context, stratum_context

EXCLUSIONS = ("restricted", "objected", "invited", "resting", "no_consent", "filtered")
BATCH = 1000
PROGRESS_STEP = 1000


@dataclass
class Plan:
    """A sample's definition, and what the pass over the register found."""

    survey: str
    today: date
    seed: str
    strata: list[Stratifier]
    where: list[Filter]
    size: int | None
    quota: dict[Stratum, int] | None
    consent: str | None
    members: int = 0
    excluded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EXCLUSIONS, 0))
    reservoirs: Reservoirs | None = None
    to_draw: dict[Stratum, int] = field(default_factory=dict)
    wanted: dict[Stratum, int] = field(default_factory=dict)
    progress: Progress | None = None
    order: Any = None

    @property
    def read_fields(self) -> list[str]:
        """The fields read to draw this sample: strata, filters, and the consent the purpose needs."""
        return sorted({*(s.path for s in self.strata), *(f.path for f in self.where), *([f"consents.{self.consent}"] if self.consent else [])})

    @property
    def asked(self) -> int:
        return sum(self.quota.values()) if self.quota is not None else self.size or 0

    @property
    def short(self) -> int:
        return self.asked - sum(self.to_draw.values())

    def spec(self) -> dict[str, Any]:
        """What the sample was drawn by, sealed beside it: seed, strata, filters, size or quota."""
        return {"seed": self.seed, "strata": [s.describe() for s in self.strata],
                "where": {f.path: list(f.values) for f in self.where}, "size": self.size,
                "quota": [[list(s), n] for s, n in (self.quota or {}).items()] if self.quota is not None else None}


def sample(
    session: Session,
    survey: str,
    now: datetime,
    *,
    size: int | None = None,
    strata: tuple[str, ...] = (),
    where: tuple[str, ...] = (),
    quota: QuotaFile | None = None,
    seed: str | None = None,
    out: Path | None = None,
    format_: str = "csv",
    allow_short: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Draw a random sample of the members who may be contacted for the survey's purpose.

    Eligible: admitted, not restricted, no objection that covers the purpose,
    the consent the purpose needs, not invited to this survey before and
    outside their rest period (surveys.yaml), then ``where`` filters. Strata
    (``strata``) get the sample's ``size`` in proportion to their eligible
    members, or a ``quota`` each. The same ``seed`` on the same register gives
    the same sample; without one, a random seed is drawn and reported. Without
    ``out`` this is a dry run: the strata table, nothing disclosed. With
    ``out``: the invitation list (a new 0600 file: survey, member id and the
    recipient's fields), an invitation and a disclosure-log entry per member
    and one audit entry, all in one transaction; a quota that cannot be filled
    is refused unless ``allow_short``.
    """
    session.require_officer("draw survey samples")
    one_of(format_, FORMATS, "format", "format")
    if out is not None and out.exists():  # before the pass over the register, not after it (the file is made new all the same)
        raise FileRefused(f"{out} already exists: refusing to overwrite it", out, "file exists")
    policy = session.policies.surveys
    recipient, grant = allowed(session, policy.recipient, policy.purpose)
    plan = _plan(session, survey, local_date(now), size, strata, where, quota, seed, grant)
    plan.progress = progress
    if out is None:
        with session.store.read():
            chosen = _draw(session, plan)
        with session.store.write():
            session.audit(now, "survey-sample-plan", None, plan.read_fields, {"survey": survey, "eligible": sum(_counts(plan).values()),
                                                                              "to_draw": len(chosen)})
        return {**_result(plan, policy.recipient, policy.purpose, dry_run=True), "member_ids": [member_id for member_id, _ in chosen]}
    with session.store.write():
        chosen = _draw(session, plan)
        if plan.short and not allow_short:
            raise Refused(
                f"the sample is {plan.short} short of the {plan.asked} asked for: nothing was disclosed",
                problems=_shortfalls(plan), hints=("draw fewer, or confirm a smaller sample with --allow-short",),
            )
        invited = _invite(session, plan, chosen, recipient, now, out, format_)
    return {**_result(plan, policy.recipient, policy.purpose, dry_run=False), **invited}


def _plan(session: Session, survey: str, today: date, size: int | None, strata: tuple[str, ...], where: tuple[str, ...], quota: QuotaFile | None,
          seed: str | None, grant: PurposeGrant) -> Plan:
    policy = session.policies.surveys
    if (size is None) == (quota is None):
        raise InvalidInput("give a size or a quota", [(Param("size|quota"), "exactly one of them is required")])
    if size is not None and not 1 <= size <= MAX_SAMPLE:
        raise InvalidInput("invalid size", [(Param("size"), f"must be from 1 to {MAX_SAMPLE}")])
    if quota is not None and not strata:
        raise InvalidInput("a quota is by stratum", [(Param("quota"), "needs --strata, naming the fields of its columns")])
    if seed is not None:
        check_seed(seed)
    specs = field_specs(session.policies.register)
    stratifiers = parse_strata(strata, specs, policy.strata)
    filters = parse_where(where, specs, policy.strata)
    counts = quota_counts(quota.columns, quota.rows, stratifiers, specs) if quota is not None else None
    if quota is not None and not quota.rows:
        raise InvalidInput("empty quota", [(Param("quota"), "lists no strata")])
    consent = None if grant.consent == "none" else grant.consent
    plan = Plan(survey, today, seed or secrets.token_hex(16), stratifiers, filters, size, counts, consent)
    plan.order = stratum_order(stratifiers, specs)
    return plan


def _draw(session: Session, plan: Plan) -> list[tuple[str, Stratum]]:
    """The pass over the register, then the members chosen in each stratum (and their stratum), by member id;
    each checked against the trail."""
    survey = session.store.survey(plan.survey)
    if survey is None:
        raise NotFound(f"no survey {plan.survey!r}", hints=("create it with: kss-panel survey create NAME --title TEXT",))
    policy = session.policies.surveys
    if (survey["recipient"], survey["purpose"]) != (policy.recipient, policy.purpose):
        raise Refused(
            f"survey {plan.survey} is run by {survey['recipient']} for {survey['purpose']}, but surveys.yaml now names"
            f" {policy.recipient} for {policy.purpose}: its invitations would go elsewhere",
            hints=("create a new survey under the policy in force",),
        )
    _pass(session, plan)
    counts = _counts(plan)
    plan.wanted = dict(plan.quota) if plan.quota is not None else allocate(counts, plan.size or 0)
    plan.to_draw = {stratum: min(wanted, counts.get(stratum, 0)) for stratum, wanted in plan.wanted.items()}
    assert plan.reservoirs is not None
    chosen = sorted((member_id, stratum) for stratum, n in plan.to_draw.items() for member_id in plan.reservoirs.smallest(stratum, n))
    for member_id, _ in chosen:
        session.member_row(member_id)  # a row changed by hand is refused (exit 7), never invited
    return chosen


def _counts(plan: Plan) -> dict[Stratum, int]:
    return plan.reservoirs.counts if plan.reservoirs is not None else {}


def _pass(session: Session, plan: Plan) -> None:
    """Every admitted member once: the exclusions counted, the rest offered to their stratum's reservoir.

    The hot loop of a sample (a register's every member): a tuple per member,
    the record opened only for a member the plain columns let through and only
    when a field must be read, nothing but that done per member."""
    policy = session.policies.surveys
    purpose = session.policies.register.purposes[policy.purpose]
    rest_since, year_since = rest_days(policy.rest, plan.today)
    reading, checking = bool(plan.read_fields), bool(plan.consent or plan.where)
    key, stratum_of, per_year, excluded = sample_keys(plan.seed, plan.survey), stratum_reader(plan.strata), policy.rest.per_year, plan.excluded
    plan.reservoirs = Reservoirs(plan.quota if plan.quota is not None else plan.size or 0)
    offer, open_stored, progress = plan.reservoirs.offer, session.vault.open_stored, plan.progress
    categories = frozenset(path.partition(".")[0] for path in plan.read_fields)
    total = session.store.count_members("member") if progress is not None else None
    rows = session.store.candidates(plan.survey, rest_since, year_since)
    for count, (member_id, restricted, objected, processing_objected, invited, recent, this_year, wrapped_dek, box) in enumerate(rows, 1):
        if progress is not None and count % PROGRESS_STEP == 0:
            progress(count, total)
        if restricted or objected or processing_objected or invited or recent or this_year >= per_year:
            reason = _excluded(purpose, restricted, objected, processing_objected, invited, recent or this_year >= per_year)
            if reason is not None:
                excluded[reason] += 1
                continue
        record = open_stored(member_id, wrapped_dek, box, categories) if reading else {}
        if checking and (reason := _unfit(plan, record)) is not None:
            excluded[reason] += 1
            continue
        offer(stratum_of(record), key(member_id), member_id)
    plan.members = sum(plan.excluded.values()) + sum(plan.reservoirs.counts.values())


def _excluded(purpose: Purpose, restricted: str | None, objected: str | None, processing_objected: str | None, invited: int,
              resting: bool) -> str | None:
    """Why a member may not be invited, from the plain columns alone (None: they may, so far)."""
    if restricted:
        return "restricted"
    if (objected or processing_objected) and objection_against({"objected_at": objected, "processing_objected_at": processing_objected}, purpose):
        return "objected"
    if invited:
        return "invited"
    return "resting" if resting else None


def _unfit(plan: Plan, record: dict[str, Any]) -> str | None:
    """Why a member the plain columns let through is left out after all: no consent, or a filter."""
    if plan.consent and not record.get("consents", {}).get(plan.consent):
        return "no_consent"
    return None if all(f.keeps(value_at(record, f.path)) for f in plan.where) else "filtered"


def _stratum_view(plan: Plan, stratum: Stratum) -> dict[str, str]:
    return {s.path: label for s, label in zip(plan.strata, stratum, strict=True)}


def _rows(plan: Plan) -> list[dict[str, Any]]:
    counts = _counts(plan)
    strata = sorted(set(counts) | set(plan.wanted), key=plan.order)
    return [{"stratum": _stratum_view(plan, s), "eligible": counts.get(s, 0), "to_draw": plan.to_draw.get(s, 0),
             "short": plan.wanted.get(s, 0) - plan.to_draw.get(s, 0)} for s in strata]


def _shortfalls(plan: Plan) -> list[tuple[str, str]]:
    """Each stratum the sample cannot fill, and by how much."""
    found = []
    for row in _rows(plan):
        if row["short"]:
            where = ", ".join(f"{path}={label}" for path, label in row["stratum"].items()) or "(all members)"
            found.append((where, f"{row['eligible']} eligible for the {row['to_draw'] + row['short']} asked"))
    if plan.short and not found:  # no member eligible at all: no stratum to name
        found.append(("(all members)", f"0 eligible for the {plan.asked} asked"))
    return found


def _result(plan: Plan, recipient: str, purpose: str, *, dry_run: bool) -> dict[str, Any]:
    return {
        "survey": plan.survey, "recipient": recipient, "purpose": purpose, "dry_run": dry_run, "seed": plan.seed,
        "strata_fields": [s.describe() for s in plan.strata], "where_fields": [f.path for f in plan.where],
        "members": plan.members, "excluded": dict(plan.excluded), "eligible": sum(_counts(plan).values()),
        "asked": plan.asked, "to_draw": sum(plan.to_draw.values()), "short": plan.short, "strata": _rows(plan),
    }


def _invite(session: Session, plan: Plan, chosen: list[tuple[str, Stratum]], recipient: Recipient, now: datetime, out: Path,
            format_: str) -> dict[str, Any]:
    """Inside the write: the invitation list, then each invitation and its disclosure-log entry, the sample and its audit entry."""
    policy = session.policies.surveys
    store, today = session.store, plan.today.isoformat()
    sealer = crypto.Sealer(session.keys.data or b"")
    sample_id = store.add_sample({"survey": plan.survey, "drawn_on": today, "invited": len(chosen), "spec": b""})
    store.set_sample_spec(sample_id, sealer.seal(json.dumps(plan.spec()).encode(), sample_context(session, sample_id)))
    sections = sorted({path.partition(".")[0] for path in policy.fields})
    with RowWriter(out, ["survey", "member_id", *policy.fields], format_) as writer:
        for start in range(0, len(chosen), BATCH):
            batch = chosen[start : start + BATCH]
            invitations = []
            for member_id, stratum in batch:
                record = session.record(session.member_row(member_id), sections)
                flat = flatten(record)
                writer.write({"survey": plan.survey, "member_id": member_id, **{path: flat.get(path, record.get(path)) for path in policy.fields}})
                box = sealer.seal(json.dumps(list(stratum)).encode(), stratum_context(session, plan.survey, member_id)) if plan.strata else None
                invitations.append({"survey": plan.survey, "member_id": member_id, "sample": sample_id, "invited_on": today, "stratum": box})
            store.add_invitations(invitations)
            store.log_disclosures([member_id for member_id, _ in batch], policy.recipient, policy.purpose, list(policy.fields), today)
    detail = {"survey": plan.survey, "sample": sample_id, "recipient": policy.recipient, "purpose": policy.purpose,
              "invited": len(chosen), **({"short": plan.short} if plan.short else {})}
    session.audit(now, "survey-sample", None, sorted({*plan.read_fields, *policy.fields}), detail)
    return {"sample": sample_id, "invited": len(chosen), "file": str(out), "format": format_}
