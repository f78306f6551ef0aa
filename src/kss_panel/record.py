"""The member record: validated against the register policy, and edited by patches.

The record's shape (categories and their fields, enumerations, ranges) comes
from policies/register.yaml; ``record_model`` turns that policy into a pydantic
model (at the first validation) so every problem is reported with its field
path, with the value rules of this module. Error messages never echo the
rejected value: they may hold personal data.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput, Param

if TYPE_CHECKING:
    from pydantic import ValidationInfo

    from .policy import Category, FieldSpec, Policies

NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '’-]+[^\W\d_]+)*$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean_text(value: str, *, max_length: int) -> str:
    """Free text as stored: NFC, trimmed, not empty, no control characters, at most ``max_length``."""
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise ValueError("must not be empty")
    if CONTROL_RE.search(value):
        raise ValueError("must not contain control characters")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    return value


def check_name(value: str, *, max_length: int) -> str:
    value = clean_text(value, max_length=max_length)
    if not NAME_RE.match(value) or not all(_is_name_char(c) for c in value):
        raise ValueError("may hold only letters, spaces, hyphens and apostrophes")
    return value


def _is_name_char(char: str) -> bool:
    # Letters of any script and their combining marks; not digits such as "²" or "③".
    return char.isalpha() or char in " '’-" or unicodedata.category(char).startswith("M")


# The common shape of an email address, which email-validator takes as it is (only its case changes): a
# dot-atom of letters, digits, "_", "+" and "-"; host-name labels; a top-level domain of letters. Anything
# else (other characters, non-ASCII, "--" or Punycode in the domain, a special-use domain, over-long parts)
# goes to email-validator itself, as does every address that does not match (it says why not).
EMAIL_FAST = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})")
EMAIL_MAX_LENGTH = 254
DOMAIN_MAX_LENGTH = 253
# A Finnish number in the E.164 form (what the register stores), with no national prefix 0 to strip:
# phonenumbers.parse would read it as country code 358 and this national number.
FINNISH_E164 = re.compile(r"\+358([1-9][0-9]{1,16})")


def normalise_email(value: str) -> str:
    """email-validator's normalised form (no deliverability check), lowercased; ValueError if it is not an address."""
    from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

    fast = EMAIL_FAST.fullmatch(value)
    if fast is not None and len(value) <= EMAIL_MAX_LENGTH and len(fast[1]) <= DOMAIN_MAX_LENGTH and "--" not in fast[1]:
        labels = fast[1].lower().split(".")
        # email-validator refuses a special-use domain and every name under it (x.local, x.test).
        if not any(".".join(labels[start:]) in SPECIAL_USE_DOMAIN_NAMES for start in range(len(labels))):
            return value.lower()

    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError("is not a valid email address") from None
    return result.normalized.lower()


def normalise_phone(value: str) -> str:
    """The number in E.164 (Finland the default region); ValueError if it is not a valid phone number."""
    fast = FINNISH_E164.fullmatch(value)
    if fast is not None and all((not lengths or len(fast[1]) in lengths) and pattern.fullmatch(fast[1]) for lengths, pattern in _finnish_mobile()):
        return value  # what phonenumbers.is_valid_number says of it, in its own metadata's terms (the common case)
    import phonenumbers

    if fast is not None:
        number = phonenumbers.PhoneNumber(country_code=358, national_number=int(fast[1]))
    else:
        try:
            number = phonenumbers.parse(value, "FI")
        except phonenumbers.NumberParseException:
            raise ValueError("is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.cache
def _finnish_mobile() -> list[tuple[frozenset[int], re.Pattern[str]]]:
    """phonenumbers' own description of a valid Finnish number (possible lengths, pattern) and of a mobile one:
    a national number that fits both is valid for Finland whatever else it might be."""
    import phonenumbers

    metadata = phonenumbers.PhoneMetadata.metadata_for_region("FI")
    return [(frozenset(desc.possible_length), re.compile(desc.national_number_pattern)) for desc in (metadata.general_desc, metadata.mobile)]


def normalise_customer_number(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[0-9]{6,10}", value):
        raise ValueError("must be 6 to 10 digits")
    return value


def check_postal_code(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[0-9]{5}", value):
        raise ValueError("must be five digits")
    return value


def check_birth_year(value: int, info: ValidationInfo, *, min_age: int, max_age: int) -> int:
    today: date = (info.context or {})["today"]
    if not today.year - max_age <= value <= today.year - min_age:
        raise ValueError(f"must be between {today.year - max_age} and {today.year - min_age}")
    return value


def check_applied_at(value: Any, info: ValidationInfo) -> date:
    try:
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date as YYYY-MM-DD") from None
    if parsed > (info.context or {})["today"]:
        raise ValueError("must not be in the future")
    return parsed


NORMALISERS = {"email": normalise_email, "phone": normalise_phone, "customer_number": normalise_customer_number}


class RecordSchema:
    """One register policy's member record: its validation (a pydantic model, built at the first use) and its shape."""

    def __init__(self, policies: Policies) -> None:
        self.policies = policies
        self._model: Any = None
        # Lookup kind -> the field path that holds it, as problems name it (contact.email).
        self.lookup_paths: dict[str, str] = {}
        self._lookup_places: dict[str, tuple[str, str | None]] = {}  # kind -> (category, field or None)
        for name, category in policies.register.categories.items():
            if category.field and category.field.lookup:
                self.lookup_paths[category.field.lookup] = name
                self._lookup_places[category.field.lookup] = (name, None)
            for field, spec in (category.fields or {}).items():
                if spec.lookup:
                    self.lookup_paths[spec.lookup] = f"{name}.{field}"
                    self._lookup_places[spec.lookup] = (name, field)

    def validate(self, data: Any, *, today: date) -> tuple[dict[str, Any], date | None]:
        """Return the normalised record and its ``applied_at``, or raise InvalidInput."""
        if not isinstance(data, dict):
            raise InvalidInput("invalid record", [("(record)", "must be a JSON object")])
        from . import record_model

        dumped = record_model.validate(self.model(), data, today)
        applied_at = dumped.pop("applied_at", None)
        return self.ordered(dumped), applied_at

    def model(self) -> Any:
        """The pydantic model of a record, built at the first call."""
        if self._model is None:
            from . import record_model

            self._model = record_model.build(self.policies)
        return self._model

    def ordered(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record's categories in policy order (the order people read them in)."""
        return {name: record[name] for name in self.policies.register.categories if name in record}

    def current(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record without fields the policy no longer defines (a consent retired since it was given)."""
        kept: dict[str, Any] = {}
        for name, value in self.ordered(record).items():
            category = self.policies.register.categories[name]
            known = category.fields if category.kind == "object" else self.policies.register.consents if category.kind == "consents" else None
            kept[name] = {k: v for k, v in value.items() if k in known} if known is not None and isinstance(value, dict) else value
        return kept

    def lookups(self, record: dict[str, Any]) -> dict[str, str]:
        """The normalised values of a record's lookup fields, by lookup kind."""
        found: dict[str, str] = {}
        for kind, (name, field) in self._lookup_places.items():
            value = record.get(name)
            if field is None:
                if value is not None:
                    found[kind] = value
            elif value is not None and field in value:
                found[kind] = value[field]
        return found


def normalise_lookup(kind: str, value: str, where: str | None = None) -> str:
    """A lookup value in the form its keyed hash is taken of; a problem names ``where`` (the parameter ``kind`` by default)."""
    try:
        return NORMALISERS[kind](value)
    except ValueError as exc:
        raise InvalidInput(f"invalid {kind.replace('_', ' ')}", [(where or Param(kind), str(exc))]) from None


def safe_part(part: Any) -> str:
    text = str(part)
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", text):
        return text
    return "(unknown field)"


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """Map each stored field's dotted path to its value (the unit of audit)."""
    flat: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, dict):
            flat.update({f"{name}.{field}": inner for field, inner in value.items()})
        else:
            flat[name] = value
    return flat


def value_at(record: dict[str, Any], path: str) -> Any:
    """The value of a dotted field path in a record (None when absent)."""
    category, _, name = path.partition(".")
    return _value_in(record.get(category), name)


def _value_in(part: Any, name: str) -> Any:
    return part.get(name) if name and isinstance(part, dict) else (part if not name else None)


def values_at(paths: Iterable[str]) -> Callable[[dict[str, Any]], list[Any]]:
    """A reader of the values of ``paths`` in a record (None when absent), each path split once: for a pass
    that reads the same fields of record after record."""
    split = [path.partition(".") for path in paths]

    def read(record: dict[str, Any]) -> list[Any]:
        return [_value_in(record.get(category), name) for category, _, name in split]

    return read


def field_paths_of(record: dict[str, Any]) -> list[str]:
    """The dotted paths of a record's stored fields, sorted (what an audit entry lists): ``sorted(flatten(record))``."""
    paths: list[str] = []
    for name, value in record.items():
        if isinstance(value, dict):
            paths.extend(f"{name}.{field}" for field in value)
        else:
            paths.append(name)
    paths.sort()
    return paths


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    old, new = flatten(before), flatten(after)
    return sorted(path for path in old.keys() | new.keys() if old.get(path) != new.get(path))


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Set the field at a dotted path (``contact.city``) or a whole category (``hobbies``)."""
    name, _, field = path.partition(".")
    if field:
        record.setdefault(name, {})[field] = value
    else:
        record[name] = value


def apply_patch(record: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge a JSON merge-patch (RFC 7386) into a record: null removes a field."""
    merged = {key: (dict(value) if isinstance(value, dict) else value) for key, value in record.items()}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = apply_patch(merged[key], value)
        else:
            merged[key] = value
    return merged


INTEGER_TEXT = re.compile(r"-?[0-9]{1,12}")
TRUE_WORDS = {"true", "yes", "1"}
FALSE_WORDS = {"false", "no", "0"}
INTEGER_TYPES = {"integer", "birth_year", "score"}


def field_spec(policies: Policies, path: str) -> tuple[Category, FieldSpec | None] | None:
    """The category and field spec at a dotted path, or None if there is none."""
    name, _, field = path.partition(".")
    category = policies.register.categories.get(name)
    if category is None:
        return None
    if category.kind == "object" and field in (category.fields or {}):
        return category, (category.fields or {})[field]
    if category.kind == "consents" and field in policies.register.consents:
        from .policy import FieldSpec

        return category, FieldSpec(type="boolean")
    if category.kind in ("value", "tags") and not field:
        return category, category.field or category.item
    return None


def coerce_text(spec: FieldSpec, kind: str, text: str) -> Any:
    """Turn text (from --set or a CSV cell) into the JSON type the field takes.

    Empty text means "no value". A value that cannot be converted is passed on
    unchanged, so that validation reports it with the usual message.
    """
    text = text.strip()
    if not text:
        return None
    if kind == "tags":
        return [item.strip() for item in text.split(";") if item.strip()]
    if spec.type in INTEGER_TYPES and INTEGER_TEXT.fullmatch(text):
        return int(text)
    if spec.type == "boolean" and text.lower() in TRUE_WORDS | FALSE_WORDS:
        return text.lower() in TRUE_WORDS
    return text


def text_converter(spec: FieldSpec, kind: str) -> Callable[[str], Any]:
    """``coerce_text`` for one field, its choices made once (an import converts every cell of a column alike)."""
    if kind == "tags" or spec.type == "boolean":
        return partial(coerce_text, spec, kind)
    if spec.type in INTEGER_TYPES:

        def integer(text: str) -> Any:
            text = text.strip()
            return (int(text) if INTEGER_TEXT.fullmatch(text) else text) if text else None

        return integer

    def plain(text: str) -> str | None:
        return text.strip() or None

    return plain
