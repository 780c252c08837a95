"""The placed look: a crop of a flat design, too poor in corners for any look on local
features, placed inside its picture's thumbnail by its pixels (features/placement.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus.families import FAMILIES
from corpus.graphics import graphics_pool, screens_pool
from tests.conftest import jpeg, open_photo, photo_names, png
from tongtu.engine import Engine, Source
from tongtu.features.placement import place
from tongtu.settings import Settings


def _picture(seed: int) -> np.ndarray:
    """A grey picture of soft blobs and lines: no two places alike."""
    rng = np.random.default_rng(seed)
    h, w = 320, 512
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w))
    for _ in range(12):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(15, 60)
        img += rng.uniform(-60, 60) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    return np.clip(128 + img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("x", "y", "w", "scale"), [(40, 30, 160, 1.0), (300, 150, 180, 2.5)])
def test_a_crop_is_placed_where_it_was_cut(x: int, y: int, w: int, scale: float) -> None:
    """A crop, enlarged as a query's work image is, is found at its place and size."""
    ref = _picture(1)
    h = w * 5 // 8
    cut = ref[y : y + h, x : x + w]
    query = np.asarray(Image.fromarray(cut).resize((round(w * scale), round(h * scale))))
    found = place(query, ref, (0.04, 0.6))
    assert found is not None and found.peak > 0.95
    assert abs(found.x - x) <= 3 and abs(found.y - y) <= 3, found
    assert abs(found.w - w) <= 0.03 * w, found


def test_a_flat_query_has_no_place() -> None:
    assert place(np.full((100, 160), 200, np.uint8), _picture(2), (0.04, 0.6)) is None


@pytest.mark.slow
@pytest.mark.model
def test_a_tenth_of_a_flat_design_is_found_and_a_look_alike_is_not(tmp_path: Path) -> None:
    """Crops keeping 10 and 15 % of charts, posters, windows, slides, login and boot
    screens, player skins and clipart (AugLy's crop at random places, rendered with a
    seed no bench uses): compare finds more of them with the placed look, and takes none
    for a look-alike of its picture (another skin, theme, template or chart)."""
    photos = [np.asarray(open_photo(n)) for n in photo_names()[:12]]
    groups = [*graphics_pool(21, 8, photos), *screens_pool(21, 8)]
    rng = np.random.default_rng(21)
    pairs = []
    for g in groups:
        look = g.lookalikes[0] if g.lookalikes else None
        for family in ("crop_10", "crop_15"):
            part = Image.fromarray(FAMILIES[family](g.reference, rng, []))
            pairs.append((Source(image=jpeg(part, 90)), g.reference, look))
    engine = Engine.open(Settings(data_dir=tmp_path))

    def same(a: Source, b: np.ndarray) -> bool:
        return engine.compare(a, Source(image=png(Image.fromarray(b)))).same

    found = sum(same(q, ref) for q, ref, _ in pairs)
    wrong = sum(same(q, look) for q, _, look in pairs if look is not None)
    engine.policy = replace(engine.policy, placed_look=0)
    without = sum(same(q, ref) for q, ref, _ in pairs)
    engine.close()
    assert found >= without + 4, (without, found)
    assert wrong == 0
