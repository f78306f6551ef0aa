"""The code's shape, held as tests: small modules and functions, imports that point inwards,
each third-party library in its one place, no test patching a private name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "kss_panel"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# Layers, outermost first: a module may import its own layer's modules and those further in.
LAYERS = {
    "cli": 3,
    "services": 2,
    "render": 2,
    "render_accountability": 2,
    **{name: 1 for name in (
        "vault", "keyslots", "audit", "audit_verify", "audit_signatures", "policy", "policy_schema", "policy_checks", "policy_files", "retention",
        "model", "record", "record_model",
        "storage", "storage_members", "storage_staging", "storage_trail", "migrations", "database", "free_space", "files", "readers", "json_input",
        "writers", "reports", "config", "words", "labels", "documents", "access_document", "access_report", "notice", "notice_text",
        "policy_surveys", "sampling", "draws", "storage_surveys", "survey_files", "access_surveys",
        "receipts", "storage_accountability", "breach", "portability", "access_accountability", "packing",
    )},
    "crypto": 0,
    "crypto_pk": 0,
    "errors": 0,
    "__init__": 0,
}
# Where each third-party library may be imported (relative module paths under src/kss_panel).
THIRD_PARTY = {
    "typer": "cli/",
    "rich": ("render.py", "render_accountability.py", "cli/output.py", "cli/progress.py"),
    "sqlite_utils": ("migrations.py",),
    "cryptography": ("crypto.py", "crypto_pk.py"),
    "yaml": ("policy_files.py",),
    "pydantic": ("record.py", "record_model.py"),
    "email_validator": ("record.py",),
    "phonenumbers": ("record.py",),
    "jinja2": ("reports.py",),
}


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def layer_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imports(path: Path) -> list[tuple[str, int]]:
    """(absolute module name under kss_panel or a third-party top name, line) of every import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package_parts = ["kss_panel", *path.relative_to(PACKAGE).with_suffix("").parts[:-1]]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
                if node.module is None:
                    found += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]
                    continue
            else:
                module = node.module or ""
            found.append((module, node.lineno))
    return found


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_no_module_is_over_one_screen_of_responsibilities(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{relative(path)} has {lines} lines"


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_no_function_is_over_sixty_lines(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{relative(path)}: {long}"


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_imports_point_inwards(path: Path) -> None:
    own = LAYERS[layer_of(path)]
    outward = []
    for module, line in imports(path):
        if not module.startswith("kss_panel."):
            continue
        target = module.split(".")[1]
        if target not in LAYERS:
            continue
        if LAYERS[target] > own or (target == "cli" and layer_of(path) != "cli"):
            outward.append(f"line {line}: {module}")
    assert not outward, f"{relative(path)} imports outwards: {outward}"


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_each_third_party_library_lives_in_its_one_place(path: Path) -> None:
    where = relative(path)
    misplaced = []
    for module, line in imports(path):
        top = module.split(".")[0]
        allowed = THIRD_PARTY.get(top)
        if allowed is None:
            continue
        if not (where.startswith(allowed) if isinstance(allowed, str) else where in allowed):
            misplaced.append(f"line {line}: {top}")
    assert not misplaced, f"{where}: {misplaced}"


def test_every_layer_is_known() -> None:
    assert {layer_of(path) for path in MODULES} <= set(LAYERS)


def test_no_test_patches_a_private_name() -> None:
    pattern = re.compile(r"""(setattr|patch\.object)\([^,]+,\s*["']_""")
    offenders = [
        f"{path.name}:{number}"
        for path in sorted((ROOT / "tests").glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not offenders, offenders
