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

On bench/quality (two draws) every mirrored copy served scored ≥ 0.98, the mirrored half
of a symmetric photo 0.39. The engine asks this of mirrored matches and of matches with
fewer inliers than the score's pivot, which rest on the descriptor cosine (pages of
different text in one font: 0.04; every copy served with under 20 inliers on
bench/quality and its stress families: ≥ 0.87). Not of the others: overlays and opaque
stripes over a copy pull the measure down too (0.43 under a large emoji) while keeping
many inliers, and the impostor bench/quality met with many (the next repeat of a
wallpaper) agrees in its pixels as well (0.82).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.features.local import Match, frame, stretch
from tongtu.features.score import rests_on_cosine

__all__ = ["AGREEMENT", "agreement", "needs_pixels", "pixels_agree", "thumbnail_gray"]

# A match whose median block correlation is below this is not the same picture.
AGREEMENT = 0.6
# The shared region is compared at no more than about this many pixels a side, and never
# above the resolution either image holds of it (a thumbnail of a 15 % crop's reference
# holds ~200 px of it).
_SIDE = 128
_BLOCK = 8
# Band-pass: Gaussian σ (px at the comparison scale) of the detail kept and of the
# background removed.
_FINE, _COARSE = 1.0, 5.0
# A block must hold some texture on both sides (std of the band-passed grey levels) to
# count; fewer than _MIN_BLOCKS such blocks and nothing is judged.
_TEXTURE = 1.5
_MIN_BLOCKS = 8


def agreement(
    query_gray: NDArray[np.uint8],
    ref_gray: NDArray[np.uint8],
    ref_size: tuple[int, int],
    match: Match,
) -> float | None:
    """The median correlation of band-passed 8×8 blocks over the shared region, or None
    where it cannot be told (no transform, or too little texture in common).

    `query_gray`: the query's work image (`work_gray`), never mirrored; `ref_gray`: the
    reference's pixels at any scale (its thumbnail), whose work image was `ref_size`
    (w, h) when its features were found."""
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
    poly = poly.reshape(-1, 2).astype(np.float32)
    in_ref = cv2.perspectiveTransform(poly[None], np.linalg.inv(to_query))[0]
    area_r = abs(float(cv2.contourArea(in_ref.astype(np.float32))))
    scale = float(np.sqrt(min(area_q, area_r, _SIDE * _SIDE) / area_q))
    x0, y0 = poly.min(axis=0)
    x1, y1 = poly.max(axis=0)
    size = (max(1, int(np.ceil((x1 - x0) * scale))), max(1, int(np.ceil((y1 - y0) * scale))))
    place = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale], [0, 0, 1]])
    q = cv2.warpAffine(
        np.ascontiguousarray(query),
        place[:2],
        size,
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    r = np.asarray(
        cv2.warpPerspective(ref_gray, place @ to_query, size, flags=cv2.INTER_LINEAR),
        dtype=np.uint8,
    )
    inside = cv2.warpPerspective(
        np.full((rh, rw), 255, np.uint8), place @ to_query, size, flags=cv2.INTER_NEAREST
    )
    return _median_block_correlation(_band(q), _band(r), inside > 0)


def thumbnail_gray(jpeg: bytes) -> NDArray[np.uint8] | None:
    """A reference's pixels as `agreement` takes them: its stored thumbnail in grey,
    stretched as the local features' work image is (None if it does not decode)."""
    gray = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    return None if gray is None else stretch(np.asarray(gray, dtype=np.uint8))


def needs_pixels(match: Match) -> bool:
    """Whether a match must pass `pixels_agree` where the reference's pixels are kept: a
    mirrored one, and one that rests on the cosine (score.rests_on_cosine)."""
    return match.flipped or rests_on_cosine(match)


def pixels_agree(
    query_gray: NDArray[np.uint8],
    ref_gray: NDArray[np.uint8],
    ref_size: tuple[int, int],
    match: Match,
) -> bool:
    """The pixel check (arguments as `agreement`): a match that rests on the cosine must
    be confirmed, so where the pixels cannot tell it fails; a mirrored one with many
    inliers must only not be contradicted."""
    agree = agreement(query_gray, ref_gray, ref_size, match)
    if agree is None:
        return not rests_on_cosine(match)
    return agree >= AGREEMENT


def _band(gray: NDArray[np.generic]) -> NDArray[np.float32]:
    g = gray.astype(np.float32)
    return np.asarray(
        cv2.GaussianBlur(g, (0, 0), _FINE) - cv2.GaussianBlur(g, (0, 0), _COARSE),
        dtype=np.float32,
    )


def _blocks(a: NDArray[np.generic]) -> NDArray[np.generic]:
    """(rows, cols, 64) views of the whole 8×8 blocks of a 2-D array."""
    h, w = (a.shape[0] // _BLOCK) * _BLOCK, (a.shape[1] // _BLOCK) * _BLOCK
    b = a[:h, :w].reshape(h // _BLOCK, _BLOCK, w // _BLOCK, _BLOCK).swapaxes(1, 2)
    return b.reshape(h // _BLOCK, w // _BLOCK, _BLOCK * _BLOCK)


def _median_block_correlation(
    a: NDArray[np.float32], b: NDArray[np.float32], inside: NDArray[np.bool_]
) -> float | None:
    whole = _blocks(inside).all(axis=2)
    ba = np.asarray(_blocks(a)[whole], dtype=np.float32)
    bb = np.asarray(_blocks(b)[whole], dtype=np.float32)
    ba = ba - ba.mean(axis=1, keepdims=True)
    bb = bb - bb.mean(axis=1, keepdims=True)
    sa, sb = ba.std(axis=1), bb.std(axis=1)
    textured = (sa >= _TEXTURE) & (sb >= _TEXTURE)
    if int(textured.sum()) < _MIN_BLOCKS:
        return None
    ncc = (ba[textured] * bb[textured]).mean(axis=1) / (sa[textured] * sb[textured])
    return float(np.median(ncc))
