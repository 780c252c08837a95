"""Do the query's colours agree with the reference's where a match lays one over the other?

Every other check looks at grey pixels: features, blocks, levels. Two themes of one
layout (a boot menu in purple and in green, one player in two skins), or one clipart
outline in two fills, agree there once brightness is fitted; their hues do not. A copy
keeps its hues: re-encoding, blur, resizing and most overlays leave the chroma of most
of the picture where it was, and a copy whose saturation was turned up or down keeps it
up to one factor. So the mean chroma (Cr, Cb about grey) of a grid of blocks over the
shared region is compared, the query's saturation fitted as one factor within bounds
(`rule.PLACED_SATURATION`, `rule.LAID_SATURATION`); a grey query (or a grey copy) tells nothing."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.features import rule
from tongtu.features.local import Match

__all__ = ["laid_agreement", "placed_agreement", "thumbnail_colour"]

RGB = NDArray[np.uint8]


def thumbnail_colour(jpeg: bytes) -> RGB | None:
    """A stored thumbnail in colour (None if it does not decode)."""
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def placed_agreement(query: RGB, part: RGB) -> float | None:
    """Of the blocks of the query that hold colour on either side, the share whose
    chroma agrees with `part`'s, the reference's pixels where the query was placed
    (any size). None for a grey query, or where too few blocks hold colour to tell."""
    if part.shape[0] < rule.COLOUR_GRID or part.shape[1] < rule.COLOUR_GRID:
        return None
    q, r = _chroma(query), _chroma(part)
    coloured = _coloured(r) | _coloured(q)
    if _grey(q) or int(coloured.sum()) < rule.MIN_COLOURED:
        return None
    q, r = q[coloured], r[coloured]
    fitted = float((q * r).sum()) / max(1e-6, float((r * r).sum()))
    saturation = float(np.clip(fitted, *rule.PLACED_SATURATION))
    return _agreeing(q, saturation * r, np.full(len(r), rule.CHROMA_GAP, dtype=np.float32))


def laid_agreement(
    query: RGB,
    ref: RGB,
    match: Match,
    query_size: tuple[int, int],
    ref_size: tuple[int, int],
) -> float | None:
    """As `placed_agreement`, over the blocks of the region where `match` (between work
    images of `query_size` and `ref_size`, w × h) lays `ref`'s colour pixels (any
    scale) over `query`'s (any scale; mirrored first where the match is): the blocks of a
    grid over the region's bounding box that lie wholly inside it. None where the match
    has no transform, or too little region or colour to tell."""
    if match.homography is None:
        return None
    qh, qw = query.shape[:2]
    if (k := rule.COLOUR_SIDE / max(qh, qw)) < 1.0:  # block means need no more pixels than this
        size = (max(1, round(qw * k)), max(1, round(qh * k)))
        query = np.asarray(cv2.resize(query, size, interpolation=cv2.INTER_AREA), np.uint8)
        qh, qw = query.shape[:2]
    rh, rw = ref.shape[:2]
    seen = query[:, ::-1] if match.flipped else query
    to_query = (
        np.diag([qw / query_size[0], qh / query_size[1], 1.0])
        @ match.homography
        @ np.diag([ref_size[0] / rw, ref_size[1] / rh, 1.0])
    )
    laid = cv2.warpPerspective(np.ascontiguousarray(ref), to_query, (qw, qh), flags=cv2.INTER_AREA)
    inside = cv2.warpPerspective(
        np.full((rh, rw), 255, np.uint8), to_query, (qw, qh), flags=cv2.INTER_NEAREST
    )
    ys, xs = np.nonzero(inside)
    if len(xs) == 0:
        return None
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    if x1 - x0 < rule.COLOUR_GRID or y1 - y0 < rule.COLOUR_GRID:
        return None
    box = (slice(y0, y1), slice(x0, x1))
    cover = cv2.resize(
        (inside[box] > 0).astype(np.float32),
        (rule.COLOUR_GRID, rule.COLOUR_GRID),
        interpolation=cv2.INTER_AREA,
    ).reshape(-1)
    whole = cover >= rule.COLOUR_BLOCK_COVER
    q = _chroma(np.ascontiguousarray(seen[box]))[whole]
    r = _chroma(np.ascontiguousarray(laid[box]))[whole]
    # blocks coloured on the reference's side only: an overlay's colours over white (an
    # emoji on a chart) are no disagreement
    coloured = _coloured(r)
    if _grey(q) or int(coloured.sum()) < rule.MIN_COLOURED:
        return None
    q, r = q[coloured], r[coloured]
    # each block's own factor, the median: a caption's grey blocks do not pull it
    fitted = float(np.median((q * r).sum(axis=1) / np.maximum((r * r).sum(axis=1), 1e-6)))
    saturation = float(np.clip(fitted, *rule.LAID_SATURATION))
    # saturated colours clip in RGB: a copy's factor varies block to block
    strong = rule.RELATIVE_GAP * saturation * np.abs(r).max(axis=1)
    return _agreeing(q, saturation * r, np.maximum(rule.CHROMA_GAP, strong))


def _grey(q: NDArray[np.float32]) -> bool:
    """A grey query (or a grey copy): its colours tell nothing."""
    return len(q) == 0 or float(np.abs(q).max()) < rule.COLOURED


def _coloured(chroma: NDArray[np.float32]) -> NDArray[np.bool_]:
    """The blocks (rows of (blocks, 2) chroma) that hold colour."""
    return np.asarray(np.abs(chroma).max(axis=1) >= rule.COLOURED)


def _agreeing(
    q: NDArray[np.float32], fitted: NDArray[np.float32], gap: NDArray[np.float32]
) -> float:
    """The share of blocks whose chroma lies within `gap` of the fitted reference's."""
    return float((np.abs(q - fitted).max(axis=1) <= gap).mean())


def _chroma(rgb: RGB) -> NDArray[np.float32]:
    """The mean chroma (Cr, Cb about grey) of each block of a `rule.COLOUR_GRID` grid."""
    ycc = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb)
    small = cv2.resize(
        ycc.astype(np.float32), (rule.COLOUR_GRID, rule.COLOUR_GRID), interpolation=cv2.INTER_AREA
    )
    return np.asarray(small[..., 1:].reshape(-1, 2) - 128.0, dtype=np.float32)
