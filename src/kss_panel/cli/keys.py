"""key rotate: new register keys for every remaining slot."""

from __future__ import annotations

from .root import GROUPS, Call, command
from .output import out
from .progress import progress


@command(GROUPS["key"], "rotate")
def key_rotate(call: Call) -> None:
    """Rotate the register's keys: new data and lookup keys, every member re-keyed, the keys granted again to every slot.

    One all-or-nothing transaction, audited. Afterwards a removed officer's
    old passphrase or key file, with an old copy of the file, opens nothing
    the register holds now. Officers only.

    Example: kss-panel key rotate
    """
    from ..services import keys

    with progress("rotating", enabled=not call.as_json) as advance:
        data = call.unlocked(keys.rotate, call.now, progress=advance)
    call.emit(data, lambda: out(f"rotated the keys: {data['members']} members re-keyed, granted to {', '.join(data['slots'])}"))
