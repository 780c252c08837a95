"""What a search and a compare answer: hits with their regions on the query and on the
result, a page of them, a comparison; and the geometry of regions (0..1 polygons) that
merging a query's parts asks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from tongtu.features.local import polygon_area
from tongtu.features.score import MatchKind
from tongtu.storage.base import ImageRecord

__all__ = [
    "FULL",
    "Comparison",
    "Hit",
    "Region",
    "SearchPage",
    "in_frame",
    "intersection",
    "overlap",
    "rivals",
]

Region = tuple[tuple[float, float], ...]

FULL: Region = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


def in_frame(region: Region, box: tuple[int, int, int, int], w: int, h: int) -> Region:
    """A region in 0..1 coordinates of a rectangle `box` (x, y, width, height) of a
    w × h picture, in 0..1 coordinates of the whole picture."""
    x, y, bw, bh = box
    return tuple(((x + u * bw) / w, (y + v * bh) / h) for u, v in region)


@dataclass(frozen=True, slots=True)
class Hit:
    record: ImageRecord
    score: float
    kind: MatchKind
    query_region: Region
    result_region: Region


@dataclass(slots=True)
class SearchPage:
    hits: list[Hit]
    total: int
    has_more: bool
    timings: dict[str, float] = field(default_factory=dict)
    # How many images each stage looked at: "exact", "candidates", "verified", "matched".
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Comparison:
    same: bool
    score: float
    kind: MatchKind | None
    cosine: float
    a_region: Region
    b_region: Region
    timings: dict[str, float]


def intersection(a: Region, b: Region) -> float:
    """The area two convex regions share (0 where either is empty)."""
    if len(a) < 3 or len(b) < 3:
        return 0.0
    inter, _ = cv2.intersectConvexConvex(np.array(a, np.float32), np.array(b, np.float32))
    return float(inter)


def overlap(a: Region, b: Region) -> float:
    """Intersection over union of two convex regions (0 where either is empty)."""
    inter = intersection(a, b)
    union = polygon_area(a) + polygon_area(b) - inter
    return inter / union if union > 0 and inter > 0 else 0.0


def rivals(
    hits: dict[int, Hit], least: float, copies: Callable[[ImageRecord, ImageRecord], bool]
) -> list[int]:
    """The results to drop: one part of a query is a copy of one picture, or of pictures
    that are copies of each other. Where a result found inside the query lies over the
    same part of it as a stronger one (their regions on it overlapping by `least` of
    their union or more), it stays only if the two are `copies` of each other by the
    rule of a search (a picture and its copy, both in the library); otherwise it is a
    look-alike that the part let in (another window of one application, another slide
    of one template, seen too small in the query for their text to differ). A result
    that holds the whole query was verified on all of it, and stays."""
    kept: list[Hit] = []
    dropped = []
    for hit in sorted(hits.values(), key=lambda h: (-h.score, h.record.id)):
        if hit.kind is not MatchKind.RESULT_IN_QUERY:  # verified on the whole query
            kept.append(hit)
        elif any(
            overlap(s.query_region, hit.query_region) >= least and not copies(s.record, hit.record)
            for s in kept
        ):
            dropped.append(hit.record.id)
        else:
            kept.append(hit)
    return dropped
