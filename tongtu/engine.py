"""The facade: libraries and images — add, search, compare, update, delete — over the
catalog and a vector index chosen by the settings. Adds run through ingest.py,
searches and compares through search.py; the engine decodes, bounds the pictures worked
on at once (its gate) and keeps the libraries.

The engine knows nothing of HTTP or the CLI. It is safe to call from many threads: the
CPU work (decode, descriptor, verification) runs in the caller's thread, the catalog
serialises writes, and each vector index follows the catalog's journal.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Concatenate

import numpy as np
from numpy.typing import NDArray

from tongtu.clusters import Cluster, Item, find_clusters
from tongtu.errors import (
    ConfigError,
    InvalidParam,
    ItemNotFound,
    MissingParam,
    StoreUnavailable,
    TongtuError,
)
from tongtu.features import (
    DIM,
    Extractor,
    LocalFeatures,
    data_model,
    model_id,
)
from tongtu.features.matcher import MatchPolicy
from tongtu.fetch import Fetcher
from tongtu.hits import Comparison, Hit, SearchPage
from tongtu.imaging import SIGNATURE, Picture, decode_for
from tongtu.ingest import Added, Ingest, OnDuplicate, Source, Write, stored_image
from tongtu.references import colour_pixels, gray_pixels
from tongtu.search import Search
from tongtu.settings import Settings
from tongtu.storage import open_catalog, open_vectors
from tongtu.storage.base import ImageRecord, LibraryRecord, VectorStore
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


def _with_model(settings: Settings, catalog: Catalog) -> Settings:
    """The settings with the model named: where `TONGTU_MODEL` names none, the one the
    catalog's libraries record (features/descriptor.py, `data_model`)."""
    if settings.model:
        return settings
    name = data_model("", (lib.model for lib in catalog.libraries()))
    return settings.model_copy(update={"model": name})


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
        settings = _with_model(settings, catalog)
        self.settings = settings
        self._images = _Gate(settings.resolved_image_concurrency())
        self.catalog = catalog
        self.vectors = vectors
        self._extractor = extractor
        self.ingest = Ingest(
            catalog,
            extractor,
            self.load,
            self._images,
            settings.thumbnail_side,
            settings.resolved_image_concurrency(),
            self._sync_after_write,
            settings.reference_parts,
        )
        # what a match must show (features/policy.py): the settings' by default
        self.searching = Search(
            catalog,
            vectors,
            extractor,
            settings.candidates,
            policy or MatchPolicy.from_settings(settings),
            settings.reference_parts,
        )
        self._fetcher = fetcher
        self._model = model_id(settings.model)
        self._owns_extractor = False  # one given by the caller is the caller's to close

    @classmethod
    def open(cls, settings: Settings, extractor: Extractor | None = None) -> Engine:
        """The engine of these settings. `extractor`: one the caller made (and closes),
        in place of the model the settings name."""
        catalog = open_catalog(settings)
        try:
            settings = _with_model(settings, catalog)
        except ConfigError:
            catalog.close()
            raise
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
    def policy(self) -> MatchPolicy:
        """What a match must show: searches, compares and `duplicates` follow a change."""
        return self.searching.policy

    @policy.setter
    def policy(self, policy: MatchPolicy) -> None:
        self.searching.policy = policy

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
        """Add many images; yields (position, outcome) as each batch is committed
        (ingest.py: `workers` at a time, `batch` a transaction)."""
        return self.ingest.add_many(lib, items, on_duplicate, workers, batch)

    @property
    def writes(self) -> GroupCommit[Write, list[ImageRecord | TongtuError]]:
        """The group commit concurrent adds share (its counts are in /metrics)."""
        return self.ingest.writes

    def get(self, lib: LibraryRecord, ref: str) -> ImageRecord:
        """An image by its id (digits) or its cont_sign ("n,n")."""
        if ref.isdigit() and len(ref) < 19:
            return self._image(lib, int(ref))
        record = self.catalog.image_by_sign(lib.id, ref)
        if record is None:
            raise ItemNotFound(f"no image {ref!r} in the library")
        return record

    def _image(self, lib: LibraryRecord, image_id: int) -> ImageRecord:
        return stored_image(self.catalog, lib.id, image_id)

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
        """The library's copies of the picture (search.py), a page of them."""
        t0 = time.perf_counter()
        pic = self.load(source, lib.signature)
        timings = {"decode": time.perf_counter() - t0}
        return self.searching.search(lib.id, pic, tags, any_tag, pn, rn, timings, t0)

    @_gated
    def compare(self, a: Source, b: Source) -> Comparison:
        """Is `b` the same picture as `a` (or a part of it, or it of b)?"""
        t0 = time.perf_counter()
        pa, pb = self.load(a), self.load(b)
        return self.searching.compare(pa, pb, {"decode": time.perf_counter() - t0}, t0)

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
            return gray_pixels(self.catalog, records[items[position].key])()

        def colours(position: int) -> NDArray[np.uint8] | None:
            return colour_pixels(self.catalog, records[items[position].key])()

        clusters = find_clusters(
            items, vecs, local, self.searching.matcher, progress, pixels, colours
        )
        named = {k: records[k] for c in clusters for k in c.members}
        return clusters, named

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
        self.ingest.close()
        if self._owns_extractor:
            self._extractor.close()
        self.vectors.close()
        self.catalog.close()
