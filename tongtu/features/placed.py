"""The placed look: a crop of a flat design, too poor in corners for any look on local
features, placed inside a candidate's thumbnail by its pixels (features/placement.py)
and held to the matcher's checks (features/matcher.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from tongtu.features import rule
from tongtu.features.candidate import Gray, Reference, ShapedQuery, Verdict
from tongtu.features.colour import placed_agreement
from tongtu.features.placement import refined, roughly
from tongtu.features.policy import MatchPolicy
from tongtu.features.score import score

if TYPE_CHECKING:
    from tongtu.features.matcher import Matcher

__all__ = ["placed_look"]


def placed_look(
    matcher: Matcher,
    query: ShapedQuery,
    refs: list[Reference],
    pixels: Mapping[int, Callable[[], Gray | None]],
) -> tuple[int, Verdict] | None:
    """The query placed roughly inside each reference's pixels, then finely inside
    the `rule.PLACES_REFINED` best (features/placement.py). The best place is kept where it is
    `placed_ratio` times closer to 1 (down to `rule.PEAK_NOISE`) than the best in any
    other of `refs` (a copy's pixels are the reference's; a motif that several
    pictures share, an arc of a circle, a theme's panel, is placed in each alike),
    its colours agree there in `placed_colour` of the blocks, and it holds as a
    second look's match with too few inliers: pixels agreeing in `region_share` of
    the blocks, the region's likeness (not for a query too small for it, where
    `placed_small` lets its pixels and colours decide). `pixels`: each reference's,
    read once."""
    policy = matcher.policy
    rough = []
    for ref in refs:
        gray = pixels[ref.key]()
        if gray is not None and (found := roughly(query.gray, gray, policy.placed_areas)):
            rough.append((found.peak, ref, found, gray))
    places = []
    for _, ref, found, gray in sorted(rough, key=lambda p: -p[0])[: rule.PLACES_REFINED]:
        if (fine := refined(query.gray, gray, found)) is not None:
            places.append((fine.peak, ref, fine, gray))
    if not places:
        return None
    places.sort(key=lambda p: -p[0])
    peak, ref, found, gray = places[0]
    if peak < policy.placed_peak:
        return None
    if len(places) > 1 and _off(peak) > policy.placed_ratio * _off(places[1][0]):
        return None  # placed about as well elsewhere: nothing tells the two apart
    likeness = matcher.likeness(query, ref.local, ref)
    colour = ref.colour()
    if colour is None or (likeness is None and not _small(policy, query)):
        return None
    hues = placed_agreement(query.rgb, found.cut(colour, gray))
    if hues is not None and hues < policy.placed_colour:
        return None  # the grey levels of another palette: another theme, another fill
    size = (query.local.width, query.local.height)
    frame = (ref.local.width, ref.local.height)
    match = found.match(size, frame, gray)
    if not matcher.agrees(query, ref.local, match, pixels[ref.key], policy.region_share):
        return None
    region = matcher.scale(ref.cosine)  # a small query's: its pixels and colours alone
    if likeness is not None:
        found_region = likeness(match)
        if found_region is None:
            return None
        if (found_region := matcher.scale(found_region)) < policy.region_likeness:
            return None
        region = max(region, found_region)
    s = max(policy.threshold, score(region, match))
    return ref.key, Verdict(s, match, size, frame)


def _small(policy: MatchPolicy, query: ShapedQuery) -> bool:
    """Whether the placed look takes a query too small for the region's likeness
    (`placed_small`) on its pixels and colours alone."""
    return (
        policy.placed_small > 0
        and policy.check_pixels
        and min(query.rgb.shape[:2]) < policy.region_min_side
    )


def _off(peak: float) -> float:
    """How far a place's correlation is from 1, no closer than resampling allows."""
    return max(1.0 - peak, rule.PEAK_NOISE)
