"""Where does a small query lie inside a reference? Found on the pixels, without corners.

A crop keeping a tenth of a flat design (a chart's line and two of its dots, a slide's
words, the gradient behind a login panel) holds too few corners for ORB: of the crops of
10 and 15 % that bench/hard's dev draws missed, 18 of 20 were refused with no inliers at
every look, though their own picture was among the candidates and its pixels are theirs.
So the query's grey pixels are slid over the reference's (its stored thumbnail) at the
sizes a crop keeping `areas` of it would have there, by normalised cross-correlation:
first over a coarse copy of the thumbnail at every size, then at full size around the
best place, at sizes within `rule.PLACE_REFINE` of the best. The place found is a `Match` like
any other, with a transform and no inliers; the matcher holds it to the pixel rule and
the region's likeness (features/placed.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.features import rule
from tongtu.features.local import Match, clipped, frame

__all__ = ["Placement", "place", "refined", "roughly"]

Gray = NDArray[np.uint8]
RGB = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Placement:
    """The query laid over the reference's pixels at (x, y) with size w × h (pixels of
    the reference's grey image), where their normalised cross-correlation is `peak`."""

    peak: float
    x: int
    y: int
    w: int
    h: int

    def cut(self, ref: RGB, ref_gray: Gray) -> RGB:
        """`ref`'s pixels (another size of `ref_gray`, where the place was found) under
        the query."""
        kx, ky = ref.shape[1] / ref_gray.shape[1], ref.shape[0] / ref_gray.shape[0]
        x, y = round(self.x * kx), round(self.y * ky)
        return ref[y : y + round(self.h * ky), x : x + round(self.w * kx)]

    def match(self, query_size: tuple[int, int], ref_size: tuple[int, int], ref_px: Gray) -> Match:
        """As a match between the query's work image (w, h) and the reference's (the
        frame its local features were found in, `ref_size`), whose pixels are `ref_px`."""
        qw, qh = query_size
        rh, rw = ref_px.shape[:2]
        sx, sy = ref_size[0] / rw, ref_size[1] / rh
        to_ref = np.array(
            [[self.w / qw * sx, 0.0, self.x * sx], [0.0, self.h / qh * sy, self.y * sy], [0, 0, 1]]
        )
        to_query = np.linalg.inv(to_ref)
        query_region = clipped(frame(*ref_size), to_query, qw, qh) or []
        ref_region = clipped(frame(qw, qh), to_ref, *ref_size) or []
        return Match(0, tuple(query_region), tuple(ref_region), to_query)


def place(query: Gray, ref: Gray, areas: tuple[float, float]) -> Placement | None:
    """The best place of `query` inside `ref` (both grey) at the sizes that keep a share
    of `areas` (least, most) of `ref`'s area; None where the query is flat or no size
    fits."""
    found = roughly(query, ref, areas)
    return None if found is None else refined(query, ref, found)


def roughly(query: Gray, ref: Gray, areas: tuple[float, float]) -> Placement | None:
    """`place`'s coarse pass: the best place over a copy of `ref` `rule.PLACE_SIDE` px on
    its longer side, in `ref`'s pixels (to a few of them)."""
    c = _coarse_scale(ref)
    rh, rw = ref.shape[:2]
    coarse = _resized(ref, (round(rw * c), round(rh * c)))
    aspect = query.shape[1] / query.shape[0]
    small = _within(query, max(coarse.shape))  # no template is larger than the copy
    best: Placement | None = None
    for area in np.geomspace(areas[0], areas[1], rule.PLACE_SIZES):
        w = round(float(np.sqrt(area * coarse.shape[0] * coarse.shape[1] * aspect)))
        found = _slide(small, coarse, w, round(w / aspect))
        if found is not None and (best is None or found.peak > best.peak):
            best = found
    if best is None:
        return None
    x, y, w, h = (round(v / c) for v in (best.x, best.y, best.w, best.h))
    return Placement(best.peak, x, y, w, h)


def refined(query: Gray, ref: Gray, rough: Placement) -> Placement | None:
    """`place`'s fine pass: around a coarse place (`roughly`), at `ref`'s full size."""
    aspect = query.shape[1] / query.shape[0]
    query = _within(query, max(ref.shape[:2]))  # no template is larger than `ref`
    margin = round(2 / _coarse_scale(ref)) + 2
    cx, cy = rough.x + rough.w / 2, rough.y + rough.w / aspect / 2
    best: Placement | None = None
    for f in rule.PLACE_REFINE:
        w = round(rough.w * f)
        h = round(w / aspect)
        x0, y0 = round(cx - w / 2) - margin, round(cy - h / 2) - margin
        found = _slide(query, ref, w, h, (x0, y0, w + 2 * margin, h + 2 * margin))
        if found is not None and (best is None or found.peak > best.peak):
            best = found
    return best


def _coarse_scale(ref: Gray) -> float:
    return min(1.0, rule.PLACE_SIDE / float(max(ref.shape[:2])))


def _within(gray: Gray, side: int) -> Gray:
    """`gray` shrunk to at most `side` px on its longer side (as it is if it fits)."""
    h, w = gray.shape[:2]
    k = min(1.0, side / max(w, h))
    return _resized(gray, (max(1, round(w * k)), max(1, round(h * k))))


def _resized(gray: Gray, size: tuple[int, int]) -> Gray:
    if (gray.shape[1], gray.shape[0]) == size:
        return gray
    return np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), np.uint8)


def _slide(
    query: Gray, ref: Gray, w: int, h: int, window: tuple[int, int, int, int] | None = None
) -> Placement | None:
    """The query at w × h slid over `ref` (within `window`: x, y, w, h, if given)."""
    rh, rw = ref.shape[:2]
    if w < rule.PLACE_MIN_SIDE or h < rule.PLACE_MIN_SIDE or w > rw or h > rh:
        return None
    template = cv2.resize(query, (w, h), interpolation=cv2.INTER_AREA)
    if float(template.std()) < rule.FLAT:
        return None
    x0 = y0 = 0
    if window is not None:
        x0, y0 = max(0, window[0]), max(0, window[1])
        x1, y1 = min(rw, window[0] + window[2]), min(rh, window[1] + window[3])
        ref = ref[y0:y1, x0:x1]
        if ref.shape[0] < h or ref.shape[1] < w:
            return None
    scores = cv2.matchTemplate(ref, template, cv2.TM_CCOEFF_NORMED)
    _, peak, _, (x, y) = cv2.minMaxLoc(scores)
    return Placement(float(peak), x + x0, y + y0, w, h)
