"""Clusters of copies among many images, for a library or a folder.

A self-join of the descriptors proposes near pairs (each image's k nearest neighbours
above a low cosine), local-feature verification decides which pairs are the same picture,
and the connected components of the verified pairs are the clusters. Only near pairs are
verified, never all pairs: the cost is one descriptor pass plus k verifications an image.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import cv2
import faiss
import numpy as np
from numpy.typing import NDArray

from tongtu.features import LocalFeatures
from tongtu.features.local import QUERY_FEATURES, extract_local
from tongtu.features.matcher import Matcher, Verdict
from tongtu.features.score import MatchKind, match_kind

__all__ = ["Cluster", "Edge", "Item", "Stored", "copies", "find_clusters"]

# Neighbours proposed per image, and the cosine below which a pair is not worth verifying:
# the score needs ~27 inliers at cosine 0.3 and more below, which unrelated pictures never
# reach (score.py), so a lower cut would only add work.
NEIGHBOURS = 16
MIN_COSINE = 0.25
_IN_HAND = 32  # items whose pixels and dense features are kept while their pairs are verified


@dataclass(frozen=True, slots=True)
class Item:
    """One image taking part: its size, age and signature decide the canonical copy."""

    key: int
    width: int
    height: int
    created_at: float
    cont_sign: str


@dataclass(frozen=True, slots=True)
class Edge:
    a: int  # item keys
    b: int
    score: float
    kind: MatchKind  # seen from a: "query_is_part_of_result" = a is a part of b


@dataclass(frozen=True, slots=True)
class Cluster:
    canonical: int  # item key: largest resolution, then oldest, then smallest key
    members: tuple[int, ...]  # canonical first, then by key
    edges: tuple[Edge, ...]


def find_clusters(
    items: Sequence[Item],
    vectors: NDArray[np.float32],
    local: Callable[[Sequence[int]], dict[int, LocalFeatures]],
    matcher: Matcher,
    progress: Callable[[int], None] | None = None,
    pixels: Callable[[int], NDArray[np.uint8] | None] | None = None,
    colours: Callable[[int], NDArray[np.uint8] | None] | None = None,
) -> list[Cluster]:
    """`local(positions)` returns the local features of the items at those positions;
    `pixels(position)` an item's grey pixels at any scale (its thumbnail), or None;
    `colours(position)` its colour pixels (for the match's hues), or None. A
    pair is a copy by `matcher`'s rule, a search's (`Matcher.judge`), tried both ways round, the
    mirror aside (no mirrored features are kept)."""
    n = len(items)
    if n < 2:
        return []
    edges: list[tuple[int, int, Edge]] = []
    pairs = _near_pairs(vectors, min(NEIGHBOURS, n - 1), MIN_COSINE)
    exact = _same_sign(items)
    for i, j in exact:
        edges.append((i, j, Edge(items[i].key, items[j].key, 1.0, MatchKind.EXACT)))
    todo = [(i, j, c) for (i, j), c in pairs.items() if (i, j) not in exact]
    for start in range(0, len(todo), 512):
        chunk = todo[start : start + 512]
        feats = local(sorted({i for i, _, _ in chunk} | {j for _, j, _ in chunk}))
        # An item's pixels and dense features serve the pairs it takes part in; the
        # pairs come by their first item, so a few dozen items in hand cover most.
        stored = functools.lru_cache(maxsize=_IN_HAND)(
            functools.partial(_stored, feats, pixels, colours)
        )
        for i, j, cosine in chunk:
            edge = _verify_pair(items, i, j, cosine, stored, matcher)
            if edge is not None:
                edges.append((i, j, edge))
        if progress is not None:
            progress(len(chunk))
    return _components(items, edges)


def _near_pairs(
    vectors: NDArray[np.float32], k: int, min_cosine: float
) -> dict[tuple[int, int], float]:
    vecs = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    pairs: dict[tuple[int, int], float] = {}
    for start in range(0, len(vecs), 4096):
        sims, nn = index.search(vecs[start : start + 4096], k + 1)
        for row, (s_row, n_row) in enumerate(zip(sims, nn, strict=True)):
            i = start + row
            for s, j in zip(s_row, n_row, strict=True):
                if j < 0 or j == i or s < min_cosine:
                    continue
                key = (min(i, int(j)), max(i, int(j)))
                pairs[key] = max(pairs.get(key, -1.0), float(s))
    return pairs


def _same_sign(items: Sequence[Item]) -> set[tuple[int, int]]:
    first: dict[str, int] = {}
    out: set[tuple[int, int]] = set()
    for pos, item in enumerate(items):
        if item.cont_sign in first:
            out.add((first[item.cont_sign], pos))
        else:
            first[item.cont_sign] = pos
    return out


def _verify_pair(
    items: Sequence[Item],
    i: int,
    j: int,
    cosine: float,
    stored: Callable[[int], Stored | None],
    matcher: Matcher,
) -> Edge | None:
    a, b = stored(i), stored(j)
    if a is None or b is None:
        return None
    found = copies(a, b, cosine, matcher)
    if found is None:
        return None
    query, verdict = found
    ref = b if query is a else a
    return Edge(
        items[query.position].key,
        items[ref.position].key,
        round(verdict.score, 4),
        match_kind(verdict.match),
    )


def copies(
    a: Stored, b: Stored, cosine: float, matcher: Matcher, both_ways: bool = False
) -> tuple[Stored, Verdict] | None:
    """Whether one of two stored pictures is a copy of the other by the rule of a search
    (`Matcher.judge`, and the match's hues where both keep colour pixels), tried both
    ways round (the fit is not symmetric), the mirror aside (no mirrored features are
    kept): the one seen as the query and the verdict, or None. `both_ways`: each must
    be a copy of the other, as two whole pictures that differ by an edit are."""
    found = None
    for query, ref in ((a, b), (b, a)):

        def ref_pixels(query: Stored = query, ref: Stored = ref) -> NDArray[np.uint8] | None:
            # both pictures' pixels, or the features alone decide
            return None if query.kept is None else ref.kept

        verdict = matcher.judge(query, ref.local, cosine, ref_pixels)
        held = verdict.score >= matcher.policy.threshold and matcher.hues_agree(
            query.colour, ref.colour, verdict
        )
        if held and not both_ways:
            return query, verdict
        if not held and both_ways:
            return None
        if held:
            found = found or (query, verdict)
    return found


def _stored(
    feats: dict[int, LocalFeatures],
    pixels: Callable[[int], NDArray[np.uint8] | None] | None,
    colours: Callable[[int], NDArray[np.uint8] | None] | None,
    position: int,
) -> Stored | None:
    return Stored(feats[position], position, pixels, colours) if position in feats else None


class Stored:
    """An item as the query of a pair: its stored features, no mirrored ones, and its
    pixels resized to the frame its features were found in."""

    local_flipped = None

    def __init__(
        self,
        local: LocalFeatures,
        position: int,
        pixels: Callable[[int], NDArray[np.uint8] | None] | None,
        colours: Callable[[int], NDArray[np.uint8] | None] | None = None,
    ) -> None:
        self.local = local
        self.position = position
        self._pixels = pixels
        self._colours = colours

    def guide(self, flipped: bool) -> LocalFeatures | None:
        """Features as dense as a search query's, found on the item's pixels and put in
        the frame of its stored ones: sparse ones agree with a look-alike's where their
        strongest corners are, on the template (features/guided.py). None without
        pixels; never mirrored (no mirrored features are tried)."""
        if flipped or self.kept is None:
            return None
        return self._dense

    @functools.cached_property
    def _dense(self) -> LocalFeatures:
        assert self.kept is not None
        found = extract_local(
            np.asarray(cv2.cvtColor(self.kept, cv2.COLOR_GRAY2RGB), np.uint8), QUERY_FEATURES
        )
        to_stored = np.array(
            [self.local.width / max(1, found.width), self.local.height / max(1, found.height)],
            np.float32,
        )
        return LocalFeatures(
            found.points * to_stored, found.descriptors, self.local.width, self.local.height
        )

    @functools.cached_property
    def kept(self) -> NDArray[np.uint8] | None:
        return None if self._pixels is None else self._pixels(self.position)

    def colour(self) -> NDArray[np.uint8] | None:
        """The item's colour pixels at any scale, read once when first asked."""
        return self._kept_colour

    @functools.cached_property
    def _kept_colour(self) -> NDArray[np.uint8] | None:
        return None if self._colours is None else self._colours(self.position)

    # a thumbnail stretched as the library picture it stands for (as `Reference.pixels`)
    stretched = 1.0

    @functools.cached_property
    def gray(self) -> NDArray[np.uint8]:
        """Asked for only where the reference's pixels are, so once `kept` is known."""
        kept = self.kept
        assert kept is not None
        size = (self.local.width, self.local.height)
        return np.asarray(cv2.resize(kept, size, interpolation=cv2.INTER_LINEAR), np.uint8)


def _components(items: Sequence[Item], edges: Iterable[tuple[int, int, Edge]]) -> list[Cluster]:
    parent = list(range(len(items)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_root: dict[int, list[Edge]] = {}
    edge_list = list(edges)
    for i, j, _ in edge_list:
        parent[root(i)] = root(j)
    for i, _, edge in edge_list:
        by_root.setdefault(root(i), []).append(edge)
    groups: dict[int, list[int]] = {}
    for pos in range(len(items)):
        r = root(pos)
        if r in by_root:
            groups.setdefault(r, []).append(pos)
    clusters = []
    for r, positions in groups.items():
        members = [items[p] for p in positions]
        canonical = min(members, key=lambda m: (-m.width * m.height, m.created_at, m.key))
        keys = [canonical.key, *sorted(m.key for m in members if m.key != canonical.key)]
        clusters.append(Cluster(canonical.key, tuple(keys), tuple(by_root[r])))
    clusters.sort(key=lambda c: (-len(c.members), c.canonical))
    return clusters
