"""The right to data portability (GDPR Art. 20): export portable writes the data the member provided, as JSON and
CSV in new 0600 files, and nothing derived or internal (consents, status, dates, flags, receipts, the log);
the policy says which fields are provided; --request closes a portability request.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kss_panel.record import flatten
from support import AINO, CATEGORIES, Register, assert_failure, consents

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
PROVIDED = {name: AINO[name] for name in CATEGORIES if name != "consents"}
INTERNAL = ("member_id", "status", "applied_at", "admitted_at", "updated_at", "restricted_at", "objected_at", "consent_history", "consents",
            "receipts", "disclosures", "suppression_match")


def export(reg: Register, member_id: str, *more: str) -> tuple[dict[str, Any], list[dict[str, str]], list[str]]:
    """(the JSON document, the CSV's rows, its header) of a fresh export."""
    out = reg.path("", "portable")
    result = reg.run("export", "portable", member_id, "--out", out, *more)
    assert result.exit_code == 0, result.stderr
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert sorted(p.suffix for p in paths) == [".csv", ".json"] and all(p.parent == out for p in paths)
    assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in paths)
    document = json.loads(next(p for p in paths if p.suffix == ".json").read_text(encoding="utf-8"))
    with open(next(p for p in paths if p.suffix == ".csv"), encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    return document, rows, header


def test_the_export_holds_what_the_member_provided_and_nothing_derived_or_internal(populated: Register) -> None:
    aino = populated.ids["aino"]
    populated.run("restrict", aino, "--reason", "legal-claims")
    document, rows, header = export(populated, aino)
    assert (document["schema"], document["schema_version"], document["member_id"]) == ("kss-panel/portable-data", 1, aino)
    assert document["data"] == PROVIDED
    assert document["fields"] == header == [path for path in flatten(PROVIDED)]
    assert not set(INTERNAL) & set(document["data"]) and not set(INTERNAL) & set(header)
    [row] = rows
    assert row["contact.email"] == "aino@example.fi" and row["hobbies"] == "fishing;sauna" and row["electricity.has_solar_panels"] == "false"
    entry = populated.audit()[-1]
    assert (entry["action"], entry["member_id"], entry["fields"]) == ("export-portable", aino, sorted(flatten(PROVIDED)))
    assert "aino@example.fi" not in json.dumps(populated.audit_log())


def test_a_field_the_policy_marks_not_provided_is_left_out(populated: Register) -> None:
    populated.edit_policies("register.yaml", "      environment:\n        type: score\n", "      environment:\n        type: score\n        provided: false\n")
    document, rows, header = export(populated, populated.ids["aino"])
    assert "attitudes.environment" not in header and "attitudes.environment" not in document["fields"]
    assert document["data"]["attitudes"] == {k: v for k, v in AINO["attitudes"].items() if k != "environment"}


def test_the_files_are_what_enrol_and_import_read(populated: Register) -> None:
    aino = populated.ids["aino"]
    document, _, _ = export(populated, aino)
    out = next(populated.dir.glob("portable-*"))
    csv_file = next(out.glob("*.csv"))
    assert populated.run("erase", aino, "--reason", "request").exit_code == 0
    assert populated.run("import", csv_file).exit_code == 0  # the member takes the CSV to a register of the same kind
    again = populated.json("find", "--email", "aino@example.fi")["member_id"]
    shown = populated.json("show", again)
    assert {name: shown[name] for name in CATEGORIES} == {**PROVIDED, "consents": consents()}
    assert populated.run("erase", again, "--reason", "request").exit_code == 0
    enrolled = populated.enrol(document["data"])
    assert {name: populated.json("show", enrolled)[name] for name in PROVIDED} == PROVIDED


def test_a_portability_request_is_closed_and_another_kind_is_refused(populated: Register) -> None:
    aino = populated.ids["aino"]
    populated.open_request("access", "aino")
    before = populated.tables()
    result = populated.run("export", "portable", aino, "--out", populated.dir / "p", "--request", "1")
    assert_failure(result, 5, "request 1 is an access request", ["  --request: this command fulfils portability requests"])
    assert populated.tables() == before and not (populated.dir / "p").exists()
    assert populated.json("request", "open", "--type", "portability", "--member", aino)["id"] == 2
    export(populated, aino, "--request", "2")
    assert [(r["id"], r["status"], r["outcome"]) for r in populated.requests() if r["id"] == 2] == [(2, "closed", "fulfilled")]


def test_files_that_exist_are_never_overwritten_and_nothing_is_recorded(populated: Register) -> None:
    aino = populated.ids["aino"]
    out = populated.dir / "same"
    assert populated.run("export", "portable", aino, "--out", out).exit_code == 0
    written = {p: p.read_bytes() for p in out.iterdir()}
    before = populated.tables()
    assert_failure(populated.run("export", "portable", aino, "--out", out), 5)  # the same instant: the same names
    assert populated.tables() == before and {p: p.read_bytes() for p in out.iterdir()} == written


@pytest.mark.parametrize("who", ["purger", "unknown member"])
def test_refusals(make_register: Callable[..., Register], who: str) -> None:
    reg = make_register({"aino": AINO}, NOW, purger=True)
    if who == "purger":
        assert_failure(reg.run("export", "portable", reg.ids["aino"], "--out", reg.dir / "p", key="cron"), 3)
    else:
        assert_failure(reg.run("export", "portable", "Mcccccccccccccccc", "--out", reg.dir / "p"), 4, "no member 'Mcccccccccccccccc'")
    assert not (reg.dir / "p").exists()
