"""Policies as code: the YAML files under policies/, loaded and validated strictly.

Files are parsed with YAML's safe loader only, so no tag can build a Python
object. One pass gives both the node tree (line numbers for error messages,
duplicate keys) and the data.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from .crypto import sha256_hex
from . import policy_checks
from .errors import PolicyError

# The safe loader builds plain data, never objects; libyaml's when present, for speed.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]
LANGUAGES = ("fi", "sv", "en")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Localised(Strict):
    fi: Text
    sv: Text
    en: Text

    def get(self, language: str) -> str:
        return str(getattr(self, language if language in LANGUAGES else "en"))


FieldType = Literal[
    "customer_number", "name", "email", "phone", "text", "postal_code", "enum",
    "birth_year", "integer", "boolean", "score",
]


class FieldSpec(Strict):
    type: FieldType
    label: Localised | None = None
    required: bool = False
    lookup: Literal["email", "phone", "customer_number"] | None = None
    max_length: Annotated[int, Field(ge=1, le=1000)] | None = None
    values: list[Slug] | None = None
    min: int | None = None
    max: int | None = None
    min_age: Annotated[int, Field(ge=0, le=150)] | None = None
    max_age: Annotated[int, Field(ge=0, le=150)] | None = None

    @model_validator(mode="after")
    def _coherent(self) -> FieldSpec:
        if self.type == "enum" and not self.values:
            raise ValueError("an enum field needs 'values'")
        if self.type != "enum" and self.values is not None:
            raise ValueError("'values' belongs to enum fields only")
        if self.type == "birth_year" and (self.min_age is None or self.max_age is None):
            raise ValueError("a birth_year field needs 'min_age' and 'max_age'")
        return self


class Category(Strict):
    kind: Literal["object", "tags", "value", "consents"]
    title: Localised
    fields: dict[Slug, FieldSpec] | None = None
    field: FieldSpec | None = None
    item: FieldSpec | None = None
    max_items: Annotated[int, Field(ge=1, le=1000)] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Category:
        wanted = {"object": "fields", "tags": "item", "value": "field", "consents": None}[self.kind]
        for key in ("fields", "field", "item"):
            if (getattr(self, key) is not None) != (key == wanted):
                raise ValueError(f"a category of kind {self.kind!r} " + (f"needs {wanted!r}" if key == wanted else f"takes no {key!r}"))
        return self


class ContactPerson(Strict):
    role: Text
    email: Text


class Controller(Strict):
    name: Text
    address: Text
    contact_person: ContactPerson


class RegisterInfo(Strict):
    name: Localised


class Purpose(Strict):
    title: Localised
    legal_basis: Literal["consent", "contract", "legal-obligation", "legitimate-interests"]
    direct_marketing: bool = False


class Right(Strict):
    article: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}(\([0-9a-z]+\))*$")]
    title: Localised
    how: Localised


class Consent(Strict):
    purpose: Slug
    title: Localised


class RegisterPolicy(Strict):
    version: Literal[1]
    register_info: RegisterInfo = Field(alias="register")
    controller: Controller
    purposes: dict[Slug, Purpose]
    consents: dict[Slug, Consent]
    categories: dict[Slug, Category]
    sources: list[Localised]
    security: list[Text]
    rejection_reasons: list[Slug]
    rights: list[Right]


# EU member states and the other EEA states (Iceland, Liechtenstein, Norway).
EU_EEA = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()
)


class Period(Strict):
    days: Annotated[int, Field(ge=0, le=36500)] | None = None
    months: Annotated[int, Field(ge=0, le=1200)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Period:
        if (self.days is None) == (self.months is None):
            raise ValueError("give exactly one of 'days' or 'months'")
        return self


class RetentionRule(Strict):
    name: Slug
    description: Text
    status: Literal["applicant", "member", "rejected"]
    clock: Literal["applied_at", "admitted_at", "rejected_at", "last_activity_at", "ineligible_at", "updated_at"]
    fallback_clock: Literal["applied_at", "admitted_at", "rejected_at", "last_activity_at", "ineligible_at", "updated_at"] | None = None
    period: Period
    action: Literal["erase"]


class RetentionPolicy(Strict):
    version: Literal[1]
    rules: list[RetentionRule]
    restricted: Literal["hold", "ignore"] = "hold"


Safeguard = Literal["adequacy-decision", "standard-contractual-clauses", "binding-corporate-rules", "derogation-art-49"]


class PurposeGrant(Strict):
    consent: Slug


class Recipient(Strict):
    name: Text
    role: Literal["processor", "sub-processor", "controller", "joint-controller"]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    safeguard: Safeguard | None = None
    purposes: dict[Slug, PurposeGrant]
    fields: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.]{1,80}$")]]

    @property
    def in_eu_eea(self) -> bool:
        return self.country in EU_EEA


class DisclosurePolicy(Strict):
    version: Literal[1]
    recipients: dict[Slug, Recipient]


@dataclass(frozen=True)
class Policies:
    """The resolved policies of one directory and the hash that names them."""

    register: RegisterPolicy
    retention: RetentionPolicy
    disclosure: DisclosurePolicy
    documents: dict[str, Any]
    hash: str

    def field_paths(self) -> list[str]:
        """Every stored field as a dotted path, the unit audit entries name."""
        return policy_checks.field_paths(self.register)


POLICY_FILES: dict[str, type[Strict]] = {
    "register.yaml": RegisterPolicy,
    "retention.yaml": RetentionPolicy,
    "disclosure.yaml": DisclosurePolicy,
}


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
        try:
            models[filename] = model.model_validate(data)
            documents[filename] = data
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                loc = tuple(error["loc"])
                problems.append((f"{path}:{line_of(root, loc)}", describe(model, loc, error["type"], error["msg"])))
    if len(models) == len(POLICY_FILES):
        for filename, loc, problem in policy_checks.cross_check(models["register.yaml"], models["retention.yaml"], models["disclosure.yaml"]):
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


def describe(model: type[BaseModel], loc: tuple[Any, ...], kind: str, msg: str) -> str:
    path = ".".join(str(part) for part in loc) or "(top level)"
    msg = msg.removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = allowed_keys(model, loc[:-1])
        msg = "unknown key" + (f" (expected one of: {', '.join(allowed)})" if allowed else "")
    elif kind == "missing":
        msg = "required key is missing"
    return f"{path}: {msg}"


def allowed_keys(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at ``loc`` may hold, walking the model's annotations."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = next((f for name, f in current.model_fields.items() if (f.alias or name) == part), None)
            if info is None:
                return []
            current = info.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation


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
