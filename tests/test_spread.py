"""How stored local features are chosen: the strongest of each grid cell first, so that
a plain region keeps features too, then the strongest of the rest."""

from __future__ import annotations

import numpy as np

from tongtu.features.local import GRID, _spread


def _cells(pts: np.ndarray, w: int, h: int) -> np.ndarray:
    cx = np.minimum((pts[:, 0] * GRID / w).astype(int), GRID - 1)
    cy = np.minimum((pts[:, 1] * GRID / h).astype(int), GRID - 1)
    return cy * GRID + cx


def test_each_cell_keeps_its_strongest_then_the_strongest_overall() -> None:
    rng = np.random.default_rng(5)
    for case in range(50):
        m, n = int(rng.integers(50, 3000)), int(rng.integers(16, 800))
        pts = rng.uniform(0, 800, size=(m, 2)).astype(np.float32)
        if case % 2:
            pts[:, 0] *= 0.1  # features piled in one band, as ORB does on texture
        response = rng.integers(0, 40, size=m).astype(np.float64)  # with ties
        keep = _spread(pts, response, 800, 800, n)
        assert len(keep) == min(m, n) and len(set(keep.tolist())) == len(keep)
        if m <= n:
            continue
        per_cell = n // (GRID * GRID)
        cells = _cells(pts, 800, 800)
        order = np.argsort(-response, kind="stable")  # strongest first, ties by index
        guaranteed = []
        for c in range(GRID * GRID):
            in_cell = order[cells[order] == c]
            guaranteed += in_cell[:per_cell].tolist()
        # every cell's strongest come first, in the global order ...
        head = keep[: len(guaranteed)]
        assert set(head.tolist()) == set(guaranteed)
        assert list(head) == [i for i in order if i in set(guaranteed)]
        # ... then the strongest of the others
        rest = [i for i in order if i not in set(guaranteed)]
        assert keep[len(guaranteed) :].tolist() == rest[: n - len(guaranteed)]
