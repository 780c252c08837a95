"""A library picture's parts: local features found on each part at the part's own scale,
kept in one frame of the whole picture.

A query that is a tenth of a picture meets about a tenth of the picture's stored
features, found at the scale of the whole: 30-50 of 500, too few for a copy. The parts
(its quarters, its centre half and its ninths, as the winning ISC2021 matcher cut its
references) each seen at the work size of a whole picture hold the detail such a crop
shows. Their features are laid into one frame of the picture (`FRAME` px on its longer
side), so a match on them is a match on the picture and is judged as one: the same copy
rule, the same pixels (the thumbnail), the same region's likeness.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.features.local import WORK_SIDE, LocalFeatures, gray_features, sized_gray

__all__ = ["FRAME", "PART_BOXES", "EachPart", "part_boxes", "part_features"]

Box = tuple[int, int, int, int]  # x, y, width, height in pixels
EachPart = Callable[[Callable[[Box], LocalFeatures], Iterable[Box]], Iterable[LocalFeatures]]

# (x, y, width, height) in 0..1 of the picture: the four quarters, the centre half (by
# area) and the nine ninths.
_CENTRE = float(np.sqrt(0.5))
PART_BOXES: tuple[tuple[float, float, float, float], ...] = (
    *((x / 2, y / 2, 0.5, 0.5) for y in range(2) for x in range(2)),
    ((1 - _CENTRE) / 2, (1 - _CENTRE) / 2, _CENTRE, _CENTRE),
    *((x / 3, y / 3, 1 / 3, 1 / 3) for y in range(3) for x in range(3)),
)
# The frame's longer side: a ninth seen at the work size fits it (stored positions go up
# to 8191 px).
FRAME = 3 * WORK_SIDE
# A part is seen at the work size, or enlarged at most this much: a ninth of a 1024 px
# picture enlarged to the work size holds no more detail, and costs 3.5 times the pixels
# (on bench/perf's photos, 142 → 71 ms a picture for the parts; bench/README "The
# reference's parts, kept": the same found on the dev draws, adds 203 → 161 ms).
MAX_ENLARGE = 1.25
# Pictures smaller than this on their shorter side keep no parts: their thumbnail's
# dense features already hold all their pixels (by hand).
MIN_SIDE = 256


def part_boxes(width: int, height: int) -> list[Box]:
    """The parts of a `width` × `height` picture as pixel rectangles (x, y, w, h)."""
    out = []
    for x, y, w, h in PART_BOXES:
        x0, y0 = round(x * width), round(y * height)
        out.append((x0, y0, round((x + w) * width) - x0, round((y + h) * height) - y0))
    return out


def part_features(
    rgb: NDArray[np.uint8], per_part: int, each: EachPart = map
) -> LocalFeatures | None:
    """Up to `per_part` features on each part of `rgb` (found on the part's work image),
    in one frame of the whole picture; None for a picture too small to have parts.
    `each`: how the parts are gone through (`map`, or an executor's, to find them on
    several cores)."""
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE or per_part <= 0:
        return None
    to_frame = FRAME / max(width, height)
    gray = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    if to_frame < 1:  # one resize of a large picture: a ninth of the frame is a work image
        size = (max(1, round(width * to_frame)), max(1, round(height * to_frame)))
        gray = np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), np.uint8)
    gh, gw = gray.shape
    boxes = part_boxes(gw, gh)

    def found(box: Box) -> LocalFeatures:
        x, y, w, h = box
        part = np.ascontiguousarray(gray[y : y + h, x : x + w])
        return gray_features(
            sized_gray(part, min(WORK_SIDE, round(MAX_ENLARGE * max(w, h)))), per_part
        )

    points, descriptors = [], []
    for (x, y, w, _), local in zip(boxes, each(found, boxes), strict=True):
        scale = w / local.width  # part work-image pixels → `gray` pixels
        points.append((local.points * scale + (x, y)) * (FRAME / max(gw, gh)))
        descriptors.append(local.descriptors)
    return LocalFeatures(
        np.concatenate(points).astype(np.float32),
        np.ascontiguousarray(np.concatenate(descriptors), dtype=np.uint8),
        max(1, round(width * to_frame)),
        max(1, round(height * to_frame)),
    )
