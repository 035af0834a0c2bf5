"""Card hashing and name masking."""

from __future__ import annotations

import pytest

from protocol.ids import card_hash, is_valid_id, mask_name, normalize_uid

KEY = b"0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("김민수", "김*수"),
        ("남궁민수", "남**수"),
        ("이수", "이*"),
        ("김", "*"),
        ("John Smith", "J*** S****"),
        ("  Mary   Ann  Lee ", "M*** A** L**"),
        ("王小明", "王*明"),
        ("", ""),
    ],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


def test_masked_name_never_contains_the_hidden_middle():
    for name in ["김민수", "남궁민수", "John Smith"]:
        masked = mask_name(name)
        assert masked != name
        assert "민" not in masked
        assert "ohn" not in masked


def test_card_hash_is_keyed_and_normalises_the_uid():
    h = card_hash(KEY, "04:a2:3b:1c")
    assert h == card_hash(KEY, "04A23B1C") == card_hash(KEY, "04 a2 3b 1c")
    assert len(h) == 64
    assert h != card_hash(b"another-key-of-16-bytes!", "04A23B1C")
    assert "04A23B1C" not in h.upper()


@pytest.mark.parametrize("uid", ["", "ABC", "XYZ123", "0102", "00" * 21])
def test_bad_uids_are_refused_with_the_uid_in_the_message(uid):
    with pytest.raises(ValueError, match="UID"):
        normalize_uid(uid)


def test_short_site_key_is_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        card_hash(b"short", "04A23B1C")


@pytest.mark.parametrize(
    ("value", "ok"),
    [("room-101", True), ("s_1", True), ("Room", False), ("a/b", False), ("+", False), ("", False)],
)
def test_ids_are_single_safe_topic_levels(value, ok):
    assert is_valid_id(value) is ok


def test_site_key_file_format_round_trips_any_key_bytes():
    from protocol.ids import format_site_key, parse_site_key

    key = b" \n" + bytes(range(30))
    text = format_site_key(key)
    assert text == key.hex() + "\n"
    assert parse_site_key(text, "site.key") == key


@pytest.mark.parametrize(("text", "problem"), [("zz" * 16, "hex text"), ("00" * 8, "16 bytes")])
def test_bad_site_key_files_name_the_file(text, problem):
    from protocol.ids import parse_site_key

    with pytest.raises(ValueError, match=f"/etc/k: .*{problem}"):
        parse_site_key(text, "/etc/k")
