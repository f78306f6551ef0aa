"""Consent receipts (GDPR Art. 7(1)): the version of each consent's wording, a receipt of every change, a member's history.

The controller must be able to show that a person consented, when, how, and to
what. Every consent given or withdrawn, and every objection made or lifted
(Art. 21), is a receipt: the instant, the channel the change came through, the
key slot that recorded it, and the version of each consent's wording as the
policy stated it then. A version is a hash of the wording (``text`` in
register.yaml, all three languages), so editing a text changes its version and
a consent given before shows as given under wording since changed.

Receipts are personal data: a member's receipts are sealed in a box of their
own under the member's data key (``vault``), and this module only builds and
reads the plain list the box holds. Pure: nothing here reads a file or a clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .crypto import sha256
from .policy import Localised, RegisterPolicy
from .policy_schema import dump

# How a change reached the register: an officer's command (consent, update), an import of applications
# from the website, an enrolment form (enrol --file), the member's own changes on the website (import --updates).
CHANNELS = ("officer", "import", "enrol", "self-service")
VERSION_CHARS = 16  # hex digits of SHA-256, as the policy hash
OBJECTION_EVENTS = {"object": "objected", "lift": "objection-lifted"}
Event = dict[str, Any]


def wording_version(text: Localised | dict[str, str]) -> str:
    """The version of a consent's wording: a hash of its three texts (fi, sv, en), so any edit is a new version."""
    texts = dump(text) if isinstance(text, Localised) else dict(text)
    canonical = json.dumps(texts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return sha256(b"kss-panel consent wording\n" + canonical.encode()).hex()[:VERSION_CHARS]


def current_versions(register: RegisterPolicy) -> dict[str, str]:
    """Each consent of the policy -> the version of its wording now."""
    return {name: wording_version(consent.text) for name, consent in register.consents.items()}


def receipt(
    now: datetime, channel: str, slot: str, given: dict[str, str], withdrawn: dict[str, str], objections: dict[str, str] | None = None
) -> Event | None:
    """One receipt: consents given and withdrawn (name -> version of the wording) and objections made or lifted; None if empty."""
    assert channel in CHANNELS, channel
    if not (given or withdrawn or objections):
        return None
    event: Event = {"at": int(now.timestamp()), "channel": channel, "slot": slot}
    for key, value in (("given", given), ("withdrawn", withdrawn), ("objections", objections)):
        if value:
            event[key] = dict(sorted(value.items()))
    return event


def enrolment_receipt(record: dict[str, Any], *, versions: dict[str, str], now: datetime, channel: str, slot: str) -> Event | None:
    """The receipt of the consents a new applicant's record gives (``versions``: ``current_versions``); None if none."""
    given = {name: version for name, version in versions.items() if record.get("consents", {}).get(name)}
    return receipt(now, channel, slot, given, {})


def view(event: Event | None) -> dict[str, Any] | None:
    """A receipt as people and scripts read it: the instant in ISO 8601 (UTC), each part present."""
    if event is None:
        return None
    at = datetime.fromtimestamp(int(event["at"]), UTC).isoformat(timespec="seconds")
    return {"at": at, "channel": event["channel"], "slot": event["slot"],
            **{key: dict(event.get(key, {})) for key in ("given", "withdrawn", "objections")}}


RECEIPTS_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))  # made once: json.dumps with options makes one a call


def encode(events: list[Event]) -> bytes:
    return RECEIPTS_JSON.encode(events).encode()


def decode(plaintext: bytes) -> list[Event]:
    events = json.loads(plaintext)
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        raise ValueError("not a list of receipts")
    return events


def standing(events: Iterable[Event]) -> dict[str, tuple[str, int]]:
    """The consents the receipts show as given: name -> (version of the wording, instant), the latest receipt deciding."""
    found: dict[str, tuple[str, int]] = {}
    for event in events:
        for name in event.get("withdrawn", {}):
            found.pop(name, None)
        for name, version in event.get("given", {}).items():
            found[name] = (version, int(event["at"]))
    return found


def consent_change(
    before: dict[str, bool], after: dict[str, bool], current: dict[str, str], given_under: dict[str, tuple[str, int]], regiven: Iterable[str] = ()
) -> tuple[dict[str, str], dict[str, str]]:
    """(given, withdrawn) by a change of consents, each consent with the version of its wording now.

    A consent not held before and held after is given; one held and no longer
    held is withdrawn. A consent named in ``regiven`` that was already held is
    given again when it was given under another wording (or with no receipt):
    that is the re-consent ``list --consent-outdated`` asks for. A consent
    already held under the current wording makes no receipt.
    """
    again = set(regiven)
    given = {
        name: version for name, version in current.items()
        if after.get(name) and (not before.get(name) or (name in again and given_under.get(name, ("",))[0] != version))
    }
    withdrawn = {name: version for name, version in current.items() if before.get(name) and not after.get(name)}
    return given, withdrawn


def outdated(consents: dict[str, bool], given_under: dict[str, tuple[str, int]], current: dict[str, str]) -> dict[str, str | None]:
    """The consents held under wording that has changed since: name -> the version they were given under (None: no receipt)."""
    return {
        name: given_under[name][0] if name in given_under else None
        for name, version in current.items()
        if consents.get(name) and given_under.get(name, ("",))[0] != version
    }


def history(events: Iterable[Event], current: dict[str, str]) -> list[dict[str, Any]]:
    """The receipts as a history, one line per consent or objection changed, oldest first.

    ``wording`` says whether the wording a consent was given or withdrawn under
    is still the policy's (``current``), has changed since (``changed``), or is
    of a consent the policy no longer has (``retired``).
    """
    lines: list[dict[str, Any]] = []
    for event in events:
        at = datetime.fromtimestamp(int(event["at"]), UTC).isoformat(timespec="seconds")
        base = {"at": at, "channel": event.get("channel"), "slot": event.get("slot")}
        for kind, change in event.get("objections", {}).items():
            lines.append({**base, "event": OBJECTION_EVENTS.get(change, change), "consent": None, "objection": kind, "version": None, "wording": None})
        for key in ("withdrawn", "given"):
            for name, version in event.get(key, {}).items():
                wording = "retired" if name not in current else "current" if current[name] == version else "changed"
                lines.append({**base, "event": key, "consent": name, "objection": None, "version": version, "wording": wording})
    return lines
