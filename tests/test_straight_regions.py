"""Rectangles drawn by the query's long straight edges (features/regions.py `_straight`):
a design pasted into a photo has four straight borders, but the photo's texture beside
them joins their edges into a contour that is no rectangle; and a design's own flat
margin is trimmed away as a slot's would be, leaving a box that is a part of it. With
`straight`, the straight runs of the edges alone are searched for rectangles, and each
box is also kept as found."""

from __future__ import annotations

import io

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from corpus.graphics import graphics_pool
from tests.conftest import open_photo, photo_names
from tests.pastes import CENTRES, backs, pasted
from tongtu.features import shrink
from tongtu.features.regions import Box, _iou, picture_regions

pytestmark = [pytest.mark.slow]


def _pasted(
    picture: NDArray[np.uint8], back: Image.Image, area: float, centre: tuple[float, float]
) -> tuple[NDArray[np.uint8], Box]:
    """`picture` pasted at `area` of `back` centred at `centre`, as JPEG q85 and seen as a
    search sees it (`shrink`), and where it lies there."""
    out, (x, y, w, h) = pasted(picture, back, area, centre)
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=85)
    rgb = shrink(np.asarray(Image.open(buf).convert("RGB")))
    k = rgb.shape[1] / out.width
    return rgb, (round(x * k), round(y * k), round(w * k), round(h * k))


def test_a_design_pasted_into_a_photo_is_found_as_a_rectangle() -> None:
    photos = [np.asarray(open_photo(n)) for n in photo_names(2000)[:12]]
    designs = [g.reference for g in graphics_pool(31, 12, photos)]
    around = backs()
    found = {False: 0, True: 0}
    boxes = {False: 0, True: 0}
    n = 0
    for area in (0.06, 0.12):
        for i, design in enumerate(designs):
            for j, centre in enumerate(CENTRES):
                rgb, truth = _pasted(design, around[(i + j) % len(around)], area, centre)
                n += 1
                for straight in (False, True):
                    framed, drawn = picture_regions(rgb, 2, straight)
                    regions = framed + drawn
                    boxes[straight] += len(regions)
                    found[straight] += any(_iou(box, truth) >= 0.8 for box in regions)
    # measured 2026-12-07: 13 of 120 found as contours, 73 with the straight edges, at
    # 0.6 more boxes a query
    assert found[True] >= max(2 * found[False], n // 2), (found, n)
    assert boxes[True] - boxes[False] <= n, boxes


def test_a_photo_alone_gives_few_rectangles() -> None:
    """Buildings and tiles have straight edges too: what a photo alone gives to search."""
    photos = [shrink(np.asarray(open_photo(n).convert("RGB"))) for n in photo_names(2000)[:40]]
    extra = sum(len(picture_regions(p, 2, True).drawn) for p in photos)
    # measured 2026-12-07: 2 rectangles in 40 photos either way
    assert extra <= len(photos) // 4, extra
