"""Do the two pictures agree pixel by pixel where the verified transform lays them over
each other?

Geometric verification says that many local features agree on one transform. Nature
repeats itself, though: a butterfly's wings, a face, a façade are mirror images of
themselves, so the mirrored half of one photo finds dozens of features that agree with
its other half. A copy is made from the picture's pixels, and they follow it everywhere
it goes; a symmetric object only repeats its shape, while its surroundings, its lighting
and its fine detail differ. So the reference is warped onto the query through the
match's transform and the two are compared block by block over the region they share,
after a band-pass that keeps edges and texture and drops what edits change smoothly
(brightness, contrast, a lighting gradient, noise, blur).

A mirrored match, and one with fewer inliers than the score's pivot (it rests on the
descriptor cosine), must also reach a median block correlation of 0.6: on bench/quality
every mirrored copy served scored ≥ 0.98, the mirrored half of a symmetric photo 0.39,
pages of different text in one font 0.04, every copy served with under 20 inliers ≥ 0.87.

What a copy is (docs/matching.md): a region covering a substantial part of one of the
two pictures whose pixels are the same picture up to the edit, agreeing across the region
and not only at keypoints. Graphics made of text, lines and flat colour break the old
exemption of many-inlier matches: two screens of one application, one slide template with
other text, one chart style with other data align dozens of features on one transform
(bench/hard, graphics dev draw: 89 wrong results served among 148, precision 40 %). So
every match is now held to the rule, measured two ways that occlusions spare differently:

- `share`: of the blocks with texture on either side, the part whose band-passed pixels
  correlate (≥ 0.5) — captions, emoji and screenshot frames cover a minority of blocks;
- `cells`: of a 6×6 grid over the shared region, the cells where at least
  `MatchPolicy.cell_agree` (30 %) of the textured blocks agree — stripes cut every block
  but leave agreeing blocks in every cell, while a template look-alike agrees only in the
  cells of the template. (40 % refused two of the three template look-alikes served on
  bench/hard's graphics dev draw and found as many copies there and on photos, but lost
  4 of 20 copies under stripes on bench/quality's dev seed: kept at 30 %.)

A match passes when either reaches its bound (`MatchPolicy`); a block textured on one
side only counts when that side is strongly textured (content the other lacks, not the
grain of a faint area). Chosen on the dev draws only (bench/hard photos and graphics
`--draw dev`, bench/quality seed 11 stress families): of the matches verified on
features, copies 247 → 239 kept (lost: 6 of 6 under opaque stripes over 45 % of the
picture — the price of the rule —, 1 under stripes over 25 %, 1 upside-down copy),
wrong ones 86 → 4 kept. The held-out draw reports it (bench/README.md).

Lines of text are grey bands at this scale, so two screens of one application still
agree here; the guided check (features/guided.py) asks the features in the blocks that
agree, and `Agreement.detail` (the query's fine detail at up to 384 px over the
reference's) tells it where a blurred query's descriptors cannot.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.features import rule
from tongtu.features.local import Match, frame, stretch
from tongtu.features.policy import DEFAULT_POLICY, MatchPolicy
from tongtu.features.score import rests_on_cosine

__all__ = [
    "Agreement",
    "agreement",
    "holds",
    "measure",
    "needs_pixels",
    "thumbnail_gray",
]


@dataclass(frozen=True, slots=True)
class Agreement:
    median: float | None  # None: under rule.MIN_BLOCKS blocks textured on both sides
    share: float
    # of a 6×6 grid over the region, each cell (with 2 or more textured blocks): the
    # share of its textured blocks that agree
    cell_shares: NDArray[np.float64] = field(compare=False, repr=False)
    # Which 8×8 blocks agree, and the transform from the query's work image (mirrored
    # for a mirrored match) to their frame: where the guided check looks.
    agreeing: NDArray[np.bool_] | None = field(default=None, compare=False, repr=False)
    place: NDArray[np.float64] | None = field(default=None, compare=False, repr=False)
    # detail(): the query's fine detail over the reference's in the shared region, under 1
    # where the query is the blurrier; computed when asked (`_detail`).
    detail: Callable[[], float] = field(default=lambda: 1.0, compare=False, repr=False)
    # of the blocks wholly inside the region, the share whose mean grey level agrees
    # with the reference's after one brightness and contrast fit (`_levels`)
    levels: float = 1.0

    def cells(self, agree: float) -> float:
        """The share of the cells where at least `agree` of the textured blocks agree."""
        if len(self.cell_shares) == 0:
            return 0.0
        return float((self.cell_shares >= agree).mean())

    def passes(self, policy: MatchPolicy) -> bool:
        return self.share >= policy.share or self.cells(policy.cell_agree) >= policy.cells

    def agree_at(self, points: NDArray[np.float32]) -> NDArray[np.bool_]:
        """Whether each point of the query's work image lies in an agreeing block."""
        if self.agreeing is None or self.place is None or len(points) == 0:
            return np.zeros(len(points), dtype=bool)
        p = points.astype(np.float64) @ self.place[:2, :2].T + self.place[:2, 2]
        col, row = (
            np.floor(p[:, 0] / rule.BLOCK).astype(int),
            np.floor(p[:, 1] / rule.BLOCK).astype(int),
        )
        rows, cols = self.agreeing.shape
        ok = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
        out = np.zeros(len(points), dtype=bool)
        out[ok] = self.agreeing[row[ok], col[ok]]
        return out


def agreement(
    query_gray: NDArray[np.uint8],
    ref_gray: NDArray[np.uint8],
    ref_size: tuple[int, int],
    match: Match,
) -> float | None:
    """The median correlation of band-passed 8×8 blocks over the shared region, or None
    where it cannot be told (no transform, or too little texture in common)."""
    found = measure(query_gray, ref_gray, ref_size, match)
    return None if found is None else found.median


def measure(
    query_gray: NDArray[np.uint8],
    ref_gray: NDArray[np.uint8],
    ref_size: tuple[int, int],
    match: Match,
    stretched: float = 0.0,
) -> Agreement | None:
    """How the band-passed 8×8 blocks of the shared region agree, or None where nothing
    can be told (no transform, no overlap, no texture).

    `query_gray`: the query's work image (`work_gray`), never mirrored; `ref_gray`: the
    reference's pixels at any scale (its thumbnail), whose work image was `ref_size`
    (w, h) when its features were found. `stretched`: how many times the query's
    contrast was raised when its grey levels were stretched (`_ranged`; 0: nothing undone)."""
    overlap = _overlap(query_gray, ref_gray, ref_size, match)
    if overlap is None:
        return None
    query, to_query, shared, area_q, area_r = overlap
    q, r, inside, place = _warp(
        query, ref_gray, to_query, shared, area_q, area_r, rule.PIXEL_SIDE, stretched
    )
    found = _block_agreement(_band(q), _band(r), inside)
    if found is None:
        return None
    detail = functools.partial(
        _detail, query, ref_gray, to_query, shared, area_q, area_r, stretched
    )
    return replace(found, place=place, detail=detail, levels=_levels(q, r, inside))


_Overlap = tuple[NDArray[np.uint8], NDArray[np.float64], NDArray[np.float32], float, float]


def _overlap(
    query_gray: NDArray[np.uint8],
    ref_gray: NDArray[np.uint8],
    ref_size: tuple[int, int],
    match: Match,
) -> _Overlap | None:
    """The query (mirrored where the match is), the transform from the reference's pixels
    to it, their shared polygon in the query and its area in each (None: no overlap)."""
    if match.homography is None or ref_gray.size == 0:
        return None
    query = query_gray[:, ::-1] if match.flipped else query_gray
    qh, qw = query.shape[:2]
    rh, rw = ref_gray.shape[:2]
    to_query = match.homography @ np.diag([ref_size[0] / rw, ref_size[1] / rh, 1.0])
    mapped = cv2.perspectiveTransform(frame(rw, rh)[None], to_query)[0].astype(np.float32)
    area_q, poly = cv2.intersectConvexConvex(mapped, frame(qw, qh))
    if poly is None or area_q <= 1.0:
        return None
    shared: NDArray[np.float32] = np.asarray(poly.reshape(-1, 2), dtype=np.float32)
    in_ref = cv2.perspectiveTransform(shared[None], np.linalg.inv(to_query))[0]
    area_r = abs(float(cv2.contourArea(in_ref.astype(np.float32))))
    return np.ascontiguousarray(query), to_query, shared, float(area_q), area_r


def blurred_agreement(
    query_gray: NDArray[np.uint8],
    ref_gray: NDArray[np.uint8],
    ref_size: tuple[int, int],
    match: Match,
    stretched: float = 0.0,
) -> Agreement | None:
    """As `measure`, at the finer scale where fine detail is compared (up to
    rule.DETAIL_SIDE px), with the reference first blurred as much as the query is: a
    blurred copy's pixels agree with it there, a look-alike's other words in one font
    do not."""
    overlap = _overlap(query_gray, ref_gray, ref_size, match)
    if overlap is None:
        return None
    fine = _fine(*overlap, ref_gray=ref_gray, stretched=stretched)
    if fine is None:
        return None
    q, ref, inside, keep = fine
    target = _laplacian(q, keep)
    for sigma in rule.BLURS:
        blurred = ref if sigma == 0.0 else cv2.GaussianBlur(ref, (0, 0), sigma)
        blurred = np.asarray(blurred, dtype=np.float32)
        if _laplacian(blurred, keep) <= target:
            break
    return _block_agreement(_band(q), _band(blurred), inside)


def _fine(
    query: NDArray[np.uint8],
    to_query: NDArray[np.float64],
    poly: NDArray[np.float32],
    area_q: float,
    area_r: float,
    ref_gray: NDArray[np.uint8],
    stretched: float,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.bool_], NDArray[np.bool_]] | None:
    """The shared region of both at up to rule.DETAIL_SIDE px (as `_warp`), the
    reference's footprint in it and that footprint less its edge, where fine detail is
    compared (None: too small to tell)."""
    q, r, inside, _ = _warp(
        query, ref_gray, to_query, poly, area_q, area_r, rule.DETAIL_SIDE, stretched
    )
    keep = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if int(keep.sum()) < rule.DETAIL_MIN_PIXELS:
        return None
    return q.astype(np.float32), r.astype(np.float32), inside, keep


def _laplacian(gray: NDArray[np.float32], keep: NDArray[np.bool_]) -> float:
    """Fine detail: the mean absolute Laplacian where `keep`."""
    return float(np.abs(cv2.Laplacian(gray, cv2.CV_32F))[keep].mean())


def _warp(
    query: NDArray[np.uint8],
    ref_gray: NDArray[np.uint8],
    to_query: NDArray[np.float64],
    poly: NDArray[np.float32],
    area_q: float,
    area_r: float,
    side: int,
    stretched: float,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.bool_], NDArray[np.float64]]:
    """The shared region of both at no more than `side` px a side (and never above the
    resolution either holds of it), the reference's footprint in it, and the transform
    from the query's work image to it; the query's own stretch undone where it shows
    (`_ranged`)."""
    rh, rw = ref_gray.shape[:2]
    scale = float(np.sqrt(min(area_q, area_r, side * side) / area_q))
    x0, y0 = poly.min(axis=0)
    x1, y1 = poly.max(axis=0)
    size = (max(1, int(np.ceil((x1 - x0) * scale))), max(1, int(np.ceil((y1 - y0) * scale))))
    place = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale], [0, 0, 1]])
    warped = cv2.warpAffine(
        np.ascontiguousarray(query),
        place[:2],
        size,
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    r = np.asarray(
        cv2.warpPerspective(ref_gray, place @ to_query, size, flags=cv2.INTER_LINEAR),
        dtype=np.uint8,
    )
    footprint = cv2.warpPerspective(
        np.full((rh, rw), 255, np.uint8), place @ to_query, size, flags=cv2.INTER_NEAREST
    )
    q, inside = np.asarray(warped, np.uint8), np.asarray(footprint > 0, np.bool_)
    return _ranged(q, r, inside, stretched), r, inside, place


def _ranged(
    q: NDArray[np.uint8], r: NDArray[np.uint8], inside: NDArray[np.bool_], stretched: float
) -> NDArray[np.uint8]:
    """`q` with its contrast to `r` undone where the levels' fit finds it past
    rule.LEVEL_CONTRAST and the query's own stretch explains it: raised no more than
    `stretched` times the most a copy's edit may raise it. Each picture's grey levels
    were stretched to its own range (features/local.py `stretch`), so a crop of a dark
    or faded part of a picture is stretched several times more than the whole picture's
    thumbnail: exact crops of a player's skin agreed at a median of 0.99 but in 65-77 %
    of the blocks (texture tripled on one side) and 47-77 % of the levels. A white
    design is not stretched, and another of its template keeps its own contrast."""
    low, high = rule.LEVEL_CONTRAST
    if stretched <= 1.0:  # not stretched, or not asked
        return q
    fit = _level_fit(q, r, inside, (low, stretched * high))
    if fit is None:
        return q
    gain, offset, _ = fit
    if gain <= high:
        return q
    mapped = (q.astype(np.float32) - offset) / gain
    return np.asarray(np.clip(mapped, 0, 255).round(), np.uint8)


def _detail(
    query_gray: NDArray[np.uint8],
    ref_gray: NDArray[np.uint8],
    to_query: NDArray[np.float64],
    poly: NDArray[np.float32],
    area_q: float,
    area_r: float,
    stretched: float,
) -> float:
    """The query's fine detail (mean absolute Laplacian) over the reference's in their
    shared region at up to rule.DETAIL_SIDE px: well under 1 where the query is the
    blurrier (arguments as `_warp`)."""
    fine = _fine(query_gray, to_query, poly, area_q, area_r, ref_gray=ref_gray, stretched=stretched)
    if fine is None:
        return 1.0
    query, ref, _, keep = fine
    return _laplacian(query, keep) / max(_laplacian(ref, keep), 1e-6)


def thumbnail_gray(jpeg: bytes) -> NDArray[np.uint8] | None:
    """A reference's pixels as `agreement` takes them: its stored thumbnail in grey,
    stretched as the local features' work image is (None if it does not decode)."""
    gray = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    return None if gray is None else stretch(np.asarray(gray, dtype=np.uint8))


def needs_pixels(match: Match, policy: MatchPolicy = DEFAULT_POLICY) -> bool:
    """Whether a match must pass `holds` where the reference's pixels are kept:
    every match with a transform, unless the policy lets the features decide."""
    return policy.check_pixels and match.homography is not None


def holds(found: Agreement | None, match: Match, policy: MatchPolicy = DEFAULT_POLICY) -> bool:
    """The pixel check on a match's `measure` (None: nothing could be told). Every match
    must agree across the region (`Agreement.passes`) and in the grey levels of
    `policy.levels` of its blocks; a mirrored one, or one that rests on the cosine, must
    also reach the median bound. Where the pixels cannot tell, a
    match that rests on the cosine fails and any other passes (a picture with too little
    texture to compare)."""
    thin = rests_on_cosine(match)
    if found is None:
        return not thin
    if match.flipped or thin:
        if found.median is None and thin:
            return False
        if found.median is not None and found.median < policy.median:
            return False
    if found.levels < policy.levels:
        return False
    return found.passes(policy)


def _band(gray: NDArray[np.generic]) -> NDArray[np.float32]:
    g = gray.astype(np.float32)
    return np.asarray(
        cv2.GaussianBlur(g, (0, 0), rule.BAND_FINE) - cv2.GaussianBlur(g, (0, 0), rule.BAND_COARSE),
        dtype=np.float32,
    )


def _blocks(a: NDArray[np.generic]) -> NDArray[np.generic]:
    """(rows, cols, 64) views of the whole 8×8 blocks of a 2-D array."""
    h, w = (a.shape[0] // rule.BLOCK) * rule.BLOCK, (a.shape[1] // rule.BLOCK) * rule.BLOCK
    b = a[:h, :w].reshape(h // rule.BLOCK, rule.BLOCK, w // rule.BLOCK, rule.BLOCK).swapaxes(1, 2)
    return b.reshape(h // rule.BLOCK, w // rule.BLOCK, rule.BLOCK * rule.BLOCK)


def _levels(q: NDArray[np.uint8], r: NDArray[np.uint8], inside: NDArray[np.bool_]) -> float:
    """The share of the region's whole 8×8 blocks whose mean grey level agrees with the
    reference's after one brightness and contrast fit (least squares, refitted on the
    blocks it fits best: overlays and captions move a minority of blocks).

    The band-pass of `_block_agreement` sees edges and texture only: over smooth artwork
    (a theme's wallpaper, a gradient, flat colour) two screens of one layout agree
    wherever the layout has detail, and their other artwork is not looked at. A copy's
    levels follow the reference's everywhere; another theme's do not."""
    fit = _level_fit(q, r, inside, rule.LEVEL_CONTRAST)
    if fit is None:
        return 1.0
    miss = fit[2]
    return float((miss <= rule.LEVEL_GAP).mean())


def _level_fit(
    q: NDArray[np.uint8],
    r: NDArray[np.uint8],
    inside: NDArray[np.bool_],
    contrast: tuple[float, float],
) -> tuple[float, float, NDArray[np.float64]] | None:
    """The gain (within `contrast`) and offset that bring the mean grey levels of the
    region's whole 8×8 blocks in `r` to those in `q` (least squares, refitted on the
    blocks it fits best: overlays and captions move a minority of blocks), and each
    block's miss; None under rule.MIN_BLOCKS blocks."""
    whole = _blocks(inside).all(axis=2)
    if int(whole.sum()) < rule.MIN_BLOCKS:
        return None
    bq = _blocks(q.astype(np.float32))[whole]
    br = _blocks(r.astype(np.float32))[whole]
    mq: NDArray[np.float64] = np.asarray(bq.mean(axis=1), dtype=np.float64)
    mr: NDArray[np.float64] = np.asarray(br.mean(axis=1), dtype=np.float64)
    keep = np.ones(len(mq), dtype=bool)
    miss = np.zeros(len(mq))
    gain = offset = 0.0
    for _ in range(3):  # least squares, refitted on the blocks it fits best
        x, y = mr[keep], mq[keep]
        gain = 1.0
        if float(np.ptp(x)) > 4.0:
            gain = float(np.clip(np.polyfit(x, y, 1)[0], *contrast))
        offset = float(np.median(y - gain * x))
        miss = np.abs(mq - (gain * mr + offset))
        keep = miss <= max(float(np.quantile(miss, 0.7)), rule.LEVEL_GAP)
    return gain, offset, miss


def _correlated[B: (NDArray[np.float32], NDArray[np.float64])](x: B, y: B) -> tuple[B, B, B]:
    """Two sets of blocks (n, 64): each block's texture (standard deviation) on either
    side and their correlation."""
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    sx, sy = x.std(axis=1), y.std(axis=1)
    return sx, sy, (x * y).mean(axis=1) / np.maximum(sx * sy, 1e-6)


def _block_agreement(
    a: NDArray[np.float32], b: NDArray[np.float32], inside: NDArray[np.bool_]
) -> Agreement | None:
    whole = _blocks(inside).all(axis=2)
    rows, cols = np.nonzero(whole)
    ba = np.asarray(_blocks(a)[whole], dtype=np.float32)
    bb = np.asarray(_blocks(b)[whole], dtype=np.float32)
    sa, sb, ncc = _correlated(ba, bb)
    ta, tb = sa >= rule.TEXTURE, sb >= rule.TEXTURE
    both = ta & tb
    # A block textured on one side only disagrees when that side is strongly textured:
    # content the other picture lacks, not the grain or compression of a faint area.
    either = both | (sa >= rule.STRONG_TEXTURE) | (sb >= rule.STRONG_TEXTURE)
    if int(either.sum()) < rule.MIN_BLOCKS:
        return None
    agree = both & (ncc >= rule.BLOCK_AGREES)
    median = float(np.median(ncc[both])) if int(both.sum()) >= rule.MIN_BLOCKS else None
    # cells of a grid over the region: agreeing where enough of their textured blocks do
    h, w = whole.shape
    cell = np.minimum(rows * rule.CELLS // h, rule.CELLS - 1) * rule.CELLS + np.minimum(
        cols * rule.CELLS // w, rule.CELLS - 1
    )
    textured_n = np.bincount(cell[either], minlength=rule.CELLS * rule.CELLS)
    agree_n = np.bincount(cell[agree], minlength=rule.CELLS * rule.CELLS)
    counted = textured_n >= rule.CELL_MIN_BLOCKS
    agreeing = np.zeros(whole.shape, dtype=bool)
    agreeing[rows[agree], cols[agree]] = True
    return Agreement(
        median=median,
        share=float(agree.sum() / either.sum()),
        cell_shares=agree_n[counted] / textured_n[counted],
        agreeing=agreeing,
    )


# what `rival_shares` lays on the query of one reference: its pixels, its work size and
# the match at the query's own scale
Laid = tuple[NDArray[np.uint8], tuple[int, int], Match]


def rival_shares(
    query_gray: NDArray[np.uint8], a: Laid, b: Laid
) -> tuple[float, float, int] | None:
    """Where two references laid on the query differ, which one the query shows: of the
    blocks of the region both lay over it where the two differ (band-passed at up to
    rule.DETAIL_SIDE px, textured on either side as `_block_agreement` counts them), the
    share in which the query agrees with `a`, with `b`, and how many there are. None where
    the two lie over no common region of it, or one is mirrored and the other not."""
    (gray_a, size_a, match_a), (gray_b, size_b, match_b) = a, b
    if match_a.flipped != match_b.flipped:
        return None
    over_a = _overlap(query_gray, gray_a, size_a, match_a)
    over_b = _overlap(query_gray, gray_b, size_b, match_b)
    if over_a is None or over_b is None:
        return None
    query, to_a, shared_a = over_a[:3]
    to_b, shared_b = over_b[1:3]
    area, poly = cv2.intersectConvexConvex(shared_a, shared_b)
    if poly is None or area <= 1.0:
        return None
    shared: NDArray[np.float32] = np.asarray(poly.reshape(-1, 2), dtype=np.float32)
    # both laid in one frame, never above the resolution the query or either reference
    # holds of the region
    held = min(
        abs(float(cv2.contourArea(cv2.perspectiveTransform(shared[None], np.linalg.inv(to))[0])))
        for to in (to_a, to_b)
    )
    q, laid_a, inside, _ = _warp(query, gray_a, to_a, shared, area, held, rule.DETAIL_SIDE, 0.0)
    _, laid_b, inside_b, _ = _warp(query, gray_b, to_b, shared, area, held, rule.DETAIL_SIDE, 0.0)
    inside &= inside_b
    whole = _blocks(inside).all(axis=2)
    bq, ba, bb = (
        np.asarray(_blocks(_band(g))[whole], dtype=np.float64) for g in (q, laid_a, laid_b)
    )
    differ = _blocks_differ(ba, bb)
    n = int(differ.sum())
    if n == 0:
        return 0.0, 0.0, 0
    shows_a = float((~_blocks_differ(bq, ba))[differ].mean())
    shows_b = float((~_blocks_differ(bq, bb))[differ].mean())
    return shows_a, shows_b, n


def _blocks_differ(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which of two sets of band-passed blocks (n, 64) disagree as `_block_agreement`
    counts them: textured on both sides and not correlated, or strongly textured on one
    side where the other is flat."""
    sx, sy, ncc = _correlated(x, y)
    tx, ty = sx >= rule.TEXTURE, sy >= rule.TEXTURE
    differ = (tx & ty & (ncc < rule.BLOCK_AGREES)) | (
        (sx >= rule.STRONG_TEXTURE) & ~ty | (sy >= rule.STRONG_TEXTURE) & ~tx
    )
    return np.asarray(differ, dtype=np.bool_)
