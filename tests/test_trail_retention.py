"""The audit trail's retention: `purge --apply` prunes entries past the policy's period (60 months in the
shipped policy) up to the end of a command, and leaves a signed checkpoint, so what remains still verifies
with no key, names the checkpoint, and every member and the slot table stay committed to.

The register is built through the services on days years apart; the command line runs at NOW.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from kss_panel.services import members
from support import Builder, Register, assert_failure, noon, person

NOW = datetime(2027, 3, 15, 12, 0, tzinfo=UTC)  # 60 months after 2022-03-15: everything up to that day is past
ACTIVE = date(2027, 3, 1)


def populate(b: Builder) -> dict[str, Any]:
    """anna and bertta active members (bertta rectified lately); cecilia restricted in 2022 and untouched
    since (a restriction holds her against the purge): every entry that committed to her row goes."""
    for n, name in enumerate(("anna", "bertta", "cecilia"), start=1):
        b.enrol(name, person(n, name.capitalize(), given=()), noon("2021-12-01"))
        b.admit(name, at=noon("2022-01-01"))
    b.restrict("cecilia", "legal-claims", at=noon("2022-02-01"))
    members.update(b.session, b.ids["bertta"], {"contact": {"city": "Kuusankoski"}}, noon("2026-01-10"))
    for name in ("anna", "bertta"):
        b.activity(name, ACTIVE)
    return {}


@pytest.fixture
def reg(make_register: Callable[..., Register]) -> Register:
    return make_register({}, noon("2021-11-30"), populate=populate, purger=True)


def entries(reg: Register) -> list[tuple[int, str, str | None]]:
    return reg.sql("SELECT seq, action, member_id FROM audit ORDER BY seq")


def past(reg: Register) -> int:
    """The entries written before 2022-03-16 (local): those the shipped policy's 60 months make due on NOW."""
    before = int(datetime(2022, 3, 15, 22, 0, tzinfo=UTC).timestamp())  # 2022-03-16 00:00 in Helsinki
    return reg.sql("SELECT count(*) FROM audit WHERE at < ?", [before])[0][0]


def test_a_dry_run_counts_the_trail_entries_past_their_period(reg: Register) -> None:
    before = reg.tables()
    data = reg.json("purge", key="cron")
    assert data["records"]["audit_trail"] == past(reg) > 0
    assert reg.tables() == before


def test_apply_prunes_up_to_a_checkpoint_and_the_rest_verifies(reg: Register) -> None:
    due, old_head = past(reg), reg.json("audit", "head")["head"]
    first_kept = due + 1
    data = reg.json("purge", "--apply", key="cron")
    assert data["records"]["audit_trail"] == due
    assert min(seq for seq, _, _ in entries(reg)) == first_kept
    checkpoint = [(seq, json.loads(detail)) for seq, detail in reg.sql("SELECT seq, detail FROM audit WHERE action = 'checkpoint'")]
    [(checkpoint_seq, detail)] = checkpoint
    assert detail["pruned_through"] == due and set(detail["slots"]) == {"aino", "desk", "cron"}
    verified = reg.json("audit", "verify")
    assert (verified["pruned_through"], verified["checkpoint"]) == (due, checkpoint_seq)
    human = reg.run("audit", "verify")
    assert human.stdout.startswith(f"audit trail verified: entries {first_kept} to {verified['entries']} (1 to {due} pruned by retention,"
                                   f" as checkpoint entry {checkpoint_seq} says), head ")
    # A head kept outside before the prune is still accepted: the checkpoint, signed after it, says the entry went.
    assert reg.run("audit", "verify", "--head", old_head).exit_code == 0
    assert reg.run("audit", "verify", "--head", verified["head"]).exit_code == 0
    # Every entry that committed to cecilia's row went: she is committed to again, so her row still verifies and serves.
    assert not any(member == reg.ids["cecilia"] and seq <= due for seq, _, member in entries(reg))
    assert any(action == "state" and member == reg.ids["cecilia"] for _, action, member in entries(reg))
    assert reg.json("show", reg.ids["cecilia"])["contact"]["first_name"] == "Cecilia"
    # The next night finds nothing more to prune.
    assert reg.json("purge", "--apply", key="cron")["records"]["audit_trail"] == 0


def test_the_audit_log_starts_after_the_cut(reg: Register) -> None:
    due = past(reg)
    reg.json("purge", "--apply", key="cron")
    assert reg.json("audit", "log")[0]["seq"] == due + 1


def test_entries_deleted_by_hand_without_a_checkpoint_are_named(reg: Register) -> None:
    reg.sql("DELETE FROM audit WHERE seq <= 3")
    assert_failure(reg.run("audit", "verify"), 7, "audit entries 1 to 3 are missing, and no checkpoint says they were pruned: they were deleted")


def test_a_checkpoint_edited_by_hand_does_not_verify(reg: Register) -> None:
    reg.json("purge", "--apply", key="cron")
    [(seq, detail)] = reg.sql("SELECT seq, detail FROM audit WHERE action = 'checkpoint'")
    forged = json.loads(detail)
    forged["slots"]["mallory"] = forged["slots"]["desk"]
    reg.sql("UPDATE audit SET detail = ? WHERE seq = ?", [json.dumps(forged, sort_keys=True, separators=(",", ":")), seq])
    result = reg.run("audit", "verify")
    assert_failure(result, 7)
    assert f"audit entry {seq}" in result.stderr


def test_the_checkpoint_deleted_by_hand_is_caught(reg: Register) -> None:
    reg.json("purge", "--apply", key="cron")
    [(seq,)] = reg.sql("SELECT seq FROM audit WHERE action = 'checkpoint'")
    reg.sql("DELETE FROM audit WHERE seq = ?", [seq])
    result = reg.run("audit", "verify")
    assert_failure(result, 7)
    assert "missing" in result.stderr


def test_an_entry_after_the_checkpoint_edited_by_hand_is_named(reg: Register) -> None:
    due = past(reg)
    reg.json("purge", "--apply", key="cron")
    reg.sql("UPDATE audit SET action = 'show' WHERE seq = ?", [due + 1])
    result = reg.run("audit", "verify")
    assert_failure(result, 7)
    assert f"audit entry {due + 1}" in result.stderr
