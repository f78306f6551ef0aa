"""Readers never wait for a long write: while a large import runs, show, list and find answer at once.

The register is in WAL mode, and an import validates, seals and hashes its
rows into a staging file before it takes the write lock for the short copy
at the end. The import below reads its rows from a pipe the test holds open,
so it is certainly mid-way (the pipe holds 64 KiB; megabytes went through)
when the other commands run, with a busy timeout of zero: any wait is exit 8.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

from support import AINO, ROOT, VEIKKO, Register

ROWS = 4_000  # the lock is not held while rows are prepared, however many (the benchmark runs 20,000)
HEADER = "customer_number,contact.first_name,contact.last_name,contact.email,contact.language\n"


def row(n: int) -> str:
    return f"{30000000 + n},Tuomas,Testinen,tuomas.{n}@example.fi,fi\n"


def test_show_list_and_find_answer_at_once_while_an_import_runs(make_register: Callable[..., Register]) -> None:
    reg = make_register({"aino": AINO, "veikko": VEIKKO})
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "KSS_PANEL_DB": str(reg.db), "KSS_PANEL_POLICIES": str(reg.policies_dir)}
    importer = subprocess.Popen(
        [sys.executable, "-c", "from kss_panel.cli import main; main()", "import", "-", "--json", "--key-file", str(reg.key_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    assert importer.stdin is not None
    try:
        importer.stdin.write(HEADER.encode())
        importer.stdin.write("".join(row(n) for n in range(ROWS // 2)).encode())  # ~0.15 MB, more than twice the pipe: the import is well under way
        importer.stdin.flush()
        busy_zero = {"KSS_PANEL_BUSY_TIMEOUT": "0"}
        for args in (("show", reg.ids["aino"]), ("list",), ("find", "--email", AINO["contact"]["email"]), ("list", "--names")):
            result = reg.run(*args, "--json", env=busy_zero)
            assert result.exit_code == 0, (args, result.stderr)
        assert reg.member_ids() == set(reg.ids.values())  # nothing of the import is visible before it commits
        importer.stdin.write("".join(row(n) for n in range(ROWS // 2, ROWS)).encode())
    finally:
        importer.stdin.close()
    assert importer.stdout is not None and importer.stderr is not None
    out, err = importer.stdout.read(), importer.stderr.read()
    assert importer.wait(timeout=300) == 0, err.decode()
    assert json.loads(out)["data"]["imported"] == ROWS
    assert len(reg.member_ids()) == ROWS + 2
    assert reg.cli("audit", "verify").exit_code == 0
    assert not reg.db.with_name(reg.db.name + ".import").exists()  # the staging file is gone (zeroed first)
