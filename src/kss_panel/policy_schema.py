"""A strict validator for frozen dataclasses: the schema of the policy files, with no third-party library.

It walks a dataclass's annotations: str, int, float and bool (strict: nothing is coerced, and a bool is
not a number), ``Literal[...]``, ``X | None``, ``list[X]``, ``dict[K, V]`` and nested dataclasses, with
constraints declared as ``Annotated[..., Rule(...)]``, a key other than the attribute's name
(``aliased``), unknown keys refused, and each class's own cross-field check: its ``__post_init__``, which
raises ValueError, runs once the class's fields are valid (and whenever code builds an instance). Every
problem is reported at once, as (location, message), in the wording pydantic gave it when it validated
these files, so the messages officers and their scripts know still hold. Pydantic itself costs every
command's start-up a tenth of a second; only the commands that validate a member's record import it.

Each annotation is compiled to a validator once per class. The cost of a document is one visit per node
the schema reaches: data deeper or wider than the schema is refused where it starts, never walked.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

Loc = tuple[Any, ...]
Problems = list[tuple[Loc, str]]
Validator = Callable[[Any, Loc, Problems], Any]
T = TypeVar("T")
INVALID: Any = object()  # a value that failed; its problems are already listed
_ALIAS = "kss_panel.alias"


@dataclasses.dataclass(frozen=True)
class Rule:
    """Constraints on a value: a string's pattern (matched in full) and length, a list's length, a number's range."""

    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    ge: float | None = None
    le: float | None = None


@dataclasses.dataclass(frozen=True)
class Missing:
    """What the problem of a missing required key adds, for a key whose absence needs explaining."""

    hint: str


@dataclasses.dataclass(frozen=True)
class Before:
    """A check of the value as given, before its type: ``check`` raises ValueError with the problem."""

    check: Callable[[Any], None]


def aliased(key: str) -> Any:
    """A required attribute read from ``key`` in the file, rather than from its own name."""
    return dataclasses.field(metadata={_ALIAS: key})


def validate(model: type[T], data: Any) -> tuple[T | None, Problems]:
    """The validated instance, or None and every problem as (location, message)."""
    problems: Problems = []
    value = _model_validator(model)(data, (), problems)
    return (None if problems else value), [(loc, describe(loc, message)) for loc, message in problems]


def describe(loc: Loc, message: str) -> str:
    """A problem as its users read it: the dotted path of its location, then the problem."""
    return f"{'.'.join(str(part) for part in loc) or '(top level)'}: {message}"


def allowed_keys(model: Any, loc: Loc) -> list[str]:
    """The keys a mapping at ``loc`` may hold, walking the model's annotations."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if dataclasses.is_dataclass(current):
            hints = typing.get_type_hints(current, include_extras=True)
            current = next((hints[f.name] for f in _fields(current) if _key(f) == part), None)
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    return [_key(f) for f in _fields(current)] if dataclasses.is_dataclass(current) else []


def dump(value: Any, *, by_alias: bool = False, exclude_none: bool = False) -> Any:
    """A validated instance as plain JSON-ready data, its attributes in declaration order."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = ((_key(f) if by_alias else f.name, getattr(value, f.name)) for f in _fields(type(value)))
        return {key: dump(item, by_alias=by_alias, exclude_none=exclude_none) for key, item in items if not (exclude_none and item is None)}
    if isinstance(value, dict):
        return {key: dump(item, by_alias=by_alias, exclude_none=exclude_none) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [dump(item, by_alias=by_alias, exclude_none=exclude_none) for item in value]
    return value


# --- compiling annotations into validators ----------------------------------------------------------------

_COMPILED: dict[type, Validator] = {}


def _fields(model: Any) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(model)


def _key(field: dataclasses.Field[Any]) -> str:
    return field.metadata.get(_ALIAS, field.name)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


def _compile(annotation: Any) -> Validator:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        rules = [meta for meta in annotation.__metadata__ if isinstance(meta, Rule)]
        inner = _compile(args[0]) if not rules else _constrained(args[0], rules[0])
        befores = [meta.check for meta in annotation.__metadata__ if isinstance(meta, Before)]
        return _before(befores[0], inner) if befores else inner
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        if len(others) != 1 or len(args) != 2:
            raise TypeError(f"only X | None is supported, not {annotation!r}")
        return _optional(_compile(others[0]))
    if origin is Literal:
        return _literal(args)
    if origin is list:
        return _list(_compile(args[0]), Rule())
    if origin is dict:
        return _dict(_compile(args[0]), _compile(args[1]))
    if dataclasses.is_dataclass(annotation):
        return lambda value, loc, problems: _model_validator(annotation)(value, loc, problems)
    if annotation in _SCALARS:
        return _SCALARS[annotation](Rule())
    raise TypeError(f"unsupported annotation {annotation!r}")


def _constrained(annotation: Any, rule: Rule) -> Validator:
    if typing.get_origin(annotation) is list:
        return _list(_compile(typing.get_args(annotation)[0]), rule)
    if annotation in _SCALARS:
        return _SCALARS[annotation](rule)
    raise TypeError(f"constraints apply to str, int, float and list, not {annotation!r}")


def _before(test: Callable[[Any], None], inner: Validator) -> Validator:
    def validator(value: Any, loc: Loc, problems: Problems) -> Any:
        try:
            test(value)
        except ValueError as exc:
            problems.append((loc, str(exc)))
            return INVALID
        return inner(value, loc, problems)

    return validator


def _optional(inner: Validator) -> Validator:
    return lambda value, loc, problems: None if value is None else inner(value, loc, problems)


def _literal(values: tuple[Any, ...]) -> Validator:
    shown = [repr(v) for v in values]
    message = "Input should be " + (f"{', '.join(shown[:-1])} or {shown[-1]}" if len(shown) > 1 else shown[0])

    def validator(value: Any, loc: Loc, problems: Problems) -> Any:
        if any(type(value) is type(v) and value == v for v in values):
            return value
        problems.append((loc, message))
        return INVALID

    return validator


def _plural(count: Any, unit: str) -> str:
    return f"{count} {unit}" + ("" if count == 1 else "s")


def _string(rule: Rule) -> Validator:
    pattern = re.compile(rule.pattern) if rule.pattern is not None else None

    def validator(value: Any, loc: Loc, problems: Problems) -> Any:
        if not isinstance(value, str):
            problems.append((loc, "Input should be a valid string"))
        elif rule.min_length is not None and len(value) < rule.min_length:
            problems.append((loc, f"String should have at least {_plural(rule.min_length, 'character')}"))
        elif rule.max_length is not None and len(value) > rule.max_length:
            problems.append((loc, f"String should have at most {_plural(rule.max_length, 'character')}"))
        elif pattern is not None and pattern.fullmatch(value) is None:  # in full: '$' would let a final newline in
            problems.append((loc, f"String should match pattern '{rule.pattern}'"))
        else:
            return value
        return INVALID

    return validator


def _number(kind: type, message: str) -> Callable[[Rule], Validator]:
    def build(rule: Rule) -> Validator:
        def validator(value: Any, loc: Loc, problems: Problems) -> Any:
            if isinstance(value, bool) or not isinstance(value, int | kind):
                problems.append((loc, message))
                return INVALID
            try:
                value = kind(value)
            except OverflowError:  # an integer too large for a float
                problems.append((loc, message))
                return INVALID
            # not (x <= le) rather than x > le: NaN is out of every range
            if rule.le is not None and not value <= rule.le:
                problems.append((loc, f"Input should be less than or equal to {rule.le}"))
            elif rule.ge is not None and not value >= rule.ge:
                problems.append((loc, f"Input should be greater than or equal to {rule.ge}"))
            else:
                return value
            return INVALID

        return validator

    return build


def _boolean(rule: Rule) -> Validator:
    def validator(value: Any, loc: Loc, problems: Problems) -> Any:
        if isinstance(value, bool):
            return value
        problems.append((loc, "Input should be a valid boolean"))
        return INVALID

    return validator


_SCALARS: dict[Any, Callable[[Rule], Validator]] = {
    str: _string,
    int: _number(int, "Input should be a valid integer"),
    float: _number(float, "Input should be a valid number"),
    bool: _boolean,
}


def _list(item: Validator, rule: Rule) -> Validator:
    def validator(value: Any, loc: Loc, problems: Problems) -> Any:
        if not isinstance(value, list):
            problems.append((loc, "Input should be a valid list"))
            return INVALID
        if rule.max_length is not None and len(value) > rule.max_length:  # before the items: a long list costs nothing
            problems.append((loc, f"List should have at most {_plural(rule.max_length, 'item')} after validation, not {len(value)}"))
            return INVALID
        before = len(problems)
        items = [item(element, (*loc, index), problems) for index, element in enumerate(value)]
        if len(problems) > before:
            return INVALID
        if rule.min_length is not None and len(items) < rule.min_length:
            problems.append((loc, f"List should have at least {_plural(rule.min_length, 'item')} after validation, not {len(items)}"))
            return INVALID
        return items

    return validator


def _dict(key: Validator, item: Validator) -> Validator:
    def validator(value: Any, loc: Loc, problems: Problems) -> Any:
        if not isinstance(value, dict):
            problems.append((loc, "Input should be a valid dictionary"))
            return INVALID
        before = len(problems)
        result = {key(k, (*loc, k, "[key]"), problems): item(v, (*loc, k), problems) for k, v in value.items()}
        return INVALID if len(problems) > before else result

    return validator


# --- dataclasses ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Slot:
    name: str
    key: str
    validator: Validator
    field: dataclasses.Field[Any]
    missing: str


def _model_validator(model: type) -> Validator:
    compiled = _COMPILED.get(model)
    if compiled is None:
        compiled = _COMPILED[model] = _compile_model(model)
    return compiled


def _compile_model(model: type) -> Validator:
    hints = typing.get_type_hints(model, include_extras=True)
    slots = []
    for f in _fields(model):
        annotation = hints[f.name]
        explained = [m.hint for m in getattr(annotation, "__metadata__", ()) if isinstance(m, Missing)]
        missing = "required key is missing" + (f": {explained[0]}" if explained else "")
        slots.append(_Slot(f.name, _key(f), _compile(annotation), f, missing))
    known = {slot.key for slot in slots}
    expected = f"unknown key (expected one of: {', '.join(slot.key for slot in slots)})"
    not_a_mapping = f"Input should be a valid dictionary or instance of {model.__name__}"

    def validator(value: Any, loc: Loc, problems: Problems) -> Any:
        if not isinstance(value, dict):
            problems.append((loc, not_a_mapping))
            return INVALID
        before = len(problems)
        given: dict[str, Any] = {}
        for slot in slots:
            if slot.key in value:
                given[slot.name] = slot.validator(value[slot.key], (*loc, slot.key), problems)
            elif slot.field.default is dataclasses.MISSING and slot.field.default_factory is dataclasses.MISSING:
                problems.append(((*loc, slot.key), slot.missing))
        for key in value:
            if not isinstance(key, str):
                problems.append(((*loc, key), "Keys should be strings"))
            elif key not in known:
                problems.append(((*loc, key), expected))
        if len(problems) > before:
            return INVALID
        try:
            return model(**given)
        except ValueError as exc:  # the class's own cross-field check
            problems.append((loc, str(exc)))
            return INVALID

    return validator
