"""The storage contract: what the engine needs from a catalog and a vector index.

The catalog is the source of truth (records, metadata, features, apps, tokens); the
vector index is derived from it and can be rebuilt from it. Every catalog write is
recorded in a journal with a growing sequence number; an index follows the journal,
so any process (CLI, another worker) sees the writes of any other before it searches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from tongtu.errors import TongtuError

__all__ = [
    "AppRecord",
    "Catalog",
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


class Catalog(Protocol):
    """The source of truth. Two back ends implement it with the same queries
    (storage/sql.py): SQLite (embedded) and PostgreSQL (scale-out). Every image write is
    journalled in the same transaction; writers commit one at a time, so journal
    positions become visible in order."""

    url: str

    # libraries
    def create_library(
        self, name: str, model: str, capacity: int, signature: int
    ) -> LibraryRecord: ...
    def library_by_name(self, name: str) -> LibraryRecord | None: ...
    def library_by_id(self, library_id: int) -> LibraryRecord | None: ...
    def libraries(self) -> list[LibraryRecord]: ...
    def set_capacity(self, library_id: int, capacity: int) -> None: ...
    def delete_library(self, library_id: int) -> int: ...

    # apps, grants, tokens
    def create_app(
        self, name: str, api_key: str, secret_hash: str, library_id: int, admin: bool = False
    ) -> AppRecord: ...
    def grant(self, app_id: int, library_id: int) -> None: ...
    def granted(self, app_id: int) -> list[LibraryRecord]: ...
    def is_granted(self, app_id: int, library_id: int) -> bool: ...
    def apps(self) -> list[AppRecord]: ...
    def revoke_app(self, app_id: int) -> None: ...
    def rotate_secret(self, app_id: int, secret_hash: str) -> None: ...
    def set_limits(self, app_id: int, qps: float | None, daily: int | None) -> None: ...
    def app_by_key(self, api_key: str) -> tuple[AppRecord, str] | None: ...
    def app_by_name(self, name: str) -> AppRecord | None: ...
    def app_by_id(self, app_id: int) -> AppRecord | None: ...
    def store_token(self, token_hash: str, app_id: int, expires_at: float) -> None: ...
    def token(self, token_hash: str) -> tuple[int, float] | None: ...

    # images
    def count(self, library_id: int) -> int: ...
    def add_images(
        self, library_id: int, items: Sequence[NewImage], capacity: int
    ) -> list[ImageRecord | TongtuError]: ...
    def image_by_sign(self, library_id: int, cont_sign: str) -> ImageRecord | None: ...
    def image_by_id(self, library_id: int, image_id: int) -> ImageRecord | None: ...
    def list_images(
        self,
        library_id: int,
        before: int | None,
        limit: int,
        tags: TagFilter | None = None,
        text: str | None = None,
    ) -> list[ImageRecord]: ...
    def thumbnail(self, image_id: int) -> bytes | None: ...
    def images_by_id(self, ids: Iterable[int]) -> dict[int, ImageRecord]: ...
    def images_with_local(self, ids: Iterable[int]) -> dict[int, tuple[ImageRecord, bytes]]: ...
    def local_features(self, ids: Iterable[int]) -> dict[int, bytes]: ...
    def update_image(
        self, image_id: int, brief: str | None, tags: Sequence[int] | None
    ) -> None: ...
    def delete_images(self, library_id: int, cont_signs: Sequence[str]) -> int: ...
    def ids_with_tags(self, library_id: int, tags: TagFilter) -> NDArray[np.int64]: ...

    # what the vector stores follow
    def journal_since(self, seq: int, limit: int | None = None) -> list[JournalEntry]: ...
    def last_seq(self) -> int: ...
    def embeddings(self, ids: Sequence[int]) -> dict[int, NDArray[np.float32]]: ...
    def all_embeddings(self, library_id: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]: ...
    def snapshot(
        self, library_ids: Sequence[int]
    ) -> tuple[int, dict[int, tuple[NDArray[np.int64], NDArray[np.float32]]]]: ...
    def instance(self) -> str: ...
    def meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """A lock held across every process using this catalog."""
        ...

    def close(self) -> None: ...


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
    def kind(self, library_id: int) -> str: ...
    def drop_library(self, library_id: int) -> None: ...
    def close(self) -> None: ...


def exact_cosines(
    catalog: Catalog, vector: NDArray[np.float32], ids: NDArray[np.int64]
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
