"""import: applications in bulk from CSV, a JSON array or JSON Lines.

All or nothing by default: every invalid row is reported as
``line N: field.path: problem`` (never a value) and nothing is written;
``--skip-invalid`` imports the valid rows. Malformed files stop with exit 5
naming the line. Duplicates, within the file and against the register, are
caught by keyed hash.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import POLICIES_DIR, Register, assert_no_traceback, assert_rejected, letters, person, problem_lines

HEADER = [
    "customer_number",
    "contact.first_name", "contact.last_name", "contact.email", "contact.phone", "contact.street_address",
    "contact.postal_code", "contact.city", "contact.language",
    "demographics.birth_year", "demographics.gender", "demographics.household_size", "demographics.dwelling_type",
    "electricity.annual_consumption_kwh", "electricity.heating", "electricity.has_solar_panels", "electricity.has_electric_vehicle",
    "hobbies",
    "attitudes.environment", "attitudes.price_sensitivity",
    "consents.email_marketing", "consents.sms_marketing", "consents.partner_disclosure",
    "applied_at",
]
MINIMAL_HEADER = ["customer_number", "contact.first_name", "contact.last_name", "contact.email", "contact.language"]
PROBLEM_LINE = re.compile(r"^line \d+: (?:column \d+|[A-Za-z0-9_.()]+): \S.*$")


# --- rows --------------------------------------------------------------------------------------------------


def as_cells(data: dict[str, Any]) -> dict[str, str]:
    """A record as CSV cells: field paths as columns, lists joined by ';', booleans as true/false."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update({f"{key}.{path}": cell for path, cell in as_cells(value).items()})
        elif isinstance(value, list):
            out[key] = ";".join(value)
        else:
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def application(n: int, **cells: str) -> dict[str, str]:
    """person(n) as CSV cells, applied on 2025-05-01; ``cells`` override by column (contact__email for contact.email)."""
    return {**as_cells(person(n)), "applied_at": "2025-05-01", **{column.replace("__", "."): value for column, value in cells.items()}}


def canary_row(n: int, **cells: str) -> tuple[dict[str, str], list[str]]:
    """A row whose every personal text is a distinctive canary; returns (row, canaries)."""
    t = letters(n)
    values = {
        "customer_number": f"{77_700_000 + n}",
        "contact.first_name": f"Canaryfirst{t}",
        "contact.last_name": f"Canarylast{t}",
        "contact.email": f"canary.mail.{t}@example.fi",
        "contact.street_address": f"Canarystreet{t} 7",
        "contact.city": f"Canarycity{t}",
        "hobbies": f"canaryhobby{t};canarysecond{t}",
    }
    row = application(n, **{**{k.replace(".", "__"): v for k, v in values.items()}, **cells})
    canaries = [f"Canaryfirst{t}", f"Canarylast{t}", f"canary.mail.{t}", f"Canarystreet{t}", f"Canarycity{t}", f"canaryhobby{t}",
                f"canarysecond{t}", f"{77_700_000 + n}"]
    return row, canaries + [value for value in cells.values() if len(value) >= 4]


# --- what a valid file gives ----------------------------------------------------------------------------------


def test_csv_import_converts_booleans_integers_lists_and_applied_at(reg: Register) -> None:
    rows = [
        application(1, hobbies="fishing; sauna ;mökkeily", electricity__has_solar_panels="true",
                    electricity__has_electric_vehicle="false", applied_at="2024-12-31"),
        application(2, contact__first_name="Veikko", demographics__birth_year="1960", demographics__household_size="1",
                    consents__email_marketing="false", applied_at=""),
    ]
    result = reg.run("import", str(reg.csv(rows, HEADER)))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "2 applicants imported, 0 rows invalid\n"
    assert result.stderr == ""

    shown = {member["contact"]["first_name"]: member for member in reg.shown()}
    aino, veikko = shown["Aino"], shown["Veikko"]
    assert aino["status"] == veikko["status"] == "applicant"
    assert aino["hobbies"] == ["fishing", "sauna", "mökkeily"]
    assert aino["electricity"] == {"annual_consumption_kwh": 18500, "heating": "heat_pump", "has_solar_panels": True, "has_electric_vehicle": False}
    assert aino["demographics"] == {"birth_year": 1978, "gender": "female", "household_size": 3, "dwelling_type": "detached"}
    assert aino["attitudes"] == {"environment": 4, "price_sensitivity": 5}
    assert aino["consents"] == {"email_marketing": True, "sms_marketing": False, "partner_disclosure": True}
    assert aino["applied_at"] == "2024-12-31"
    assert aino["contact"]["phone"] == "+358402000001"
    assert veikko["demographics"]["birth_year"] == 1960 and veikko["demographics"]["household_size"] == 1
    assert veikko["consents"]["email_marketing"] is False
    assert veikko["applied_at"] != "2024-12-31"  # an empty applied_at cell: the day of the import


def test_each_imported_applicant_gets_an_enrol_entry_and_the_import_a_summary(reg: Register) -> None:
    audit_before = reg.count("audit")
    result = reg.run("import", str(reg.csv([application(1), application(2), application(3)], HEADER)), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"] == {"rows": 3, "imported": 3, "invalid": 0, "flagged": 0}
    entries = reg.json("audit", "log")[audit_before:]
    enrols = [e for e in entries if e["action"] == "enrol"]
    assert len(enrols) == 3 and len({e["member_id"] for e in enrols}) == 3
    assert all("contact.email" in e["fields"] and e["detail"].get("import") is True for e in enrols)
    assert entries[-1]["action"] == "import" and entries[-1]["detail"] == {"imported": 3, "invalid": 0}
    assert reg.json("audit", "verify")["entries"] == reg.count("audit")


def test_csv_with_a_bom_and_semicolon_delimiter(reg: Register) -> None:
    rows = [application(1, contact__last_name="Hämäläinen", hobbies="mökkeily;pesäpallo"), application(2, contact__city="Närpes")]
    path = reg.csv(rows, HEADER, delimiter=";", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfcustomer_number;contact.first_name;")
    result = reg.run("import", str(path))
    assert result.exit_code == 0, result.stderr
    shown = sorted(reg.shown(), key=lambda m: m["customer_number"])
    assert shown[0]["contact"]["last_name"] == "Hämäläinen"
    assert shown[0]["hobbies"] == ["mökkeily", "pesäpallo"]
    assert shown[1]["contact"]["city"] == "Närpes"
    assert shown[0]["customer_number"] == "30000001"  # the BOM is not part of the first column's name


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR (Excel 'CSV (Macintosh)')"])
def test_csv_with_any_line_ending(reg: Register, newline: str) -> None:
    lines = [",".join(MINIMAL_HEADER), "30000001,Aino,Mäkelä,aino@example.fi,fi", "30000002,Veikko,Virtanen,v@example.fi,sv"]
    result = reg.run("import", str(reg.file((newline.join(lines) + newline).encode())))
    assert result.exit_code == 0, result.stderr
    assert sorted(m["contact"]["first_name"] for m in reg.shown()) == ["Aino", "Veikko"]


def test_list_fields_use_semicolons_inside_a_comma_delimited_cell(reg: Register) -> None:
    path = reg.file(("customer_number,contact.first_name,contact.last_name,contact.email,contact.language,hobbies\n"
                              "12345678,Aino,Mäkelä,aino@example.fi,fi,kalastus;sauna;marjastus\n").encode())
    result = reg.run("import", str(path))
    assert result.exit_code == 0, result.stderr
    [member] = reg.shown()
    assert member["hobbies"] == ["kalastus", "sauna", "marjastus"]
    assert member["consents"] == {"email_marketing": False, "sms_marketing": False, "partner_disclosure": False}


def test_json_array_of_records(reg: Register) -> None:
    records = [
        {"customer_number": "12345678", "contact": {"first_name": "Aino", "last_name": "Mäkelä", "email": "aino@example.fi", "language": "fi"},
         "hobbies": ["sauna"], "applied_at": "2025-01-02"},
        {"customer_number": "12345679", "contact": {"first_name": "Veikko", "last_name": "Virtanen", "email": "v@example.fi", "language": "sv"},
         "electricity": {"has_solar_panels": True}},
    ]
    path = reg.file(json.dumps(records, indent=2, ensure_ascii=False).encode(), ".json")
    result = reg.run("import", str(path))
    assert result.exit_code == 0, result.stderr
    shown = {m["customer_number"]: m for m in reg.shown()}
    assert shown["12345678"]["applied_at"] == "2025-01-02" and shown["12345678"]["hobbies"] == ["sauna"]
    assert shown["12345679"]["electricity"] == {"has_solar_panels": True}


def test_json_lines(reg: Register) -> None:
    lines = [
        {"customer_number": "12345678", "contact": {"first_name": "Aino", "last_name": "Mäkelä", "email": "aino@example.fi", "language": "fi"}},
        {"customer_number": "12345679", "contact": {"first_name": "Veikko", "last_name": "Virtanen", "email": "v@example.fi", "language": "sv"}},
    ]
    path = reg.file(("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n\n").encode(), ".jsonl")
    result = reg.run("import", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "2 applicants imported, 0 rows invalid\n"
    assert reg.count("members") == 2


def test_import_reads_standard_input(reg: Register) -> None:
    # A real process: standard input is a pipe, as in `generate | kss-panel import -`.
    content = reg.csv([application(1), application(2)], HEADER).read_bytes()
    argv = [str(Path(sys.executable).parent / "kss-panel"), "--db", str(reg.db), "--policies", str(POLICIES_DIR),
            "import", "-", "--key-file", str(reg.key_file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSS_PANEL_")}
    done = subprocess.run(argv, input=content, capture_output=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == "2 applicants imported, 0 rows invalid\n"
    assert reg.count("members") == 2


# --- malformed files: exit 5, the line named, nothing written -----------------------------------------------

GOOD_LINE = "30000001,Aino,Mäkelä,good@example.fi,fi\n"
HEADER_LINE = ",".join(MINIMAL_HEADER) + "\n"

MALFORMED: dict[str, tuple[bytes, str]] = {
    # name: (file content, text the error output must contain)
    "empty file": (b"", "line 1: no header and no records"),
    "blank lines only": (b"\n \n\r\n", "line 1: no header and no records"),
    "header only": (HEADER_LINE.encode(), "holds no records"),
    "unknown column": (
        "customer_number,contact.first_name,contact.nickname,contact.last_name,contact.email,contact.language\n"
        "30000001,Aino,Ainoliini,Mäkelä,a@example.fi,fi\n".encode(),
        "line 1: column 3: is not a field path",
    ),
    "a column named twice": (
        (HEADER_LINE.rstrip("\n") + ",contact.email\n" + GOOD_LINE.rstrip("\n") + ",b@example.fi\n").encode(),
        "line 1",
    ),
    "a row with too few cells": ((HEADER_LINE + GOOD_LINE + "30000002,Veikko,Virtanen\n").encode(), "line 3: (row): has 3 cells, the header 5"),
    "a name with a newline (control characters)": (
        (HEADER_LINE + GOOD_LINE + '30000002,"Vei\nkko",Virtanen,v@example.fi,fi\n').encode(),
        "contact.first_name: must not contain control characters",
    ),
    "a NUL byte": ((HEADER_LINE + GOOD_LINE + "30000002,Vei\x00kko,Virtanen,v@example.fi,fi\n").encode(), "line 3"),
    # The exact line of these three: test_a_file_that_cannot_be_read_on_names_the_exact_line.
    "broken quoting": ((HEADER_LINE + GOOD_LINE + '30000002,"Veikko"x,Virtanen,v@example.fi,fi\n').encode(), "malformed CSV"),
    "a field over the CSV field limit": (
        (HEADER_LINE + GOOD_LINE + "30000002," + "V" * 200_000 + ",Virtanen,v@example.fi,fi\n").encode(),
        "a field is longer than 100000 characters",
    ),
    "invalid UTF-8": ((HEADER_LINE + GOOD_LINE).encode() + b"30000002,Veikko,Virtanen,v\xff\xfe@example.fi,fi\n", "invalid UTF-8"),
    "JSON array with a non-object element": (
        b'[\n {"customer_number": "30000001", "contact": {"first_name": "Aino", "last_name": "M", "email": "a@example.fi", "language": "fi"}},\n'
        b' ["not", "an", "object"]\n]\n',
        "line 3: (row): must be a JSON object",
    ),
    "broken JSON array": (
        b'[\n {"customer_number": "30000001", "contact": {"first_name": "Aino", "last_name": "M", "email": "a@example.fi", "language": "fi"}},\n'
        b' {"customer_number": "30000002", "contact": }\n]\n',
        "line 3",
    ),
    "text after the JSON array": (b'[{"customer_number": "30000001"}] trailing\n', "line 1"),
    "JSON Lines with a broken line": (
        b'{"customer_number": "30000001", "contact": {"first_name": "Aino", "last_name": "M", "email": "a@example.fi", "language": "fi"}}\n'
        b'{"customer_number": "30000002", "contact": {\n',
        "line 2: (row): not valid JSON",
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_input_exits_5_naming_the_line_and_writes_nothing(reg: Register, name: str) -> None:
    content, expected = MALFORMED[name]
    path = reg.file(content, ".json" if content.lstrip().startswith((b"[", b"{")) else ".csv")
    before = reg.tables()
    result = reg.run("import", str(path))
    assert_rejected(result, reg, before)
    assert expected in result.stderr, result.stderr
    assert re.search(r"line \d+|holds no records", result.stderr)
    assert result.stdout == ""


def test_a_header_of_data_values_is_refused_without_echoing_them(reg: Register) -> None:
    # The officer forgot the header: the first row is personal data and must not be repeated back.
    path = reg.file("12345678,Kanervo,Hiekkaranta,kanervo.hiekkaranta@example.fi,fi\n"
                             "12345679,Aino,Mäkelä,aino@example.fi,fi\n".encode())
    before = reg.tables()
    result = reg.run("import", str(path))
    assert_rejected(result, reg, before)
    assert "kss-panel: error: the header is not a list of field paths" in result.stderr
    assert [line for line in problem_lines(result.stderr)] == [
        f"line 1: column {n}: is not a field path of the register (like contact.email)" for n in range(1, 6)
    ]
    for value in ("12345678", "Kanervo", "Hiekkaranta", "kanervo.hiekkaranta", "example.fi"):
        assert value not in result.output


def test_a_wrong_header_in_a_json_envelope(reg: Register) -> None:
    path = reg.file(b"12345678,Kanervo,Hiekkaranta,k@example.fi,fi\n")
    result = reg.run("import", str(path), "--json")
    assert result.exit_code == 5
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["error"]["code"] == 5
    assert document["error"]["problems"][0] == {"path": "line 1: column 1", "problem": "is not a field path of the register (like contact.email)"}
    assert "Kanervo" not in result.output


def test_an_embedded_newline_is_reported_at_the_line_the_record_starts(reg: Register) -> None:
    # The record starts on line 3 (where an editor shows it) and ends on line 4.
    path = reg.file((HEADER_LINE + GOOD_LINE + '30000002,"Vei\nkko",Virtanen,v@example.fi,fi\n').encode())
    result = reg.run("import", str(path))
    assert result.exit_code == 5
    assert problem_lines(result.stderr) == ["line 3: contact.first_name: must not contain control characters"]


def test_a_nul_byte_is_reported_by_line(reg: Register) -> None:
    path = reg.file((HEADER_LINE + GOOD_LINE + "30000002,Vei\x00kko,Virtanen,v@example.fi,fi\n").encode())
    result = reg.run("import", str(path))
    assert result.exit_code == 5
    assert problem_lines(result.stderr) == ["line 3: contact.first_name: must not contain control characters"]


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("a 10 MB field on line 3", (HEADER_LINE + GOOD_LINE + "30000002," + "V" * 10_000_000 + ",Virtanen,v@example.fi,fi\n").encode(), 3),
        ("broken quoting on line 3", (HEADER_LINE + GOOD_LINE + '30000002,"Veikko"x,Virtanen,v@example.fi,fi\n').encode(), 3),
        ("invalid UTF-8 on line 3", (HEADER_LINE + GOOD_LINE).encode() + b"30000002,Veikko,Virtanen,v\xff@example.fi,fi\n", 3),
        ("invalid UTF-8 on line 4", (HEADER_LINE + GOOD_LINE + GOOD_LINE.replace("01,", "02,").replace("good", "good2")).encode()
         + b"30000003,Veikko,Virtanen,v\xff@example.fi,fi\n", 4),
    ],
)
def test_a_file_that_cannot_be_read_on_names_the_exact_line(reg: Register, name: str, content: bytes, line: int) -> None:
    path = reg.file(content)
    result = reg.run("import", str(path))
    assert result.exit_code == 5, name
    lines = problem_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"line {line}: "), (name, result.stderr)


def test_a_10_mb_field_is_refused_by_the_csv_field_limit(reg: Register) -> None:
    path = reg.file((HEADER_LINE + "30000002," + "V" * 10_000_000 + ",Virtanen,v@example.fi,fi\n").encode())
    before = reg.tables()
    result = reg.run("import", str(path))
    assert_rejected(result, reg, before)
    assert "a field is longer than 100000 characters" in result.stderr
    assert "VVVVVVVV" not in result.output
    assert len(result.output) < 2000


def test_json_lines_with_a_broken_line_imports_the_rest_with_skip_invalid(reg: Register) -> None:
    good = [
        {"customer_number": "30000001", "contact": {"first_name": "Aino", "last_name": "Mäkelä", "email": "a@example.fi", "language": "fi"}},
        {"customer_number": "30000003", "contact": {"first_name": "Eero", "last_name": "Nieminen", "email": "e@example.fi", "language": "fi"}},
    ]
    text = json.dumps(good[0]) + "\n" + '{"customer_number": "30000002", "contact": {"first_name": "Canarybroken"\n' + json.dumps(good[1]) + "\n"
    path = reg.file(text.encode(), ".jsonl")
    before = reg.tables()
    result = reg.run("import", str(path))
    assert_rejected(result, reg, before)
    assert problem_lines(result.stderr) == ["line 2: (row): not valid JSON (Expecting ',' delimiter)"]

    result = reg.run("import", str(path), "--skip-invalid")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "2 applicants imported, 1 rows invalid\n"
    assert problem_lines(result.stderr) == ["line 2: (row): not valid JSON (Expecting ',' delimiter)"]
    assert sorted(m["customer_number"] for m in reg.shown()) == ["30000001", "30000003"]
    assert "Canarybroken" not in result.output


def test_json_array_with_a_non_object_element_and_skip_invalid(reg: Register) -> None:
    good = {"customer_number": "30000001", "contact": {"first_name": "Aino", "last_name": "Mäkelä", "email": "a@example.fi", "language": "fi"}}
    path = reg.file(("[\n" + json.dumps(good) + ',\n"Canarystring",\n42\n]\n').encode(), ".json")
    result = reg.run("import", str(path), "--skip-invalid")
    assert result.exit_code == 0, result.stderr
    assert problem_lines(result.stderr) == ["line 3: (row): must be a JSON object", "line 4: (row): must be a JSON object"]
    assert "Canarystring" not in result.output
    assert reg.count("members") == 1


def test_line_numbers_stay_right_in_a_json_array_larger_than_a_read_chunk(reg: Register) -> None:
    records = [
        {"customer_number": f"{50_000_000 + i}", "hobbies": ["x" * 30],
         "contact": {"first_name": "Aino", "last_name": "Mäkelä", "email": f"a{i}@example.fi", "language": "fi"}}
        for i in range(1500)
    ]
    records[1200]["contact"]["language"] = "xx"
    text = json.dumps(records, indent=2, ensure_ascii=False)  # about 400 kB, 18,000 lines
    start = [n for n, line in enumerate(text.split("\n"), start=1) if line == "  {"][1200]
    one_per_line = "[\n" + ",\n".join(json.dumps(r) if i != 1400 else "7" for i, r in enumerate(records[:1450])) + "\n]\n"
    before = reg.tables()
    result = reg.run("import", str(reg.file(text.encode(), ".json")))
    assert_rejected(result, reg, before)
    assert problem_lines(result.stderr) == [f"line {start}: contact.language: input should be 'fi', 'sv' or 'en'"]
    result = reg.run("import", str(reg.file(one_per_line.encode(), ".json")))
    assert_rejected(result, reg, before)
    assert problem_lines(result.stderr) == [
        f"line {1200 + 2}: contact.language: input should be 'fi', 'sv' or 'en'", f"line {1400 + 2}: (row): must be a JSON object",
    ]


# --- all or nothing, --skip-invalid, the report ----------------------------------------------------------------


def mixed_file(reg: Register) -> tuple[Path, dict[int, list[str]], dict[int, list[str]]]:
    """Rows on lines 2-6: valid, invalid, valid, invalid, invalid. Returns (path, canaries of valid rows, of invalid rows by line)."""
    valid_2, canaries_2 = canary_row(2)
    invalid_3, canaries_3 = canary_row(3, contact__postal_code="CanaryPostal", contact__language="Canarylanguage")
    valid_4, canaries_4 = canary_row(4)
    invalid_5, canaries_5 = canary_row(5, contact__email="canary.invalid.address@@example.fi")
    invalid_6, canaries_6 = canary_row(6, demographics__household_size="Canarysize", electricity__has_solar_panels="Canaryboolean",
                                       applied_at="2999-01-01")
    path = reg.csv([valid_2, invalid_3, valid_4, invalid_5, invalid_6], HEADER)
    return path, {2: canaries_2, 4: canaries_4}, {3: canaries_3, 5: canaries_5, 6: canaries_6}


EXPECTED_PROBLEMS = [
    "line 3: contact.postal_code: must be five digits",
    "line 3: contact.language: ",
    "line 5: contact.email: is not a valid email address",
    "line 6: demographics.household_size: ",
    "line 6: electricity.has_solar_panels: ",
    "line 6: applied_at: must not be in the future",
]


def assert_expected_problems(lines: list[str]) -> None:
    for line in lines:
        assert PROBLEM_LINE.match(line), line
    for expected in EXPECTED_PROBLEMS:
        assert any(line.startswith(expected) for line in lines), (expected, lines)
    assert {line.split(":")[0] for line in lines} == {"line 3", "line 5", "line 6"}


def leaked(text: str, canaries: list[str]) -> list[str]:
    return [canary for canary in canaries if canary.lower() in text.lower()]


def test_one_invalid_row_means_nothing_is_imported_and_every_invalid_row_is_listed(reg: Register) -> None:
    path, valid, invalid = mixed_file(reg)
    before = reg.tables()
    result = reg.run("import", str(path))
    assert_rejected(result, reg, before)
    assert "kss-panel: error: 3 of 5 records are invalid: nothing was imported" in result.stderr
    assert_expected_problems(problem_lines(result.stderr))
    everything = [c for group in (*valid.values(), *invalid.values()) for c in group]
    assert not leaked(result.output, everything)
    assert reg.count("members") == 0


def test_skip_invalid_imports_exactly_the_valid_rows(reg: Register) -> None:
    path, valid, invalid = mixed_file(reg)
    audit_before = reg.count("audit")
    result = reg.run("import", str(path), "--skip-invalid")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "2 applicants imported, 3 rows invalid\n"
    assert_expected_problems(problem_lines(result.stderr))
    everything = [c for group in (*valid.values(), *invalid.values()) for c in group]
    assert not leaked(result.output, everything)

    entries = reg.json("audit", "log")[audit_before:]
    assert [e["action"] for e in entries] == ["enrol", "enrol", "import"]
    assert entries[-1]["detail"] == {"imported": 2, "invalid": 3}
    listed = reg.json("list")
    assert [row["status"] for row in listed] == ["applicant", "applicant"]
    shown = json.dumps(reg.shown(), ensure_ascii=False)
    for line, canaries in valid.items():
        assert not [c for c in canaries if c not in shown], line  # every value of a valid row came through
    for line, canaries in invalid.items():
        assert not leaked(shown, canaries[:8]), line  # no invalid row got in


def test_report_file_holds_the_problems_and_is_0600(reg: Register) -> None:
    path, valid, invalid = mixed_file(reg)
    report = reg.dir / "rejected-rows.txt"
    result = reg.run("import", str(path), "--skip-invalid", "--report", str(report))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    text = report.read_text(encoding="utf-8")
    assert_expected_problems(text.splitlines())
    assert text.splitlines() == problem_lines(text)
    assert problem_lines(result.stderr) == []  # the problems went to the file, not the screen
    assert str(report) in result.stderr
    everything = [c for group in (*valid.values(), *invalid.values()) for c in group]
    assert not leaked(text, everything)
    assert not leaked(result.output, everything)
    assert reg.count("members") == 2


def test_report_file_with_all_or_nothing(reg: Register) -> None:
    path, _, _ = mixed_file(reg)
    report = reg.dir / "report.txt"
    before = reg.tables()
    result = reg.run("import", str(path), "--report", str(report))
    assert_rejected(result, reg, before)
    assert_expected_problems(report.read_text().splitlines())
    assert str(report) in result.stderr


def test_report_file_is_never_overwritten(reg: Register) -> None:
    path, _, _ = mixed_file(reg)
    report = reg.dir / "report.txt"
    report.write_text("an earlier report\n")
    before = reg.tables()
    result = reg.run("import", str(path), "--skip-invalid", "--report", str(report))
    assert_rejected(result, reg, before)
    assert "already exists" in result.stderr
    assert report.read_text() == "an earlier report\n"


# --- duplicates ---------------------------------------------------------------------------------------------

DUPLICATE = re.compile(r"^line (\d+): (?:contact\.)?(email|phone|customer_number): is already in the register")


def duplicates_reported(stderr: str) -> set[tuple[int, str]]:
    found = set()
    for line in problem_lines(stderr):
        match = DUPLICATE.match(line)
        if match:
            found.add((int(match.group(1)), match.group(2)))
    return found


def test_duplicates_within_the_file_are_caught_by_keyed_hash(reg: Register) -> None:
    rows = [
        application(1, contact__email="aino.makela@example.fi", contact__phone="040 1234567"),
        application(2, contact__email="Aino.Makela@EXAMPLE.fi"),  # the same email, written differently
        application(3, contact__phone="+358401234567"),  # the same phone, written differently
        application(4, customer_number="30000001"),  # the same customer number as line 2
        application(5),
    ]
    path = reg.csv(rows, HEADER)
    before = reg.tables()
    result = reg.run("import", str(path))
    assert_rejected(result, reg, before)
    assert duplicates_reported(result.stderr) == {(3, "email"), (4, "phone"), (5, "customer_number")}
    assert "aino.makela" not in result.output.lower() and "1234567" not in result.output

    result = reg.run("import", str(path), "--skip-invalid")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "2 applicants imported, 3 rows invalid\n"
    assert sorted(m["customer_number"] for m in reg.shown()) == ["30000001", "30000005"]


def test_duplicates_of_registered_members_are_caught(reg: Register) -> None:
    first = reg.csv([application(1, contact__email="aino@example.fi", contact__phone="+358401234567")], HEADER)
    assert reg.run("import", str(first)).exit_code == 0
    again = reg.csv([
        application(2, contact__email="AINO@example.fi"),
        application(3, contact__phone="0401234567"),
        application(4, customer_number=" 30000001 "),
        application(5),
    ], HEADER)
    before = reg.tables()
    result = reg.run("import", str(again))
    assert_rejected(result, reg, before)
    assert duplicates_reported(result.stderr) == {(2, "email"), (3, "phone"), (4, "customer_number")}


def test_duplicates_across_batches_are_caught(reg: Register) -> None:
    # Rows go in in batches of 1,000: a duplicate of a row of an earlier batch is still found.
    rows = [application(n) for n in range(1, 1101)]
    rows.append(application(2000, contact__email=rows[5]["contact.email"]))
    result = reg.run("import", str(reg.csv(rows, HEADER)), "--skip-invalid")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "1100 applicants imported, 1 rows invalid\n"
    assert duplicates_reported(result.stderr) == {(1102, "email")}
    assert reg.count("members") == 1100


def test_a_customer_number_in_other_digits_is_no_way_around_duplicate_detection(reg: Register) -> None:
    # "２２２２２２２２" (fullwidth digits) is the customer number 22222222 or no customer number at all;
    # either way it must not become a second applicant next to the ASCII one.
    rows = [application(1, customer_number="22222222"), application(2, customer_number="２２２２２２２２")]
    before = reg.tables()
    result = reg.run("import", str(reg.csv(rows, HEADER)))
    assert_rejected(result, reg, before)
    assert [line.split(":")[0] for line in problem_lines(result.stderr)] == ["line 3"]


# --- hostile cells ------------------------------------------------------------------------------------------

FUZZED_COLUMNS = [
    "customer_number", "contact.first_name", "contact.last_name", "contact.email", "contact.phone", "contact.street_address",
    "contact.postal_code", "contact.city", "contact.language", "demographics.birth_year", "demographics.household_size",
    "electricity.has_solar_panels", "hobbies", "attitudes.environment", "consents.email_marketing", "applied_at",
]
HOSTILE_FIXED = [
    "", " ", '"', '""', "'", ",", ";", ";;", "\n", "\r", "\r\n", "\t", "\x00", "\x1b[31m", "\u2028", "\ufeff", "\u202e",
    "=cmd|' /C calc'!A0", "+358401234567", "-1", "@SUM(1)", "<script>alert(1)</script>", "{{7*7}}", "${jndi:ldap://x}",
    "' OR 1=1 --", "Robert'); DROP TABLE members;--", "a@b", "a" * 254 + "@example.fi", "[", "{", "]", "null", "true", "NaN",
    "1e309", "9" * 40, "-0", "٣", "１２３４５", "😀" * 30, "Ä" * 61,
]
FUZZ_NUMBERS = count(10_000)
HOSTILE = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(max_codepoint=0x20), max_size=10),
    st.text(alphabet=st.sampled_from(',;"\'\n\r\t\x00<>&=+-@[]{}\\'), max_size=20),
    st.sampled_from(HOSTILE_FIXED),
    st.builds(lambda ch, n: ch * n, st.sampled_from(["x", "ä", ",", '"', "\n", "€"]), st.sampled_from([100, 5_000, 60_000, 120_000])),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    rows=st.lists(st.dictionaries(st.sampled_from(FUZZED_COLUMNS), HOSTILE, max_size=4), min_size=1, max_size=3),
    quoted=st.booleans(),
)
def test_hostile_cells_never_produce_a_traceback(reg: Register, rows: list[dict[str, str]], quoted: bool) -> None:
    cells = [application(next(FUZZ_NUMBERS), **{c.replace(".", "__"): v for c, v in row.items()}) for row in rows]
    if quoted:
        path = reg.csv(cells, HEADER)
    else:  # written by hand, as a careless export would: no quoting at all
        text = ",".join(HEADER) + "\n" + "".join(",".join(row[c] for c in HEADER) + "\n" for row in cells)
        path = reg.file(text.encode("utf-8"))
    before = reg.tables()
    result = reg.run("import", str(path), "--json")
    assert_no_traceback(result)
    assert result.exit_code in (0, 5), (result.exit_code, result.stdout, result.stderr)
    document = json.loads(result.stdout)
    if result.exit_code == 5:
        assert document["ok"] is False
        assert reg.tables() == before
    else:
        imported = document["data"]["imported"]
        assert reg.count("members") == len(before["members"]) + imported
    assert all(re.match(r"^line \d+: \S", line) for line in problem_lines(result.stderr)), result.stderr
