"""Reading the policy directory: parse each YAML file safely, validate it, check names across files.

Files are parsed with YAML's safe loader only, so no tag can build a Python
object. One pass gives both the node tree (line numbers for error messages,
duplicate keys) and the data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .crypto import sha256_hex
from .errors import PolicyError
from .policy import POLICY_FILES, Policies
from .policy_checks import cross_check
from .policy_schema import validate
from .policy_surveys import SurveyPolicy

# The safe loader builds plain data, never objects; libyaml's when present, for speed.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Bounds on what a policy file may cost to read: its size, and the tree its aliases make. A few hundred
# bytes of nested aliases ("billion laughs") would otherwise expand to billions of nodes in every walk.
MAX_POLICY_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 64
FILES = {**POLICY_FILES, "surveys.yaml": SurveyPolicy}


def load_policies(directory: Path) -> Policies:
    """Load and validate every policy file; raise PolicyError listing all problems."""
    problems: list[tuple[str, str]] = []
    documents: dict[str, Any] = {}
    models: dict[str, Any] = {}
    roots: dict[str, yaml.Node | None] = {}
    for filename, model in FILES.items():
        path = directory / filename
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_POLICY_BYTES + 1)
            text = raw.decode("utf-8")
        except FileNotFoundError:
            problems.append((str(path), "policy file is missing"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append((str(path), f"cannot be read ({type(exc).__name__})"))
            continue
        if len(raw) > MAX_POLICY_BYTES:
            problems.append((str(path), f"is larger than {MAX_POLICY_BYTES} bytes"))
            continue
        try:
            root, data = parse_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            problems.append((where, f"not valid YAML: {getattr(exc, 'problem', None) or 'syntax error'}"))
            continue
        roots[filename] = root
        found_in_tree = inspect_tree(root)
        if found_in_tree:
            problems += [(f"{path}:{line}", problem) for line, problem in found_in_tree]
            continue
        validated, found = validate(model, data)
        problems += [(f"{path}:{line_of(root, loc)}", message) for loc, message in found]
        if validated is not None:
            models[filename] = validated
            documents[filename] = data
    if len(models) == len(FILES):
        for filename, loc, problem in cross_check(*(models[name] for name in FILES)):
            where = f"{directory / filename}:{line_of(roots[filename], loc)}"
            problems.append((where, f"{'.'.join(str(p) for p in loc)}: {problem}"))
    if problems:
        raise PolicyError(f"invalid policy in {directory}", problems)
    canonical = json.dumps(documents, sort_keys=True, ensure_ascii=False, default=str).encode()
    return Policies(
        register=models["register.yaml"],
        retention=models["retention.yaml"],
        disclosure=models["disclosure.yaml"],
        surveys=models["surveys.yaml"],
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


def inspect_tree(root: yaml.Node | None) -> list[tuple[int, str]]:
    """(line, problem) for keys named twice in one mapping (safe_load would silently keep the last), for an
    alias that contains itself, and for a tree whose aliases expand it past MAX_NODES nodes or MAX_DEPTH levels.

    Each collection node is walked once, however many aliases name it, so an alias bomb costs its size, not
    its expansion. Scalars are leaves: one node, one level.
    """
    if not isinstance(root, yaml.CollectionNode):
        return []
    problems: list[tuple[int, str]] = []
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()  # the nodes whose children are being walked: the ancestors of the node at hand
    stack: list[tuple[yaml.CollectionNode, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        children = [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else node.value
        if closing:
            open_.discard(key)
            size[key] = 1 + sum(size.get(id(child), 1) for child in children)
            depth[key] = 1 + max((depth.get(id(child), 1) for child in children), default=0)
            if size[key] > MAX_NODES:
                return [(node.start_mark.line + 1, f"aliases expand this to more than {MAX_NODES} nodes (a YAML alias bomb?)")]
            if depth[key] > MAX_DEPTH:
                return [(node.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")]
        elif key in open_:
            return [(node.start_mark.line + 1, "an alias refers to a node that contains it (a recursive alias)")]
        elif key not in size:  # else walked already: another alias of the same node
            open_.add(key)
            if isinstance(node, yaml.MappingNode):
                problems += _duplicates(node)
            stack.append((node, True))
            stack += [(child, False) for child in children if isinstance(child, yaml.CollectionNode)]
    return sorted(problems)


def _duplicates(node: yaml.MappingNode) -> list[tuple[int, str]]:
    seen: set[str] = set()
    found = []
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode):
            if key.value in seen:
                found.append((key.start_mark.line + 1, f"duplicate key {key.value!r} (a YAML mapping may name a key once)"))
            seen.add(key.value)
    return found


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
