"""Local features (ORB) and their geometric verification (RANSAC homography).

This is what decides "same picture" rather than "looks alike": two pictures are the same
when many local features agree on one planar transform. It also yields the matched
region on both images.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import cv2
import faiss
import numpy as np
from numpy.typing import NDArray

from tongtu.features import rule

__all__ = [
    "LocalFeatures",
    "Match",
    "clipped",
    "extract_local",
    "frame",
    "laid_cover",
    "ratio_matches",
    "stretch",
    "verify",
    "work_gray",
]

# Features are computed on a copy whose longer side is at most this many pixels: ORB's
# pyramid then covers crops down to ~15 % of the area without a 4 MP decode per image.
WORK_SIDE = 800
# Stored per library image (32 B descriptor + 4 B position each: ~18 KB an image).
REF_FEATURES = 500
# Queries are not stored, so they can afford more features, which matters when the query
# shows the reference small (screenshots, collages, posters on a wall).
QUERY_FEATURES = 1500
GRID = 4
_HEADER = struct.Struct("<HHH")  # count, width, height of the work image
_POS_SCALE = 8.0  # positions stored as uint16 in 1/8 px of the work image


@dataclass(frozen=True, slots=True)
class LocalFeatures:
    points: NDArray[np.float32]  # (n, 2) x, y in work-image pixels
    descriptors: NDArray[np.uint8]  # (n, 32)
    width: int  # work-image size
    height: int
    # Computed on the mirrored image (ORB is not mirror-invariant); positions are in the
    # mirrored frame so that a copy's homography stays orientation-preserving.
    flipped: bool = False

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def to_bytes(self) -> bytes:
        pos = np.clip(np.rint(self.points * _POS_SCALE), 0, 65535).astype("<u2")
        return (
            _HEADER.pack(len(self), self.width, self.height)
            + pos.tobytes()
            + self.descriptors.tobytes()
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> LocalFeatures:
        n, w, h = _HEADER.unpack_from(blob)
        off = _HEADER.size
        pos = np.frombuffer(blob, dtype="<u2", count=2 * n, offset=off).reshape(n, 2)
        off += 4 * n
        desc = np.frombuffer(blob, dtype=np.uint8, count=32 * n, offset=off).reshape(n, 32)
        return cls(pos.astype(np.float32) / _POS_SCALE, desc, w, h)


@dataclass(frozen=True, slots=True)
class Match:
    """The outcome of verifying one pair."""

    inliers: int
    # Matched region as a polygon of (x, y) points in 0..1 coordinates of each image.
    query_region: tuple[tuple[float, float], ...]
    ref_region: tuple[tuple[float, float], ...]
    # Reference work-image pixels → query work-image pixels; in the mirrored query's frame
    # when `flipped` (the match was found on the mirrored query).
    homography: NDArray[np.float64] | None = field(default=None, compare=False)
    flipped: bool = False

    @property
    def query_cover(self) -> float:
        return polygon_area(self.query_region)

    @property
    def ref_cover(self) -> float:
        return polygon_area(self.ref_region)


NO_MATCH = Match(0, (), ())


def work_gray(rgb: NDArray[np.uint8], side: int = WORK_SIDE) -> NDArray[np.uint8]:
    # Grey first, then resized: a third of the pixels to resample.
    return sized_gray(np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8), side)


def sized_gray(gray: NDArray[np.uint8], side: int = WORK_SIDE) -> NDArray[np.uint8]:
    """A grey picture brought to the work image's longer side `side` and stretched.

    Every image is brought to the same longer side, small ones enlarged too: ORB's
    pyramid spans ~4x in scale, and a 0.3x thumbnail of a reference otherwise falls
    outside it (0 inliers before, hundreds after, on a 240 px query of an 800 px photo)."""
    h, w = gray.shape
    scale = side / max(h, w)
    if abs(scale - 1.0) > 1e-3:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        gray = np.asarray(cv2.resize(gray, size, interpolation=interp), dtype=np.uint8)
    return stretch(gray)


def stretch(gray: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Stretch the grey levels linearly to the full range (0.5 and 99.5 percentiles).

    ORB's binary tests compare pixels, so a linear stretch leaves descriptors as they are,
    but its corner detector has a fixed contrast threshold: a foggy or faded picture
    (grey levels 27..67) yields 2 corners before and ~600 after, enough to verify."""
    found = _stretch_range(gray)
    if found is None:
        return gray
    lo, hi = found
    lut = np.clip((np.arange(256, dtype=np.float32) - lo) * (255.0 / (hi - lo)), 0, 255)
    return np.asarray(cv2.LUT(gray, lut.astype(np.uint8)), dtype=np.uint8)


def stretch_gain(gray: NDArray[np.uint8]) -> float:
    """How many times `stretch` raises the contrast of `gray` (1: not stretched)."""
    found = _stretch_range(gray)
    return 1.0 if found is None else 255.0 / (found[1] - found[0])


def _stretch_range(gray: NDArray[np.uint8]) -> tuple[float, float] | None:
    """The grey levels `stretch` brings to 0 and 255; None where it leaves `gray` as it is."""
    # Percentiles from the histogram: a sort of the pixels costs 10x more.
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    cdf = np.cumsum(hist) / gray.size
    lo = float(np.searchsorted(cdf, 0.005))
    hi = float(np.searchsorted(cdf, 0.995))
    if hi - lo < 8 or (lo <= 2 and hi >= 253):
        return None
    return lo, hi


def extract_local(
    rgb: NDArray[np.uint8],
    n_features: int = REF_FEATURES,
    flip: bool = False,
    side: int = WORK_SIDE,
) -> LocalFeatures:
    """ORB features spread over the image (best per grid cell, then best overall), on
    its work image of longer side `side`."""
    return gray_features(work_gray(rgb, side), n_features, flip)


def gray_features(
    gray: NDArray[np.uint8], n_features: int = REF_FEATURES, flip: bool = False
) -> LocalFeatures:
    """ORB features of a work image (`sized_gray`), as `extract_local` finds them."""
    if flip:
        gray = np.ascontiguousarray(gray[:, ::-1], dtype=np.uint8)
    h, w = gray.shape
    orb = cv2.ORB_create(  # type: ignore[attr-defined]
        nfeatures=n_features * 3, scaleFactor=1.2, nlevels=8, fastThreshold=12
    )
    keypoints, desc = orb.detectAndCompute(gray, None)
    if desc is None or not keypoints:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), w, h, flip)
    pts = np.asarray(cv2.KeyPoint_convert(keypoints), dtype=np.float32).reshape(-1, 2)  # type: ignore[attr-defined]
    response = np.fromiter((kp.response for kp in keypoints), np.float64, len(keypoints))
    keep = _spread(pts, response, w, h, n_features)
    return LocalFeatures(pts[keep], np.ascontiguousarray(desc[keep], dtype=np.uint8), w, h, flip)


def _spread(
    pts: NDArray[np.float32], response: NDArray[np.float64], w: int, h: int, n: int
) -> NDArray[np.intp]:
    """Pick n features, at most n/GRID² per grid cell first, so that crops of plain
    regions keep features too (ORB alone piles them on the most textured area)."""
    if len(pts) <= n:
        return np.arange(len(pts))
    cx = np.minimum((pts[:, 0] * GRID / w).astype(int), GRID - 1)
    cy = np.minimum((pts[:, 1] * GRID / h).astype(int), GRID - 1)
    cell = cy * GRID + cx
    order = np.argsort(-response, kind="stable")
    per_cell = n // (GRID * GRID)
    # Each feature's rank within its cell, strongest first: group by cell, keeping the
    # global order inside a group; the rank is the distance to the group's start.
    position = np.empty(len(pts), dtype=np.intp)
    position[order] = np.arange(len(pts))
    by_cell = np.lexsort((position, cell))
    cells = cell[by_cell]
    rank_in_cell = np.empty(len(pts), dtype=np.intp)
    rank_in_cell[by_cell] = np.arange(len(pts)) - np.searchsorted(cells, cells, side="left")
    first = order[rank_in_cell[order] < per_cell]
    rest = order[rank_in_cell[order] >= per_cell]
    return np.concatenate([first, rest])[:n]


def verify(
    query: LocalFeatures, ref: LocalFeatures, needed: int = 0, max_stretch: float = rule.MAX_STRETCH
) -> Match:
    """Match features and fit a homography from reference to query (USAC MAGSAC).

    `needed`: the inliers below which the caller has no use for the match; with it,
    matching stops as soon as that many became improbable (NO_MATCH). `max_stretch`: the
    most a fit may stretch one direction against the other (`rule.MAX_STRETCH`); inf: any
    fit, one that folds the frame too."""
    if len(query) < 8 or len(ref) < 8 or needed > len(ref):
        return NO_MATCH
    nearest = ratio_matches(query.descriptors, ref.descriptors, max(needed, 8))
    if nearest is None:
        return NO_MATCH
    # Lowe's ratio test passed where `nearest` ≥ 0; one reference feature per query
    # feature (the first).
    good = np.flatnonzero(nearest >= 0)
    _, first = np.unique(nearest[good], return_index=True)
    good = np.sort(good[first])
    src = ref.points[good]
    dst = query.points[nearest[good]]
    if len(src) < 8:
        return NO_MATCH
    src_a = np.ascontiguousarray(src, dtype=np.float32)
    dst_a = np.ascontiguousarray(dst, dtype=np.float32)
    # Reprojection tolerance scales with the query's work size (~0.6 % of the longer side).
    tol = max(3.0, 0.006 * max(query.width, query.height))
    try:
        hom, mask = cv2.findHomography(
            src_a, dst_a, cv2.USAC_MAGSAC, tol, maxIters=2000, confidence=0.995
        )
    except cv2.error:
        return NO_MATCH
    if hom is None or mask is None:
        return NO_MATCH
    hom64: NDArray[np.float64] = np.asarray(hom, dtype=np.float64)
    inl = mask.ravel().astype(bool)
    n_inl = int(inl.sum())
    if n_inl < 6 or not _plausible(hom64, max_stretch):
        return NO_MATCH
    hom64 = _simplest(hom64, src_a[inl], dst_a[inl], tol)
    # a similarity fitted to inliers bunched in one spot: none
    if not _plausible(hom64, max_stretch):
        return NO_MATCH
    try:  # a plane folded onto a line (perspective terms against large shifts): none
        inverse = np.linalg.inv(hom64)
    except np.linalg.LinAlgError:
        return NO_MATCH
    # The matched region on each image: the other image's frame mapped through the
    # homography and clipped to this one's frame.
    folds = math.isinf(max_stretch)  # any fit at all: the rule off, as a test compares
    q_poly = clipped(frame(ref.width, ref.height), hom64, query.width, query.height, folds)
    r_poly = clipped(frame(query.width, query.height), inverse, ref.width, ref.height, folds)
    if q_poly is None or r_poly is None:
        return NO_MATCH
    if query.flipped:
        q_poly = [(1.0 - x, y) for x, y in q_poly]
    return Match(n_inl, tuple(q_poly), tuple(r_poly), hom64, query.flipped)


def ratio_matches(
    query: NDArray[np.uint8], ref: NDArray[np.uint8], needed: int
) -> NDArray[np.intp] | None:
    """For every reference feature, its nearest query feature where Lowe's ratio test
    passes, else -1; searched in parts, None once `needed` matches have become
    improbable at a checkpoint.

    The parts are strided (every 4th feature, then every 4th again, then the other
    half): the stored order is by corner strength, which is not spread evenly over the
    picture, so a prefix would under-sample a crop of its weaker part."""
    n = len(ref)
    nearest = np.empty(n, dtype=np.intp)
    query = np.ascontiguousarray(query, dtype=np.uint8)
    passed = searched = 0
    for part in _PARTS:
        rows = np.arange(n)[part]
        if len(rows) == 0:
            continue
        d0, d1, first = two_nearest(np.ascontiguousarray(ref[rows]), query)
        found = np.where(d0 < rule.RATIO * d1, first, -1)
        nearest[rows] = found
        passed += int(np.count_nonzero(found >= 0))
        searched += len(rows)
        if searched < n and _improbable(passed, searched / n, needed):
            return None
    return nearest


# A quarter, another quarter, the other half.
_PARTS = (slice(0, None, 4), slice(2, None, 4), slice(1, None, 2))


def two_nearest(
    a: NDArray[np.uint8], b: NDArray[np.uint8]
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.intp]]:
    """For each row of `a`: the Hamming distances to its nearest and second-nearest row of
    `b`, and the nearest's index. All distances by FAISS's popcount kernel, then two
    minima: twice as fast as a k=2 heap search, the same answers (ties, where the two
    indices could differ, never pass the ratio test)."""
    m, n = len(a), len(b)
    dist = np.empty((m, n), dtype=np.int32)
    faiss.hammings(  # type: ignore[attr-defined]
        faiss.swig_ptr(a), faiss.swig_ptr(b), m, n, 32, faiss.swig_ptr(dist)
    )
    rows = np.arange(m)
    first = dist.argmin(axis=1)
    d0 = dist[rows, first]
    dist[rows, first] = np.iinfo(np.int32).max
    return d0, dist.min(axis=1), first


def _improbable(seen: int, fraction: float, needed: int) -> bool:
    """P[Binomial(needed, fraction) ≤ seen] < rule.HOPELESS: had `needed` of the features
    matched, at most `seen` of them falling in the first `fraction` is that unlikely."""
    if seen >= needed:
        return False
    q = 1.0 - fraction
    cdf = sum(math.comb(needed, i) * fraction**i * q ** (needed - i) for i in range(seen + 1))
    return cdf < rule.HOPELESS


def _simplest(
    hom: NDArray[np.float64], src: NDArray[np.float32], dst: NDArray[np.float32], tol: float
) -> NDArray[np.float64]:
    """The similarity transform instead of the homography when it explains (nearly) the
    same inliers. Most copies are scaled, cropped, shifted or slightly turned; a
    homography fitted to features in one band of the picture (a ridge under a plain sky)
    is free to tilt far from them, and the matched region it draws is then wrong."""
    if len(src) < 6:
        return hom
    sim, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if sim is None:
        return hom
    mapped = src @ sim[:, :2].T + sim[:, 2]
    fits = int((np.linalg.norm(mapped - dst, axis=1) <= tol).sum())
    if fits < rule.SIMILAR_FITS * len(src):
        return hom
    return np.vstack([np.asarray(sim, dtype=np.float64), [0.0, 0.0, 1.0]])


def _plausible(hom: NDArray[np.float64], max_stretch: float = rule.MAX_STRETCH) -> bool:
    """Reject degenerate fits: collapsed, mirrored, stretched past `max_stretch` or wildly
    projective transforms."""
    a = hom[:2, :2] / hom[2, 2] if abs(hom[2, 2]) > 1e-9 else hom[:2, :2]
    det = float(np.linalg.det(a))
    if not (rule.AREA_RATIO[0] < det < rule.AREA_RATIO[1]):
        return False
    longest, shortest = np.linalg.svd(a, compute_uv=False)
    if longest > max_stretch * shortest:
        return False
    return bool(abs(hom[2, 0]) < rule.MAX_PERSPECTIVE and abs(hom[2, 1]) < rule.MAX_PERSPECTIVE)


def frame(w: int, h: int) -> NDArray[np.float32]:
    """The corners of a w×h image, clockwise from the origin."""
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)


def clipped(
    corners: NDArray[np.float32], hom: NDArray[np.float64], w: int, h: int, folds: bool = False
) -> list[tuple[float, float]] | None:
    """Map a frame through `hom`, intersect with the w×h frame, normalise to 0..1; None
    where nothing of it lies in the frame, or where the mapped frame is not convex (the
    transform folds it: no view of a picture does), unless `folds`."""
    mapped = cv2.perspectiveTransform(corners[None], hom)[0].astype(np.float32)
    if not np.all(np.isfinite(mapped)) or not (folds or cv2.isContourConvex(mapped)):
        return None
    area, poly = cv2.intersectConvexConvex(mapped, frame(w, h))
    if poly is None or area <= 0:
        return None
    return [(round(float(x) / w, 4), round(float(y) / h, 4)) for x, y in poly.reshape(-1, 2)]


def laid_cover(
    homography: NDArray[np.float64], ref_size: tuple[int, int], query_size: tuple[int, int]
) -> float:
    """The share of a query (w, h) that a reference (w, h) covers, laid over it by a
    homography from the reference's pixels to the query's."""
    laid = clipped(frame(*ref_size), homography, *query_size)
    return polygon_area(tuple(laid)) if laid else 0.0


def polygon_area(poly: tuple[tuple[float, float], ...]) -> float:
    """Shoelace area of a polygon in 0..1 coordinates."""
    if len(poly) < 3:
        return 0.0
    xs = np.array([p[0] for p in poly])
    ys = np.array([p[1] for p in poly])
    return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2)
