"""The fast paths in front of email-validator and phonenumbers give exactly what the libraries give.

An import validates hundreds of thousands of emails and phone numbers, so the
common shapes are recognised without the libraries' full parse; anything else
goes to the library. These properties compare the two on hostile near-misses:
the same normalised value, or the same refusal.
"""

from __future__ import annotations

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kss_panel.record import normalise_email, normalise_phone

ATOM = st.text(alphabet="aZz09_+-!#'=~%&é", min_size=0, max_size=6)
LABEL = st.one_of(
    st.text(alphabet="aZ09-", min_size=0, max_size=8),
    st.sampled_from(["xn--bcher-kva", "ab--cd", "a" * 63, "a" * 64, "local", "test", "localhost", "arpa", "onion", "invalid", "home", "1"]),
)
TLD = st.one_of(st.text(alphabet="aZfi09-", min_size=0, max_size=5), st.sampled_from(["fi", "FI", "local", "test", "arpa", "com", "x" * 64]))


@st.composite
def addresses(draw: st.DrawFn) -> str:
    local = ".".join(draw(st.lists(ATOM, min_size=0, max_size=4)))
    labels = draw(st.lists(LABEL, min_size=0, max_size=4))
    domain = ".".join([*labels, draw(TLD)])
    text = f"{local}@{domain}" if draw(st.booleans()) or not local else local + domain
    return draw(st.sampled_from([text, text.upper(), f" {text}", f"{text}.", text + "\n", "x" * 250 + text]))


def library_email(value: str) -> str | None:
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def ours(normalise: object, value: str) -> str | None:
    try:
        return normalise(value)  # type: ignore[operator]
    except ValueError:
        return None


@settings(max_examples=600, deadline=None)
@given(addresses())
@example("ella.konttinen.0@example.fi")
@example("A.B+c@Sub.Example.COM")
@example("x@a.local")
@example("x@b.Test")
@example("x@xn--bcher-kva.de")
@example("info@example.fi")
@example("a" * 64 + "@" + "b" * 63 + ".fi")
@example("a" * 200 + "@" + "b" * 50 + ".fi")
def test_emails_are_normalised_as_email_validator_does(value: str) -> None:
    assert ours(normalise_email, value) == library_email(value)


def library_phone(value: str) -> str | None:
    try:
        number = phonenumbers.parse(value, "FI")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


PHONES = st.builds(
    lambda prefix, digits: prefix + digits,
    st.sampled_from(["+358", "+3580", "+35818", "+3584", "+35850", "+35", "+46", "+", "0", "358", "+358 ", "+ 358"]),
    st.text(alphabet="0123456789", min_size=0, max_size=19),
)


@settings(max_examples=1500, deadline=None)
@given(PHONES)
@example("+358401234567")
@example("+358181234567")  # Åland shares 358
@example("+3580401234567")  # the national prefix after the country code
@example("+35840123456789012345")
def test_phones_are_normalised_as_phonenumbers_does(value: str) -> None:
    assert ours(normalise_phone, value) == library_phone(value)


@pytest.mark.parametrize("value", ["+358401234567", "+358 40 123 4567", "040 123 4567", "+46701234567"])
def test_finnish_and_foreign_numbers_in_any_form(value: str) -> None:
    assert normalise_phone(value) == library_phone(value) is not None
