"""A part's match held over the whole query.

A match found on a part of the query (a rectangle, a cell of its grid) that lays its
reference over most of the whole query claims the query as a whole to be the reference:
its grey levels must agree across the whole overlap, not only in the part."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from tongtu.features.agreement import measure
from tongtu.features.candidate import Gray, ShapedQuery, Verdict
from tongtu.features.local import laid_cover
from tongtu.features.policy import MatchPolicy

__all__ = ["laid_box", "part_holds"]


def part_holds(
    policy: MatchPolicy,
    whole: ShapedQuery,
    box: tuple[int, int, int, int],
    verdict: Verdict,
    pixels: Callable[[], Gray | None],
) -> bool:
    """Whether a match found on a part of the query (`box`: x, y, w, h of
    `whole.rgb`) holds over the whole query where it lays the reference over
    `part_whole` or more of it: then the query as a whole claims to be the
    reference, and the grey levels must agree across their overlap (`levels`), not
    only in the part.

    A picture pasted or framed in the query lies inside the part; another screen of
    one layout (a theme's login screen, a skin) lays the reference over all of the
    query through the part they share (the panel, the buttons), whose pixels are
    the same, while the rest of the query is other artwork. Only the levels are
    asked there: a copy found through a part because a caption's text disagrees
    with the blocks beneath it (the whole query's `share`) keeps its levels but
    under the caption."""
    match = verdict.match
    if (
        policy.part_whole <= 0.0
        or policy.levels <= 0.0
        or not policy.check_pixels
        or match.homography is None
    ):
        return True
    rw, rh = verdict.ref_size
    ww, wh = whole.local.width, whole.local.height
    homography = _on_whole(whole, box, verdict)
    # the whole query's frame as the match's own: the mirrored whole's where it is mirrored
    flipped_whole = _mirror(ww) @ homography if match.flipped else homography
    if laid_cover(homography, (rw, rh), (ww, wh)) < policy.part_whole:
        return True
    gray = pixels()
    if gray is None:
        return True
    full = dataclasses.replace(match, homography=flipped_whole)
    found = measure(whole.gray, gray, (rw, rh), full, policy.stretch_undone(whole))
    return found is None or found.levels >= policy.levels


def laid_box(
    whole: ShapedQuery, box: tuple[int, int, int, int], verdict: Verdict
) -> tuple[int, int, int, int] | None:
    """Where a match found on a part of the query (`box`: x, y, w, h of `whole.rgb`)
    lays its whole reference on the query: the bounding box (x, y, w, h of
    `whole.rgb`, clipped to it) of the reference's frame; None without a transform."""
    if verdict.match.homography is None:
        return None
    homography = _on_whole(whole, box, verdict)
    rw, rh = verdict.ref_size
    corners = np.array([[0, 0, 1], [rw, 0, 1], [rw, rh, 1], [0, rh, 1]], dtype=np.float64)
    laid = corners @ homography.T
    if np.any(laid[:, 2] <= 1e-9):
        return None  # the frame folds through the horizon: no box
    kx = whole.local.width / whole.rgb.shape[1]
    ky = whole.local.height / whole.rgb.shape[0]
    xs, ys = laid[:, 0] / laid[:, 2] / kx, laid[:, 1] / laid[:, 2] / ky
    h, w = whole.rgb.shape[:2]
    x0, y0 = max(0, int(np.floor(xs.min()))), max(0, int(np.floor(ys.min())))
    x1, y1 = min(w, int(np.ceil(xs.max()))), min(h, int(np.ceil(ys.max())))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def _on_whole(
    whole: ShapedQuery, box: tuple[int, int, int, int], verdict: Verdict
) -> NDArray[np.float64]:
    """A part's match's homography (reference → the part's work image, mirrored where
    the match is) as one from the reference onto the whole query's work image, never
    mirrored."""
    (qw, qh), match = verdict.query_size, verdict.match
    assert match.homography is not None
    x, y, bw, bh = box
    kx, ky = whole.local.width / whole.rgb.shape[1], whole.local.height / whole.rgb.shape[0]
    to_whole = np.array([[kx * bw / qw, 0, kx * x], [0, ky * bh / qh, ky * y], [0, 0, 1]])
    if match.flipped:  # from the mirrored part's frame
        return np.asarray(to_whole @ _mirror(qw) @ match.homography, dtype=np.float64)
    return np.asarray(to_whole @ match.homography, dtype=np.float64)


def _mirror(width: int) -> NDArray[np.float64]:
    """x → width − x: a frame's pixels to its mirror image's."""
    return np.array([[-1.0, 0.0, float(width)], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
