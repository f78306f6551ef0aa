"""What a member's boxes hold: their JSON packed with raw DEFLATE against a versioned dictionary (docs/crypto.md §4.1).

The vectors in tests/vectors/packing.json pin the encoding (what a plaintext
unpacks to, and what is refused); the dictionaries are pinned by their hashes
and shown in full in docs/crypto.md. Through the register: new boxes are
packed, a box sealed as JSON by an earlier build still opens and `key rotate`
packs it, and a box that would inflate past the limit is an integrity failure
that costs no more memory than the limit.
"""

from __future__ import annotations

import json
import math
import re
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kss_panel import crypto, packing
from kss_panel.errors import IntegrityError, Refused
from kss_panel.services import members
from kss_panel.vault import read_record, record_context, rekeyed_boxes, seal_record
from support import AINO, NOW, Register, assert_clean_failure, person

VECTORS = Path(__file__).parent / "vectors" / "packing.json"
CRYPTO_MD = Path(__file__).parents[1] / "docs" / "crypto.md"
# A shipped dictionary never changes: boxes sealed with it must open for as long as the register lives.
PINNED = {
    1: "9946a844a582ab4e75d28cf4f598be2f74482bb833fd9e7a9241b53a553f5063",
    2: "6575c524203bf7e143a7c8d895350f4275c2ee924c61c75e2efbb2714292b6bf",
}


def vector_cases() -> list[Any]:
    cases = json.loads(VECTORS.read_text(encoding="utf-8"))
    return [pytest.param(case, id=f"{index}-{case['desc']}") for index, case in enumerate(cases)]


@pytest.mark.parametrize("case", vector_cases())
def test_packing_vector(case: dict[str, Any]) -> None:
    plaintext = bytes.fromhex(case["plaintext"])
    if set(case) == {"desc", "plaintext"}:
        with pytest.raises(ValueError):
            packing.unpack(plaintext)
        return
    assert set(case) == {"desc", "tag", "text", "plaintext"}
    text = case["text"].encode()
    assert packing.unpack(plaintext) == text
    if case["tag"] is None:
        assert plaintext == text  # sealed as JSON, before packing
    else:
        assert plaintext[0] == case["tag"]
        # Decoding is pinned; the encoder may deflate differently under another zlib, so only its meaning is checked.
        repacked = packing.pack(text, case["tag"])
        assert repacked[0] == case["tag"] and packing.unpack(repacked) == text


def test_the_vectors_cover_both_dictionaries_the_json_of_earlier_builds_and_refusals() -> None:
    cases = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert {case.get("tag", "refused") for case in cases} == {1, 2, None, "refused"}


def test_the_dictionaries_are_pinned_and_tagged() -> None:
    assert packing.DICTIONARIES == {1: packing.DICTIONARY_1, 2: packing.DICTIONARY_2}
    assert (packing.RECORD, packing.RECEIPTS) == (1, 2)
    assert {tag: crypto.sha256_hex(dictionary) for tag, dictionary in packing.DICTIONARIES.items()} == PINNED
    # A tag can never be mistaken for JSON, which starts with "{" or "[" (or white space, which a box never holds).
    assert not set(packing.DICTIONARIES) & set(b"{[ \t\r\n")


def test_docs_show_each_dictionary_in_full() -> None:
    """An implementation elsewhere needs the dictionaries' bytes: crypto.md holds them, one piece a line."""
    text = CRYPTO_MD.read_text(encoding="utf-8")
    for tag, dictionary in packing.DICTIONARIES.items():
        match = re.search(rf"Dictionary {tag} \(.*?\n```\n(.*?)\n```", text, re.S)
        assert match, f"docs/crypto.md shows no dictionary {tag}"
        assert "".join(match.group(1).split("\n")).encode() == dictionary
        assert f"{len(dictionary):,} bytes" in text and crypto.sha256_hex(dictionary) in text


def test_a_whole_record_packs_to_a_fifth_of_its_json() -> None:
    text = json.dumps(AINO, ensure_ascii=False, separators=(",", ":")).encode()
    packed = packing.pack(text, packing.RECORD)
    assert len(packed) * 3 < len(text), (len(packed), len(text))


@settings(max_examples=200)
@given(value=st.recursive(st.none() | st.booleans() | st.integers() | st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)),
       tag=st.sampled_from(sorted(packing.DICTIONARIES)))
def test_any_json_round_trips(value: Any, tag: int) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert packing.unpack(packing.pack(text, tag)) == text


@settings(max_examples=300)
@given(tag=st.sampled_from([*packing.DICTIONARIES, 0, 3, 0xFF]), stream=st.binary(max_size=2000))
def test_any_plaintext_unpacks_within_the_limit_or_is_refused(tag: int, stream: bytes) -> None:
    try:
        text = packing.unpack(bytes([tag]) + stream)
    except ValueError:
        return
    assert tag in packing.DICTIONARIES and len(text) <= packing.LIMIT


def deflated(data: bytes, dictionary: bytes = packing.DICTIONARY_1) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, dictionary)
    return compressor.compress(data) + compressor.flush()


def test_the_limit_is_exact() -> None:
    at_limit = b"[" + b" " * (packing.LIMIT - 2) + b"]"
    assert packing.unpack(b"\x01" + deflated(at_limit)) == at_limit
    assert packing.unpack(packing.pack(at_limit, packing.RECORD)) == at_limit
    with pytest.raises(ValueError, match="longer than 1048576 bytes"):
        packing.unpack(b"\x01" + deflated(at_limit + b" "))
    with pytest.raises(packing.TooLong):
        packing.pack(at_limit + b" ", packing.RECORD)


def test_a_deflate_bomb_costs_no_more_memory_than_the_limit() -> None:
    """256 MiB of spaces deflate to ~250 KB: inflating stops at the limit, and nothing near the whole is ever held."""
    bomb = b"\x01" + deflated(b" " * (256 << 20))
    assert len(bomb) < 300_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError):
            packing.unpack(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * packing.LIMIT, peak


# --- through the register ------------------------------------------------------------------------------------


def opened(reg: Register, member_id: str, column: str = "box") -> bytes:
    """A member's box opened with their data key: the plaintext as sealed (packed or not)."""
    row = reg.member(member_id)
    assert row is not None
    with reg.session() as session:
        return crypto.open_sealed(session.vault.dek(row), row[column], (column if column == "receipts" else "record", session.register_id, member_id))


def box_length(plaintext_length: int) -> int:
    return 29 + 32 * math.ceil((plaintext_length + 1) / 32)


def test_an_enrolled_members_record_and_receipts_are_sealed_packed(reg: Register) -> None:
    member_id = reg.enrol(AINO)
    record, receipts = opened(reg, member_id), opened(reg, member_id, "receipts")
    assert record[0] == packing.RECORD and receipts[0] == packing.RECEIPTS
    shown = reg.json("show", member_id)
    assert json.loads(packing.unpack(record)) == {name: shown[name] for name in json.loads(packing.unpack(record))}
    assert [event["channel"] for event in json.loads(packing.unpack(receipts))] == ["enrol"]
    row = reg.member(member_id)
    assert row is not None and len(row["box"]) == box_length(len(record))
    plain_json = json.dumps(read_record(packing.unpack(record).decode()), ensure_ascii=False, separators=(",", ":")).encode()
    assert len(row["box"]) * 3 < box_length(len(plain_json))


def test_members_imported_with_the_same_consents_have_receipts_that_read_the_same_and_boxes_that_do_not(reg: Register) -> None:
    """An import's receipts repeat (one instant, channel and slot), and each is packed once; every box still has a nonce of its own."""
    file = reg.file("\n".join(json.dumps(person(n)) for n in range(3)) + "\n", suffix=".jsonl")
    assert reg.run("import", str(file)).exit_code == 0
    ids = sorted(member_id for (member_id,) in reg.sql("SELECT member_id FROM members"))
    boxes = {box for (box,) in reg.sql("SELECT receipts FROM members")}
    texts = {packing.unpack(opened(reg, member_id, "receipts")) for member_id in ids}
    assert len(ids) == len(boxes) == 3 and len(texts) == 1


def commit_by_hand(reg: Register, member_id: str, changes: dict[str, Any]) -> None:
    """Change a member's row through the store inside a write, so the trail commits the row as changed (a `state` entry):
    what a box sealed by an earlier build, or by whoever holds the member's key, looks like to every later command."""
    with reg.session() as session, session.store.write():
        session.member_row(member_id)
        session.store.update_member(member_id, changes)


def sealed_as(reg: Register, member_id: str, plaintext: bytes) -> bytes:
    row = reg.member(member_id)
    assert row is not None
    with reg.session() as session:
        return crypto.seal(session.vault.dek(row), plaintext, record_context(session.register_id, member_id))


def test_a_record_sealed_as_json_by_an_earlier_build_opens_and_rotation_packs_it(reg: Register) -> None:
    member_id = reg.enrol(AINO)
    before = reg.json("show", member_id)
    as_json = json.dumps({name: before[name] for name in ("customer_number", "contact", "consents")}, ensure_ascii=False,
                         separators=(",", ":")).encode()
    commit_by_hand(reg, member_id, {"box": sealed_as(reg, member_id, as_json)})
    assert opened(reg, member_id) == as_json
    assert reg.json("show", member_id)["contact"] == AINO["contact"]
    assert reg.run("key", "rotate").exit_code == 0
    after = opened(reg, member_id)
    assert after[0] == packing.RECORD and packing.unpack(after) == as_json
    assert reg.json("show", member_id)["contact"] == AINO["contact"]
    assert reg.cli("audit", "verify").exit_code == 0


def test_rotation_seals_a_packed_box_again_as_it_is_and_a_json_one_packed() -> None:
    old, new = crypto.random_key(), crypto.random_key()
    register_id, member_id = "0f4c2a9e7d6b5a4938271605f4e3d2c1", "Mfzxzhcvyjluq47h2"
    packed = seal_record(register_id, member_id, old, AINO)
    as_json = crypto.seal(old, b'{"hobbies":["sauna"]}', record_context(register_id, member_id))
    receipts = crypto.seal(old, b"[]", ("receipts", register_id, member_id))
    for box, text in ((packed, json.dumps(AINO, ensure_ascii=False, separators=(",", ":")).encode()), (as_json, b'{"hobbies":["sauna"]}')):
        rekeyed, rekeyed_receipts = rekeyed_boxes(register_id, member_id, (old, new), box, receipts)
        plaintext = crypto.open_sealed(new, rekeyed, record_context(register_id, member_id))
        assert plaintext[0] == packing.RECORD and packing.unpack(plaintext) == text
        assert rekeyed_receipts is not None
        assert crypto.open_sealed(new, rekeyed_receipts, ("receipts", register_id, member_id)) == packing.pack(b"[]", packing.RECEIPTS)


def test_a_box_that_inflates_past_the_limit_is_an_integrity_failure_and_nothing_is_written(reg: Register) -> None:
    member_id = reg.enrol(AINO)
    bomb = b"\x01" + deflated(b'{"hobbies":["' + b"a" * (64 << 20) + b'"]}')
    commit_by_hand(reg, member_id, {"box": sealed_as(reg, member_id, bomb)})
    before = reg.tables()
    for argv in (("show", member_id), ("list", "--names"), ("export", "access", member_id), ("key", "rotate")):
        result = reg.run(*argv)
        assert_clean_failure(result, 7)
        assert result.stderr.splitlines()[0] == f"kss-panel: error: the record of {member_id} does not open: it was changed, moved or damaged"
        assert reg.tables() == before


def test_receipts_that_do_not_unpack_are_an_integrity_failure(reg: Register) -> None:
    member_id = reg.enrol(AINO)
    row = reg.member(member_id)
    assert row is not None
    with reg.session() as session:
        broken = crypto.seal(session.vault.dek(row), b"\x02" + b"\xff" * 40, ("receipts", session.register_id, member_id))
    commit_by_hand(reg, member_id, {"receipts": broken})
    result = reg.run("show", member_id)
    assert_clean_failure(result, 7)
    assert result.stderr.splitlines()[0] == f"kss-panel: error: the consent receipts of {member_id} do not open: they were changed, moved or damaged"


def test_a_record_too_long_for_a_box_is_refused_before_it_is_sealed() -> None:
    with pytest.raises(Refused) as refused:
        seal_record("0f4c2a9e7d6b5a4938271605f4e3d2c1", "Mfzxzhcvyjluq47h2", crypto.random_key(), {"hobbies": ["x" * packing.LIMIT]})
    assert refused.value.message == "the record of Mfzxzhcvyjluq47h2 would be longer than 1,048,576 bytes, the most a sealed box holds"


def test_the_services_refuse_a_hostile_box_too(reg: Register) -> None:
    member_id = reg.enrol(AINO)
    commit_by_hand(reg, member_id, {"box": sealed_as(reg, member_id, b"\x01" + deflated(b" " * (8 << 20)))})
    with reg.session() as session, pytest.raises(IntegrityError):
        members.show(session, member_id, NOW)
