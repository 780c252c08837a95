"""Storage: the contract (base) and its back ends, chosen by settings independently:

TONGTU_CATALOG  sqlite:///path.db (default: catalog.db in the data directory)
                postgresql://user@host:port/db
TONGTU_VECTORS  faiss (default: in this process, saved in the data directory)
                milvus:///abs/path/milvus.db (milvus-lite, in this process)
                milvus://host:19530 (a Milvus server or cluster)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tongtu.errors import ConfigError
from tongtu.settings import sqlite_file, sqlite_url

if TYPE_CHECKING:
    from tongtu.settings import Settings
    from tongtu.storage.base import VectorStore
    from tongtu.storage.catalog import Catalog

__all__ = [
    "catalog_url",
    "catalog_url_of",
    "open_catalog",
    "open_catalog_url",
    "open_vectors",
    "sqlite_file",
]


def catalog_url_of(place: str) -> str:
    """A catalog URL as it is; a data directory (or a file) as its SQLite catalog's."""
    if "://" in place:
        return place
    path = Path(place)
    return sqlite_url(path / "catalog.db" if path.is_dir() or not path.suffix else path)


def catalog_url(settings: Settings) -> str:
    return settings.catalog or sqlite_url(settings.db_path)


def open_catalog_url(url: str, pool_size: int = 8, pool_timeout: float = 5.0) -> Catalog:
    """`pool_size`, `pool_timeout`: a PostgreSQL catalog's connections (storage/pool.py)."""
    if (path := sqlite_file(url)) is not None:
        from tongtu.storage.sqlite import sqlite_catalog

        return sqlite_catalog(path)
    if url.startswith(("postgresql://", "postgres://")):
        from tongtu.storage.postgres import postgres_catalog

        return postgres_catalog(url, pool_size, pool_timeout)
    raise ConfigError(
        f"unknown catalog {url!r}: use sqlite:///path/to/catalog.db or "
        "postgresql://user@host:port/database"
    )


def open_catalog(settings: Settings) -> Catalog:
    return open_catalog_url(
        catalog_url(settings), settings.catalog_pool, settings.catalog_pool_timeout
    )


def open_vectors(settings: Settings, catalog: Catalog, dim: int) -> VectorStore:
    url = settings.vectors
    if url == "faiss":
        from tongtu.storage.faiss_store import FaissVectors

        return FaissVectors(catalog, settings.data_dir / "index", dim, settings.index)
    if url.startswith("milvus://"):
        from tongtu.storage.milvus import MilvusVectors

        return MilvusVectors(
            url,
            catalog,
            dim,
            collection=settings.milvus_collection,
            index_type=settings.milvus_index,
            index_params=settings.milvus_index_params,
            search_params=settings.milvus_search_params,
        )
    raise ConfigError(
        f"unknown vector store {url!r}: use faiss, milvus:///abs/path/milvus.db or "
        "milvus://host:19530"
    )
