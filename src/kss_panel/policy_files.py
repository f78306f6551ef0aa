"""Reading the policy directory: parse each YAML file safely, validate it, check names across files.

Files are parsed with YAML's safe loader only, so no tag can build a Python
object. One pass gives both the node tree (line numbers for error messages,
duplicate keys) and the data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .crypto import sha256_hex
from .errors import PolicyError
from .policy import POLICY_FILES, Policies, validate
from .policy_checks import cross_check

# The safe loader builds plain data, never objects; libyaml's when present, for speed.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_policies(directory: Path) -> Policies:
    """Load and validate every policy file; raise PolicyError listing all problems."""
    problems: list[tuple[str, str]] = []
    documents: dict[str, Any] = {}
    models: dict[str, Any] = {}
    roots: dict[str, yaml.Node | None] = {}
    for filename, model in POLICY_FILES.items():
        path = directory / filename
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.append((str(path), "policy file is missing"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append((str(path), f"cannot be read ({type(exc).__name__})"))
            continue
        try:
            root, data = parse_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            problems.append((where, f"not valid YAML: {getattr(exc, 'problem', None) or 'syntax error'}"))
            continue
        roots[filename] = root
        duplicates = list(duplicate_keys(root))
        if duplicates:
            problems += [(f"{path}:{line}", f"duplicate key {key!r} (a YAML mapping may name a key once)") for line, key in duplicates]
            continue
        validated, found = validate(model, data)
        problems += [(f"{path}:{line_of(root, loc)}", message) for loc, message in found]
        if validated is not None:
            models[filename] = validated
            documents[filename] = data
    if len(models) == len(POLICY_FILES):
        for filename, loc, problem in cross_check(models["register.yaml"], models["retention.yaml"], models["disclosure.yaml"]):
            where = f"{directory / filename}:{line_of(roots[filename], loc)}"
            problems.append((where, f"{'.'.join(str(p) for p in loc)}: {problem}"))
    if problems:
        raise PolicyError(f"invalid policy in {directory}", problems)
    canonical = json.dumps(documents, sort_keys=True, ensure_ascii=False, default=str).encode()
    return Policies(
        register=models["register.yaml"],
        retention=models["retention.yaml"],
        disclosure=models["disclosure.yaml"],
        documents=documents,
        hash=sha256_hex(canonical)[:16],
    )


def parse_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """One pass of the safe loader (libyaml's when present): the node tree, for line numbers, and the data."""
    loader = SAFE_LOADER(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def duplicate_keys(node: yaml.Node | None) -> Iterator[tuple[int, str]]:
    """Keys named twice in one mapping: safe_load would silently keep the last."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    yield key.start_mark.line + 1, key.value
                seen.add(key.value)
            yield from duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from duplicate_keys(item)


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at ``loc``, or of its nearest parent."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
