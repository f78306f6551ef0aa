"""policy check|show: the policies, with no register needed."""

from __future__ import annotations

from .root import GROUPS, Call, command
from .output import err, out, stdout

group = GROUPS["policy"]


@command(group, "check", unlocks=False)
def policy_check(call: Call) -> None:
    """Validate every policy file strictly; exit 6 listing each problem with file and line.

    Also warns of recipients marked as examples, which must be replaced
    before the policies are used.

    Example: kss-panel --policies policies policy check
    """
    policies = call.policies
    directory = call.state.config.policies
    examples = [key for key, recipient in policies.disclosure.recipients.items() if recipient.example]
    data = {"directory": str(directory), "hash": policies.hash, "files": sorted(policies.documents), "examples": examples}

    def human() -> None:
        out(f"policies in {directory} are valid (hash {policies.hash})")
        if examples:
            err(f"kss-panel: warning: recipients marked as examples: {', '.join(examples)}")
            err("kss-panel: hint: replace them with the parties of signed processor agreements and named companies before use")

    call.emit(data, human)


@command(group, "show", unlocks=False)
def policy_show(call: Call) -> None:
    """Show the resolved policies and their hash (the hash every audit entry carries).

    Example: kss-panel policy show --json
    """
    from .. import render
    from ..policy_schema import dump

    policies = call.policies
    data = {
        "hash": policies.hash,
        "register": dump(policies.register, by_alias=True),
        "retention": dump(policies.retention, exclude_none=True),
        "disclosure": dump(policies.disclosure, exclude_none=True),
        "surveys": dump(policies.surveys),
    }
    call.emit(data, lambda: render.policies(stdout, policies))
