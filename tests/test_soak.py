"""A scale-out deployment under sustained adds, and the faults it meets on the way.

Two `tongtu serve` workers (the real model) on one PostgreSQL cluster and one
`milvus-lite server`; four clients add distinct pictures one by one through both. On
the way PostgreSQL is stopped and started, Milvus is killed and started, and a worker is
killed and started. What must hold: PostgreSQL's sessions stay within the workers'
pools, every request answers (an error during an outage, never a hang), every
acknowledged add is listed afterwards, and `tongtu check` is clean.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import (
    PostgresCluster,
    ServerProcess,
    free_port,
    open_photo,
    pg_sessions,
    photo_names,
)
from tests.test_scaleout import MilvusServer
from tongtu.client import ApiError, Client

pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.server]

ADDS = 1200
POOL = 4  # each worker's TONGTU_CATALOG_POOL


def _pictures(n: int) -> list[bytes]:
    """n distinct pictures: crops of real photos at 320 px."""
    photos = []
    for name in photo_names()[:12]:
        img = open_photo(name)
        img.thumbnail((900, 900))
        photos.append(img)
    rng = np.random.default_rng(34)
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        w, h = img.size
        cw, ch = int(w * rng.uniform(0.5, 0.9)), int(h * rng.uniform(0.5, 0.9))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        part = img.crop((x, y, x + cw, y + ch))
        part.thumbnail((320, 320))
        buf = io.BytesIO()
        part.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def test_sustained_adds_through_two_workers_with_every_fault_on_the_way(
    tmp_path: Path,
) -> None:
    pictures = _pictures(ADDS)
    cluster = PostgresCluster()
    url = cluster.start()
    milvus = MilvusServer(tmp_path)
    milvus.start()
    env = {
        **os.environ,
        "TONGTU_CATALOG": url,
        "TONGTU_VECTORS": milvus.url,
        "TONGTU_THREADS": "1",
        "TONGTU_QPS_LIMIT": "0",
        "TONGTU_CATALOG_POOL": str(POOL),
    }
    workers = []
    for name in ("a", "b"):
        data_dir = tmp_path / name
        data_dir.mkdir()
        workers.append(
            ServerProcess(data_dir, free_port(), {**env, "TONGTU_DATA_DIR": str(data_dir)})
        )
    creds = json.loads(workers[0].cli("apps", "create", "soak", "--json"))
    for w in workers:
        w.start()
    lock = threading.Lock()
    cursor = iter(range(ADDS))
    acknowledged: set[int] = set()
    failed: dict[str, int] = {}
    slowest = [0.0]
    sessions: list[int] = []

    def client_loop() -> None:
        """As a client would: an add that fails is sent again after a moment, until it is
        acknowledged (a retry refused as a duplicate was stored by a worker killed before
        it answered)."""
        with (
            Client(workers[0].base, creds["api_key"], creds["secret_key"], timeout=30) as ca,
            Client(workers[1].base, creds["api_key"], creds["secret_key"], timeout=30) as cb,
        ):
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                for attempt in range(200):
                    started = time.monotonic()
                    try:
                        (ca, cb)[(i + attempt) % 2].add("soak", pictures[i], brief=str(i))
                        outcome = None
                    except ApiError as exc:
                        outcome = (
                            "stored"
                            if exc.code == 216681 and attempt
                            else f"{exc.status} {exc.code}"
                        )
                    except httpx.TransportError as exc:  # the worker killed: no answer at all
                        outcome = type(exc).__name__
                    with lock:
                        slowest[0] = max(slowest[0], time.monotonic() - started)
                        if outcome in (None, "stored"):
                            acknowledged.add(i)
                            break
                        failed[outcome] = failed.get(outcome, 0) + 1
                    time.sleep(0.1)

    def done() -> int:
        with lock:
            return len(acknowledged)

    def wait_for(n: int) -> None:
        while done() < n and any(t.is_alive() for t in threads):
            time.sleep(0.05)

    threads = [threading.Thread(target=client_loop) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        wait_for(ADDS // 5)
        sessions.append(pg_sessions(url))
        cluster.stop()  # PostgreSQL down for 2 s
        time.sleep(2)
        cluster.start()
        wait_for(2 * ADDS // 5)
        sessions.append(pg_sessions(url))
        milvus.stop()  # Milvus down for 2 s
        time.sleep(2)
        milvus.start()
        wait_for(3 * ADDS // 5)
        sessions.append(pg_sessions(url))
        workers[1].kill()  # a worker SIGKILLed, and started again
        time.sleep(1)
        workers[1].start()
        wait_for(4 * ADDS // 5)
        sessions.append(pg_sessions(url))
        for t in threads:
            t.join()
        sessions.append(pg_sessions(url))
        with Client(workers[0].base, creds["api_key"], creds["secret_key"]) as c:
            listed = [int(img.brief) for img in c.images("soak", page_size=200)]
        check = workers[0].env | {"TONGTU_DATA_DIR": str(tmp_path / "check")}
        import subprocess
        import sys

        verdict = subprocess.run(
            [sys.executable, "-m", "tongtu.cli", "check"], env=check, capture_output=True, text=True
        )
    finally:
        for w in workers:
            w.kill()
        milvus.stop()
        cluster.remove()
    assert len(acknowledged) == ADDS, failed  # every add went through in the end
    assert failed, "no fault was met on the way"
    # an outage answers 503 (error 2; 100 where a token was being issued); the killed
    # worker, no answer
    transport = {"ConnectError", "RemoteProtocolError", "ReadError"}
    assert all(f.startswith("503 ") or f in transport for f in failed), failed
    assert slowest[0] < 15, slowest  # every request answered: none hung
    assert sorted(listed) == list(range(ADDS))  # each once: nothing lost, nothing twice
    assert max(sessions) <= 2 * POOL, sessions  # within the pools: not one more per add
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
