"""Adding pictures: decode → features → one transaction a batch, with bounded
concurrency. Each picture is decoded and extracted inside the engine's gate
(`TONGTU_IMAGE_CONCURRENCY`), in worker threads made once; concurrent adds share one
transaction and one catch-up of the vector store (storage/group.py)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum

from tongtu.errors import ItemExists, ItemNotFound, TongtuError
from tongtu.features import Extractor, shrink
from tongtu.features.parts import EachPart, part_features
from tongtu.imaging import Picture, thumbnail_jpeg
from tongtu.storage.base import ImageRecord, LibraryRecord, NewImage
from tongtu.storage.catalog import Catalog
from tongtu.storage.group import GroupCommit

__all__ = ["Added", "Ingest", "OnDuplicate", "Source", "Write", "stored_image"]

Write = tuple[int, Sequence[NewImage], int]  # library id, images, capacity


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


def stored_image(catalog: Catalog, library_id: int, image_id: int) -> ImageRecord:
    """The library's image with this id; ItemNotFound where there is none (any more)."""
    record = catalog.image_by_id(library_id, image_id)
    if record is None:
        raise ItemNotFound(f"no image with id {image_id} in the library")
    return record


class Ingest:
    """Adds to the catalog: `load` decodes a source for a library's signature version,
    `gate` bounds the pictures worked on at once, `threads` decode and extract beside
    the caller, and `written` runs after each committed transaction (the vector store's
    catch-up)."""

    def __init__(
        self,
        catalog: Catalog,
        extractor: Extractor,
        load: Callable[[Source, int], Picture],
        gate: Callable[[], AbstractContextManager[None]],
        thumbnail_side: int,
        threads: int,
        written: Callable[[], None],
        part_features: int = 0,
    ) -> None:
        self.catalog = catalog
        # features kept per part of a picture (features/parts.py); 0 = no parts
        self.part_features = part_features
        self._extractor = extractor
        self._load = load
        self._gate = gate
        self._thumbnail_side = thumbnail_side
        # The threads adds decode and extract in, made once: threads made per call each
        # opened catalog connections of their own (SQLite's with its PRAGMAs, a
        # PostgreSQL session) for one add.
        self._workers = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tongtu-add")
        # The threads the parts of a picture added alone are found in.
        self._parts = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tongtu-parts")
        # Concurrent adds share one transaction and one vector-store catch-up.
        self.writes: GroupCommit[Write, list[ImageRecord | TongtuError]] = GroupCommit(
            catalog.add_to_libraries, written
        )

    def add_many(
        self,
        lib: LibraryRecord,
        items: Iterable[tuple[Source, str, Sequence[int]]],
        on_duplicate: OnDuplicate = OnDuplicate.REJECT,
        workers: int = 2,
        batch: int = 16,
    ) -> Iterator[tuple[int, Added | TongtuError]]:
        """Add many images; yields (position, outcome) as each batch is committed.

        Decoding and features run `workers` at a time in this ingest's worker threads
        (the decoders, OpenCV and onnxruntime release the GIL), so one image's decode and
        local features overlap another's descriptor; `workers=1` runs them in the calling
        thread. Each picture is decoded and extracted inside the engine's gate
        (`TONGTU_IMAGE_CONCURRENCY`), as a search's is. The catalog takes each batch in
        one transaction."""

        # a picture added alone has its parts found on every core; in a pipeline each
        # worker finds its own picture's (the cores are busy already)
        each: EachPart = self._parts.map if workers <= 1 else map

        def prepare(item: tuple[Source, str, Sequence[int]]) -> NewImage | TongtuError:
            with self._gate():
                return prepare_one(item)

        def prepare_one(item: tuple[Source, str, Sequence[int]]) -> NewImage | TongtuError:
            source, brief, tags = item
            try:
                pic = self._load(source, lib.signature)
                existing = self.catalog.image_by_sign(lib.id, pic.cont_sign)
                if existing is not None:
                    self._complete(existing.id, pic, each)
                    return ItemExists(pic.cont_sign)
                small = shrink(pic.rgb)  # one resize of the full picture serves all below
                feats = self._extractor.reference(small, parallel=workers > 1)
                side = self._thumbnail_side
                thumb_from = small if side <= max(small.shape[:2]) else pic.rgb
                parts = part_features(pic.rgb, self.part_features, each)
                return NewImage(
                    pic.cont_sign,
                    brief,
                    tuple(tags),
                    pic.size,
                    feats.embedding,
                    feats.local.to_bytes(),
                    thumbnail_jpeg(thumb_from, side) if side > 0 else None,
                    None if parts is None else parts.to_bytes(),
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

    def _complete(self, image_id: int, pic: Picture, each: EachPart) -> None:
        """An image added again that was added without parts gains them: adding a folder
        again (`tongtu import`) gives a library made before them its parts, which need
        the picture itself (a library keeps only a thumbnail)."""
        if self.part_features <= 0 or self.catalog.has_parts(image_id):
            return
        parts = part_features(pic.rgb, self.part_features, each)
        if parts is not None:
            self.catalog.add_parts(image_id, parts.to_bytes())

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
                    # the record as it is now, with the new brief and tags
                    done = Added(stored_image(self.catalog, lib.id, existing.id), "replaced")
            results.append((p, done))
        return results

    def close(self) -> None:
        self._workers.shutdown(cancel_futures=True)
        self._parts.shutdown(cancel_futures=True)
