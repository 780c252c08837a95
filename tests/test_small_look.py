"""The small look: a query that is a small crop of a library picture (10-15 % of its
area), found through the second look at the query seen small (`TONGTU_SMALL_LOOK`), and
the disjoint rest of a picture kept out.

A crop keeping a tenth of a picture shows it magnified about three times: its features lie
past the scales of the reference's, stored or found densely on its thumbnail. Seen at a
smaller work size, the query meets the thumbnail's features at their own scale.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from tests.conftest import open_photo, photo_names
from tongtu.engine import Engine, Source
from tongtu.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.model]

NAMES = photo_names()[60:76]
SMALL = (256, 352)  # the setting's default


def _jpeg(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _sized(name: str, side: int = 1600) -> Image.Image:
    img = open_photo(name)
    img.thumbnail((side, side))
    return img


def _crop(img: Image.Image, area: float, rng: np.random.Generator) -> Image.Image:
    """A crop keeping `area` of the picture, in its proportions, at a random place."""
    w, h = img.size
    cw, ch = round(w * area**0.5), round(h * area**0.5)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return img.crop((x, y, x + cw, y + ch))


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    # no parts kept (tests/test_parts.py): they find such crops without the small look
    engine = Engine.open(Settings(data_dir=tmp_path_factory.mktemp("small"), reference_parts=0))
    lib = engine.library("parts", create=True)
    for name in NAMES[:12]:
        engine.add(lib, Source(image=_jpeg(_sized(name), 92)), name)
    # the left 40 % of a picture: a crop of its right side is no copy of it
    whole = _sized(NAMES[12])
    left = whole.crop((0, 0, whole.width * 2 // 5, whole.height))
    engine.add(lib, Source(image=_jpeg(left)), "left")
    yield engine
    engine.close()


def _served(engine: Engine, query: bytes, small_look: tuple[int, ...]) -> set[str]:
    before = engine.policy
    engine.policy = dataclasses.replace(before, small_look=small_look)
    try:
        page = engine.search(engine.library("parts"), Source(image=query))
    finally:
        engine.policy = before
    return {h.record.brief for h in page.hits}


def test_crops_of_a_tenth_of_a_picture_are_found_when_the_query_is_seen_small(
    engine: Engine,
) -> None:
    rng = np.random.default_rng(7)
    queries = {n: _jpeg(_crop(_sized(n), 0.10, rng)) for n in NAMES[:12]}
    before = engine.policy  # the small look measured alone: the placed look finds some too
    engine.policy = dataclasses.replace(before, placed_look=0)
    try:
        without = {n for n, q in queries.items() if _served(engine, q, ()) == {n}}
        with_small = {n for n, q in queries.items() if _served(engine, q, SMALL) == {n}}
    finally:
        engine.policy = before
    # each crop serves its own picture and nothing else; the small look finds more of them
    assert without <= with_small
    assert len(with_small) >= len(without) + 3, (sorted(without), sorted(with_small))


def test_the_rest_of_a_picture_and_pictures_outside_are_not_served(engine: Engine) -> None:
    rng = np.random.default_rng(8)
    whole = _sized(NAMES[12])
    right = whole.crop((whole.width // 2, 0, whole.width, whole.height))  # disjoint from "left"
    queries = [_jpeg(_crop(right, 0.2, rng)) for _ in range(3)]
    queries += [_jpeg(_crop(_sized(n), 0.1, rng)) for n in NAMES[13:16]]  # not in the library
    for query in queries:
        assert _served(engine, query, SMALL) == set()
