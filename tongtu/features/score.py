"""From (descriptor cosine, verified inliers) to one calibrated score and a match kind."""

from __future__ import annotations

import math
from enum import StrEnum

from tongtu.features import rule
from tongtu.features.local import Match

__all__ = ["MatchKind", "inliers_needed", "match_kind", "rests_on_cosine", "score"]


class MatchKind(StrEnum):
    EXACT = "exact"
    NEAR_EXACT = "near_exact"
    QUERY_IN_RESULT = "query_is_part_of_result"
    RESULT_IN_QUERY = "result_is_part_of_query"


def score(cosine: float, match: Match) -> float:
    z = rule.COSINE_WEIGHT * (cosine - rule.PIVOT_COSINE) + rule.INLIER_WEIGHT * (
        math.log1p(match.inliers) - math.log1p(rule.PIVOT_INLIERS)
    )
    return 1.0 / (1.0 + math.exp(-z))


def rests_on_cosine(match: Match) -> bool:
    """Fewer inliers than the score's pivot: a match accepted because the descriptor
    cosine is high, the one signal that pictures alike in layout fool (two pages of
    different text in one font reach cosine 0.93, and a chance alignment of their
    repeated letters gives the 8 inliers that such a cosine needs)."""
    return match.inliers < rule.PIVOT_INLIERS


def inliers_needed(cosine: float, threshold: float) -> int:
    """The fewest inliers whose score at this cosine reaches `threshold` (a lower bound:
    rounding only ever makes it smaller)."""
    if threshold <= 0.0:
        return 0
    if threshold >= 1.0:
        return 1 << 30
    logit = math.log(threshold / (1.0 - threshold))
    log1p_inliers = (
        math.log1p(rule.PIVOT_INLIERS)
        + (logit - rule.COSINE_WEIGHT * (cosine - rule.PIVOT_COSINE)) / rule.INLIER_WEIGHT
    )
    if log1p_inliers > 30:
        return 1 << 30
    return max(0, math.ceil(math.expm1(log1p_inliers) - 1e-6))


def match_kind(match: Match) -> MatchKind:
    full_q = match.query_cover >= rule.WHOLE
    full_r = match.ref_cover >= rule.WHOLE
    if full_q and full_r:
        return MatchKind.NEAR_EXACT
    if full_q:
        return MatchKind.QUERY_IN_RESULT
    if full_r:
        return MatchKind.RESULT_IN_QUERY
    # Both partial (e.g. a crop shown inside a screenshot): name the smaller side.
    if match.query_cover >= match.ref_cover:
        return MatchKind.QUERY_IN_RESULT
    return MatchKind.RESULT_IN_QUERY
