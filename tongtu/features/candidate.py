"""What the matcher (features/matcher.py) is handed and what it returns: a query as
`Matcher.judge` and `Matcher.match` see it, a candidate reference with its pixels and
features read when asked, and the verdict on the pair."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from tongtu.features.local import LocalFeatures, Match

__all__ = ["Gray", "Query", "Reference", "ShapedQuery", "Verdict"]

Gray = NDArray[np.uint8]


class Query(Protocol):
    """What `judge` needs of a query: its local features, its mirrored ones (None: not
    tried), the grey work image they were found on, and the features the guided check
    carries the reference's to (`guide`: as dense as a search query's, in the frame of
    `local`, or of `local_flipped` when `flipped`; None: no check); `stretched`: about
    how many times `gray`'s contrast was raised when it was stretched to its own range."""

    @property
    def local(self) -> LocalFeatures: ...

    @property
    def local_flipped(self) -> LocalFeatures | None: ...

    @property
    def gray(self) -> Gray: ...

    @property
    def stretched(self) -> float: ...

    def guide(self, flipped: bool) -> LocalFeatures | None: ...


class ShapedQuery(Query, Protocol):
    """A query that can be resized to another picture's proportions (the aspect look),
    seen small (the small look), and described again (the region's likeness)."""

    @property
    def rgb(self) -> NDArray[np.uint8]: ...

    @property
    def embedding(self) -> NDArray[np.float32]: ...

    def stretch_to(self, width: int, height: int) -> float: ...

    def reshaped(self, aspect: float) -> ShapedQuery: ...

    def seen_small(self, side: int) -> ShapedQuery: ...


@dataclass(frozen=True, slots=True)
class Reference:
    """One candidate: `key` names it to the caller; `width` × `height` its proportions;
    `pixels()` its grey pixels at any scale (None: not kept; the features alone decide)
    and `dense()` denser local features found on them (None: none to be had)."""

    key: int
    cosine: float
    local: LocalFeatures
    width: int
    height: int
    pixels: Callable[[], Gray | None]
    dense: Callable[[], LocalFeatures | None]
    # its colour pixels at any scale, for the region's likeness (None: not kept)
    colour: Callable[[], NDArray[np.uint8] | None] = lambda: None
    # local features found on its pixels at a work image of this longer side, for the
    # coarse look (None: no pixels kept)
    coarse: Callable[[int], LocalFeatures | None] = lambda side: None
    # local features found on its parts at each part's scale (features/parts.py), for
    # the second look at a query that is a small crop of it (None: none kept)
    parts: Callable[[], LocalFeatures | None] = lambda: None


@dataclass(frozen=True, slots=True)
class Verdict:
    """`query_size`, `ref_size`: the work images (w, h) of the features the match was
    found between, the frames of its homography (a look may see the query small or
    reshaped, and the reference's thumbnail or parts)."""

    score: float
    match: Match
    query_size: tuple[int, int]
    ref_size: tuple[int, int]
