"""The embedded vector store: one FAISS index per library in this process, following
the catalog's journal, saved beside the catalog and reused at start when current.

Each process keeps its own copy (so several workers on one machine each follow the
journal before they search); a shared store is Milvus (storage/milvus.py).
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tongtu.storage.base import TagFilter, exact_cosines
from tongtu.storage.catalog import Catalog
from tongtu.storage.faiss_index import FaissIndex, IndexMeta, choose_kind

__all__ = ["SAVE_EVERY", "FaissVectors"]

# The indexes are saved at shutdown and every this many journal entries, so a restart
# after a crash replays at most this many.
SAVE_EVERY = 5000


class FaissVectors:
    """`kind`: the index kind (faiss_index.choose_kind); `save_every`: the journal
    entries applied between background saves of the indexes (tests pass a few).

    `rebuilt`: the libraries whose index was built from the catalog (none saved, or the
    saved one not current for it) rather than loaded from its file."""

    url = "faiss"

    def __init__(
        self,
        catalog: Catalog,
        folder: Path,
        dim: int,
        kind: str = "auto",
        save_every: int = SAVE_EVERY,
    ) -> None:
        self._catalog = catalog
        self._folder = folder
        self._dim = dim
        self._kind = kind
        self._save_every = save_every
        self.rebuilt: set[int] = set()
        self._indexes: dict[int, FaissIndex] = {}
        self._covered: dict[int, int] = {}
        self._seq = 0
        self._saved_seq = 0
        self._sync_lock = threading.Lock()
        self._saving = threading.Lock()
        self._rebuild()

    def index_path(self, library_id: int) -> Path:
        return self._folder / f"lib-{library_id}.faiss"

    def kind(self, library_id: int) -> str:
        index = self._indexes.get(library_id)
        return index.kind if index is not None else "flat"

    def size(self, library_id: int) -> int:
        return len(self._indexes.get(library_id, ()))

    def ids(self, library_id: int) -> set[int]:
        index = self._indexes.get(library_id)
        return set() if index is None else {int(i) for i in index.ids().tolist()}

    def search(
        self, library_id: int, vector: NDArray[np.float32], k: int, tags: TagFilter | None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Up to k (exact cosine, id), best first; the tag filter applies inside."""
        index = self._indexes.get(library_id)
        if index is None or len(index) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        allowed = self._catalog.ids_with_tags(library_id, tags) if tags else None
        cosines, ids = index.search(vector, k, allowed)
        if not index.exact:  # quantised scores: re-rank with the exact descriptors
            cosines, ids = exact_cosines(self._catalog, vector, ids)
        return cosines, ids

    def drop_library(self, library_id: int) -> None:
        with self._sync_lock:
            self._indexes.pop(library_id, None)
        path = self.index_path(library_id)
        for p in (path, path.with_suffix(".json")):
            p.unlink(missing_ok=True)

    # following the journal ----------------------------------------------------------

    def _rebuild(self) -> None:
        """Load each library's saved index when it is current for this catalog, else
        build it from the catalog; then replay the journal written since."""
        instance = self._catalog.instance()
        last = self._catalog.last_seq()
        libs = self._catalog.libraries()
        with self._sync_lock:
            self._indexes.clear()
            self._covered = {}
            stale = []
            for lib in libs:
                loaded = FaissIndex.load(self.index_path(lib.id), self._dim)
                if loaded is not None:
                    index, meta = loaded
                    kind = choose_kind(self._kind, meta.count)
                    if (
                        meta.library_id == lib.id
                        and meta.catalog == instance
                        and meta.model == lib.model
                        and meta.seq <= last
                        and meta.kind == kind
                    ):
                        self._indexes[lib.id] = index
                        self._covered[lib.id] = meta.seq
                        continue
                stale.append(lib.id)
            if stale:
                self.rebuilt.update(stale)
                seq, snap = self._catalog.snapshot(stale)
                for lib_id, (ids, vecs) in snap.items():
                    kind = choose_kind(self._kind, len(ids))
                    self._indexes[lib_id] = FaissIndex.build(self._dim, kind, ids, vecs)
                    self._covered[lib_id] = seq
            self._seq = min(self._covered.values(), default=last)
            self._saved_seq = self._seq
        self.sync()
        # A loaded index must hold exactly the catalog's images once the journal is
        # replayed; one that does not (a copied or damaged file) is rebuilt.
        for lib in libs:
            if self.size(lib.id) != self._catalog.count(lib.id):
                self._rebuild_library(lib.id)

    def _rebuild_library(self, library_id: int) -> None:
        with self._sync_lock:
            self.rebuilt.add(library_id)
            seq, snap = self._catalog.snapshot([library_id])
            ids, vecs = snap[library_id]
            kind = choose_kind(self._kind, len(ids))
            self._indexes[library_id] = FaissIndex.build(self._dim, kind, ids, vecs)
            self._covered[library_id] = seq
        self.sync()

    def sync(self) -> None:
        """Apply every catalog write since the last sync (from any process)."""
        with self._sync_lock:
            entries = self._catalog.journal_since(self._seq)
            if not entries:
                return
            added = [e.image_id for e in entries if e.added and not e.retag]
            vectors = self._catalog.embeddings(added) if added else {}
            for e in entries:
                if e.retag or e.seq <= self._covered.get(e.library_id, -1):
                    continue  # tags live in the catalog; or already in a saved/built index
                index = self._indexes.setdefault(e.library_id, FaissIndex(self._dim))
                ids = np.array([e.image_id], dtype=np.int64)
                if e.added and e.image_id in vectors:
                    index.add(ids, vectors[e.image_id][None])
                elif not e.added:
                    index.remove(ids)
            self._seq = entries[-1].seq
            for lib_id in self._indexes:
                self._covered[lib_id] = max(self._covered.get(lib_id, 0), self._seq)
            due = self._seq - self._saved_seq >= self._save_every and not self._saving.locked()
        if due:  # in the background: the request that crossed the mark does not wait
            threading.Thread(target=self.save, daemon=True).start()

    def save(self) -> None:
        """Persist every library's index with the journal position it includes."""
        with self._saving:
            instance = self._catalog.instance()
            with self._sync_lock:  # a consistent position: no journal entry applied meanwhile
                seq = self._seq
                jobs = [
                    (lib, self._indexes[lib.id], len(self._indexes[lib.id]))
                    for lib in self._catalog.libraries()
                    if lib.id in self._indexes
                ]
                copies = [(lib, index.copy(), n) for lib, index, n in jobs]
                self._saved_seq = seq
            # One process at a time writes the files (an index and its meta belong
            # together; the workers of one server each save their own copy).
            with self._catalog.exclusive("faiss-index"):
                for lib, index, n in copies:
                    meta = IndexMeta(lib.id, seq, n, index.kind, lib.model, instance)
                    index.save(self.index_path(lib.id), meta)

    def close(self) -> None:
        with contextlib.suppress(OSError):  # read-only data directory: rebuilt next time
            self.save()
