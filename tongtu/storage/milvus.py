"""The shared vector store: Milvus (a server, a cluster, or milvus-lite in-process).

One collection holds every library: `id` (the catalog's image id), `library` (filtered
on in every search, with an inverted index), `tags` (an ARRAY filtered inside the
search) and `vector`. Milvus follows the catalog's journal like the embedded store, but
it is shared: the position it has applied is kept in the catalog (`meta`), and one
process at a time applies the entries after it, under a catalog-wide lock. A write is
applied before the engine acknowledges it, so every worker's next search sees it.

What Milvus acknowledged but had not flushed may not survive its restart (milvus-lite's
server, opened by two calls at once after a restart, keeps only one of the two copies
of a collection it opens, and with it loses the writes made to the other). So the store
also keeps the position it last flushed at (`…#flushed` in `meta`): a process that finds
Milvus answering again after it stopped opens the collection under the catalog-wide lock
(one opener at a time) and replays the journal from that position. Replaying an applied
entry changes nothing.

Searches use consistency level `Strong`: Milvus waits until every insert and delete
acknowledged before the search is visible to it (read-your-writes across workers). It
costs a wait for the latest timestamp on each search (milliseconds on an idle cluster,
up to the sync interval under heavy writes); `Bounded` would skip it but could serve a
deleted image for a moment, which tongtu never does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tongtu.errors import ConfigError, StoreUnavailable, TongtuError
from tongtu.storage.base import JournalEntry, TagFilter, exact_cosines
from tongtu.storage.catalog import Catalog
from tongtu.storage.faiss_index import nprobe_for

__all__ = ["MilvusVectors"]

log = logging.getLogger("tongtu.storage")
# pymilvus logs each failed call with its traceback (hundreds a second while a server is
# down, ~1,100 lines a minute a worker); the store logs an outage once, and its end.
_NOISY = ("pymilvus.decorators", "pymilvus.client.connection_manager")

_INDEX_DEFAULTS: dict[str, dict[str, Any]] = {
    "HNSW": {"M": 16, "efConstruction": 200},
    "IVF_SQ8": {"nlist": 1024},
    "IVF_FLAT": {"nlist": 1024},
    "FLAT": {},
    "DISKANN": {},
    "AUTOINDEX": {},
}
# Scores from these are quantised: the shortlist is re-ranked with exact descriptors.
_QUANTISED = {"IVF_SQ8", "DISKANN", "AUTOINDEX"}
_BATCH = 500
TIMEOUT = 30.0  # seconds a Milvus call may take before the store counts as unavailable
# Rows written since the last flush are searched by brute force until their segment is
# sealed and indexed (milvus-lite seals only on flush: ~0.9 s a search at 10k unsealed
# rows against ~30 ms sealed). A flush after this many keeps the unsealed part small;
# Milvus compacts the segments it makes.
FLUSH_EVERY = 1000


# gRPC waits longer and longer between attempts to reach a server that went away (1 s,
# growing 1.6× to 2 min): a Milvus back after 15 s was found again 7-10 s later. A
# server that is back is tried again within a second.
_GRPC_OPTIONS = {
    "grpc.initial_reconnect_backoff_ms": 250,
    "grpc.min_reconnect_backoff_ms": 250,
    "grpc.max_reconnect_backoff_ms": 1000,
}


def _search_defaults(index_type: str, k: int, nlist: int) -> dict[str, Any]:
    if index_type == "HNSW":
        return {"ef": max(64, 2 * k)}
    if index_type.startswith("IVF"):
        return {"nprobe": nprobe_for(nlist)}  # as the embedded IVF index probes
    if index_type == "DISKANN":
        return {"search_list": max(100, 2 * k)}
    return {}


class MilvusVectors:
    def __init__(
        self,
        url: str,
        catalog: Catalog,
        dim: int,
        collection: str = "tongtu_images",
        index_type: str = "HNSW",
        index_params: dict[str, Any] | None = None,
        search_params: dict[str, Any] | None = None,
        batch: int = _BATCH,
        flush_every: int = FLUSH_EVERY,
    ) -> None:
        """`batch`: journal entries applied in one write; `flush_every`: entries applied
        between two flushes."""
        try:
            import pymilvus  # noqa: F401
        except ImportError as exc:  # pragma: no cover - an install without the extra
            raise ConfigError("Milvus needs pymilvus: pip install 'tongtu[scale]'") from exc
        self.url = url
        self._catalog = catalog
        self._dim = dim
        self._name = collection
        self._index_type = index_type
        self._index_params = {**_INDEX_DEFAULTS.get(index_type, {}), **(index_params or {})}
        self._search_params = dict(search_params or {})
        self._batch = batch
        self._flush_every = flush_every
        self._mark_key = f"vectors:{url}#{collection}"
        self._flushed_key = f"{self._mark_key}#flushed"
        self._opening_key = f"{self._mark_key}:create"  # one process creates or reopens
        # Milvus answered again after it stopped: replay from the last flush
        self._rewind = False
        self._lock = threading.Lock()
        self._known = 0  # the journal position this process knows to be applied
        rest = url.removeprefix("milvus://")
        # milvus:///abs/path.db: milvus-lite in this process; milvus://host:port: a server.
        self._local_path = "/" + rest.lstrip("/") if rest.startswith("/") else None
        self._uri = self._local_path or f"http://{rest}"
        self._outage = threading.Lock()
        # when it stopped answering (None: it answers): the next call connects afresh
        self._down_since: float | None = None
        try:
            self._client = self._connect()
            self._ensure_collection()
        except ConfigError:
            raise
        except Exception as exc:  # pymilvus raises its own MilvusException and gRPC errors
            raise ConfigError(f"cannot open the Milvus store {url!r}: {exc}") from exc
        # how far the shared store was behind the catalog when opened: the entries this
        # first sync applied (`tongtu check` says so before it compares)
        self.behind_at_open = self._catch_up()

    def _connect(self) -> Any:
        from pymilvus import MilvusClient  # its import configures its loggers: quiet them after

        for name in _NOISY:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        return MilvusClient(self._uri, grpc_options=_GRPC_OPTIONS)

    def _ensure_collection(self) -> None:
        # processes opening one new store at once (a sharded import) create it once: the
        # server answers a second create with an error, not with the first one's collection
        with self._catalog.exclusive(self._opening_key):
            if self._client.has_collection(self._name):
                self._client.load_collection(self._name)
            else:
                self._create_collection()

    def _create_collection(self) -> None:
        from pymilvus import DataType

        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("library", DataType.INT64)
        schema.add_field("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=2)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self._dim)
        index = self._client.prepare_index_params()
        index.add_index(
            "vector", index_type=self._index_type, metric_type="IP", params=self._index_params
        )
        index.add_index("library", index_type="INVERTED")
        self._client.create_collection(
            self._name, schema=schema, index_params=index, consistency_level="Strong"
        )

    # following the journal ----------------------------------------------------------

    def sync(self) -> None:
        """Apply the journal after the shared mark. Cheap when nothing is pending: one
        read of the journal's end."""
        self._catch_up()

    def _catch_up(self) -> int:
        """`sync`; the number of journal entries it applied."""
        applied = 0
        with self._lock, self._answering():
            last = self._catalog.last_seq()
            if last <= self._known and not self._rewind:
                return 0
            with self._catalog.exclusive(self._mark_key):
                mark = int(self._catalog.meta(self._mark_key) or 0)
                kept = self._catalog.meta(self._flushed_key)
                if kept is None:  # a store kept before the flushed position was
                    self._flush(mark)
                flushed = mark if kept is None else int(kept)
                if self._rewind:
                    mark = min(mark, flushed)
                    log.info(
                        "the vector store replays the journal from position %d, its last flush",
                        mark,
                    )
                while mark < last:
                    entries = self._catalog.journal_since(mark, self._batch)
                    if not entries:
                        break
                    self._apply(entries)
                    applied += len(entries)
                    mark = entries[-1].seq
                    self._catalog.set_meta(self._mark_key, str(mark))
                    if mark - flushed >= self._flush_every:
                        self._flush(mark)
                        flushed = mark
                if self._rewind and mark > flushed:
                    self._flush(mark)  # what was replayed is not left to be lost again
                self._rewind = False
            self._known = max(mark, last)
        return applied

    def _flush(self, mark: int) -> None:
        """Seal what Milvus holds in memory; the journal up to `mark` is then durable
        there. Under the mark's lock."""
        self._client.flush(self._name)
        self._catalog.set_meta(self._flushed_key, str(mark))

    def _apply(self, entries: Sequence[JournalEntry]) -> None:
        """Replay entries in order. An add whose image is gone from the catalog is
        skipped (its delete follows); replaying an applied entry changes nothing."""
        upsert = [e.image_id for e in entries if e.added]
        vectors = self._catalog.embeddings(upsert) if upsert else {}
        records = self._catalog.images_by_id(upsert) if upsert else {}
        rows: dict[int, dict[str, Any]] = {}
        deletes: list[int] = []

        def flush() -> None:
            if rows:
                self._client.upsert(self._name, list(rows.values()), timeout=TIMEOUT)
                rows.clear()
            if deletes:
                self._client.delete(self._name, ids=list(deletes), timeout=TIMEOUT)
                deletes.clear()

        for e in entries:
            if e.added:
                if e.image_id in deletes:
                    flush()  # keep the order: a delete before an add of the same id
                rec = records.get(e.image_id)
                vec = vectors.get(e.image_id)
                if rec is not None and vec is not None:
                    rows[e.image_id] = {
                        "id": e.image_id,
                        "library": e.library_id,
                        "tags": list(rec.tags),
                        "vector": vec.tolist(),
                    }
            else:
                rows.pop(e.image_id, None)
                deletes.append(e.image_id)
        flush()

    @contextmanager
    def _answering(self) -> Iterator[None]:
        """Milvus not answering (down, unreachable, timed out) is StoreUnavailable; the
        next call connects afresh (a restarted server is found again). One log line when
        it stops answering and one when it answers again, not one per request."""
        try:
            if self._down_since is not None:
                self._reopen()
            yield
        except TongtuError:
            raise
        except Exception as exc:  # pymilvus's MilvusException and gRPC errors
            if type(exc).__module__.split(".")[0] not in ("pymilvus", "grpc"):
                raise
            with self._outage:
                first, self._down_since = (
                    self._down_since is None,
                    self._down_since or time.monotonic(),
                )
            if first:
                log.warning("the vector store stopped answering (Milvus at %s): %s", self.url, exc)
            raise StoreUnavailable(
                "the vector store is unavailable", detail=f"Milvus at {self.url}: {exc}"
            ) from exc
        if self._down_since is not None:
            with self._outage:
                since, self._down_since = self._down_since, None
            if since is not None:
                log.warning(
                    "the vector store answers again (Milvus at %s), after %.1f s",
                    self.url,
                    time.monotonic() - since,
                )

    def _reopen(self) -> None:
        """Connect afresh to a Milvus that stopped answering and open the collection,
        one process at a time (milvus-lite's server loses writes made while two calls
        open a collection at once); the next sync replays from the last flush."""
        with self._catalog.exclusive(self._opening_key):
            self._client = self._connect()
            self._client.load_collection(self._name)
        self._rewind = True

    # searching -------------------------------------------------------------------------

    def search(
        self, library_id: int, vector: NDArray[np.float32], k: int, tags: TagFilter | None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        expr = f"library == {int(library_id)}"
        if tags:
            fn = "array_contains_any" if tags.any_of else "array_contains_all"
            expr += f" and {fn}(tags, [{', '.join(str(int(t)) for t in tags.tags)}])"
        nlist = int(self._index_params.get("nlist", 1024))
        params = {**_search_defaults(self._index_type, k, nlist), **self._search_params}
        with self._answering():
            result = self._client.search(
                self._name,
                [np.asarray(vector, dtype=np.float32).tolist()],
                limit=k,
                filter=expr,
                output_fields=["id"],
                search_params={"metric_type": "IP", "params": params},
                consistency_level="Strong",
                timeout=TIMEOUT,
            )
        hits = list(result[0]) if result else []
        ids = np.array([int(h["id"]) for h in hits], dtype=np.int64)
        cosines = np.array([float(h["distance"]) for h in hits], dtype=np.float32)
        if self._index_type in _QUANTISED:
            return exact_cosines(self._catalog, vector, ids)
        order = np.lexsort((ids, -cosines))  # ties in id order, as the embedded store
        return cosines[order], ids[order]

    def size(self, library_id: int) -> int:
        with self._answering():
            out = self._client.query(
                self._name,
                filter=f"library == {int(library_id)}",
                output_fields=["count(*)"],
                consistency_level="Strong",
                timeout=TIMEOUT,
            )
        return int(out[0]["count(*)"]) if out else 0

    def ids(self, library_id: int) -> set[int]:
        """Every image id stored for a library (`tongtu check`)."""
        out: set[int] = set()
        it = self._client.query_iterator(
            self._name,
            filter=f"library == {int(library_id)}",
            output_fields=["id"],
            batch_size=1000,
        )
        try:
            while batch := it.next():
                out.update(int(r["id"]) for r in batch)
        finally:
            it.close()
        return out

    def kind(self, library_id: int) -> str:
        return f"milvus {self._index_type}"

    def drop_library(self, library_id: int) -> None:
        self.sync()  # its images' deletes are in the journal
        self._client.delete(self._name, filter=f"library == {int(library_id)}")

    def close(self) -> None:
        self._client.close()
        if self._local_path is not None:  # let another process open the data directory
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self._local_path)
