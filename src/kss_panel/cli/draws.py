"""draw commit|run|verify: prize draws of marketing competitions, committed to before and checkable after."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..words import plural
from .root import GROUPS, Call, command
from .output import out
from .surveys import SurveyArg

group = GROUPS["draw"]
LEFT_OUT = {"not_member": "no longer members", "restricted": "restricted", "objected": "objected", "no_consent": "without consent"}


@command(group, "commit")
def draw_commit(call: Call, name: SurveyArg) -> None:
    """Draw the secret seed of a survey's prize draw, keep it sealed, and print its commitment to publish.

    Publish the commitment (SHA-256 of the seed) with the competition's rules
    before the draw: it shows the seed was fixed before anyone entered.

    Example: kss-panel draw commit spring-2026
    """
    from ..services import draws

    data = call.unlocked(draws.commit, name, call.now)
    call.emit(data, lambda: (out(f"commitment of the draw of {name}: {data['commitment']}"),
                             out("publish it with the competition's rules before the draw")))


@command(group, "run")
def draw_run(
    call: Call,
    name: SurveyArg,
    prizes: Annotated[int, typer.Option("--prizes", help="How many winners to draw (first prize first).", show_default=False)],
) -> None:
    """Reveal the seed and draw the winners among the survey's respondents who hold the draw's consent.

    The winners follow from the seed and the sorted entrant ids alone, so
    anyone with them can re-run the draw; draw verify does.

    Example: kss-panel draw run spring-2026 --prizes 3
    """
    from ..services import draws

    data = call.unlocked(draws.run, name, prizes, call.now)
    call.emit(data, lambda: show_draw(data))


def show_draw(data: dict[str, Any]) -> None:
    excluded = ", ".join(f"{count} {LEFT_OUT[reason]}" for reason, count in data["excluded"].items() if count)
    out(f"drew {plural(data['prizes'], 'winner')} among {plural(data['entrants'], 'entrant')} of {data['survey']}"
        + (f" (respondents left out: {excluded})" if excluded else ""))
    out(f"seed: {data['seed']}")
    out(f"commitment: {data['commitment']}")
    for winner in data["winners"]:
        out(f"prize {winner['prize']}: {winner['member_id']}")


@command(group, "verify")
def draw_verify(call: Call, name: SurveyArg) -> None:
    """Check a draw: the seed against the commitment published before it, and the winners against a re-run.

    Exit 7 when either does not match; exit 9 when entrants were erased
    since, so the register can no longer re-run the draw.

    Example: kss-panel draw verify spring-2026
    """
    from ..services import draws

    data = call.unlocked(draws.verify, name, call.now)
    call.emit(data, lambda: (out(f"the draw of {name} verifies: the seed matches its commitment, and re-run among"
                                 f" {plural(data['entrants'], 'entrant')} it gives the {plural(data['prizes'], 'winner')} recorded"),
                             [out(f"prize {w['prize']}: {w['member_id']}") for w in data["winners"]]))
