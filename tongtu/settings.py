"""One typed settings object, read from ``TONGTU_*`` environment variables.

Every field is documented in docs/settings.md; tests/test_docs.py fails when one
is not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "sqlite_file", "sqlite_url"]


_SQLITE = "sqlite:///"


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite catalog's URL; None for any other catalog."""
    return Path(url.removeprefix(_SQLITE)) if url.startswith(_SQLITE) else None


def sqlite_url(path: Path) -> str:
    """The URL of the SQLite catalog in this file."""
    return f"{_SQLITE}{path.resolve()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGTU_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./tongtu-data"),
        description="Directory holding the catalog (SQLite) and everything derived from it.",
    )
    catalog: str = Field(
        default="",
        description=(
            "Where the catalog lives: `sqlite:///path.db` or `postgresql://user@host/db` "
            "(scale-out, docs/deploy.md). Empty = SQLite `catalog.db` in the data directory."
        ),
    )
    catalog_pool: int = Field(
        default=8,
        ge=1,
        le=1000,
        description=(
            "Connections a process opens to a PostgreSQL catalog, at most (each request "
            "holds one for a statement or a transaction). Size PostgreSQL's "
            "`max_connections` to the sum over the processes (docs/deploy.md)."
        ),
    )
    catalog_pool_timeout: float = Field(
        default=5.0,
        gt=0.0,
        le=300.0,
        description=(
            "Seconds a request waits for one of the catalog's connections when all are in "
            "use, before it fails with 'the catalog's connection pool is full' (error 2, "
            "HTTP 503)."
        ),
    )
    vectors: str = Field(
        default="faiss",
        description=(
            "Where the vectors live: `faiss` (in each process, saved in the data "
            "directory), `milvus:///abs/path/milvus.db` (milvus-lite in this process) or "
            "`milvus://host:19530` (a Milvus server or cluster, shared by every worker)."
        ),
    )
    milvus_collection: str = Field(
        default="tongtu_images", description="Milvus collection holding every library."
    )
    milvus_index: str = Field(
        default="HNSW",
        pattern="^(HNSW|IVF_SQ8|IVF_FLAT|FLAT|DISKANN|AUTOINDEX)$",
        description=(
            "Milvus index type: `HNSW` (default), `IVF_SQ8` (quantised, shortlist "
            "re-ranked exactly), `IVF_FLAT`, `FLAT`, `DISKANN` (a cluster with local "
            "disks) or `AUTOINDEX` (Zilliz Cloud). Set when the collection is created."
        ),
    )
    milvus_index_params: dict[str, int | float | str] = Field(
        default_factory=dict,
        description=(
            'Build parameters of the Milvus index, JSON (e.g. `{"M": 16, '
            '"efConstruction": 200}`); empty = tongtu\'s defaults for the type.'
        ),
    )
    milvus_search_params: dict[str, int | float | str] = Field(
        default_factory=dict,
        description=(
            'Search parameters of the Milvus index, JSON (e.g. `{"ef": 128}` or '
            '`{"nprobe": 128}`); empty = tongtu\'s defaults for the type.'
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address the server listens on.")
    port: int = Field(default=8000, description="Port the server listens on.")
    model: str = Field(
        default="",
        description=(
            "Global descriptor: `sscd`, `sscd_distilled`, or a path to an ONNX model with "
            "the same interface (uint8 NHWC `image` in, L2-normalised `embedding` out). "
            "Recorded per library; a library refuses a different model. Empty: the model "
            "the data's libraries were built with, `sscd_distilled` for new data."
        ),
    )
    threads: int = Field(
        default=0,
        description=("CPU threads for the descriptor (onnxruntime intra-op). 0 = number of cores."),
    )
    library: str | None = Field(
        default=None,
        description="Library the CLI uses when `--library` is not given.",
    )
    device: Literal["cpu", "cuda"] = Field(
        default="cpu",
        description=(
            "Where the descriptor runs: `cpu`, or `cuda` (onnxruntime's CUDA execution "
            "provider: `pip install 'tongtu[gpu]'`, which brings onnxruntime-gpu). Decoding "
            "and local features stay on the CPU."
        ),
    )
    descriptor_batch: int = Field(
        default=32,
        ge=1,
        le=256,
        description=(
            "With `device=cuda`: pictures of one shape that concurrent adds and searches "
            "send to the GPU in one run (each waits at most 2 ms for others). On the CPU "
            "pictures are never batched: it does not pay there (bench/perf)."
        ),
    )
    image_concurrency: int = Field(
        default=0,
        ge=0,
        description=(
            "Pictures a process decodes and matches at once (adds, searches, compares; "
            "the rest wait their turn, metadata updates and deletes do not); 0 = twice "
            "the number of cores, at least 4. Each keeps the memory of the largest "
            "picture it worked on."
        ),
    )
    threshold: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Results scoring below this are not served (see docs/matching.md, 'Scores').",
    )
    query_grid: list[int] = Field(
        default_factory=lambda: [2, 3],
        description=(
            "A query with no whole match is also searched as the cells of these n × n "
            "grids (with 2, its halves too), for pictures pasted into it with no straight "
            "border, or several on one page: [2, 3] is 17 more descriptors of such a "
            "query. Empty: only the rectangles found in it (see docs/matching.md)."
        ),
    )
    small_look: list[Annotated[int, Field(ge=64, le=800)]] = Field(
        default_factory=lambda: [256, 352],
        description=(
            "The second look at a refused candidate also sees the query at these longer "
            "sides (px), in turn: a small crop of a library picture shows it magnified, "
            "beyond the scales its stored features span (see docs/matching.md). "
            "Empty: not."
        ),
    )
    coarse_look: int = Field(
        default=1,
        ge=0,
        le=8,
        description=(
            "Refused candidates that the global descriptor calls the same picture seen "
            "again with both pictures at a 256 px work size, where a blurred copy's "
            "corners come back (see docs/matching.md); at most this many a search. "
            "0: not."
        ),
    )
    region_likeness: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description=(
            "A partial match must also show the query's picture where it lays the "
            "reference over it: the global descriptor's cosine there, at least this "
            "(see docs/matching.md); a small crop then needs fewer matched features, and "
            "a look-alike sharing a template is refused. 0: not asked."
        ),
    )
    levels: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description=(
            "A match's pixels must also agree in grey level, not only in edges and "
            "texture: at least this share of the blocks of the region it lays the two "
            "pictures over each other, after one brightness and contrast fit (see "
            "docs/matching.md); another theme of one screen, whose panel is the same and "
            "whose wallpaper is not, is refused. 0: not asked."
        ),
    )
    reference_parts: int = Field(
        default=80,
        ge=0,
        le=500,
        description=(
            "Local features kept for each of 14 parts of a library picture (its quarters, "
            "centre half and ninths), found at the part's own scale (36 B each: 80 ≈ "
            "40 KB an image): the evidence that lets a query that is a small crop of the "
            "picture be verified (see docs/matching.md). 0 = none; applies to pictures "
            "added from then on."
        ),
    )
    local_features: int = Field(
        default=500,
        ge=100,
        le=2000,
        description=(
            "Local features stored per image (36 B each: 500 ≈ 18 KB). More find smaller "
            "crops and pastes (bench/README.md has the measured trade-off) at that disk "
            "cost; applies to images added from then on."
        ),
    )
    candidates: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="Vector-index candidates verified per round of a search.",
    )
    index: str = Field(
        default="auto",
        pattern="^(auto|flat|ivf_sq8)$",
        description=(
            "Vector index of a library: `flat` (exact, 2 KB an image), `ivf_sq8` (8-bit "
            "quantised inverted lists, 512 B an image, shortlist re-ranked exactly), or "
            "`auto` (flat below 100,000 images). Chosen when the index is built."
        ),
    )
    default_capacity: int = Field(
        default=500_000, ge=1, description="Capacity of a new library (images)."
    )
    thumbnail_side: int = Field(
        default=512,
        ge=0,
        le=2048,
        description=(
            "Longer side (px) of the JPEG thumbnail kept per image for the console and "
            "the thumbnail route. 0 = keep none."
        ),
    )
    token_ttl: int = Field(
        default=2_592_000, ge=1, description="Lifetime of an access token in seconds (30 days)."
    )
    qps_limit: float = Field(
        default=100.0,
        ge=0,
        description=(
            "Requests per second an app may make (error 18 / HTTP 429 beyond; bursts of "
            "one second's worth pass). 0 = no limit. `tongtu apps limits` sets it per app."
        ),
    )
    daily_limit: int = Field(
        default=0,
        ge=0,
        description=(
            "Requests a day (UTC) an app may make (error 17 beyond). 0 = no limit. "
            "`tongtu apps limits` sets it per app."
        ),
    )
    max_qps: float = Field(
        default=0.0,
        ge=0,
        description="Requests per second the server takes from all apps together (error 4 "
        "beyond). 0 = no limit.",
    )
    url_allow: list[str] = Field(
        default_factory=list,
        description=(
            "Networks (CIDR) or host names that URL fetches may reach even though they "
            "are loopback / private / link-local. Empty by default. JSON list."
        ),
    )
    url_timeout: float = Field(
        default=10.0, gt=0, description="Total time allowed for one URL fetch, in seconds."
    )
    url_max_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="Largest body a URL fetch accepts."
    )
    url_max_redirects: int = Field(
        default=3, ge=0, description="Redirects a URL fetch follows (each one re-checked)."
    )

    @property
    def db_path(self) -> Path:
        """The SQLite catalog's file (TONGTU_CATALOG=sqlite:///…, else in the data dir)."""
        return sqlite_file(self.catalog) or self.data_dir / "catalog.db"

    @property
    def embedded_catalog(self) -> bool:
        return not self.catalog or sqlite_file(self.catalog) is not None

    def resolved_image_concurrency(self) -> int:
        return self.image_concurrency or max(4, 2 * (os.cpu_count() or 1))

    def resolved_threads(self) -> int:
        return self.threads if self.threads > 0 else (os.cpu_count() or 1)
