from __future__ import annotations

import pytest

from tongtu.errors import InvalidParam
from tongtu.params import parse_brief, parse_cont_signs, parse_page, parse_tag_logic, parse_tags


def test_tags_accept_up_to_two_integers_in_range() -> None:
    assert parse_tags(None) is None
    assert parse_tags("") is None
    assert parse_tags("7") == (7,)
    assert parse_tags("1, 65535") == (1, 65535)


@pytest.mark.parametrize("bad", ["0", "65536", "1,2,3", "a", "1.5", "-1", "１"])
def test_bad_tags_are_216100(bad: str) -> None:
    with pytest.raises(InvalidParam):
        parse_tags(bad)


def test_tag_logic_is_0_or_1() -> None:
    assert parse_tag_logic(None) is False
    assert parse_tag_logic("1") is True
    with pytest.raises(InvalidParam):
        parse_tag_logic("2")


def test_page_defaults_to_300_and_caps_at_1000() -> None:
    assert parse_page(None, None) == (0, 300)
    assert parse_page("900", "500") == (900, 500)
    for pn, rn in (("-1", None), (None, "0"), (None, "1001"), ("1001", None), ("x", None)):
        with pytest.raises(InvalidParam):
            parse_page(pn, rn)


def test_brief_is_at_most_256_bytes_of_utf8() -> None:
    assert parse_brief("同" * 85) == "同" * 85  # 255 bytes
    with pytest.raises(InvalidParam):
        parse_brief("同" * 86)  # 258 bytes
    with pytest.raises(InvalidParam):
        parse_brief("bad \udcff byte")  # invalid UTF-8 kept as a lone surrogate


def test_cont_signs_batch_of_at_most_1000() -> None:
    assert parse_cont_signs("1,2;3,4;") == ["1,2", "3,4"]
    with pytest.raises(InvalidParam):
        parse_cont_signs(";".join(["1,2"] * 1001))
    for bad in ("", "1", "1,2,3", "4294967296,1", "a,b"):
        with pytest.raises(InvalidParam):
            parse_cont_signs(bad)
