"""The region's likeness: the descriptor of the part of a reference that a match lays
over the query, against the query's own.

A crop keeping a tenth of a picture scores a low cosine against the picture as a whole
(0.2-0.45 on bench/hard), so the score asks it for 24-32 inliers, more than a small
crop holds. Once its features have found where the crop lies, the reference's pixels
there, carried into the query's frame, are the same picture as the query: their
descriptors agree as a whole copy's do. A look-alike's aligned region is another
picture, and scores as one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.features import rule
from tongtu.features.local import LocalFeatures, Match

__all__ = ["Describe", "region_cosine"]

RGB = NDArray[np.uint8]
Describe = Callable[[RGB], NDArray[np.float32]]


class _Query(Protocol):
    @property
    def rgb(self) -> RGB: ...

    @property
    def embedding(self) -> NDArray[np.float32]: ...

    @property
    def local(self) -> LocalFeatures: ...


def region_cosine(
    query: _Query, ref: LocalFeatures, match: Match, colour: RGB, describe: Describe
) -> float | None:
    """The cosine between the query and the reference's `colour` pixels (any scale)
    warped by `match` into the query's frame, over the part of the query the match
    covers. None where the match has no transform."""
    if match.homography is None:
        return None
    qh, qw = query.rgb.shape[:2]
    local = query.local
    th, tw = colour.shape[:2]
    # the colour pixels → the reference's work frame → the query's work frame (mirrored
    # where the match is) → the query's pixels
    to_ref = np.diag([ref.width / tw, ref.height / th, 1.0])
    to_rgb = np.diag([qw / local.width, qh / local.height, 1.0])
    warp = to_rgb @ match.homography @ to_ref
    laid = cv2.warpPerspective(colour, warp, (qw, qh), flags=cv2.INTER_LINEAR)
    warped: RGB = np.ascontiguousarray(laid[:, ::-1] if match.flipped else laid, dtype=np.uint8)
    if match.query_cover >= rule.WHOLE:  # the query's own descriptor serves
        return float(np.dot(query.embedding, describe(warped)))
    xs = [p[0] for p in match.query_region]
    ys = [p[1] for p in match.query_region]
    x0, x1 = max(0, int(min(xs) * qw)), min(qw, int(np.ceil(max(xs) * qw)))
    y0, y1 = max(0, int(min(ys) * qh)), min(qh, int(np.ceil(max(ys) * qh)))
    if min(x1 - x0, y1 - y0) < rule.LIKENESS_MIN_SIDE:
        return None
    mine = np.ascontiguousarray(query.rgb[y0:y1, x0:x1], dtype=np.uint8)
    laid_part = np.ascontiguousarray(warped[y0:y1, x0:x1], dtype=np.uint8)
    return float(np.dot(describe(mine), describe(laid_part)))
