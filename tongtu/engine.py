"""add / search / update / delete: the only place the matching pipeline is assembled.

    search: decode → exact (cont_sign) → candidates (vector index, tag filter inside)
            → verification (local features + RANSAC) → calibrated score → page

The engine knows nothing of HTTP or the CLI. It is safe to call from many threads: the
CPU work (decode, descriptor, verification) runs in the caller's thread, the catalog
serialises writes, and each vector index follows the catalog's journal.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Concatenate

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.clusters import Cluster, Item, find_clusters
from tongtu.errors import (
    ConfigError,
    InvalidParam,
    ItemExists,
    ItemNotFound,
    MissingParam,
    StoreUnavailable,
    TongtuError,
)
from tongtu.features import (
    DIM,
    Extractor,
    LocalFeatures,
    QueryFeatures,
    model_id,
    shrink,
)
from tongtu.features.agreement import thumbnail_gray
from tongtu.features.local import (
    NO_MATCH,
    QUERY_FEATURES,
    extract_local,
    polygon_area,
    stretch,
)
from tongtu.features.matcher import Matcher, MatchPolicy, Reference, Verdict
from tongtu.features.regions import Box, grid_regions, picture_regions
from tongtu.features.score import MatchKind, match_kind, score
from tongtu.fetch import Fetcher
from tongtu.imaging import SIGNATURE, Picture, decode_for, thumbnail_jpeg
from tongtu.params import MAX_RESULTS
from tongtu.settings import Settings
from tongtu.storage import open_catalog, open_vectors
from tongtu.storage.base import ImageRecord, LibraryRecord, NewImage, TagFilter, VectorStore
from tongtu.storage.catalog import Catalog
from tongtu.storage.group import GroupCommit

__all__ = [
    "Added",
    "Comparison",
    "Engine",
    "Hit",
    "OnDuplicate",
    "SearchPage",
    "Source",
]

log = logging.getLogger("tongtu")

Region = tuple[tuple[float, float], ...]

_FULL = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
# Kinds of hit where the query as a whole is a copy: no region of it needs a search.
_WHOLE = (MatchKind.EXACT, MatchKind.NEAR_EXACT, MatchKind.QUERY_IN_RESULT)


def _in_frame(region: Region, box: tuple[int, int, int, int], w: int, h: int) -> Region:
    """A region in 0..1 coordinates of a rectangle `box` (x, y, width, height) of a
    w × h picture, in 0..1 coordinates of the whole picture."""
    x, y, bw, bh = box
    return tuple(((x + u * bw) / w, (y + v * bh) / h) for u, v in region)


class _Gate:
    """At most `n` pictures decoded and matched at once, however many threads ask: a
    server's thread pool (40 threads) doing that many at once on a few cores only queues
    for the CPU, and each thread keeps the memory of the largest picture it worked on
    (bench/load, 16 clients: server RSS 184 → 533 MB, and it stayed idle). Re-entrant
    per thread, so an operation that calls another does not wait for itself."""

    def __init__(self, n: int) -> None:
        self._slots = threading.BoundedSemaphore(n)
        self._depth = threading.local()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        depth = getattr(self._depth, "n", 0)
        if depth == 0:
            self._slots.acquire()
        self._depth.n = depth + 1
        try:
            yield
        finally:
            self._depth.n = depth
            if depth == 0:
                self._slots.release()


def _gated[**P, R](
    method: Callable[Concatenate[Engine, P], R],
) -> Callable[Concatenate[Engine, P], R]:
    """Runs the engine operation inside its `_Gate`."""

    def wrapper(self: Engine, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._images():
            return method(self, *args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


_Write = tuple[int, Sequence[NewImage], int]  # library id, images, capacity


@dataclass(frozen=True, slots=True)
class Source:
    """Where an image comes from: bytes win over a URL (docs/baidu-api.md)."""

    image: bytes | None = None
    url: str | None = None

    @property
    def given(self) -> bool:
        return self.image is not None or bool(self.url)


class OnDuplicate(StrEnum):
    """What adding an image already in the library (same cont_sign) does."""

    REJECT = "reject"  # ItemExists (216681), as Baidu does
    RETURN_EXISTING = "return-existing"  # the existing record, unchanged
    REPLACE = "replace"  # the existing record, with the new brief and tags


@dataclass(frozen=True, slots=True)
class Added:
    record: ImageRecord
    status: str  # "added" | "existing" | "replaced"


@dataclass(frozen=True, slots=True)
class Hit:
    record: ImageRecord
    score: float
    kind: MatchKind
    query_region: Region
    result_region: Region


@dataclass(slots=True)
class SearchPage:
    hits: list[Hit]
    total: int
    has_more: bool
    timings: dict[str, float] = field(default_factory=dict)
    # How many images each stage looked at: "exact", "candidates", "verified", "matched".
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Comparison:
    same: bool
    score: float
    kind: MatchKind | None
    cosine: float
    a_region: Region
    b_region: Region
    timings: dict[str, float]


class Engine:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        vectors: VectorStore,
        extractor: Extractor,
        fetcher: Fetcher,
        policy: MatchPolicy | None = None,
    ) -> None:
        self.settings = settings
        # what a match must show (features/policy.py); the settings' by default
        self.policy = policy or MatchPolicy.from_settings(settings)
        self._images = _Gate(settings.resolved_image_concurrency())
        # The threads adds decode and extract in, made once: threads made per call each
        # opened catalog connections of their own (SQLite's with its PRAGMAs, a
        # PostgreSQL session) for one add.
        self._workers = ThreadPoolExecutor(
            max_workers=settings.resolved_image_concurrency(), thread_name_prefix="tongtu-add"
        )
        self.catalog = catalog
        self.vectors = vectors
        # Concurrent adds share one transaction and one vector-store catch-up.
        self.writes: GroupCommit[_Write, list[ImageRecord | TongtuError]] = GroupCommit(
            catalog.add_to_libraries, self._sync_after_write
        )
        self._extractor = extractor
        self._fetcher = fetcher
        self._model = model_id(settings.model)
        self._owns_extractor = False  # one given by the caller is the caller's to close

    @classmethod
    def open(cls, settings: Settings, extractor: Extractor | None = None) -> Engine:
        """The engine of these settings. `extractor`: one the caller made (and closes),
        in place of the model the settings name."""
        catalog = open_catalog(settings)
        engine = cls(
            settings,
            catalog,
            open_vectors(settings, catalog, DIM),
            extractor
            or Extractor.from_model(
                settings.model,
                settings.resolved_threads(),
                settings.local_features,
                settings.device,
                settings.descriptor_batch,
            ),
            Fetcher(
                timeout=settings.url_timeout,
                max_bytes=settings.url_max_bytes,
                max_redirects=settings.url_max_redirects,
                allow=tuple(settings.url_allow),
            ),
        )
        engine._owns_extractor = extractor is None
        return engine

    @property
    def matcher(self) -> Matcher:
        return Matcher(self.policy)

    # libraries ---------------------------------------------------------------------

    def library(self, name: str, create: bool = False) -> LibraryRecord:
        lib = self.catalog.library_by_name(name)
        if lib is None:
            if not create:
                raise ItemNotFound(f"no library named {name!r}")
            # Several processes may make it at once (the shares of one import): one does.
            with self.catalog.exclusive(f"library {name}"):
                lib = self.catalog.library_by_name(name) or self.catalog.create_library(
                    name, self._model, self.settings.default_capacity, SIGNATURE
                )
        self._check_model(lib)
        return lib

    def _check_model(self, lib: LibraryRecord) -> None:
        if lib.model != self._model:
            raise ConfigError(
                f"library {lib.name!r} was built with model {lib.model!r}; this server runs "
                f"{self._model!r} (set TONGTU_MODEL to match)"
            )

    # operations --------------------------------------------------------------------

    def load(self, source: Source, signature: int = SIGNATURE) -> Picture:
        """The picture as a library with this signature version decodes it."""
        if source.image is not None:
            return decode_for(source.image, signature)
        if source.url:
            return decode_for(self._fetcher.fetch(source.url), signature)
        raise MissingParam("image or url is required")

    def add(
        self,
        lib: LibraryRecord,
        source: Source,
        brief: str,
        tags: Sequence[int] = (),
        on_duplicate: OnDuplicate = OnDuplicate.REJECT,
    ) -> Added:
        [(_, outcome)] = list(self.add_many(lib, [(source, brief, tags)], on_duplicate, workers=1))
        if isinstance(outcome, TongtuError):
            raise outcome
        return outcome

    def add_many(
        self,
        lib: LibraryRecord,
        items: Iterable[tuple[Source, str, Sequence[int]]],
        on_duplicate: OnDuplicate = OnDuplicate.REJECT,
        workers: int = 2,
        batch: int = 16,
    ) -> Iterator[tuple[int, Added | TongtuError]]:
        """Add many images; yields (position, outcome) as each batch is committed.

        Decoding and features run `workers` at a time in the engine's worker threads
        (the decoders, OpenCV and onnxruntime release the GIL), so one image's decode and
        local features overlap another's descriptor; `workers=1` runs them in the calling
        thread. Each picture is decoded and extracted inside the engine's gate
        (`TONGTU_IMAGE_CONCURRENCY`), as a search's is. The catalog takes each batch in
        one transaction."""

        def prepare(item: tuple[Source, str, Sequence[int]]) -> NewImage | TongtuError:
            with self._images():
                return prepare_one(item)

        def prepare_one(item: tuple[Source, str, Sequence[int]]) -> NewImage | TongtuError:
            source, brief, tags = item
            try:
                pic = self.load(source, lib.signature)
                if self.catalog.image_by_sign(lib.id, pic.cont_sign) is not None:
                    return ItemExists(pic.cont_sign)
                small = shrink(pic.rgb)  # one resize of the full picture serves all below
                feats = self._extractor.reference(small, parallel=workers > 1)
                side = self.settings.thumbnail_side
                thumb_from = small if side <= max(small.shape[:2]) else pic.rgb
                return NewImage(
                    pic.cont_sign,
                    brief,
                    tuple(tags),
                    pic.size,
                    feats.embedding,
                    feats.local.to_bytes(),
                    thumbnail_jpeg(thumb_from, side) if side > 0 else None,
                )
            except TongtuError as exc:
                return exc

        pending: list[tuple[int, NewImage | TongtuError, str, Sequence[int]]] = []
        if workers <= 1:
            for pos, item in enumerate(items):
                pending.append((pos, prepare(item), item[1], item[2]))
                if len(pending) >= batch:
                    yield from self._commit(lib, pending, on_duplicate)
                    pending = []
        else:
            window: deque[tuple[int, Future[NewImage | TongtuError], str, Sequence[int]]] = deque()
            try:
                for pos, item in enumerate(items):
                    window.append((pos, self._workers.submit(prepare, item), item[1], item[2]))
                    while len(window) > workers * 2:
                        p, fut, brief, tags = window.popleft()
                        pending.append((p, fut.result(), brief, tags))
                        if len(pending) >= batch:
                            yield from self._commit(lib, pending, on_duplicate)
                            pending = []
                while window:
                    p, fut, brief, tags = window.popleft()
                    pending.append((p, fut.result(), brief, tags))
            finally:  # a caller that stops early leaves no work queued behind it
                for _, fut, _, _ in window:
                    fut.cancel()
        if pending:
            yield from self._commit(lib, pending, on_duplicate)

    def _commit(
        self,
        lib: LibraryRecord,
        pending: list[tuple[int, NewImage | TongtuError, str, Sequence[int]]],
        on_duplicate: OnDuplicate,
    ) -> list[tuple[int, Added | TongtuError]]:
        """Write one batch; the outcomes, in order, once the index has them too."""
        ready = [(p, item) for p, item, _, _ in pending if isinstance(item, NewImage)]
        stored = self.writes((lib.id, [item for _, item in ready], lib.capacity))
        outcome: dict[int, Added | TongtuError] = {}
        for (p, _), stored_one in zip(ready, stored, strict=True):
            outcome[p] = (
                stored_one if isinstance(stored_one, TongtuError) else Added(stored_one, "added")
            )
        results: list[tuple[int, Added | TongtuError]] = []
        for p, item, brief, tags in pending:
            done: Added | TongtuError = outcome.get(p) or (
                item if isinstance(item, TongtuError) else ItemExists(item.cont_sign)
            )
            if isinstance(done, ItemExists) and on_duplicate is not OnDuplicate.REJECT:
                existing = self.catalog.image_by_sign(lib.id, done.cont_sign)
                if existing is not None and on_duplicate is OnDuplicate.RETURN_EXISTING:
                    done = Added(existing, "existing")
                elif existing is not None:
                    self.catalog.update_image(existing.id, brief, tags)
                    done = Added(self._image(lib, existing.id), "replaced")
            results.append((p, done))
        return results

    def get(self, lib: LibraryRecord, ref: str) -> ImageRecord:
        """An image by its id (digits) or its cont_sign ("n,n")."""
        if ref.isdigit() and len(ref) < 19:
            return self._image(lib, int(ref))
        record = self.catalog.image_by_sign(lib.id, ref)
        if record is None:
            raise ItemNotFound(f"no image {ref!r} in the library")
        return record

    def _image(self, lib: LibraryRecord, image_id: int) -> ImageRecord:
        record = self.catalog.image_by_id(lib.id, image_id)
        if record is None:
            raise ItemNotFound(f"no image with id {image_id} in the library")
        return record

    def thumbnail(self, record: ImageRecord) -> bytes:
        jpeg = self.catalog.thumbnail(record.id)
        if jpeg is None:
            raise ItemNotFound("the image has no thumbnail (added with TONGTU_THUMBNAIL_SIDE=0)")
        return jpeg

    @_gated
    def find(self, lib: LibraryRecord, source: Source, cont_sign: str | None) -> ImageRecord:
        """The image an update / delete names: by image, else url, else cont_sign."""
        sign = self.load(source, lib.signature).cont_sign if source.given else cont_sign
        if not sign:
            raise MissingParam("image, url or cont_sign is required")
        record = self.catalog.image_by_sign(lib.id, sign)
        if record is None:
            raise ItemNotFound(f"no image with cont_sign {sign} in the library")
        return record

    def update(self, record: ImageRecord, brief: str | None, tags: Sequence[int] | None) -> None:
        self.catalog.update_image(record.id, brief, tags)

    def set_capacity(self, lib: LibraryRecord, capacity: int) -> LibraryRecord:
        if capacity < 1:
            raise InvalidParam("capacity must be at least 1")
        self.catalog.set_capacity(lib.id, capacity)
        return self.library(lib.name)

    def delete_library(self, lib: LibraryRecord) -> int:
        deleted = self.catalog.delete_library(lib.id)
        self._sync_after_write()
        with contextlib.suppress(StoreUnavailable):  # its deletes are journalled anyway
            self.vectors.drop_library(lib.id)
        return deleted

    def delete(self, lib: LibraryRecord, cont_signs: Sequence[str]) -> int:
        """Delete by cont_sign; ItemNotFound when none of them is in the library."""
        deleted = self.catalog.delete_images(lib.id, cont_signs)
        if deleted == 0:
            raise ItemNotFound("none of the cont_signs is in the library")
        self._sync_after_write()
        return deleted

    @_gated
    def search(
        self,
        lib: LibraryRecord,
        source: Source,
        tags: Sequence[int] | None = None,
        any_tag: bool = False,
        pn: int = 0,
        rn: int = 300,
    ) -> SearchPage:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        pic = self.load(source, lib.signature)
        timings["decode"] = time.perf_counter() - t0
        tag_filter = TagFilter(tuple(tags), any_tag) if tags else None
        wanted = min(pn + rn, MAX_RESULTS)

        hits: dict[int, Hit] = {}
        counts = {"exact": 0, "candidates": 0, "verified": 0, "matched": 0}
        t = time.perf_counter()
        exact = self.catalog.image_by_sign(lib.id, pic.cont_sign)
        if exact is not None and (tag_filter is None or tag_filter.accepts(exact.tags)):
            hits[exact.id] = Hit(exact, 1.0, MatchKind.EXACT, _FULL, _FULL)
            counts["exact"] = 1
        timings["exact"] = time.perf_counter() - t

        t = time.perf_counter()
        query = self._extractor.query(shrink(pic.rgb))  # one resize serves both features
        timings["features"] = time.perf_counter() - t
        self.sync()
        self._candidates(lib.id, query, tag_filter, wanted, hits, timings, counts)
        if self.policy.query_regions and not any(h.kind in _WHOLE for h in hits.values()):
            t = time.perf_counter()
            self._regions(lib.id, query.rgb, tag_filter, wanted, hits, timings, counts)
            timings["regions"] = time.perf_counter() - t

        ranked = sorted(hits.values(), key=lambda h: (-h.score, h.record.id))[:MAX_RESULTS]
        page = ranked[pn : pn + rn][: max(0, MAX_RESULTS - pn)]
        timings["total"] = time.perf_counter() - t0
        return SearchPage(page, len(ranked), pn + len(page) < len(ranked), timings, counts)

    @_gated
    def compare(self, a: Source, b: Source) -> Comparison:
        """Is `b` the same picture as `a` (or a part of it, or it of b)?"""
        t0 = time.perf_counter()
        pa, pb = self.load(a), self.load(b)
        timings = {"decode": time.perf_counter() - t0}
        if pa.cont_sign == pb.cont_sign:
            timings["total"] = time.perf_counter() - t0
            return Comparison(True, 1.0, MatchKind.EXACT, 1.0, _FULL, _FULL, timings)
        t = time.perf_counter()
        small_b = shrink(pb.rgb)
        query = self._extractor.query(shrink(pa.rgb))
        ref = self._extractor.reference(small_b)
        timings["features"] = time.perf_counter() - t
        t = time.perf_counter()
        cosine = float(np.dot(query.embedding, ref.embedding))
        gray_b = functools.cache(  # for the pixel check, once a match is found
            lambda: stretch(np.asarray(cv2.cvtColor(small_b, cv2.COLOR_RGB2GRAY), np.uint8))
        )
        dense_b = functools.cache(lambda: extract_local(small_b, self.policy.second_look_features))
        h_b, w_b = small_b.shape[:2]

        def against(part: QueryFeatures) -> Verdict | None:
            cos = float(np.dot(part.embedding, ref.embedding))
            b = Reference(0, cos, ref.local, w_b, h_b, gray_b, dense_b)
            return self.matcher.match(part, [b]).get(0)

        verdict, kind, query_region = against(query), None, None
        if verdict is None and self.policy.query_regions:  # regions, as in search
            h_a, w_a = query.rgb.shape[:2]
            for (x, y, bw, bh), cell in self._query_parts(query.rgb):
                crop = np.ascontiguousarray(query.rgb[y : y + bh, x : x + bw])
                if not cell:
                    part = against(self._extractor.query(crop))
                else:  # a grid cell, seen as search sees it (`_cell`)
                    embedding = self._extractor.describe(crop, self.policy.grid_side)
                    if float(np.dot(embedding, ref.embedding)) < self.policy.grid_min_cosine:
                        continue
                    part = against(
                        QueryFeatures(crop, embedding, extract_local(crop, QUERY_FEATURES))
                    )
                if part is not None and cell and part.match.ref_cover < self.policy.grid_ref_cover:
                    part = None  # as in search: a cell showing a part of b
                if part is not None and (verdict is None or part.score > verdict.score):
                    verdict, kind = part, MatchKind.RESULT_IN_QUERY
                    query_region = _in_frame(part.match.query_region, (x, y, bw, bh), w_a, h_a)
        timings["verification"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        if verdict is None:
            s = score(cosine, NO_MATCH)
            return Comparison(False, round(s, 4), None, round(cosine, 4), (), (), timings)
        match = verdict.match
        return Comparison(
            True,
            round(verdict.score, 4),
            kind or match_kind(match),
            round(cosine, 4),
            query_region or match.query_region,
            match.ref_region,
            timings,
        )

    def duplicates(
        self, lib: LibraryRecord, progress: Callable[[int], None] | None = None
    ) -> tuple[list[Cluster], dict[int, ImageRecord]]:
        """Clusters of copies within the library, with the records they name."""
        ids, vecs = self.catalog.all_embeddings(lib.id)
        if len(ids) < 2:
            return [], {}
        records = self.catalog.images_by_id(ids.tolist())
        items = [
            Item(
                int(i),
                records[i].width,
                records[i].height,
                records[i].created_at,
                records[i].cont_sign,
            )
            for i in ids.tolist()
            if i in records
        ]
        keep = np.array([int(i) in records for i in ids.tolist()], dtype=bool)
        vecs = vecs[keep]

        def local(positions: Sequence[int]) -> dict[int, LocalFeatures]:
            blobs = self.catalog.local_features([items[p].key for p in positions])
            return {
                p: LocalFeatures.from_bytes(blobs[items[p].key])
                for p in positions
                if items[p].key in blobs
            }

        def pixels(position: int) -> NDArray[np.uint8] | None:
            return self._pixels(records[items[position].key])()

        clusters = find_clusters(items, vecs, local, self.policy, progress, pixels)
        named = {k: records[k] for c in clusters for k in c.members}
        return clusters, named

    def _candidates(
        self,
        library_id: int,
        query: QueryFeatures,
        tags: TagFilter | None,
        wanted: int,
        hits: dict[int, Hit],
        timings: dict[str, float],
        counts: dict[str, int],
    ) -> None:
        """Verify candidates in growing rounds while the last round still found copies."""
        k = self.settings.candidates
        seen: set[int] = set(hits)
        timings.setdefault("candidates", 0.0)
        timings.setdefault("verification", 0.0)
        while True:
            t = time.perf_counter()
            cosines, ids = self.vectors.search(library_id, query.embedding, k, tags)
            timings["candidates"] += time.perf_counter() - t
            counts["candidates"] = len(ids)
            fresh = [
                (int(i), float(c)) for i, c in zip(ids, cosines, strict=True) if int(i) not in seen
            ]
            t = time.perf_counter()
            found = self._verify(query, fresh, hits)
            timings["verification"] += time.perf_counter() - t
            counts["verified"] += len(fresh)
            counts["matched"] += found
            seen.update(i for i, _ in fresh)
            # Go deeper only while copies are dense in the last round: a library holding
            # many copies of the query (de-duplication) returns them all, and an ordinary
            # query (one or two copies) costs one round.
            dense = found * 2 >= max(1, len(fresh))
            if not dense or len(ids) < k or len(hits) >= wanted or k >= MAX_RESULTS * 2:
                return
            k *= 2

    def _regions(
        self,
        library_id: int,
        rgb: NDArray[np.uint8],
        tags: TagFilter | None,
        wanted: int,
        hits: dict[int, Hit],
        timings: dict[str, float],
        counts: dict[str, int],
    ) -> None:
        """Parts of a query that is no copy as a whole, each searched on its own: the
        rectangles in it (a picture inside a screenshot, a slide, a page), then the cells
        of the policy's grids (a picture pasted with no border, several on one page:
        features/regions.py); their hits keep the part's place in the query as their
        query region, the best hit of a reference over all parts kept."""
        h, w = rgb.shape[:2]
        for (x, y, bw, bh), cell in self._query_parts(rgb):
            counts["regions"] = counts.get("regions", 0) + 1
            crop = np.ascontiguousarray(rgb[y : y + bh, x : x + bw])
            found = dict(hits)
            if cell:
                self._cell(library_id, crop, tags, found, timings, counts)
            else:
                self._candidates(
                    library_id, self._extractor.query(crop), tags, wanted, found, timings, counts
                )
            for image_id, hit in found.items():
                if image_id in hits and hits[image_id].score >= hit.score:
                    continue
                region = _in_frame(hit.query_region, (x, y, bw, bh), w, h)
                hits[image_id] = Hit(
                    hit.record, hit.score, MatchKind.RESULT_IN_QUERY, region, hit.result_region
                )

    def _cell(
        self,
        library_id: int,
        crop: NDArray[np.uint8],
        tags: TagFilter | None,
        hits: dict[int, Hit],
        timings: dict[str, float],
        counts: dict[str, int],
    ) -> None:
        """One grid cell: its descriptor (at `grid_side`), its `grid_candidates` nearest
        references, and those at `grid_min_cosine` or more verified against the cell's
        own local features, found only then (most cells of most queries have none). A
        match joins `hits` if it covers `grid_ref_cover` of its reference: a cell that
        shows a part of one (a template's header, a landmark's detail) is no copy of it."""
        t = time.perf_counter()
        embedding = self._extractor.describe(crop, self.policy.grid_side)
        cosines, ids = self.vectors.search(library_id, embedding, self.policy.grid_candidates, tags)
        timings["candidates"] += time.perf_counter() - t
        fresh = [
            (int(i), float(c))
            for i, c in zip(ids, cosines, strict=True)
            if int(i) not in hits and c >= self.policy.grid_min_cosine
        ]
        if not fresh:
            return
        t = time.perf_counter()
        part = QueryFeatures(crop, embedding, extract_local(crop, QUERY_FEATURES))
        found: dict[int, Hit] = {}
        self._verify(part, fresh, found)
        timings["verification"] += time.perf_counter() - t
        counts["verified"] += len(fresh)
        for image_id, hit in found.items():
            if polygon_area(hit.result_region) >= self.policy.grid_ref_cover:
                hits[image_id] = hit
                counts["matched"] += 1

    def _query_parts(self, rgb: NDArray[np.uint8]) -> list[tuple[Box, bool]]:
        """The parts of a query searched on their own: its rectangles, then the cells of
        the policy's grids (True)."""
        h, w = rgb.shape[:2]
        parts = [(box, False) for box in picture_regions(rgb, self.policy.query_regions)]
        if self.policy.query_grid:
            parts += [(box, True) for box in grid_regions(w, h, self.policy.query_grid)]
        return parts

    def _verify(
        self, query: QueryFeatures, candidates: list[tuple[int, float]], hits: dict[int, Hit]
    ) -> int:
        if not candidates:
            return 0
        stored = self.catalog.images_with_local([i for i, _ in candidates])
        records = {i: stored[i][0] for i, _ in candidates if i in stored}  # else deleted since
        refs = [
            Reference(
                i,
                cosine,
                LocalFeatures.from_bytes(stored[i][1]),
                records[i].width,
                records[i].height,
                self._pixels(records[i]),
                functools.partial(self._dense_features, records[i]),
            )
            for i, cosine in candidates
            if i in records
        ]
        found = self.matcher.match(query, refs)
        for i, verdict in found.items():
            match = verdict.match
            hits[i] = Hit(
                records[i],
                round(verdict.score, 4),
                match_kind(match),
                match.query_region,
                match.ref_region,
            )
        return len(found)

    def _pixels(self, record: ImageRecord) -> Callable[[], NDArray[np.uint8] | None]:
        """The reference's grey pixels, from its stored thumbnail, when asked."""

        def gray() -> NDArray[np.uint8] | None:
            jpeg = self.catalog.thumbnail(record.id)
            return None if jpeg is None else thumbnail_gray(jpeg)

        return gray

    def _dense_features(self, record: ImageRecord) -> LocalFeatures | None:
        """Local features found densely on the stored thumbnail (None without one)."""
        jpeg = self.catalog.thumbnail(record.id)
        if jpeg is None:
            return None
        bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None or max(bgr.shape[:2]) < self.policy.second_look_min_side:
            return None  # a tiny thumbnail holds no more detail than the stored features
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        return extract_local(rgb, self.policy.second_look_features)

    # the vector store follows the catalog's journal ----------------------------------

    def sync(self) -> None:
        """Apply every catalog write since the last sync (from any process)."""
        self.vectors.sync()

    def _sync_after_write(self) -> None:
        """A write is acknowledged once the catalog has it: a shared vector store that
        does not answer now gets it from the journal at its next sync (and a search
        fails until then rather than miss it)."""
        try:
            self.sync()
        except StoreUnavailable as exc:
            log.warning("write committed; the vector store will catch up: %s", exc)

    def close(self) -> None:
        self._workers.shutdown(cancel_futures=True)
        if self._owns_extractor:
            self._extractor.close()
        self.vectors.close()
        self.catalog.close()
