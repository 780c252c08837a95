"""The embedded vector index: FAISS, derived from the catalog, persisted beside it.

Two kinds, chosen per library when the index is built (`TONGTU_INDEX`):
- `flat`: exact inner product over float32 vectors (2 KB an image). Small libraries.
- `ivf_sq8`: inverted lists over 8-bit scalar-quantised vectors (512 B an image), the
  shortlist re-ranked with the exact descriptors from the catalog. Large libraries.
Both take an `IDSelectorBatch`, so the tag filter is applied inside the search: a
selective filter still yields its k nearest (HNSW would return fewer).

Ids are the catalog's image ids, which only grow: an id above the largest one indexed is
new, so adds skip the (linear) removal that keeps a replayed journal entry idempotent.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from numpy.typing import NDArray

__all__ = ["FaissIndex", "IndexMeta", "choose_kind"]

# `auto` switches to IVF-SQ8 from this many images (at build time): below it a flat scan
# is a few ms and exact.
IVF_FROM = 100_000
# Lists an IVF search probes: a sixteenth of them, at least 64. A heavily edited query
# (a 50 % crop) can lie far from its original's centroid: with a fixed 32 of 1,264 lists
# one such copy (cosine 0.74) was never a candidate at 100,000 images; 64 found it, and a
# fixed fraction keeps the same margin as the lists multiply (bench/perf: ~2 ms at 100k).
NPROBE_FRACTION = 1 / 16
NPROBE_MIN = 64


def nprobe_for(nlist: int) -> int:
    return min(nlist, max(NPROBE_MIN, math.ceil(nlist * NPROBE_FRACTION)))


def choose_kind(setting: str, count: int) -> str:
    if setting == "auto":
        return "ivf_sq8" if count >= IVF_FROM else "flat"
    return setting


@dataclass(frozen=True, slots=True)
class IndexMeta:
    """What a saved index covers: written beside it, checked before it is trusted."""

    library_id: int
    seq: int  # the journal position the index includes
    count: int
    kind: str
    model: str
    catalog: str  # the catalog's instance id

    def to_json(self) -> str:
        return json.dumps(
            {
                "library_id": self.library_id,
                "seq": self.seq,
                "count": self.count,
                "kind": self.kind,
                "model": self.model,
                "catalog": self.catalog,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> IndexMeta:
        d = json.loads(text)
        return cls(
            int(d["library_id"]),
            int(d["seq"]),
            int(d["count"]),
            str(d["kind"]),
            str(d["model"]),
            str(d["catalog"]),
        )


class FaissIndex:
    def __init__(self, dim: int, kind: str = "flat", index: faiss.Index | None = None) -> None:
        self._dim = dim
        self.kind = kind
        self._lock = threading.Lock()
        if index is not None:
            self._index = index
        elif kind == "flat":
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        else:
            raise ValueError("an IVF index is built with FaissIndex.build")
        self._max_id = -1
        if self._index.ntotal:
            self._max_id = int(self._ids().max())

    @classmethod
    def build(
        cls, dim: int, kind: str, ids: NDArray[np.int64], vectors: NDArray[np.float32]
    ) -> FaissIndex:
        if kind == "flat" or len(ids) == 0:
            index = cls(dim, "flat")
            index.add(ids, vectors)
            return index
        if kind != "ivf_sq8":
            raise ValueError(f"unknown index kind {kind!r}")
        # ~4·√n lists, each trained on at least 39 points (FAISS's own floor).
        nlist = max(1, min(int(4 * math.sqrt(len(ids))), len(ids) // 39))
        ivf = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        sample = vecs
        if len(vecs) > nlist * 64:  # k-means on a sample: enough for the centroids
            pick = np.random.default_rng(0).choice(len(vecs), nlist * 64, replace=False)
            sample = vecs[np.sort(pick)]
        ivf.train(sample)
        faiss.extract_index_ivf(ivf).nprobe = nprobe_for(nlist)
        ivf.add_with_ids(vecs, np.ascontiguousarray(ids, dtype=np.int64))
        return cls(dim, "ivf_sq8", ivf)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def _ids(self) -> NDArray[np.int64]:
        if isinstance(self._index, faiss.IndexIDMap2 | faiss.IndexIDMap):
            return np.asarray(faiss.vector_to_array(self._index.id_map), dtype=np.int64)
        invlists = faiss.extract_index_ivf(self._index).invlists
        assert invlists is not None
        out = [
            faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
            for i in range(invlists.nlist)
            if invlists.list_size(i)
        ]
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)

    def ids(self) -> NDArray[np.int64]:
        with self._lock:
            return np.sort(self._ids())

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        if len(ids) == 0:
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vecs = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self._dim)
        with self._lock:
            if int(ids.min()) <= self._max_id:
                # A journal entry replayed: re-adding an id replaces it.
                self._index.remove_ids(faiss.IDSelectorBatch(ids))
            self._index.add_with_ids(vecs, ids)
            self._max_id = max(self._max_id, int(ids.max()))

    def remove(self, ids: NDArray[np.int64]) -> None:
        if len(ids) == 0:
            return
        with self._lock:
            self._index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(ids, np.int64)))

    def search(
        self, vector: NDArray[np.float32], k: int, allowed: NDArray[np.int64] | None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Up to k (score, id), best first. IVF-SQ8 scores are approximate: the caller
        re-ranks them with the exact descriptors (`exact` says whether it must)."""
        with self._lock:
            n = len(self) if allowed is None else min(len(self), len(allowed))
            k = min(k, n)
            if k <= 0:
                return np.zeros(0, np.float32), np.zeros(0, np.int64)
            query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, self._dim)
            sel = None
            if allowed is not None:
                sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, np.int64))
            if self.kind == "flat":
                params = faiss.SearchParameters(sel=sel) if sel is not None else None  # type: ignore[call-arg]
            else:
                nprobe = faiss.extract_index_ivf(self._index).nprobe
                params = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)  # type: ignore[call-arg]
            scores, ids = self._index.search(query, k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    @property
    def exact(self) -> bool:
        return self.kind == "flat"

    # persistence ---------------------------------------------------------------------

    def copy(self) -> FaissIndex:
        """A copy in memory (quick), so that writing it to disk holds up no search."""
        with self._lock:
            return FaissIndex(self._dim, self.kind, faiss.clone_index(self._index))

    def save(self, path: Path, meta: IndexMeta) -> None:
        """Write the index and its meta atomically (a crash leaves the old pair)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # Per process: workers of one server (`serve --workers N`) each save their copy.
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with self._lock:
            faiss.write_index(self._index, str(tmp))
        meta_tmp = path.with_suffix(f".json.{os.getpid()}.tmp")
        meta_tmp.write_text(meta.to_json(), encoding="utf-8")
        os.replace(tmp, path)
        os.replace(meta_tmp, path.with_suffix(".json"))

    @classmethod
    def load(cls, path: Path, dim: int) -> tuple[FaissIndex, IndexMeta] | None:
        """The saved index and its meta, or None when either is missing or unreadable."""
        try:
            meta = IndexMeta.from_json(path.with_suffix(".json").read_text(encoding="utf-8"))
            index = faiss.read_index(str(path))
        except (OSError, ValueError, KeyError, RuntimeError):
            return None
        if index.d != dim or index.ntotal != meta.count:
            return None
        if meta.kind == "ivf_sq8":
            ivf = faiss.extract_index_ivf(index)
            ivf.nprobe = nprobe_for(ivf.nlist)
        return cls(dim, meta.kind, index), meta
