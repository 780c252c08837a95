"""A picture shown small inside a page is searched on its own (features/regions.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.conftest import jpeg, open_photo, photo_names, png
from tongtu.engine import Engine, Source
from tongtu.features.matcher import MatchPolicy
from tongtu.features.regions import picture_regions
from tongtu.features.score import MatchKind
from tongtu.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.model]

NAMES = photo_names(2000)[20:32]


def _page(photo: Image.Image, seed: int) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A feed page of 1200×800 with a toolbar, lines of text, avatars, and the photo in a
    framed card at 5-8 % of the page's area."""
    rng = np.random.default_rng(seed)
    page = Image.new("RGB", (1200, 800), (246, 247, 249))
    d = ImageDraw.Draw(page)
    d.rectangle((0, 0, 1200, 56), fill=(59, 89, 152))
    for i in range(14):
        y = 80 + 50 * i
        d.ellipse((30, y, 66, y + 36), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        d.text(
            (80, y + 10),
            " ".join(("lorem", "ipsum", "dolor", "sit", "amet")[: 2 + i % 4]),
            fill=(40, 40, 40),
        )
    w = 250
    h = min(round(w * photo.height / photo.width), 300)
    w = round(h * photo.width / photo.height)
    x, y = 560 + int(rng.integers(0, 200)), 90 + int(rng.integers(0, 800 - 150 - h))
    d.rectangle(
        (x - 12, y - 12, x + w + 12, y + h + 40),
        fill=(255, 255, 255),
        outline=(200, 200, 200),
        width=2,
    )
    page.paste(photo.resize((w, h)), (x, y))
    d.text((x, y + h + 12), "Sponsored · 2 h", fill=(90, 90, 90))
    return page, (x, y, w, h)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = Engine.open(Settings(data_dir=tmp_path_factory.mktemp("regions")))
    lib = engine.library("lib", create=True)
    for name in NAMES:
        engine.add(lib, Source(image=png(open_photo(name))), name)
    return engine


def _holds(region: tuple[int, int, int, int], box: tuple[int, int, int, int]) -> bool:
    """The region holds the picture (within a few pixels) and is mostly that picture."""
    x, y, w, h = region
    bx, by, bw, bh = box
    inside = x <= bx + 4 and y <= by + 4 and x + w >= bx + bw - 4 and y + h >= by + bh - 4
    return inside and bw * bh >= 0.6 * w * h


def test_the_picture_of_a_page_is_among_its_rectangles() -> None:
    for k, name in enumerate(NAMES[:6]):
        page, box = _page(open_photo(name), k)
        boxes = picture_regions(np.asarray(page)).framed
        assert any(_holds(b, box) for b in boxes), (name, boxes, box)


def test_a_picture_small_in_a_page_is_found_by_its_region(library: Engine, tmp_path: Path) -> None:
    lib = library.library("lib")
    found = {}
    for policy in (MatchPolicy(query_regions=0), MatchPolicy()):
        library.policy = policy
        found[policy.query_regions] = []
        for k, name in enumerate(NAMES):
            page, (x, y, _, _) = _page(open_photo(name), k)
            hits = library.search(lib, Source(image=jpeg(page, 85))).hits
            found[policy.query_regions].append(bool(hits) and hits[0].record.brief == name)
            if policy.query_regions and hits and hits[0].record.brief == name:
                xs = [p[0] * 1200 for p in hits[0].query_region]
                ys = [p[1] * 800 for p in hits[0].query_region]
                assert hits[0].kind == MatchKind.RESULT_IN_QUERY
                assert abs(min(xs) - x) < 30 and abs(min(ys) - y) < 30  # where it is
    library.policy = MatchPolicy()
    assert sum(found[2]) >= len(NAMES) - 1, found
    assert sum(found[0]) <= len(NAMES) // 2, found  # the whole page alone misses most


def test_pages_without_a_library_picture_match_nothing(library: Engine) -> None:
    lib = library.library("lib")
    outside = [n for n in photo_names(2000) if n not in NAMES][40:46]
    for k, name in enumerate(outside):
        page, _ = _page(open_photo(name), 100 + k)
        assert library.search(lib, Source(image=jpeg(page, 85))).hits == []


def test_a_portrait_picture_letterboxed_in_a_landscape_slot_is_a_region() -> None:
    """Screenshot templates show a portrait picture between two flat bars; its own edges
    merge with theirs, so it is found as the gap between the bars."""
    for k, name in enumerate(n for n in photo_names(2000) if n not in NAMES):
        photo = open_photo(name)
        if photo.height <= photo.width:
            continue
        page = Image.new("RGB", (1200, 800), (246, 247, 249))
        d = ImageDraw.Draw(page)
        d.rectangle((300, 300, 760, 560), fill=(255, 255, 255), outline=(210, 210, 210))
        d.rectangle((310, 310, 750, 550), fill=(0, 0, 0))  # the slot: 440×240
        h = 240
        w = round(h * photo.width / photo.height)
        x = 310 + (440 - w) // 2
        page.paste(photo.resize((w, h)), (x, 310))
        boxes = picture_regions(np.asarray(page)).framed
        assert any(_holds(b, (x, 310, w, h)) for b in boxes), (name, boxes, (x, 310, w, h))
        if k > 40:
            break


def test_compare_finds_the_picture_of_a_page_as_search_does(library: Engine) -> None:
    same = {}
    for policy in (MatchPolicy(query_regions=0), MatchPolicy()):
        library.policy = policy
        same[policy.query_regions] = []
        for k, name in enumerate(NAMES[:6]):
            page, (x, *_) = _page(open_photo(name), k)
            result = library.compare(
                Source(image=jpeg(page, 85)), Source(image=png(open_photo(name)))
            )
            same[policy.query_regions].append(result.same)
            if policy.query_regions and result.same:
                assert result.kind == MatchKind.RESULT_IN_QUERY
                assert abs(min(p[0] for p in result.a_region) * 1200 - x) < 30
    library.policy = MatchPolicy()
    assert sum(same[2]) >= 5 and sum(same[2]) > sum(same[0]), same
