"""Parsing and validation of the operations' parameters, shared by every front end.

Each parser takes the raw text a client sent (or None when absent) and returns a typed
value, or raises InvalidParam (216100) naming the parameter and the rule it broke.
"""

from __future__ import annotations

import re

from tongtu.errors import InvalidParam

__all__ = [
    "DEFAULT_RN",
    "MAX_BATCH_DELETE",
    "MAX_BRIEF_BYTES",
    "MAX_RESULTS",
    "parse_brief",
    "parse_cont_signs",
    "parse_page",
    "parse_tag_logic",
    "parse_tags",
]

MAX_BRIEF_BYTES = 256
MAX_TAGS = 2
TAG_MAX = 65535
DEFAULT_RN = 300
MAX_RESULTS = 1000
MAX_BATCH_DELETE = 1000
_SIGN = re.compile(r"^\d{1,10},\d{1,10}$")


def parse_brief(text: str | None) -> str | None:
    if text is None:
        return None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BRIEF_BYTES:
        raise InvalidParam(f"brief is longer than {MAX_BRIEF_BYTES} bytes of UTF-8")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise InvalidParam("brief is not valid UTF-8")
    return text


def parse_tags(text: str | None) -> tuple[int, ...] | None:
    """ "a,b": at most two integers in 1..65535. Empty or absent: None (no tags)."""
    if text is None or text.strip() == "":
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > MAX_TAGS:
        raise InvalidParam(f"tags: at most {MAX_TAGS} tags")
    tags: list[int] = []
    for p in parts:
        if not _bounded(p, 1, TAG_MAX):
            raise InvalidParam(f"tags: {p!r} is not an integer in 1..{TAG_MAX}")
        if int(p) not in tags:
            tags.append(int(p))
    return tuple(tags)


def _bounded(t: str, lo: int, hi: int) -> bool:
    """Whether `t` is ASCII decimal digits for an integer in lo..hi. The digits are
    counted before `int` reads them: Python refuses to convert over 4,300 of them."""
    return t.isascii() and t.isdigit() and len(t.lstrip("0")) <= len(str(hi)) and lo <= int(t) <= hi


def parse_tag_logic(text: str | None) -> bool:
    """0 (default) = AND; 1 = OR. Returns True for OR."""
    if text is None or text.strip() == "":
        return False
    if text.strip() not in ("0", "1"):
        raise InvalidParam("tag_logic must be 0 (AND) or 1 (OR)")
    return text.strip() == "1"


def _int(name: str, text: str | None, default: int, lo: int, hi: int) -> int:
    if text is None or text.strip() == "":
        return default
    t = text.strip()
    if not _bounded(t, lo, hi):
        raise InvalidParam(f"{name} must be an integer in {lo}..{hi}")
    return int(t)


def parse_page(pn: str | None, rn: str | None) -> tuple[int, int]:
    """pn: offset (0..1000, default 0); rn: count (1..1000, default 300)."""
    return (
        _int("pn", pn, 0, 0, MAX_RESULTS),
        _int("rn", rn, DEFAULT_RN, 1, MAX_RESULTS),
    )


def parse_cont_signs(text: str) -> list[str]:
    """One cont_sign, or up to 1000 joined by ';'."""
    signs = [s.strip() for s in text.split(";") if s.strip()]
    if not signs:
        raise InvalidParam("cont_sign is empty")
    if len(signs) > MAX_BATCH_DELETE:
        raise InvalidParam(f"at most {MAX_BATCH_DELETE} cont_signs in one request")
    for s in signs:
        if not _SIGN.match(s) or any(int(x) > 0xFFFFFFFF for x in s.split(",")):
            raise InvalidParam(f"cont_sign {s[:40]!r} is not two unsigned 32-bit decimals")
    return signs
