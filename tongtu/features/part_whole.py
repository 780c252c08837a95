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

__all__ = ["part_holds"]


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
    (qw, qh), (rw, rh) = verdict.query_size, verdict.ref_size
    ww, wh = whole.local.width, whole.local.height
    x, y, bw, bh = box
    kx, ky = ww / whole.rgb.shape[1], wh / whole.rgb.shape[0]
    to_whole = np.array([[kx * bw / qw, 0, kx * x], [0, ky * bh / qh, ky * y], [0, 0, 1]])
    homography = match.homography
    if match.flipped:  # from the mirrored part's frame, into the mirrored whole's
        homography = to_whole @ _mirror(qw) @ homography
        flipped_whole = _mirror(ww) @ homography
    else:
        homography = to_whole @ homography
        flipped_whole = homography
    if laid_cover(homography, (rw, rh), (ww, wh)) < policy.part_whole:
        return True
    gray = pixels()
    if gray is None:
        return True
    full = dataclasses.replace(match, homography=flipped_whole)
    stretched = whole.stretched if policy.range_matched else 0.0
    found = measure(whole.gray, gray, (rw, rh), full, stretched)
    return found is None or found.levels >= policy.levels


def _mirror(width: int) -> NDArray[np.float64]:
    """x → width − x: a frame's pixels to its mirror image's."""
    return np.array([[-1.0, 0.0, float(width)], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
