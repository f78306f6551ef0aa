"""survey create|list|show|sample|responses: the panel's surveys, drawn and answered inside the register."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InvalidInput
from ..words import plural
from ..writers import FORMATS
from .root import GROUPS, Call, choice, command
from .output import out, stdout
from .progress import progress

EXCLUDED = {"restricted": "restricted", "objected": "objected", "invited": "invited before", "resting": "resting",
            "no_consent": "without consent", "filtered": "not matching --where"}
SurveyArg = Annotated[str, typer.Argument(help="The survey's name (lower-case letters, digits and hyphens).", show_default=False)]
group = GROUPS["survey"]


@command(group, "create")
def survey_create(
    call: Call,
    name: SurveyArg,
    title: Annotated[str, typer.Option("--title", help="What the survey is about, for officers (kept in plain: name no one's data).",
                                       show_default=False)],
) -> None:
    """Create a survey, run by the recipient and for the purpose of policies/surveys.yaml.

    Example: kss-panel survey create spring-2026 --title "Spring 2026: heating and prices"
    """
    from ..services import surveys

    data = call.unlocked(surveys.create, name, title, call.now)
    call.emit(data, lambda: out(f"created survey {name} ({data['recipient']}, for {data['purpose']})"))


@command(group, "list")
def survey_list(call: Call) -> None:
    """List the surveys: invitations, responses, the response rate and the prize draw.

    Example: kss-panel survey list
    """
    from .. import render
    from ..services import surveys

    rows = call.unlocked(surveys.list_surveys)
    shown = [{**row, "rate": percent(row["rate"]), "draw": draw_state(row)} for row in rows]
    call.emit(rows, lambda: render.table(stdout, shown, ["name", "title", "created_on", "invited", "responded", "rate", "draw"],
                                         title=plural(len(rows), "survey"), headers={"created_on": "created"}, whole=("name", "draw")))


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{100 * rate:.1f}%"


def draw_state(row: dict[str, Any]) -> str:
    if row.get("drawn_on"):
        return f"drawn {row['drawn_on']}"
    return f"committed {row['committed_on']}" if row.get("committed_on") else "—"


@command(group, "show")
def survey_show(call: Call, name: SurveyArg) -> None:
    """Show a survey: invited, responded and the response rate overall, per sample and per stratum, and its draw.

    Reading the strata each invitation was drawn from is audited.

    Example: kss-panel survey show spring-2026
    """
    from ..services import surveys

    data = call.unlocked(surveys.show, name, call.now)
    call.emit(data, lambda: show_survey(data))


def show_survey(data: dict[str, Any]) -> None:
    from .. import render

    out(f"survey {data['name']}: {data['title']}")
    out(f"run by {data['recipient']} for {data['purpose']}; created {data['created_on']} by {data['created_by']}")
    out(f"{plural(data['invited'], 'member')} invited, {data['responded']} responded ({percent(data['rate'])})")
    for sample in data["samples"]:
        how = ", ".join(sample["strata_fields"]) or "no strata"
        where = "; where " + ", ".join(f"{path}={','.join(values)}" for path, values in sample["where"].items()) if sample["where"] else ""
        out(f"sample {sample['id']} of {sample['drawn_on']}: {plural(sample['invited'], 'member')} invited by {how}{where} (seed {sample['seed']})")
        paths = sample["strata_paths"]
        rows = [{**row["stratum"], "invited": row["invited"], "responded": row["responded"], "rate": percent(row["rate"])} for row in sample["strata"]]
        render.table(stdout, rows, [*paths, "invited", "responded", "rate"], headers=field_headers(paths), whole=paths)
    draw = data["draw"]
    if draw is None:
        out("no prize draw")
        return
    out(f"draw committed to on {draw['committed_on']}:")
    out(f"  commitment {draw['commitment']}")
    if draw["drawn_on"]:
        out(f"drawn on {draw['drawn_on']}: {plural(draw['prizes'], 'prize')} among {plural(draw['entrants'], 'entrant')}")
        out(f"  seed       {draw['seed']}")
        for winner in draw["winners"]:
            out(f"  prize {winner['prize']}: {winner['member_id']}")


def field_headers(paths: list[str]) -> dict[str, str]:
    """A table's header for each field path: the field's own name, or the whole path where two would read the same."""
    names = [path.rpartition(".")[2] for path in paths]
    return {path: name if names.count(name) == 1 else path for path, name in zip(paths, names, strict=True)}


@command(group, "sample")
def survey_sample_(
    call: Call,
    name: SurveyArg,
    size: Annotated[int | None, typer.Option("--size", help="How many members to draw, in proportion to the strata.", show_default=False)] = None,
    strata: Annotated[list[str] | None, typer.Option(
        "--strata", help="FIELD[,FIELD…] to stratify by; FIELD:EDGE,EDGE,… bins a number, FIELD:N groups postal codes by N digits.")] = None,
    quota: Annotated[Path | None, typer.Option("--quota", help="CSV of how many to draw per stratum: the strata fields and count.")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", help="FIELD=VALUE[,VALUE…]: only members whose field holds a value; repeatable.")] = None,
    seed: Annotated[str | None, typer.Option("--seed", help="Seed of the draw: the same seed on the same register draws the same sample.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Invite the sample: write --out and record every invitation (default: dry run).")] = False,
    out_file: Annotated[Path | None, typer.Option("--out", help="The invitation list, a new 0600 file (with --apply).")] = None,
    format_: Annotated[str, choice("--format", FORMATS, "Format of the invitation list.")] = "csv",
    allow_short: Annotated[bool, typer.Option("--allow-short", help="With --apply, invite fewer than asked when strata run short.")] = False,
) -> None:
    """Draw a random sample of the members who may be invited: a dry run unless --apply.

    Only admitted members who are not restricted, have no objection covering
    the survey's purpose, hold the consent it needs and are outside their rest
    period (surveys.yaml). The dry run prints the strata table and discloses
    nothing; --apply --out FILE writes the invitation list (the survey, member
    ids and the recipient's fields only) and logs every invitation.

    Example: kss-panel survey sample spring-2026 --size 1000 --strata demographics.gender,demographics.birth_year:1960,1975,1990
    """
    from .. import survey_files
    from ..services import survey_sample

    if apply != (out_file is not None):
        raise InvalidInput("--apply writes --out", [("--apply/--out", "give both to invite, neither for a dry run")])
    if allow_short and not apply:
        raise InvalidInput("--allow-short confirms an invitation", [("--allow-short", "needs --apply: a dry run invites no one")])
    read = survey_files.read_quota(quota) if quota is not None else None
    with progress("reading the register", enabled=not call.as_json) as advance:
        data = call.unlocked(survey_sample.sample, name, call.now, size=size, strata=tuple(strata or ()), where=tuple(where or ()),
                             quota=read, seed=seed, out=out_file, format_=format_, allow_short=allow_short, progress=advance)
    call.emit(data, lambda: show_sample(data))


def show_sample(data: dict[str, Any]) -> None:
    from .. import render

    if data["dry_run"]:
        out("dry run: nothing was disclosed")
    else:
        out(f"invited {plural(data['invited'], 'member')} to {data['survey']} (sample {data['sample']}); wrote {data['file']}")
    out(f"seed {data['seed']}" + (" (--seed draws this very sample)" if data["dry_run"] else ""))
    out(f"{plural(data['members'], 'admitted member')}, {data['eligible']} eligible")
    left_out = [f"{count} {EXCLUDED[reason]}" for reason, count in data["excluded"].items() if count]
    out("excluded: " + (", ".join(left_out) or "none"))
    paths = [path.partition(":")[0] for path in data["strata_fields"]]
    short = ["short"] if data["short"] else []
    rows = [{**row["stratum"], "eligible": row["eligible"], "to_draw": row["to_draw"], "short": row["short"]} for row in data["strata"]]
    render.table(stdout, rows, [*paths, "eligible", "to_draw", *short], headers={"to_draw": "to draw", **field_headers(paths)}, whole=paths)
    out(f"to draw {data['to_draw']} of {data['asked']} asked" + (f": {data['short']} short" if data["short"] else ""))


@command(group, "responses")
def survey_responses(
    call: Call,
    name: SurveyArg,
    file: Annotated[Path, typer.Argument(help="The processor's return file: a CSV with member_id and optional completed_on.", show_default=False)],
) -> None:
    """Record who answered a survey, from the processor's return file; all or nothing.

    Each response moves the member's last activity (the inactivity clock).
    An unknown or uninvited member id is reported by line, and nothing is
    written; a member erased since the invitation is skipped and counted.

    Example: kss-panel survey responses spring-2026 returns-2026-05.csv
    """
    from .. import survey_files
    from ..services import surveys

    data = call.unlocked(surveys.record_responses, name, survey_files.read_responses(file), call.now)
    call.emit(data, lambda: out(
        f"recorded {plural(data['recorded'], 'response')} to {name} ({data['unchanged']} recorded before"
        + (f", {data['erased']} of members erased since" if data["erased"] else "") + f"); {data['activity_updated']} members' last activity moved"))
