"""Prometheus metrics: requests and latencies by route, search stages, library sizes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tongtu.errors import StoreUnavailable
from tongtu.storage.catalog import Catalog
from tongtu.storage.group import GroupCommit
from tongtu.storage.pool import ConnectionPool

__all__ = ["Metrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


# Methods outside these are counted as "other": each arbitrary method a client makes up
# would otherwise be a label of its own, kept for the life of the process.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _Libraries(Collector):
    """Read at scrape time from the catalog, so every process reports the same sizes.
    /metrics answers without a token, so it gives totals, never a library's name."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def collect(self) -> Iterator[Metric]:
        try:
            libraries = self._catalog.libraries()
            images = sum(self._catalog.count(lib.id) for lib in libraries)
        except StoreUnavailable:  # the rest of the metrics say why; these wait for it
            return
        yield GaugeMetricFamily("tongtu_libraries", "Libraries", value=len(libraries))
        yield GaugeMetricFamily("tongtu_images", "Images in all libraries", value=images)


class _GroupCommits(Collector):
    """How many add requests (and batches of a bulk add) shared each transaction."""

    def __init__(self, writes: GroupCommit[Any, Any]) -> None:
        self._writes = writes

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "tongtu_add_transactions",
            "Catalog transactions that committed adds",
            value=self._writes.transactions,
        )
        yield CounterMetricFamily(
            "tongtu_add_writes",
            "Add requests and bulk-add batches committed (several share a transaction)",
            value=self._writes.writes,
        )


class _Connections(Collector):
    """The catalog's connection pool (PostgreSQL): open and in use, waits and timeouts."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def collect(self) -> Iterator[Metric]:
        stats = self._pool.stats()
        gauge = GaugeMetricFamily(
            "tongtu_catalog_connections", "Catalog connections of this process", labels=["state"]
        )
        gauge.add_metric(["in_use"], stats.in_use)
        gauge.add_metric(["idle"], stats.open - stats.in_use)
        gauge.add_metric(["limit"], stats.size)
        yield gauge
        yield CounterMetricFamily(
            "tongtu_catalog_pool_waits",
            "Requests that waited for a catalog connection",
            value=stats.waits,
        )
        yield CounterMetricFamily(
            "tongtu_catalog_pool_timeouts",
            "Requests that failed waiting for a catalog connection (the pool was full)",
            value=stats.timeouts,
        )


class Metrics:
    def __init__(self, catalog: Catalog, writes: GroupCommit[Any, Any] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tongtu_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tongtu_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "tongtu_search_stage_seconds",
            "Time spent in each stage of a search",
            ["stage"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Libraries(catalog))
        if writes is not None:
            self.registry.register(_GroupCommits(writes))
        if isinstance(pool := getattr(catalog.dialect, "pool", None), ConnectionPool):
            self.registry.register(_Connections(pool))

    def observe_search(self, timings: dict[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stages.labels(stage).observe(seconds)

    def install(self, app: FastAPI) -> None:
        @app.middleware("http")
        async def count(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            t = time.perf_counter()
            response = await call_next(request)
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = request.method if request.method in _METHODS else "other"
            self.requests.labels(path, method, str(response.status_code)).inc()
            self.latency.labels(path).observe(time.perf_counter() - t)
            timings = getattr(request.state, "search_timings", None)
            if timings:
                self.observe_search(timings)
            return response

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type="text/plain; version=0.0.4")
