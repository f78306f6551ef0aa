"""Policies as code: the YAML files under policies/, loaded and validated strictly.

Files are parsed with ``yaml.safe_load`` only, so no tag can build a Python
object. Line numbers for error messages come from composing the same text with
the safe loader (composition builds nodes, never objects).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from .crypto import sha256_hex
from .errors import PolicyError

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

    @model_validator(mode="after")
    def _references(self) -> RegisterPolicy:
        for name, consent in self.consents.items():
            if consent.purpose not in self.purposes:
                raise ValueError(f"consent {name!r} names undefined purpose {consent.purpose!r}")
        lookups = [spec.lookup for spec in iter_field_specs(self) if spec.lookup]
        if len(lookups) != len(set(lookups)):
            raise ValueError("each lookup kind may be used by one field only")
        return self


def iter_field_specs(register: RegisterPolicy) -> Iterator[FieldSpec]:
    for category in register.categories.values():
        yield from (category.fields or {}).values()
        if category.field:
            yield category.field


@dataclass(frozen=True)
class Policies:
    """The resolved policies of one directory and the hash that names them."""

    register: RegisterPolicy
    documents: dict[str, Any]
    hash: str

    def field_paths(self) -> list[str]:
        """Every stored field as a dotted path, the unit audit entries name."""
        paths: list[str] = []
        for name, category in self.register.categories.items():
            if category.kind == "object":
                paths += [f"{name}.{field}" for field in category.fields or {}]
            elif category.kind == "consents":
                paths += [f"{name}.{consent}" for consent in self.register.consents]
            else:
                paths.append(name)
        return paths


POLICY_FILES = {"register.yaml": RegisterPolicy}


def load_policies(directory: Path) -> Policies:
    """Load and validate every policy file; raise PolicyError listing all problems."""
    problems: list[tuple[str, str]] = []
    documents: dict[str, Any] = {}
    models: dict[str, Any] = {}
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
            data = yaml.safe_load(text)
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            problems.append((where, f"not valid YAML: {getattr(exc, 'problem', None) or 'syntax error'}"))
            continue
        try:
            models[filename] = model.model_validate(data)
            documents[filename] = data
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                loc = tuple(error["loc"])
                problems.append((f"{path}:{line_of(root, loc)}", describe(loc, error["msg"])))
    if problems:
        raise PolicyError(f"invalid policy in {directory}", problems)
    canonical = json.dumps(documents, sort_keys=True, ensure_ascii=False, default=str).encode()
    return Policies(register=models["register.yaml"], documents=documents, hash=sha256_hex(canonical)[:16])


def describe(loc: tuple[Any, ...], msg: str) -> str:
    path = ".".join(str(part) for part in loc) or "(top level)"
    msg = msg.removeprefix("Value error, ")
    if msg == "Extra inputs are not permitted":
        msg = "unknown key"
    return f"{path}: {msg}"


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
