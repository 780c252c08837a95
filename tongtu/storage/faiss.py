"""The embedded vector index: FAISS, derived from the catalog.

Exact inner product over the descriptors (flat), with an `IDSelectorBatch` so the tag
filter is applied inside the search: a selective filter still yields its k nearest
(HNSW would return fewer, see DESIGN.md §2).
"""

from __future__ import annotations

import threading

import faiss
import numpy as np
from numpy.typing import NDArray

__all__ = ["FaissIndex"]


class FaissIndex:
    def __init__(self, dim: int) -> None:
        self._dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        if len(ids) == 0:
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vecs = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self._dim)
        with self._lock:
            # Idempotent: re-adding an id replaces it (the journal may replay an entry).
            self._index.remove_ids(faiss.IDSelectorBatch(ids))
            self._index.add_with_ids(vecs, ids)

    def remove(self, ids: NDArray[np.int64]) -> None:
        if len(ids) == 0:
            return
        with self._lock:
            self._index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(ids, np.int64)))

    def search(
        self, vector: NDArray[np.float32], k: int, allowed: NDArray[np.int64] | None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        with self._lock:
            n = len(self) if allowed is None else min(len(self), len(allowed))
            k = min(k, n)
            if k <= 0:
                return np.zeros(0, np.float32), np.zeros(0, np.int64)
            query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, self._dim)
            params = None
            if allowed is not None:
                params = faiss.SearchParameters(  # type: ignore[call-arg]
                    sel=faiss.IDSelectorBatch(np.ascontiguousarray(allowed, np.int64))
                )
            scores, ids = self._index.search(query, k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]
