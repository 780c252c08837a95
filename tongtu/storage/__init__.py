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

if TYPE_CHECKING:
    from tongtu.settings import Settings
    from tongtu.storage.base import VectorStore
    from tongtu.storage.sql import SqlCatalog

__all__ = ["catalog_url", "open_catalog", "open_catalog_url", "open_vectors"]


def catalog_url(settings: Settings) -> str:
    return settings.catalog or f"sqlite:///{settings.db_path.resolve()}"


def open_catalog_url(url: str) -> SqlCatalog:
    if url.startswith("sqlite:///"):
        from tongtu.storage.sqlite import SqliteCatalog

        return SqliteCatalog(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from tongtu.storage.postgres import PostgresCatalog

        return PostgresCatalog(url)
    raise ConfigError(
        f"unknown catalog {url!r}: use sqlite:///path/to/catalog.db or "
        "postgresql://user@host:port/database"
    )


def open_catalog(settings: Settings) -> SqlCatalog:
    return open_catalog_url(catalog_url(settings))


def open_vectors(settings: Settings, catalog: SqlCatalog, dim: int) -> VectorStore:
    url = settings.vectors
    if url == "faiss":
        from tongtu.storage.vectors import FaissVectors

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
