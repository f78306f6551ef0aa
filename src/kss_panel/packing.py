"""What a member's boxes hold: their JSON text, packed with raw DEFLATE against a preset dictionary (docs/crypto.md §4.1).

A record is ~850 bytes of compact JSON, most of it the same key names in every
member's record ("contact", "first_name", eleven consent names). Packed, it is
~160 bytes, so the register is a fraction of its size. A packed plaintext
starts with a tag byte naming the dictionary, then a raw DEFLATE stream (RFC
1951) primed with it; a plaintext that starts with ``{`` or ``[`` is the JSON
itself, as builds before packing sealed it, and opens as ever. Sealing always
packs with the current dictionary of the box's kind. A dictionary is a
constant: once shipped it is never edited (a better one gets a new tag), or
boxes sealed with it would no longer open.

Packing happens before sealing, inside the box, so the file never holds it in
plain; why compression before encryption is safe here is in docs/crypto.md.
Unpacking is bounded: a plaintext that would inflate past ``LIMIT`` bytes is
refused, so no box can cost more memory than that, whoever made it.
"""

from __future__ import annotations

import zlib

LIMIT = 1 << 20  # bytes of JSON a box may hold: a record is ~1 KB, a long consent history tens of KB
RAW_DEFLATE = -15  # window bits: negative is raw DEFLATE (no zlib header or checksum: the AEAD authenticates every byte)
LEVEL = 6
JSON_STARTS = frozenset(b"{[")  # a plaintext sealed as JSON (an object or a list) before packing

SHIPPED_CONSENTS = (
    "email_marketing", "sms_marketing", "marketing_competitions", "group_communication", "group_market_research", "group_marketing",
    "group_competitions", "partner_communication", "partner_market_research", "partner_marketing", "partner_competitions",
)

# Dictionary 1, for records: common e-mail domains, the values of the shipped policy's enumerations, then the
# skeleton of a whole record as ``vault.seal_record`` writes it (categories and fields in policy order, every
# consent). DEFLATE refers to what is nearest most cheaply, so the skeleton comes last. Never edited: a better
# one would be dictionary 3.
DICTIONARY_1 = (
    "@gmail.com@hotmail.com@outlook.com@luukku.com@elisanet.fi@kolumbus.fi@suomi24.fi@icloud.com@yahoo.com@live.fi"
    '"sv","en","male","other","undisclosed","semi_detached","terraced","apartment","farm",'
    '"electric","district","oil","wood","geothermal",true,'
    '{"customer_number":"","contact":{"first_name":"","last_name":"","email":"","phone":"+358","street_address":"",'
    '"postal_code":"","city":"","language":"fi"},'
    '"demographics":{"birth_year":19,"gender":"female","household_size":2,"dwelling_type":"detached"},'
    '"electricity":{"annual_consumption_kwh":1,"heating":"heat_pump","has_solar_panels":false,"has_electric_vehicle":false},'
    '"hobbies":[""],"attitudes":{"environment":3,"price_sensitivity":3,"local_energy":3,"digital_services":3},'
    '"consents":{' + ",".join(f'"{name}":false' for name in SHIPPED_CONSENTS) + "}}"
).encode()

# Dictionary 2, for consent receipts: the keys, channels and objections of docs/crypto.md §4, and a receipt giving
# every consent of the shipped policy (each followed by its wording's version). Never edited.
DICTIONARY_2 = (
    '"objections":{"direct-marketing":"object","legitimate-interests":"lift"},"withdrawn":{},'
    '{"at":17,"channel":"officer","slot":""},{"at":17,"channel":"self-service","slot":""},{"at":17,"channel":"enrol","slot":""},'
    '[{"at":17,"channel":"import","slot":"","given":{' + ",".join(f'"{name}":"' for name in SHIPPED_CONSENTS)
).encode()

RECORD, RECEIPTS = 1, 2  # the tag each kind of box is packed with now
DICTIONARIES = {1: DICTIONARY_1, 2: DICTIONARY_2}  # tag -> dictionary; a tag, once shipped, always names the same one


class TooLong(ValueError):
    """A text longer than ``LIMIT``: it is not packed (it could not be opened again)."""


def pack(text: bytes, tag: int) -> bytes:
    """``text`` (JSON, UTF-8) as a box holds it: the tag, then the raw DEFLATE stream against the tag's dictionary."""
    if len(text) > LIMIT:
        raise TooLong(f"longer than {LIMIT} bytes")
    # zlib's defaults but the window bits (raw). Made afresh: no faster copied from a primed one (measured).
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, RAW_DEFLATE, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARIES[tag])
    return bytes([tag]) + compressor.compress(text) + compressor.flush()


def unpack(plaintext: bytes) -> bytes:
    """The JSON text a box holds (ValueError when it is neither JSON nor a whole stream of a known dictionary within ``LIMIT``)."""
    if not plaintext:
        raise ValueError("empty plaintext")
    if plaintext[0] in JSON_STARTS:
        return plaintext
    dictionary = DICTIONARIES.get(plaintext[0])
    if dictionary is None:
        raise ValueError("unknown dictionary")
    inflater = zlib.decompressobj(RAW_DEFLATE, zdict=dictionary)
    try:
        text = inflater.decompress(plaintext[1:], LIMIT)
    except zlib.error:
        raise ValueError("not a DEFLATE stream") from None
    # Past the limit, inflation stops with input left over (or output still pending, so the stream has not ended).
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError(f"longer than {LIMIT} bytes, or cut short")
    if inflater.unused_data:
        raise ValueError("bytes after the end of the stream")
    return text


def repack(plaintext: bytes, tag: int) -> bytes:
    """A box's plaintext as it is sealed now, for sealing it again under a new key: checked as ``unpack`` checks it
    (ValueError), then kept as it is when packed with the current dictionary, or else packed with it."""
    text = unpack(plaintext)
    return plaintext if plaintext[0] == tag else pack(text, tag)
