"""The matching policy: what search, compare, the duplicates route and `tongtu dedup`
hold a match to. One frozen object, made from the settings by the engine and passed down,
so that no module keeps a knob of its own and a test compares the rule with another
policy instead of patching a module."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_POLICY", "MatchPolicy"]


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """`median`, `share`, `cells`: the bounds a match's pixels must reach
    (features/agreement.py); `check_pixels=False` lets the features alone decide.
    `query_regions`: rectangles of a query that is no copy as a whole searched on their
    own (features/regions.py); 0: none."""

    # A mirrored or thin match: median block correlation (mirrored copies ≥ 0.98 on
    # bench/quality, the mirrored half of a symmetric photo 0.39).
    median: float = 0.6
    share: float = 0.65
    cells: float = 0.8
    check_pixels: bool = True
    query_regions: int = 2


DEFAULT_POLICY = MatchPolicy()
