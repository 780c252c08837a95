"""Rectangles of a query that may hold a picture of their own.

A picture shown small inside a bigger one — in a social network's page, a slide, a web
page, a poster's frame — reaches the whole-image descriptor as a small part of what it
describes, so it ranks far down (cosine 0.15-0.45) and its few local features fall short
of what the score needs at that cosine. Searched on its own, the same rectangle is an
ordinary near copy. Such pictures have straight borders: closed contours of four sides
that fill their bounding box, found on the edges of the query's grey image.

bench/hard (dev draw, photos): the picture in AugLy's web screenshot template was found
among the first two rectangles in 9 of 9 queries, in the mobile template in 9 of 9.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.features import rule

__all__ = ["Box", "Regions", "grid_regions", "picture_regions"]

Box = tuple[int, int, int, int]  # x, y, width, height in the picture's pixels


class Regions(NamedTuple):
    """A query's rectangles: those of closed contours (`framed`), and those only the
    straight edges drew or kept untrimmed (`drawn`), which may be a slot's text lines
    as well as a pasted picture."""

    framed: list[Box]
    drawn: list[Box]


def picture_regions(rgb: NDArray[np.uint8], limit: int = 2, straight: bool = False) -> Regions:
    """Up to `limit` rectangles, largest first, none kept that is nearly one kept already.
    `straight`: then up to `limit` more, of those drawn by the query's long straight
    edges alone (`_straight`) and of each as found (a design's own flat margin is
    trimmed as a slot's would be, `_trim`)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, rule.REGION_SIDE / max(h, w))
    gray = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        gray = np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    canny = np.asarray(cv2.Canny(gray, 30, 90), dtype=np.uint8)
    found = _rectangles(np.asarray(cv2.dilate(canny, np.ones((3, 3), np.uint8))), scale)
    found += _between_bars(gray, found)
    found = [box for box in found if _textured(gray, box)]
    kept = _largest([_trim(gray, box) for box in found], [], limit)
    drawn: list[Box] = []
    if straight:  # up to `limit` more: none of these displaces a box of the contours
        lines = [box for box in _rectangles(_straight(canny), scale) if _textured(gray, box)]
        more = [_trim(gray, box) for box in lines] + found + lines
        drawn = _largest(more, kept, limit)
    return Regions([_scaled(box, scale) for box in kept], [_scaled(box, scale) for box in drawn])


def _largest(boxes: list[Box], kept: list[Box], limit: int) -> list[Box]:
    """Up to `limit` of `boxes`, largest first, none nearly one kept already (in `kept`
    or before it)."""
    out: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):  # a slot and its picture: both
        if len(out) == limit:
            break
        if all(_iou(box, k) < 0.7 for k in [*kept, *out]):
            out.append(box)
    return out


def _straight(canny: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The long horizontal and vertical runs of an edge map, thickened: a picture pasted
    into a photo has four straight borders, but the photo's texture beside them joins
    its edges to the contour of the border, which is then no rectangle; the texture's
    edges are short and crooked, and go."""
    run = rule.REGION_MIN_SIDE // 2
    across = cv2.dilate(canny, np.ones((3, 1), np.uint8))  # a border a pixel off straight
    down = cv2.dilate(canny, np.ones((1, 3), np.uint8))
    lines = np.maximum(
        cv2.morphologyEx(across, cv2.MORPH_OPEN, np.ones((1, run), np.uint8)),
        cv2.morphologyEx(down, cv2.MORPH_OPEN, np.ones((run, 1), np.uint8)),
    )
    return np.asarray(cv2.dilate(lines, np.ones((3, 3), np.uint8)), dtype=np.uint8)


def _rectangles(edges: NDArray[np.uint8], scale: float) -> list[Box]:
    """The bounding boxes of the closed four-sided contours of an edge map that fill
    them, of the sizes a picture inside the query has."""
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    sh, sw = edges.shape
    found: list[Box] = []
    for contour in contours:
        x, y, bw, bh = cv2.boundingRect(contour)
        area = bw * bh / (sw * sh)
        if (
            not rule.REGION_AREA[0] <= area <= rule.REGION_AREA[1]
            or min(bw, bh) < rule.REGION_MIN_SIDE * scale
        ):
            continue
        corners = cv2.approxPolyDP(contour, 0.03 * cv2.arcLength(contour, True), True)
        if len(corners) != 4 or cv2.contourArea(contour) < rule.REGION_FILL * bw * bh:
            continue
        found.append((x, y, bw, bh))
    return found


def grid_regions(width: int, height: int, grids: tuple[int, ...]) -> list[Box]:
    """The cells of an n × n grid for each n of `grids`, and with a grid of 2 the four
    halves too: parts of a query searched on their own when it holds a picture with no
    straight border (pasted into a photo, one of several on a page), which
    `picture_regions` cannot find. Coarsest first; cells under `rule.REGION_MIN_SIDE`
    are left out."""
    boxes: list[Box] = []
    if 2 in grids:
        half_w, half_h = width // 2, height // 2
        boxes += [
            (0, 0, half_w, height),
            (half_w, 0, width - half_w, height),
            (0, 0, width, half_h),
            (0, half_h, width, height - half_h),
        ]
    for n in sorted(grids):
        xs = [round(width * i / n) for i in range(n + 1)]
        ys = [round(height * j / n) for j in range(n + 1)]
        boxes += [
            (xs[i], ys[j], xs[i + 1] - xs[i], ys[j + 1] - ys[j]) for j in range(n) for i in range(n)
        ]
    return [b for b in boxes if min(b[2], b[3]) >= rule.REGION_MIN_SIDE]


def _scaled(box: Box, scale: float) -> Box:
    return (
        round(box[0] / scale),
        round(box[1] / scale),
        round(box[2] / scale),
        round(box[3] / scale),
    )


def _textured(gray: NDArray[np.uint8], box: Box) -> bool:
    x, y, w, h = box
    return float(gray[y : y + h, x : x + w].std()) > 8.0


def _between_bars(gray: NDArray[np.uint8], found: list[Box]) -> list[Box]:
    """The pictures a template letterboxes between two flat bars of one height or width
    (a portrait picture in a landscape slot): the bars are rectangles, the picture
    between them often is not one on its own (its edges merge with theirs)."""
    flat = [box for box in found if not _textured(gray, box)]
    extra: list[Box] = []
    for i, a in enumerate(flat):
        for b in flat[i + 1 :]:
            left, right = (a, b) if a[0] < b[0] else (b, a)
            gap = right[0] - (left[0] + left[2])
            if abs(left[1] - right[1]) <= 3 and abs(left[3] - right[3]) <= 3 and gap >= 24:
                extra.append((left[0] + left[2], left[1], gap, left[3]))
            top, bottom = (a, b) if a[1] < b[1] else (b, a)
            gap = bottom[1] - (top[1] + top[3])
            if abs(top[0] - bottom[0]) <= 3 and abs(top[2] - bottom[2]) <= 3 and gap >= 24:
                extra.append((top[0], top[1] + top[3], top[2], gap))
    return extra


def _trim(gray: NDArray[np.uint8], box: Box) -> Box:
    """The box without the flat bands along its sides (a card's margin, or the bars a
    screenshot template letterboxes the picture it shows with), one frame only: trimmed
    again, a flat band of the picture itself (a clear sky) would go too."""
    x, y, w, h = box
    m = 2  # the border the contour was found on is no part of either
    inner = gray[y + m : y + h - m, x + m : x + w - m].astype(np.float32)
    rows = np.flatnonzero(inner.std(axis=1) > 4.0)
    cols = np.flatnonzero(inner.std(axis=0) > 4.0)
    if len(rows) < rule.REGION_MIN_SIDE // 4 or len(cols) < rule.REGION_MIN_SIDE // 4:
        return box
    if len(rows) >= inner.shape[0] - 2 and len(cols) >= inner.shape[1] - 2:
        return box  # nothing flat to trim
    return (
        x + m + int(cols[0]),
        y + m + int(rows[0]),
        int(cols[-1] - cols[0] + 1),
        int(rows[-1] - rows[0] + 1),
    )


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(1, a[2] * a[3] + b[2] * b[3] - inter)
