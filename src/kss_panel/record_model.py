"""The pydantic model of a member record, built from the register policy when a record is first validated.

``record.RecordSchema`` builds it on first use, so a command that only reads
records (show, export) never imports pydantic. The value rules themselves
(names, emails, phones, dates) are in ``record``; this module wires them into
a strict model, so every problem is reported with its field path. Error
messages never echo the rejected value: they may hold personal data.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError, create_model

from .errors import InvalidInput
from .policy import Category, FieldSpec, Policies
from .record import (
    check_applied_at, check_birth_year, check_name, check_postal_code, clean_text, normalise_customer_number, normalise_email, normalise_phone, safe_part,
)


def _annotation(spec: FieldSpec) -> Any:
    length = spec.max_length or 200
    match spec.type:
        case "customer_number":
            return Annotated[str, AfterValidator(normalise_customer_number)]
        case "name":
            return Annotated[str, AfterValidator(partial(check_name, max_length=length))]
        case "text":
            return Annotated[str, AfterValidator(partial(clean_text, max_length=length))]
        case "email":
            return Annotated[str, Field(max_length=254), AfterValidator(normalise_email)]
        case "phone":
            return Annotated[str, Field(max_length=32), AfterValidator(normalise_phone)]
        case "postal_code":
            return Annotated[str, AfterValidator(check_postal_code)]
        case "enum":
            return Literal[tuple(spec.values or ())]
        case "birth_year":
            return Annotated[int, AfterValidator(partial(check_birth_year, min_age=spec.min_age, max_age=spec.max_age))]
        case "integer":
            return Annotated[int, Field(ge=spec.min, le=spec.max)]
        case "boolean":
            return bool
        case "score":
            return Annotated[int, Field(ge=spec.min or 1, le=spec.max or 5)]
    raise AssertionError(spec.type)


def _optional(annotation: Any, required: bool) -> tuple[Any, Any]:
    return (annotation, ...) if required else (annotation | None, None)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _category_model(policies: Policies, name: str, category: Category) -> tuple[Any, Any]:
    if category.kind == "value":
        assert category.field
        return _optional(_annotation(category.field), category.field.required)
    if category.kind == "tags":
        assert category.item
        items = Annotated[list[_annotation(category.item)], Field(max_length=category.max_items or 50)]  # type: ignore[misc]
        return _optional(items, False)
    if category.kind == "consents":
        fields = {consent: (bool, False) for consent in policies.register.consents}
        model = create_model(f"Record_{name}", __base__=_Closed, **fields)
        return model, Field(default_factory=model)
    specs = category.fields or {}
    fields = {field: _optional(_annotation(spec), spec.required) for field, spec in specs.items()}
    model = create_model(f"Record_{name}", __base__=_Closed, **fields)
    return _optional(model, any(spec.required for spec in specs.values()))


def build(policies: Policies) -> type[BaseModel]:
    """The strict model of a record under ``policies``: every category, and ``applied_at``."""
    fields = {name: _category_model(policies, name, category) for name, category in policies.register.categories.items()}
    fields["applied_at"] = (Annotated[date, PlainValidator(check_applied_at)] | None, None)
    return create_model("Record", __base__=_Closed, **fields)


def validate(model: type[BaseModel], data: dict[str, Any], today: date) -> dict[str, Any]:
    """The record as the model normalises it (absent fields left out), or InvalidInput listing every problem."""
    try:
        return model.model_validate(data, context={"today": today}).model_dump(exclude_none=True)
    except ValidationError as exc:
        raise InvalidInput("invalid record", problems_of(exc)) from None


def problems_of(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith(("function-", "literal["))))
        path = ".".join(safe_part(part) for part in loc) or "(record)"
        problems.append((path, _message(error["type"], error["msg"])))
    return problems


def _message(kind: str, msg: str) -> str:
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of the register"
    msg = msg.removeprefix("Value error, ")
    return msg[0].lower() + msg[1:] if msg else kind
