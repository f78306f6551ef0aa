"""Prize draws that anyone can check: a secret seed committed to before the draw, and winners that follow
from the seed and the entrant list alone (docs/crypto.md §11).

The organiser publishes the commitment, SHA-256 of the 32-byte seed, with
the competition's rules; at the draw the seed is revealed, and anyone with
it and the entrant ids re-runs the draw: the ids sorted, then a partial
Fisher-Yates shuffle whose random numbers are HMAC-SHA256 blocks keyed with
the seed. Pure: no file, no clock.
"""

from __future__ import annotations

import re

from .crypto import mac, mac_equal, sha256

SEED_BYTES = 32
HEX_SEED = re.compile(r"[0-9a-f]{64}")


def commitment(seed: bytes) -> bytes:
    """What is published before the draw: SHA-256 of the seed."""
    return sha256(seed)


def seed_matches(seed: bytes, committed: bytes) -> bool:
    return mac_equal(commitment(seed), committed)


def uniform(seed: bytes, index: int, bound: int) -> int:
    """A number in [0, bound) for the ``index``-th pick: the first HMAC-SHA256(seed, "kss-panel draw INDEX ATTEMPT")
    (ASCII, decimal numbers) that, read as a 256-bit big-endian number, falls below the largest multiple of
    ``bound``, taken modulo ``bound``; so every number is equally likely."""
    if bound < 1:
        raise ValueError("nothing to draw from")
    limit = (1 << 256) // bound * bound
    attempt = 0
    while True:
        value = int.from_bytes(mac(seed, f"kss-panel draw {index} {attempt}".encode("ascii")), "big")
        if value < limit:
            return value % bound
        attempt += 1


def winners(seed: bytes, entrants: list[str], prizes: int) -> list[str]:
    """The winners of ``prizes`` prizes, first prize first: the entrant ids sorted (as bytes of UTF-8), then for
    each prize i = 0, 1, … the entrant at i + uniform(seed, i, n - i) swapped into place i."""
    pool = sorted(set(entrants), key=lambda member_id: member_id.encode())
    if not 0 <= prizes <= len(pool):
        raise ValueError("more prizes than entrants")
    for index in range(prizes):
        pick = index + uniform(seed, index, len(pool) - index)
        pool[index], pool[pick] = pool[pick], pool[index]
    return pool[:prizes]
