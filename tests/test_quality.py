"""A small, fast bench/quality in CI: recall and precision must not fall below floors.

Floors sit below what `make bench-quality` measured (bench/README.md) so that noise in
a sample this small does not fail CI, while a real regression does.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.quality import run
from corpus.edits import STRESS
from tests.conftest import open_photo, photo_names
from tongtu.imaging import MAX_SIDE, MIN_SIDE

pytestmark = [pytest.mark.slow, pytest.mark.model]

FAMILIES = ["exact", "reencode_jpeg", "resize_0.3", "crop_50", "flip", "overlay_text"]


def test_small_quality_run_stays_above_its_floors() -> None:
    reports = run(seed=11, per_family=4, families=FAMILIES, log=lambda _: None)
    ours, sscd, _phash = reports
    overall = ours.overall
    # measured 2026-11-28: recall 24/24, 0 of 10 negatives served, 24 of 24 served right
    assert overall["recall"] >= 0.9, ours.per_family
    assert overall["fp_rate"] <= 0.1, ours.per_family
    assert overall["precision_served"] >= 0.95, ours.per_family
    # verification must beat the plain descriptor on the same queries
    assert overall["uap"] >= sscd.overall["uap"], (overall, sscd.overall)


def test_every_stress_edit_makes_a_picture_the_engine_accepts(photos: object) -> None:
    """`--families stress` edits: RGB uint8, changed, within the size rules."""
    names = photo_names(max_side=2000)
    img = np.asarray(open_photo(names[0]))
    pool = [np.asarray(open_photo(n)) for n in names[1:3]]
    rng = np.random.default_rng(0)
    for name, edit in STRESS.items():
        out = edit(img, rng, pool)
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, name
        assert min(out.shape[:2]) >= MIN_SIDE and max(out.shape[:2]) <= MAX_SIDE, name
        assert out.shape != img.shape or not np.array_equal(out, img), name
