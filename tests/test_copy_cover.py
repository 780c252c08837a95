"""A copy lies inside the other picture, or holds it: where a match's transform lays the
two pictures over each other, the overlap covers most of the query (a crop, a captioned
copy) or most of the reference (a paste, a screenshot). Two crops of one photo that
share a strip are two pictures, not copies of each other (`MatchPolicy.copy_cover`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import jpeg, open_photo, photo_names
from tongtu.engine import Engine, Source
from tongtu.settings import Settings

pytestmark = [pytest.mark.model, pytest.mark.slow]

KEEP = 0.62  # of the photo's width each side keeps: they share 0.24, a third of each


def _sides(photo: Image.Image) -> tuple[Image.Image, Image.Image, Image.Image]:
    """The photo's left and right sides, and a crop lying inside the left one."""
    w, h = photo.size
    keep = round(w * KEEP)
    left = photo.crop((0, 0, keep, h))
    right = photo.crop((w - keep, 0, w, h))
    inner = left.crop((keep // 6, h // 6, keep * 5 // 6, h * 5 // 6))
    return left, right, inner


def test_two_sides_that_share_a_strip_are_not_copies(tmp_path: Path) -> None:
    """Each photo's left side is indexed; its right side, sharing a third of it, is not
    served for it, where without the rule some are; crops inside the left sides are found
    as often either way."""
    photos = [_sides(open_photo(n)) for n in photo_names()[:8]]
    engine = Engine.open(Settings(data_dir=tmp_path))
    lib = engine.library("sides", create=True)
    ids = [engine.add(lib, Source(image=jpeg(left, 95)), "left").record.id for left, _, _ in photos]

    def served(cover: float) -> tuple[int, int]:
        engine.searching.policy = dataclasses.replace(engine.searching.policy, copy_cover=cover)
        shared = inside = 0
        for i, (_, right, inner) in enumerate(photos):
            hits = engine.search(lib, Source(image=jpeg(right, 85)), rn=5).hits
            shared += any(h.record.id == ids[i] for h in hits)
            hits = engine.search(lib, Source(image=jpeg(inner, 85)), rn=5).hits
            inside += any(h.record.id == ids[i] for h in hits)
        return shared, inside

    default = engine.searching.policy.copy_cover
    assert default > 0.0
    shared_without, inside_without = served(0.0)
    shared, inside = served(default)
    assert shared_without > 0, "no side served even without the rule: the test shows nothing"
    assert shared == 0
    assert inside == inside_without >= len(photos) - 1, (inside, inside_without)
