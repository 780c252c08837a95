"""The urlencoded body reader: parse_qsl's reading, faster on base64 images."""

from __future__ import annotations

import base64
import os
import re
from urllib.parse import parse_qsl, quote, urlencode

from hypothesis import given
from hypothesis import strategies as st

from tongtu.api.fields import form_pairs


@given(st.binary(max_size=200))
def test_any_body_reads_as_parse_qsl_reads_it(body: bytes) -> None:
    text = body.decode("utf-8", "surrogateescape")
    assert form_pairs(body) == parse_qsl(text, keep_blank_values=True, errors="surrogateescape")


@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=40)), max_size=5))
def test_encoded_fields_come_back_as_sent(fields: list[tuple[str, str]]) -> None:
    assert form_pairs(urlencode(fields).encode()) == fields


def test_a_base64_image_with_upper_or_lower_case_escapes_beside_other_fields() -> None:
    image = base64.b64encode(os.urandom(30_000)).decode()
    brief = '{"name": "a=b&c%2B"}'
    body = urlencode({"image": image, "brief": brief, "tags": "1,2"})
    assert dict(form_pairs(body.encode())) == {"image": image, "brief": brief, "tags": "1,2"}
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(image, safe=""))
    assert form_pairs(f"image={lower}".encode()) == [("image", image)]
    # A literal "%2B" ("%252B" on the wire) is not a plus sign.
    assert form_pairs(b"brief=%252B%2B") == [("brief", "%2B+")]
