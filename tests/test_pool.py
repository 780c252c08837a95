"""The catalog's connections: bounded per process, whatever the threads and the adds.

The pool on its own (storage/pool.py) with stand-in connections, then the PostgreSQL
catalog under an engine adding hundreds of pictures one by one from threads that come
and go, as a server's request threads do, with PostgreSQL's own count of its sessions.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import PostgresCluster, create_database, pg_sessions
from tests.fakes import fake_engine
from tongtu.engine import Source
from tongtu.errors import StoreUnavailable
from tongtu.settings import Settings
from tongtu.storage.pool import ConnectionPool, PoolFull


class _Fake:
    """A connection: `lost` once its server has gone."""

    ids = itertools.count()

    def __init__(self) -> None:
        self.id = next(self.ids)
        self.lost = False
        self.closed = False


def _pool(size: int = 2, timeout: float = 0.2) -> tuple[ConnectionPool[_Fake], list[_Fake]]:
    made: list[_Fake] = []

    def connect() -> _Fake:
        made.append(_Fake())
        return made[-1]

    def close(c: _Fake) -> None:
        c.closed = True

    def lost(c: _Fake) -> bool:
        return c.lost

    return ConnectionPool(connect, close, lost, lost, size, timeout, "catalog"), made


def test_threads_that_come_and_go_leave_no_connections_behind() -> None:
    pool, made = _pool(size=3)

    def work() -> None:
        with pool.hold():
            pass

    for _ in range(50):  # fifty threads one after another: one connection serves them all
        t = threading.Thread(target=work)
        t.start()
        t.join()
    assert len(made) == 1 and pool.stats().open == 1 and pool.stats().in_use == 0


def test_at_most_size_connections_are_open_however_many_threads_ask() -> None:
    pool, made = _pool(size=3, timeout=5.0)
    release = threading.Event()
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal most
        with pool.hold():
            with lock:
                most = max(most, pool.stats().in_use)
            release.wait(5)

    threads = [threading.Thread(target=work) for _ in range(23)]
    for t in threads:
        t.start()
    for _ in range(500):  # twenty wait their turn behind the three that hold one
        if pool.stats().waits >= 20:
            break
        threading.Event().wait(0.01)
    release.set()
    for t in threads:
        t.join()
    assert most == 3 and len(made) == 3 and pool.stats().waits == 20


@contextlib.contextmanager
def _held_elsewhere(pool: ConnectionPool[Any]) -> Iterator[None]:
    """A connection of `pool` held by another thread for the duration."""
    held, release = threading.Event(), threading.Event()

    def hog() -> None:
        with pool.hold():
            held.set()
            release.wait(10)

    t = threading.Thread(target=hog)
    t.start()
    held.wait(5)
    try:
        yield
    finally:
        release.set()
        t.join()


def test_a_full_pool_fails_with_a_plain_reason_after_its_timeout() -> None:
    pool, _ = _pool(size=1, timeout=0.1)
    with _held_elsewhere(pool), pytest.raises(PoolFull) as err, pool.hold():
        pass
    assert isinstance(err.value, StoreUnavailable) and err.value.code == 2
    assert "connection pool is full" in str(err.value) and pool.stats().timeouts == 1
    with pool.hold():  # given back: served again
        pass


def test_a_nested_request_shares_the_connection_its_thread_holds() -> None:
    pool, made = _pool(size=1, timeout=0.1)
    with pool.hold() as outer, pool.hold() as inner:  # with size 1, a second would wait
        assert inner is outer
    assert len(made) == 1


def _three_idle() -> tuple[ConnectionPool[_Fake], list[_Fake]]:
    pool, made = _pool(size=3, timeout=1.0)
    go = threading.Barrier(3)

    def work() -> None:
        with pool.hold():
            go.wait(5)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pool.stats().open == 3
    return pool, made


def test_idle_connections_a_restart_closed_are_never_handed_out() -> None:
    pool, made = _three_idle()
    for c in made:  # the server restarted: every connection it had is gone
        c.lost = True
    with pool.hold() as c:
        assert not c.lost and c is made[3]
    assert all(c.closed for c in made[:3]) and pool.stats().open == 1


def test_a_connection_lost_in_use_takes_the_idle_ones_with_it() -> None:
    pool, made = _three_idle()
    with pool.hold() as c:
        for each in made:  # the server went away while this one was in use
            each.lost = True
    assert c.closed and pool.stats().open == 0 and all(c.closed for c in made)
    with pool.hold() as fresh:
        assert not fresh.lost and fresh is made[3]


# PostgreSQL ------------------------------------------------------------------------------


def _pictures(n: int) -> Iterator[bytes]:
    rng = np.random.default_rng(34)
    for _ in range(n):
        pixels = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        img = Image.fromarray(pixels).resize((256, 192), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        yield buf.getvalue()


@pytest.mark.postgres
def test_adds_one_by_one_keep_postgresql_sessions_bounded(
    tmp_path: Path, new_database: str
) -> None:
    """300 adds, each from a thread of its own, as a server's request threads come and
    go: PostgreSQL's sessions for the database stay within the pool's size (each add
    left one open for good before: 4 → 44 after 40 adds)."""
    engine = fake_engine(
        Settings(data_dir=tmp_path, catalog=new_database, vectors="faiss", catalog_pool=4)
    )
    try:
        lib = engine.library("soak", create=True)
        counts = []
        errors: list[BaseException] = []

        def add(data: bytes, i: int) -> None:
            try:
                engine.add(lib, Source(image=data), f"p{i}")
            except BaseException as exc:  # reported below
                errors.append(exc)

        for i, data in enumerate(_pictures(300)):
            t = threading.Thread(target=add, args=(data, i))
            t.start()
            t.join()
            if i % 50 == 49:
                counts.append(pg_sessions(new_database))
        assert not errors
        assert engine.catalog.count(lib.id) == 300
        assert max(counts) <= 4, counts
        assert engine.catalog.dialect.pool.stats().open <= 4  # type: ignore[attr-defined]
    finally:
        engine.close()
    assert pg_sessions(new_database) == 0  # closing the engine closes them all


@pytest.mark.postgres
def test_postgresql_restarted_errors_at_once_and_serves_again_with_its_return(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL stopped: adds and searches fail at once with error 2 and a plain
    reason (the address and the driver's words go to the log); started again: the very
    next add and search succeed (no stale connection fails one), and every acknowledged
    add is there."""
    import logging

    caplog.set_level(logging.INFO, logger="tongtu")
    cluster = PostgresCluster()
    server = cluster.start()
    try:
        engine = fake_engine(
            Settings(data_dir=tmp_path, catalog=create_database(server), catalog_pool=4)
        )
        try:
            lib = engine.library("outage", create=True)
            pictures = list(_pictures(4))
            engine.add(lib, Source(image=pictures[0]), "before")
            cluster.stop()
            for attempt in (
                lambda: engine.search(lib, Source(image=pictures[0])),
                lambda: engine.add(lib, Source(image=pictures[1]), "while down"),
            ):
                with pytest.raises(StoreUnavailable) as err:
                    attempt()
                assert err.value.code == 2 and str(err.value) == "the catalog is unavailable"
                assert f":{cluster.port}" in err.value.detail  # for the log, not the client
            cluster.start()
            page = engine.search(lib, Source(image=pictures[0]))
            assert [h.record.brief for h in page.hits] == ["before"]
            engine.add(lib, Source(image=pictures[2]), "after")
            # restarted while no request ran: the idle sessions it closed are not used
            cluster.stop()
            cluster.start()
            assert len(engine.search(lib, Source(image=pictures[2])).hits) == 1
            engine.add(lib, Source(image=pictures[3]), "after the second")
            briefs = {r.brief for r in engine.catalog.list_images(lib.id, None, 10)}
            assert briefs == {"before", "after", "after the second"}
        finally:
            engine.close()
    finally:
        cluster.remove()
    lines = [r.getMessage() for r in caplog.records if r.name == "tongtu.storage"]
    assert sum("answer" in line for line in lines) == 2, lines  # down once, back once


@pytest.mark.postgres
def test_a_worker_whose_pool_is_full_is_not_ready_and_says_so(
    tmp_path: Path, new_database: str
) -> None:
    """Every connection of the worker held elsewhere: /readyz answers 503 with the plain
    reason (so a load balancer stops sending it adds it cannot take), a request answers
    error 2 / 503, and /metrics counts the timeouts; given back, it is ready again."""
    from fastapi.testclient import TestClient

    from tests.fakes import fake_app

    app = fake_app(
        Settings(
            data_dir=tmp_path,
            catalog=new_database,
            catalog_pool=1,
            catalog_pool_timeout=0.2,
            qps_limit=0,
        )
    )
    pool = app.state.engine.catalog.dialect.pool
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        with _held_elsewhere(pool):
            ready = client.get("/readyz")
            listed = client.get("/v1/libraries", headers={"Authorization": "Bearer 24.x"})
            metrics = client.get("/metrics").text
        assert ready.status_code == 503
        assert "connection pool is full" in ready.json()["detail"]["reason"]
        assert listed.status_code == 503 and listed.json()["error"]["code"] == 2
        assert 'tongtu_catalog_connections{state="limit"} 1.0' in metrics
        timeouts = re.search(r"^tongtu_catalog_pool_timeouts_total (\S+)$", metrics, re.M)
        assert timeouts is not None and float(timeouts.group(1)) >= 2  # readyz, the listing
        assert client.get("/readyz").status_code == 200
