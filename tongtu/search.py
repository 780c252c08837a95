"""The search pipeline: the exact picture, the candidates of the whole query (the
vector index, the tag filter inside), the parts of a query that is no copy as a whole
(its rectangles, the cells of the query grid), each through the one matcher
(features/matcher.py); hits merged per reference. Compare is the same pipeline over a
pool of one picture (`_One`), so the two cannot disagree.

    search: exact (cont_sign) → candidates (vector index) → verification (local
            features + RANSAC + the pixel rule) → calibrated score → page
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.clusters import Stored, copies
from tongtu.features import Extractor, QueryFeatures, rule, shrink
from tongtu.features.descriptor import SHORT_SIDE
from tongtu.features.local import NO_MATCH, QUERY_FEATURES, extract_local, polygon_area, stretch
from tongtu.features.matcher import Matcher, MatchPolicy, Reference, Verdict
from tongtu.features.part_whole import laid_box, part_holds
from tongtu.features.parts import part_features
from tongtu.features.regions import Box, grid_regions, picture_regions
from tongtu.features.score import MatchKind, match_kind, score
from tongtu.hits import (
    FULL,
    Comparison,
    Hit,
    Region,
    SearchPage,
    in_frame,
    intersection,
    overlap,
    rivals,
)
from tongtu.imaging import Picture
from tongtu.params import MAX_RESULTS
from tongtu.references import coarse_features, stored_reference
from tongtu.storage.base import ImageRecord, TagFilter, VectorStore
from tongtu.storage.catalog import Catalog

__all__ = ["Search"]

# A followed cell's box is grown by this share of its sides each way: the transform
# fitted on a cell is loosest far from it.
_FOLLOW_MARGIN = 0.02

# Kinds of hit where the query as a whole is a copy: no region of it needs a search.
_WHOLE = (MatchKind.EXACT, MatchKind.NEAR_EXACT, MatchKind.QUERY_IN_RESULT)


class _Part(NamedTuple):
    """A part of the query searched on its own."""

    box: Box
    cell: bool  # a cell of the query grid, described and verified as `Search._cell` does
    least: float  # the share of its reference a match on it must cover


class _Pool(Protocol):
    """Where a search's candidates come from: a library (its vector index and catalog),
    or the one picture a compare is asked about."""

    def nearest(
        self, embedding: NDArray[np.float32], k: int
    ) -> tuple[Sequence[float], Sequence[int]]:
        """Up to `k` (cosine, image id), best first."""
        ...

    def embeddings(self, ids: Sequence[int]) -> dict[int, NDArray[np.float32]]: ...
    def known(self, ids: Sequence[int]) -> dict[int, tuple[ImageRecord, Reference]]:
        """Each of `ids` still there, as the matcher sees it."""
        ...


@dataclass(frozen=True, slots=True)
class _Library:
    """A library's pictures with the tags asked, read from its index and catalog."""

    catalog: Catalog
    vectors: VectorStore
    library_id: int
    tags: TagFilter | None
    policy: MatchPolicy

    def nearest(
        self, embedding: NDArray[np.float32], k: int
    ) -> tuple[Sequence[float], Sequence[int]]:
        cosines, ids = self.vectors.search(self.library_id, embedding, k, self.tags)
        return [float(c) for c in cosines], [int(i) for i in ids]

    def embeddings(self, ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        return self.catalog.embeddings(ids)

    def known(self, ids: Sequence[int]) -> dict[int, tuple[ImageRecord, Reference]]:
        return {
            i: (record, stored_reference(self.catalog, record, local, self.policy))
            for i, (record, local) in self.catalog.images_with_local(ids).items()
        }


@dataclass(frozen=True, slots=True)
class _One:
    """The one picture a compare is asked about, as a library of one."""

    record: ImageRecord
    embedding: NDArray[np.float32]
    reference: Reference

    def nearest(
        self, embedding: NDArray[np.float32], k: int
    ) -> tuple[Sequence[float], Sequence[int]]:
        return [float(np.dot(embedding, self.embedding))], [self.record.id]

    def embeddings(self, ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        return {self.record.id: self.embedding} if self.record.id in ids else {}

    def known(self, ids: Sequence[int]) -> dict[int, tuple[ImageRecord, Reference]]:
        return {self.record.id: (self.record, self.reference)} if self.record.id in ids else {}


@dataclass(slots=True)
class _Run:
    """One search's candidates' pool and wanted results, what it measures, and the
    candidates it has looked at."""

    pool: _Pool
    wanted: int
    timings: dict[str, float]
    counts: dict[str, int]
    # the whole query, which a part's match must hold over (features/part_whole.py)
    whole: QueryFeatures
    # each candidate as the matcher sees it, its pixels and the features found on them
    # read or found once a search (a reference is a candidate of many parts of a query)
    refs: dict[int, tuple[ImageRecord, Reference]] = field(default_factory=dict)
    # the verdicts of the references found on the whole query, for the rivals' contest
    verdicts: dict[int, Verdict] = field(default_factory=dict)


class Search:
    """Searches and compares over one catalog and its vector index, under `policy`
    (what a match must show; the engine's, which may change between calls) with
    `candidates` verified per round. A compared picture keeps `part_features` on each of
    its parts, as a library picture added now does."""

    def __init__(
        self,
        catalog: Catalog,
        vectors: VectorStore,
        extractor: Extractor,
        candidates: int,
        policy: MatchPolicy,
        part_features: int = 0,
    ) -> None:
        self.catalog = catalog
        self.vectors = vectors
        self.candidates = candidates
        self.policy = policy
        self.part_features = part_features
        self._extractor = extractor

    @property
    def matcher(self) -> Matcher:
        return Matcher(self.policy, self._describe, self._extractor.scale)

    @property
    def _cell_matcher(self) -> Matcher:
        """A grid cell's matcher: without the looks for a query that is a small crop of
        its reference (the query seen small, the reference's parts). A cell's match must
        cover `grid_ref_cover` of its reference, and theirs cover a part of it (bench/hard's
        dev draws, grid 2,3: the same found on both pools, graphics' cells verified in
        356 instead of 433 ms a query)."""
        return Matcher(
            dataclasses.replace(self.policy, small_look=(), parts_look=0, placed_look=0),
            self._describe,
            self._extractor.scale,
        )

    def _describe(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        return self._extractor.describe(rgb, SHORT_SIDE)

    def search(
        self,
        library_id: int,
        pic: Picture,
        tags: Sequence[int] | None,
        any_tag: bool,
        pn: int,
        rn: int,
        timings: dict[str, float],
        t0: float,
    ) -> SearchPage:
        """One page of the library's copies of `pic`, decoded by the caller from
        `time.perf_counter()` `t0` on (its `timings` are added to)."""
        tag_filter = TagFilter(tuple(tags), any_tag) if tags else None
        wanted = min(pn + rn, MAX_RESULTS)

        hits: dict[int, Hit] = {}
        counts = {"exact": 0, "candidates": 0, "verified": 0, "matched": 0}
        t = time.perf_counter()
        exact = self.catalog.image_by_sign(library_id, pic.cont_sign)
        if exact is not None and (tag_filter is None or tag_filter.accepts(exact.tags)):
            hits[exact.id] = Hit(exact, 1.0, MatchKind.EXACT, FULL, FULL)
            counts["exact"] = 1
        timings["exact"] = time.perf_counter() - t

        t = time.perf_counter()
        query = self._extractor.query(shrink(pic.rgb))  # one resize serves both features
        timings["features"] = time.perf_counter() - t
        self.vectors.sync()
        pool = _Library(self.catalog, self.vectors, library_id, tag_filter, self.policy)
        self._match(_Run(pool, wanted, timings, counts, query), hits)
        ranked = sorted(hits.values(), key=lambda h: (-h.score, h.record.id))[:MAX_RESULTS]
        page = ranked[pn : pn + rn][: max(0, MAX_RESULTS - pn)]
        timings["total"] = time.perf_counter() - t0
        return SearchPage(page, len(ranked), pn + len(page) < len(ranked), timings, counts)

    def compare(self, pa: Picture, pb: Picture, timings: dict[str, float], t0: float) -> Comparison:
        """Is `pb` the same picture as `pa` (or a part of it, or it of pb)? The same
        matcher as a search's, over one candidate; `timings` and `t0` as in `search`."""
        if pa.cont_sign == pb.cont_sign:
            timings["total"] = time.perf_counter() - t0
            return Comparison(True, 1.0, MatchKind.EXACT, 1.0, FULL, FULL, timings)
        t = time.perf_counter()
        small_b = shrink(pb.rgb)
        query = self._extractor.query(shrink(pa.rgb))
        ref = self._extractor.reference(small_b)
        timings["features"] = time.perf_counter() - t
        h_b, w_b = small_b.shape[:2]
        colour = functools.cache(lambda: small_b)
        b = Reference(
            0,
            0.0,
            ref.local,
            w_b,
            h_b,
            functools.cache(  # for the pixel check, once a match is found
                lambda: stretch(np.asarray(cv2.cvtColor(small_b, cv2.COLOR_RGB2GRAY), np.uint8))
            ),
            functools.cache(lambda: extract_local(small_b, self.policy.second_look_features)),
            colour,
            functools.cache(functools.partial(coarse_features, colour, self.policy)),
            functools.cache(lambda: part_features(pb.rgb, self.part_features)),
        )
        record = ImageRecord(0, 0, pb.cont_sign, "", (), w_b, h_b, 0.0)
        counts = {"candidates": 0, "verified": 0, "matched": 0}
        hits: dict[int, Hit] = {}
        self._match(_Run(_One(record, ref.embedding, b), 1, timings, counts, query), hits)
        cosine = float(np.dot(query.embedding, ref.embedding))
        timings["total"] = time.perf_counter() - t0
        hit = hits.get(0)
        if hit is None:
            s = score(self._extractor.scale(cosine), NO_MATCH)
            return Comparison(False, round(s, 4), None, round(cosine, 4), (), (), timings)
        return Comparison(
            True,
            hit.score,
            hit.kind,
            round(cosine, 4),
            hit.query_region,
            hit.result_region,
            timings,
        )

    def _match(self, run: _Run, hits: dict[int, Hit]) -> None:
        """The copies of `run.whole` among `run.pool`'s pictures added to `hits`: the
        candidates of the whole query, then of its parts if it is no copy as a whole;
        those found over the same part of it as a stronger one and no copy of it
        dropped."""
        self._candidates(run, run.whole, hits)
        if self.policy.query_regions and not any(h.kind in _WHOLE for h in hits.values()):
            t = time.perf_counter()
            self._regions(run, run.whole.rgb, hits)
            run.timings["regions"] = time.perf_counter() - t
        if len(hits) > 1 and self.policy.rivals:
            t = time.perf_counter()
            self._rivals(run, hits)
            run.timings["rivals"] = time.perf_counter() - t

    def _candidates(
        self, run: _Run, query: QueryFeatures, hits: dict[int, Hit], box: Box | None = None
    ) -> None:
        """Verify candidates in growing rounds while the last round still found copies
        (`box`: where `query` lies in the whole query, if a part of it)."""
        k = self.candidates
        seen: set[int] = set(hits)
        run.timings.setdefault("candidates", 0.0)
        run.timings.setdefault("verification", 0.0)
        while True:
            t = time.perf_counter()
            cosines, ids = run.pool.nearest(query.embedding, k)
            run.timings["candidates"] += time.perf_counter() - t
            run.counts["candidates"] = len(ids)
            fresh = [
                (int(i), float(c)) for i, c in zip(ids, cosines, strict=True) if int(i) not in seen
            ]
            t = time.perf_counter()
            found = len(self._verify(run, query, fresh, hits, box=box))
            run.timings["verification"] += time.perf_counter() - t
            run.counts["verified"] += len(fresh)
            run.counts["matched"] += found
            seen.update(i for i, _ in fresh)
            # Go deeper only while copies are dense in the last round: a library holding
            # many copies of the query (de-duplication) returns them all, and an ordinary
            # query (one or two copies) costs one round.
            dense = found * 2 >= max(1, len(fresh))
            if not dense or len(ids) < k or len(hits) >= run.wanted or k >= MAX_RESULTS * 2:
                return
            k *= 2

    def _regions(self, run: _Run, rgb: NDArray[np.uint8], hits: dict[int, Hit]) -> None:
        """Parts of a query that is no copy as a whole, each searched on its own: the
        rectangles in it (a picture inside a screenshot, a slide, a page), then the cells
        of the policy's grids (a picture pasted with no border, several on one page:
        features/regions.py); their hits keep the part's place in the query as their
        query region, the best hit of a reference over all parts kept."""
        h, w = rgb.shape[:2]
        followed: set[int] = set()
        for (x, y, bw, bh), cell, least in self._query_parts(rgb):
            if self._covered(hits, in_frame(FULL, (x, y, bw, bh), w, h)):
                run.counts["covered"] = run.counts.get("covered", 0) + 1
                continue
            run.counts["regions"] = run.counts.get("regions", 0) + 1
            crop = np.ascontiguousarray(rgb[y : y + bh, x : x + bw])
            found = dict(hits)
            partial: dict[int, Verdict] = {}
            if cell:
                partial = self._cell(run, crop, found, (x, y, bw, bh))
            else:
                self._candidates(run, self._extractor.query(crop), found, (x, y, bw, bh))
            for image_id, hit in found.items():
                if image_id in hits and hits[image_id].score >= hit.score:
                    continue
                if polygon_area(hit.result_region) < least:
                    continue  # a detail of the reference: a part shows most of it
                region = in_frame(hit.query_region, (x, y, bw, bh), w, h)
                run.verdicts.pop(image_id, None)  # found on a part, not the whole
                hits[image_id] = Hit(
                    hit.record, hit.score, MatchKind.RESULT_IN_QUERY, region, hit.result_region
                )
            for image_id, verdict in partial.items():
                if image_id in hits or image_id in followed:
                    continue
                if len(followed) < self.policy.follow_cells:
                    followed.add(image_id)
                    self._follow(run, image_id, verdict, (x, y, bw, bh), hits)

    def _follow(
        self, run: _Run, image_id: int, verdict: Verdict, box: Box, hits: dict[int, Hit]
    ) -> None:
        """A grid cell's match that covers too little of its reference (a picture
        pasted across the cell's border) followed to where it lays all of the reference
        on the query: that box, with a margin, verified against the reference alone, and
        a match there covering `grid_ref_cover` of it added to `hits`."""
        laid = laid_box(run.whole, box, verdict)
        if laid is None:
            return
        h, w = run.whole.rgb.shape[:2]
        x, y, bw, bh = laid
        mx, my = round(bw * _FOLLOW_MARGIN), round(bh * _FOLLOW_MARGIN)
        x0, y0 = max(0, x - mx), max(0, y - my)
        x1, y1 = min(w, x + bw + mx), min(h, y + bh + my)
        grown = (x0, y0, x1 - x0, y1 - y0)
        if min(grown[2], grown[3]) < rule.REGION_MIN_SIDE or grown[2] * grown[3] > 0.9 * w * h:
            return  # too small to search, or the whole query, searched already
        vectors = run.pool.embeddings([image_id])
        if image_id not in vectors:
            return  # deleted meanwhile
        t = time.perf_counter()
        run.counts["followed"] = run.counts.get("followed", 0) + 1
        part = self._extractor.query(np.ascontiguousarray(run.whole.rgb[y0:y1, x0:x1]))
        cosine = float(np.dot(part.embedding, vectors[image_id]))
        found: dict[int, Hit] = {}
        self._verify(run, part, [(image_id, cosine)], found, box=grown)
        run.timings["verification"] += time.perf_counter() - t
        hit = found.get(image_id)
        if hit is None or polygon_area(hit.result_region) < self.policy.grid_ref_cover:
            return
        region = in_frame(hit.query_region, grown, w, h)
        run.verdicts.pop(image_id, None)
        hits[image_id] = Hit(
            hit.record, hit.score, MatchKind.RESULT_IN_QUERY, region, hit.result_region
        )
        run.counts["matched"] += 1

    def _covered(self, hits: dict[int, Hit], part: Region) -> bool:
        """Whether `part` (in 0..1 of the query) lies `part_covered` of its area or more
        inside the query region of one of `hits`."""
        least = self.policy.part_covered
        if least <= 0.0:
            return False
        area = polygon_area(part)
        return area > 0 and any(
            intersection(part, hit.query_region) >= least * area for hit in hits.values()
        )

    def _cell(
        self, run: _Run, crop: NDArray[np.uint8], hits: dict[int, Hit], box: Box
    ) -> dict[int, Verdict]:
        """One grid cell: its descriptor (at `grid_side`), its `grid_candidates` nearest
        references, and those at `grid_min_cosine` or more verified against the cell's
        own local features, found only then (most cells of most queries have none). A
        match joins `hits` if it covers `grid_ref_cover` of its reference: a cell that
        shows a part of one (a template's header, a landmark's detail) is no copy of it.
        The matches covering less: their verdicts."""
        t = time.perf_counter()
        embedding = self._extractor.describe(crop, self.policy.grid_side)
        cosines, ids = run.pool.nearest(embedding, self.policy.grid_candidates)
        run.timings["candidates"] += time.perf_counter() - t
        fresh = [
            (int(i), float(c))
            for i, c in zip(ids, cosines, strict=True)
            if int(i) not in hits and c >= self.policy.grid_min_cosine
        ]
        if not fresh:
            return {}
        t = time.perf_counter()
        part = QueryFeatures(crop, embedding, extract_local(crop, QUERY_FEATURES))
        found: dict[int, Hit] = {}
        verdicts = self._verify(run, part, fresh, found, self._cell_matcher, box)
        run.timings["verification"] += time.perf_counter() - t
        run.counts["verified"] += len(fresh)
        for image_id, hit in found.items():
            if polygon_area(hit.result_region) >= self.policy.grid_ref_cover:
                hits[image_id] = hit
                run.counts["matched"] += 1
        return {i: v for i, v in verdicts.items() if i not in hits}

    def _rivals(self, run: _Run, hits: dict[int, Hit]) -> None:
        """Results found inside the query over the same part of it as a stronger one
        that is no copy of them dropped (hits.py `rivals`)."""
        for image_id in rivals(hits, self.policy.rivals, lambda a, b: self._copies(run, a, b)):
            del hits[image_id]
            run.counts["rivals"] = run.counts.get("rivals", 0) + 1
        if self.policy.rival_gap > 0.0:
            for image_id in self._contest(run, hits):
                del hits[image_id]
                run.counts["rivals"] = run.counts.get("rivals", 0) + 1

    def _contest(self, run: _Run, hits: dict[int, Hit]) -> list[int]:
        """The results verified on the whole query that lose a contest: another lies
        over the same part of the query, the two differ there, and the query agrees with
        the other in `rival_gap` more of the blocks in which they differ (another theme's
        screen of one layout, another chart of one template), unless the two are copies
        of each other (a picture and its captioned copy, both in the library)."""
        policy = self.policy
        whole = [
            h
            for h in sorted(hits.values(), key=lambda h: (-h.score, h.record.id))
            if h.record.id in run.verdicts
        ]
        dropped: set[int] = set()
        for i, a in enumerate(whole):
            for b in whole[i + 1 :]:
                if a.record.id in dropped or b.record.id in dropped:
                    continue
                if overlap(a.query_region, b.query_region) < policy.rivals:
                    continue
                shares = self.matcher.rivals(
                    run.whole,
                    (run.verdicts[a.record.id], run.refs[a.record.id][1].pixels),
                    (run.verdicts[b.record.id], run.refs[b.record.id][1].pixels),
                )
                if shares is None or shares[2] < rule.MIN_BLOCKS:
                    continue
                shows_a, shows_b, _ = shares
                if abs(shows_a - shows_b) < policy.rival_gap:
                    continue
                loser, winner = (b, a) if shows_a > shows_b else (a, b)
                if not self._copies(run, winner.record, loser.record, both_ways=True):
                    dropped.add(loser.record.id)
        return sorted(dropped)

    def _copies(self, run: _Run, a: ImageRecord, b: ImageRecord, both_ways: bool = False) -> bool:
        """Whether one of two library pictures is a copy of the other (`both_ways`: each
        of the other), judged on what they keep (their stored features and thumbnails)."""
        self._known(run, [a.id, b.id])
        if a.id not in run.refs or b.id not in run.refs:
            return True  # deleted meanwhile: nothing to tell
        vectors = run.pool.embeddings([a.id, b.id])
        if a.id not in vectors or b.id not in vectors:
            return True
        cosine = float(np.dot(vectors[a.id], vectors[b.id]))
        ra, rb = run.refs[a.id][1], run.refs[b.id][1]
        a_kept = Stored(ra.local, 0, lambda _: ra.pixels(), lambda _: ra.colour())
        b_kept = Stored(rb.local, 0, lambda _: rb.pixels(), lambda _: rb.colour())
        return copies(a_kept, b_kept, cosine, self.matcher, both_ways) is not None

    def _known(self, run: _Run, ids: Sequence[int]) -> None:
        """Each candidate as the matcher sees it, read once a search."""
        run.refs.update(run.pool.known([i for i in ids if i not in run.refs]))

    def _query_parts(self, rgb: NDArray[np.uint8]) -> list[_Part]:
        """The parts of a query searched on their own: its rectangles, then the cells of
        the policy's grids. A match on a rectangle of closed contours may cover any
        `part_ref_cover` of its reference; on one the straight edges alone drew, or on a
        cell, which may as well be a look-alike's text lines or header, most of it."""
        h, w = rgb.shape[:2]
        policy = self.policy
        found = picture_regions(rgb, policy.query_regions, bool(policy.straight_regions))
        parts = [_Part(box, False, policy.part_ref_cover) for box in found.framed]
        parts += [_Part(box, False, policy.grid_ref_cover) for box in found.drawn]
        if policy.query_grid:
            cells = grid_regions(w, h, policy.query_grid)
            parts += [_Part(box, True, policy.grid_ref_cover) for box in cells]
        return parts

    def _verify(
        self,
        run: _Run,
        query: QueryFeatures,
        candidates: list[tuple[int, float]],
        hits: dict[int, Hit],
        matcher: Matcher | None = None,
        box: Box | None = None,
    ) -> dict[int, Verdict]:
        """Verify `candidates` against `query` (a part of the whole query at `box`, if
        given) and add the copies to `hits`: their verdicts."""
        if not candidates:
            return {}
        matcher = matcher or self.matcher
        self._known(run, [i for i, _ in candidates])
        known = run.refs  # a candidate missing was deleted since
        refs = [
            dataclasses.replace(known[i][1], cosine=cosine)
            for i, cosine in candidates
            if i in known
        ]
        found = matcher.match(query, refs)
        if box is None and query is run.whole:
            run.verdicts.update(found)
        if box is not None:
            found = {
                i: v
                for i, v in found.items()
                if part_holds(matcher.policy, run.whole, box, v, known[i][1].pixels)
            }
        for i, verdict in found.items():
            match = verdict.match
            hits[i] = Hit(
                known[i][0],
                round(verdict.score, 4),
                match_kind(match),
                match.query_region,
                match.ref_region,
            )
        return found
