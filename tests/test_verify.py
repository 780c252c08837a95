"""Verification's early stop: a candidate whose matched features make the inliers it needs
improbable is refused before all its features are searched, and a real copy never is."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.graphics import graphics_pool
from tests.conftest import crop, open_photo, photo_names
from tongtu.features import local, rule, shrink
from tongtu.features.local import (
    QUERY_FEATURES,
    REF_FEATURES,
    extract_local,
    verify,
)
from tongtu.features.score import inliers_needed, score


def test_inliers_needed_is_the_fewest_that_reach_the_threshold() -> None:
    from tongtu.features.local import Match

    for cosine in np.linspace(-0.3, 1.0, 27):
        for threshold in (0.2, 0.5, 0.9):
            n = inliers_needed(float(cosine), threshold)
            assert score(float(cosine), Match(n + 1, (), ())) >= threshold
            assert n == 0 or score(float(cosine), Match(n - 1, (), ())) < threshold
    assert inliers_needed(0.6, 0.5) == 15  # the score's documented boundary


@pytest.fixture(scope="module")
def features(photos: object) -> list[tuple[object, object]]:
    """(reference features, features of a crop as the query) of sixteen photos: crops
    keeping 15 %, 30 % and 50 % of the area in turn."""
    out = []
    for n, name in enumerate(photo_names(max_side=2000)[:16]):
        img = open_photo(name)
        ref = extract_local(shrink(np.asarray(img)), REF_FEATURES)
        query = extract_local(np.asarray(crop(img, (0.39, 0.55, 0.7)[n % 3])), QUERY_FEATURES)
        out.append((ref, query))
    return out


def test_a_copy_is_never_stopped_early(features: list[tuple[object, object]]) -> None:
    """Asking for exactly the inliers the full matching finds is the hardest case."""
    checked = 0
    for ref, query in features:
        full = verify(query, ref)  # type: ignore[arg-type]
        if full.inliers < 8:
            continue
        early = verify(query, ref, needed=full.inliers)  # type: ignore[arg-type]
        assert early == full
        checked += 1
    assert checked >= 12


def test_other_pictures_stop_at_the_first_checkpoint(
    features: list[tuple[object, object]],
) -> None:
    """At a low descriptor cosine (~40 inliers needed), another photo's features are
    refused before all of them have been searched: the ratio matches stop at a
    checkpoint (None) in three pairs of four."""
    needed = inliers_needed(0.06, 0.5)
    assert 35 <= needed <= 50
    stopped = 0
    pairs = 0
    for i, (_, query) in enumerate(features):
        for j, (ref, _) in enumerate(features):
            if i == j:
                continue
            match = verify(query, ref, needed=needed)  # type: ignore[arg-type]
            assert score(0.06, match) < 0.5
            pairs += 1
            nearest = local.ratio_matches(
                query.descriptors,  # type: ignore[attr-defined]
                ref.descriptors,  # type: ignore[attr-defined]
                max(needed, 8),
            )
            stopped += nearest is None
    assert stopped >= 0.75 * pairs


def test_two_nearest_agrees_with_counting_bits(features: list[tuple[object, object]]) -> None:
    ref, query = features[0]
    a, b = ref.descriptors[:200], query.descriptors  # type: ignore[attr-defined]
    d0, d1, first = local.two_nearest(np.ascontiguousarray(a), np.ascontiguousarray(b))
    bits = np.unpackbits(a[:, None, :] ^ b[None, :, :], axis=2).sum(axis=2)
    ranked = np.sort(bits, axis=1)
    assert (d0 == ranked[:, 0]).all() and (d1 == ranked[:, 1]).all()
    assert (bits[np.arange(len(a)), first] == d0).all()


def _stretch(match: local.Match) -> float:
    assert match.homography is not None
    a = match.homography[:2, :2] / match.homography[2, 2]
    longest, shortest = np.linalg.svd(a, compute_uv=False)
    return float(longest / shortest)


def test_a_fit_stretched_past_the_bound_is_refused(photos: object) -> None:
    """Another slide of one template can be laid over the query stretched along its rows
    of text, and is refused; a copy made 1.6 times wider or taller still verifies (more
    than that, ORB's features do not survive: the aspect look's)."""
    pool = graphics_pool(21, 16, [np.asarray(open_photo(n)) for n in photo_names()[:12]])
    stretched = refused = 0
    for group in pool:
        ref = extract_local(shrink(group.reference), QUERY_FEATURES)
        for look in group.lookalikes:
            query = extract_local(shrink(look), QUERY_FEATURES)
            free = verify(query, ref, 0, float("inf"))
            if free.homography is not None and _stretch(free) > rule.MAX_STRETCH:
                stretched += 1
                refused += verify(query, ref).homography is None
    assert stretched >= 1, "no look-alike is laid stretched: the test is moot"
    assert refused == stretched
    img = open_photo(photo_names(max_side=2000)[0])
    ref = extract_local(shrink(np.asarray(img)), REF_FEATURES)
    w, h = img.size
    for size in ((int(w * 1.6), h), (w, int(h * 1.6))):  # made wider, made taller
        query = extract_local(shrink(np.asarray(img.resize(size))), QUERY_FEATURES)
        match = verify(query, ref)
        assert match.inliers >= 25 and 1.5 < _stretch(match) < rule.MAX_STRETCH
