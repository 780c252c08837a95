"""Designs pasted into photos across the borders of the query grid's cells, for the
tests of the parts of a query that the cells alone miss (tests/test_follow.py,
tests/test_straight_regions.py)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from tests.conftest import open_photo, photo_names

# where the pastes are centred: on the borders of the 2 × 2 and 3 × 3 grids' cells
CENTRES = [(0.5, 1 / 3), (1 / 3, 0.5), (2 / 3, 0.5), (0.5, 2 / 3), (1 / 3, 1 / 3)]


def backs() -> list[Image.Image]:
    """Photos outside the tests' libraries, 1280 px wide."""
    photos = [open_photo(n).convert("RGB") for n in photo_names(2000)[20:25]]
    return [b.resize((1280, round(1280 * b.height / b.width))) for b in photos]


def pasted(
    picture: NDArray[np.uint8], back: Image.Image, area: float, centre: tuple[float, float]
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """`picture` pasted at `area` of `back` centred at `centre` (fractions of the frame),
    and where it lies there (x, y, w, h)."""
    out = back.copy()
    W, H = out.size
    h, w = picture.shape[:2]
    s = np.sqrt(area * W * H / (w * h))
    small = Image.fromarray(picture).resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS)
    x, y = round(centre[0] * W - small.width / 2), round(centre[1] * H - small.height / 2)
    out.paste(small, (x, y))
    return out, (x, y, small.width, small.height)
