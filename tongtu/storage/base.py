"""The storage contract: the records a catalog holds and what the engine needs from a
vector index (the catalog itself is one class over a dialect: storage/catalog/).

The catalog is the source of truth (records, metadata, features, apps, tokens); the
vector index is derived from it and can be rebuilt from it. Every catalog write is
recorded in a journal with a growing sequence number; an index follows the journal,
so any process (CLI, another worker) sees the writes of any other before it searches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AppRecord",
    "Embeddings",
    "ImageRecord",
    "JournalEntry",
    "LibraryRecord",
    "NewImage",
    "TagFilter",
    "VectorStore",
    "exact_cosines",
]


@dataclass(frozen=True, slots=True)
class LibraryRecord:
    id: int
    name: str
    model: str
    capacity: int
    created_at: float
    # How its cont_signs are made (tongtu.imaging.SIGNATURE); 1 for libraries made before
    # there were versions.
    signature: int = 1


@dataclass(frozen=True, slots=True)
class AppRecord:
    id: int
    name: str
    api_key: str
    library_id: int
    created_at: float
    revoked: bool
    admin: bool = False
    qps_limit: float | None = None  # None: the server's setting
    daily_limit: int | None = None


@dataclass(frozen=True, slots=True)
class ImageRecord:
    id: int
    library_id: int
    cont_sign: str
    brief: str
    tags: tuple[int, ...]
    width: int
    height: int
    created_at: float


@dataclass(frozen=True, slots=True)
class NewImage:
    """An image to add: its signature, metadata and features."""

    cont_sign: str
    brief: str
    tags: tuple[int, ...]
    size: tuple[int, int]
    embedding: NDArray[np.float32]
    local: bytes
    thumbnail: bytes | None = None
    parts: bytes | None = None  # the parts' local features (features/parts.py)


@dataclass(frozen=True, slots=True)
class TagFilter:
    """Tags a result must carry: all of them (AND) or any (OR)."""

    tags: tuple[int, ...]
    any_of: bool = False

    def accepts(self, tags: Sequence[int]) -> bool:
        have = set(tags)
        if self.any_of:
            return any(t in have for t in self.tags)
        return all(t in have for t in self.tags)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    seq: int
    library_id: int
    image_id: int
    added: bool  # False: deleted
    retag: bool = False  # the image's tags changed (it was added before)


class VectorStore(Protocol):
    """The descriptors, searchable: derived from the catalog, following its journal.

    `sync` applies every catalog write since the last one (from any process); the engine
    calls it after each of its writes and before each search, so a write acknowledged
    by any process is visible to the next search anywhere."""

    url: str

    def sync(self) -> None: ...
    def search(
        self, library_id: int, vector: NDArray[np.float32], k: int, tags: TagFilter | None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Up to k (exact cosine, image id), best first; only images with the tags."""
        ...

    def size(self, library_id: int) -> int: ...
    def ids(self, library_id: int) -> set[int]:
        """The image ids it holds for the library."""
        ...

    def kind(self, library_id: int) -> str: ...
    def drop_library(self, library_id: int) -> None: ...
    def close(self) -> None: ...


class Embeddings(Protocol):
    """What re-ranking needs of a catalog: the stored descriptors of some images."""

    def embeddings(self, ids: Sequence[int]) -> dict[int, NDArray[np.float32]]: ...


def exact_cosines(
    catalog: Embeddings, vector: NDArray[np.float32], ids: NDArray[np.int64]
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Re-rank a shortlist from a quantised index with the catalog's exact descriptors
    (images deleted since the index answered drop out)."""
    vectors = catalog.embeddings(ids.tolist())
    kept = np.array([i for i in ids.tolist() if i in vectors], dtype=np.int64)
    if len(kept) == 0:
        return np.zeros(0, np.float32), kept
    exact = np.stack([vectors[i] for i in kept.tolist()]) @ vector
    order = np.argsort(-exact, kind="stable")
    return exact[order].astype(np.float32), kept[order]
