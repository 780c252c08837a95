"""Do the features agree where the transform says they should, not only where the fit
found them?

Verification keeps the features that matched well enough to pass the ratio test, and a
dozen of those agree on one transform wherever two graphics share a template: a header,
a logo, a window's frame, a font. A copy of the same sharpness agrees almost
everywhere else too. So every reference feature is carried through the match's
transform into the query; where the query has a feature of its own within a few pixels
(it has structure there), the two descriptors should be near. Of such places a copy
agrees at ≥ 0.46, a template look-alike (the same header and frame, other text and
picture) at ≤ 0.42: the text of another list has corners where the reference's has
them, with other descriptors. Measured on the dev draws only (bench/hard graphics seeds
3 and 5, photos seed 3: 154 copies and 20 look-alikes verified at scales 0.75-1.33);
the bound, `MatchPolicy.guided`, is 0.44 between them.

Only where the pixels agree is it asked (features/agreement.py: a caption, stripes or
a watermark put the query's own features where the reference's were), not where the
query is much blurrier than the reference (its descriptors differ, copy or not), and
only where the scales match: a query that shows the reference much
smaller (a screenshot, a paste) or much larger (a crop enlarged to the work size) found
its features at other scales, and few of the reference's then repeat, copy or not."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.features import rule
from tongtu.features.local import LocalFeatures, Match

__all__ = ["guided_agreement", "match_scale"]

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def match_scale(query: LocalFeatures, ref: LocalFeatures, match: Match) -> float:
    """How much larger the shared region is in the query's work image than in the
    reference's (the square root of their areas' ratio)."""
    q = match.query_cover * query.width * query.height
    r = match.ref_cover * ref.width * ref.height
    return float(np.sqrt(q / r)) if r > 0 else 0.0


def guided_agreement(
    query: LocalFeatures,
    ref: LocalFeatures,
    homography: NDArray[np.float64],
    where: Callable[[NDArray[np.float32]], NDArray[np.bool_]] | None = None,
) -> float | None:
    """Of the reference features mapped into the query next to a query feature, the
    share whose nearest such feature has a near descriptor; None where fewer than 20
    fall next to one (nothing to tell). `where(points)`: the places of the query to
    look at (the blocks whose pixels agree: what a caption, stripes or a watermark
    covers has the query's features and not the reference's)."""
    if len(ref) == 0 or len(query) == 0:
        return None
    mapped = cv2.perspectiveTransform(ref.points.astype(np.float32)[None], homography)[0]
    inside = (
        (mapped[:, 0] >= 0)
        & (mapped[:, 0] < query.width)
        & (mapped[:, 1] >= 0)
        & (mapped[:, 1] < query.height)
    )
    if where is not None:
        inside &= where(mapped)
    mapped, descriptors = mapped[inside], ref.descriptors[inside]
    if len(mapped) == 0:
        return None
    d2 = ((mapped[:, None, :] - query.points[None, :, :]) ** 2).sum(axis=2)
    i, j = np.nonzero(d2 <= rule.GUIDE_RADIUS * rule.GUIDE_RADIUS)
    if len(i) == 0:
        return None
    bits = _POPCOUNT[np.bitwise_xor(descriptors[i], query.descriptors[j])].sum(axis=1)
    best = np.full(len(mapped), 1 << 10, dtype=np.int64)
    np.minimum.at(best, i, bits.astype(np.int64))
    structured = best < (1 << 10)
    if int(structured.sum()) < rule.GUIDE_MIN_FEATURES:
        return None
    return float((best[structured] <= rule.GUIDE_DISTANCE).sum() / structured.sum())
