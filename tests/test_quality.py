"""A small, fast bench/quality in CI: recall and precision must not fall below floors.

Floors sit below what `make bench-quality` measured (bench/README.md) so that noise in
a sample this small does not fail CI, while a real regression does.
"""

from __future__ import annotations

import pytest

from bench.quality import run

pytestmark = pytest.mark.slow

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
