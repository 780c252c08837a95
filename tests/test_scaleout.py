"""Scale-out end to end: stateless API processes on PostgreSQL + a Milvus server.

The Milvus server is milvus-lite's own gRPC server (`milvus-lite server`), which speaks
the protocol of a Milvus standalone or cluster: the workers use the same pymilvus code
they would against a cluster. An add through one process is found through another at
once; a delete through one is gone from the other at once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PHOTOS, ServerProcess, crop, free_port, jpeg, open_photo, photo_names
from tongtu.client import ApiError, Client

pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.server]

NAMES = photo_names()[30:34]


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within 90 s")


class MilvusServer:
    """`milvus-lite server` on a data directory, which can be stopped and started again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"milvus://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.folder / "milvus.log"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "milvus_lite",
                "server",
                "--data-dir",
                str(self.folder / "milvus"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port, self.proc, log, "milvus-lite server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


@pytest.fixture
def milvus(tmp_path: Path) -> Iterator[MilvusServer]:
    server = MilvusServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def milvus_server(milvus: MilvusServer) -> str:
    return milvus.url


def _found(tt: Client, query: bytes) -> list[str]:
    return [r.image.brief for r in tt.search("shop", query).results]


def test_two_server_processes_share_catalog_and_vectors(
    tmp_path: Path, new_database: str, milvus_server: str
) -> None:
    env = {
        **os.environ,
        "TONGTU_CATALOG": new_database,
        "TONGTU_VECTORS": milvus_server,
        "TONGTU_THREADS": "1",
    }
    servers = []
    for name, args in (("a", ("--workers", "2")), ("b", ())):
        data_dir = tmp_path / name  # nothing shared on disk: only the pid file lives here
        data_dir.mkdir()
        srv = ServerProcess(
            data_dir, free_port(), {**env, "TONGTU_DATA_DIR": str(data_dir)}, args=args
        )
        servers.append(srv)
    a, b = servers
    creds = json.loads(a.cli("apps", "create", "shop", "--json"))
    for srv in servers:
        srv.start()
    try:
        with (
            Client(a.base, creds["api_key"], creds["secret_key"]) as ta,
            Client(b.base, creds["api_key"], creds["secret_key"]) as tb,
        ):
            first = ta.add("shop", PHOTOS / NAMES[0], brief="first").image
            query = jpeg(crop(open_photo(NAMES[0]), 0.8), 80)
            assert _found(tb, query) == ["first"]  # added through a, found through b at once

            second = tb.add("shop", PHOTOS / NAMES[1], brief="second").image
            q2 = jpeg(open_photo(NAMES[1]), 60)
            # through a's two workers (requests land on either): every answer has it
            assert all(_found(ta, q2) == ["second"] for _ in range(4))
            with pytest.raises(ApiError) as dup:
                ta.add("shop", PHOTOS / NAMES[1])  # the duplicate check spans processes
            assert dup.value.code == 216681

            tb.update("shop", second.id, tags=[5])
            assert [r.image.id for r in ta.search("shop", q2, tags=[5]).results] == [second.id]

            ta.delete("shop", first.id)
            assert _found(tb, query) == []  # deleted through a, gone through b at once
            assert tb.library("shop").count == 1
            with pytest.raises(ApiError) as gone:
                tb.image("shop", first.id)
            assert gone.value.status == 404
    finally:
        for srv in servers:
            srv.kill()


def test_workers_refuse_in_process_milvus_lite(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TONGTU_DATA_DIR": str(tmp_path),
        "TONGTU_VECTORS": f"milvus://{tmp_path}/m.db",
    }
    out = subprocess.run(
        [sys.executable, "-m", "tongtu.cli", "serve", "--workers", "2", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "milvus-lite server" in out.stderr


def test_readyz_says_unavailable_when_the_catalog_is_gone(tmp_path: Path, postgres: str) -> None:
    """A worker whose PostgreSQL database disappears answers /readyz with 503 and the
    reason (a load balancer then stops sending it requests); /healthz stays up."""
    import psycopg
    from fastapi.testclient import TestClient

    from tests.conftest import create_database
    from tongtu.api import create_app
    from tongtu.settings import Settings

    url = create_database(postgres)
    name = url.rsplit("/", 1)[1]
    app = create_app(
        Settings(data_dir=tmp_path, catalog=url, vectors=f"milvus://{tmp_path / 'm.db'}")
    )
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["status"] == "unavailable" and answer.json()["detail"]["reason"]
        assert client.get("/healthz").status_code == 200
        # and requests say "temporarily unavailable" (Baidu error 2), not an internal error
        native = client.get("/v1/libraries", headers={"Authorization": "Bearer 24.x"})
        assert native.status_code == 503 and native.json()["error"]["code"] == 2
        baidu = client.post(
            "/rest/2.0/realtime_search/same_hq/search",
            params={"access_token": "24.x"},
            data={"url": "http://example.com/a.jpg"},
        )
        assert baidu.json()["error_code"] == 2


def test_writes_while_milvus_is_down_are_applied_when_it_is_back(
    tmp_path: Path, new_database: str, milvus: MilvusServer
) -> None:
    """Milvus stops: an add is still acknowledged (the catalog has it, journalled), a
    search says the service is unavailable (Baidu error 2, HTTP 503) instead of missing
    it; Milvus back: the next search applies the journal and finds the image."""
    from tongtu.engine import Engine, Source
    from tongtu.errors import StoreUnavailable
    from tongtu.settings import Settings

    engine = Engine.open(
        Settings(data_dir=tmp_path / "data", catalog=new_database, vectors=milvus.url)
    )
    try:
        lib = engine.library("shop", create=True)
        engine.add(lib, Source(image=(PHOTOS / NAMES[0]).read_bytes()), "before")
        milvus.stop()
        added = engine.add(lib, Source(image=(PHOTOS / NAMES[1]).read_bytes()), "while down")
        assert engine.catalog.image_by_sign(lib.id, added.record.cont_sign) is not None
        with pytest.raises(StoreUnavailable) as err:
            engine.search(lib, Source(image=jpeg(open_photo(NAMES[1]), 60)))
        assert (err.value.code, err.value.http_status) == (2, 503)
        milvus.start()
        # `tongtu check` says how far behind the store was before it caught up
        from tongtu.errors import ConfigError
        from tongtu.features import DIM
        from tongtu.storage import open_vectors
        from tongtu.storage.maintenance import check

        deadline = time.monotonic() + 10
        while True:  # the process's channel to the restarted server may take a moment
            try:
                vectors = open_vectors(engine.settings, engine.catalog, DIM)
                break
            except ConfigError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            report = check(engine.catalog, vectors)
        finally:
            vectors.close()
        assert report.clean, report.problems
        assert any("1 journal entries behind" in note for note in report.notes), report.notes
        deadline = time.monotonic() + 30
        while True:  # as a client would: retry while the restarted server warms up
            try:
                page = engine.search(lib, Source(image=jpeg(open_photo(NAMES[1]), 60)))
                break
            except StoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert [h.record.brief for h in page.hits] == ["while down"]
    finally:
        engine.close()


def test_a_sharded_import_loses_and_doubles_nothing_when_a_share_is_killed(
    tmp_path: Path, new_database: str, milvus_server: str
) -> None:
    """Three `tongtu import --shard K/3` processes fill one PostgreSQL + Milvus library
    from one folder; one is SIGKILLed while it adds and run again: every file is in the
    library once, and the vector store holds exactly the catalog's images."""
    import signal

    from tongtu.cli.folders import in_share
    from tongtu.features import DIM
    from tongtu.settings import Settings
    from tongtu.storage import open_catalog_url, open_vectors
    from tongtu.storage.maintenance import check

    folder = tmp_path / "in"
    folder.mkdir()
    names = [n for n in photo_names(1600) if n.endswith(".jpg")][:18]
    for n in names:
        (folder / n).write_bytes((PHOTOS / n).read_bytes())
    shares = {k: [n for n in names if in_share(n, k, 3)] for k in (1, 2, 3)}
    assert sorted(n for share in shares.values() for n in share) == sorted(names)  # a split
    env = {
        **os.environ,
        "TONGTU_DATA_DIR": str(tmp_path / "data"),
        "TONGTU_CATALOG": new_database,
        "TONGTU_VECTORS": milvus_server,
        "TONGTU_THREADS": "1",
    }

    def start(k: int) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "tongtu.cli", "import", str(folder), "--shard", f"{k}/3"]
        out = subprocess.PIPE
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=out, text=True)

    victim = max(shares, key=lambda k: len(shares[k]))
    procs = {k: start(k) for k in (1, 2, 3)}
    done = tmp_path / "data" / "imports"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill the victim once it has added something
        files = list(done.glob(f"*-{victim}of3.done")) if done.is_dir() else []
        if files and files[0].read_text().strip():
            break
        assert procs[victim].poll() is None, procs[victim].communicate()
        time.sleep(0.1)
    procs[victim].send_signal(signal.SIGKILL)
    procs[victim].wait(timeout=30)
    procs[victim] = start(victim)
    outputs = {k: p.communicate(timeout=600) for k, p in procs.items()}
    for k, p in procs.items():
        assert p.returncode == 0, outputs[k]
    assert "failed 0" in outputs[victim][0]

    catalog = open_catalog_url(new_database)
    store = open_vectors(Settings(data_dir=tmp_path / "check", vectors=milvus_server), catalog, DIM)
    try:
        lib = catalog.library_by_name("default")
        assert lib is not None
        briefs = [r.brief for r in catalog.list_images(lib.id, None, 1000)]
        assert sorted(briefs) == sorted(names)  # each file once: none lost, none doubled
        assert catalog.count(lib.id) == len(names)
        report = check(catalog, store)
        assert report.problems == [] and report.images == len(names)
    finally:
        store.close()
        catalog.close()


def test_searches_are_back_within_a_second_of_milvus_and_the_outage_is_one_log_line(
    tmp_path: Path,
    milvus: MilvusServer,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Milvus down for 6 s: each search fails at once with error 2 and no traceback in
    the log; one line says it stopped answering, one that it answers again; once its
    port is open again the next search within a second finds the image (gRPC's growing
    reconnect delay kept searches failing 7-10 s after a 15 s outage)."""
    import logging

    from tests.fakes import fake_engine
    from tongtu.engine import Source
    from tongtu.errors import StoreUnavailable
    from tongtu.settings import Settings

    caplog.set_level(logging.INFO, logger="tongtu")
    engine = fake_engine(Settings(data_dir=tmp_path / "data", vectors=milvus.url))
    try:
        lib = engine.library("shop", create=True)
        photo = (PHOTOS / NAMES[0]).read_bytes()
        engine.add(lib, Source(image=photo), "kept")
        milvus.stop()
        capfd.readouterr()
        down = time.monotonic()
        failed = 0
        while time.monotonic() - down < 6:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as err:
                engine.search(lib, Source(image=photo))
            assert time.monotonic() - started < 2 and err.value.code == 2
            assert str(err.value) == "the vector store is unavailable"  # no address
            failed += 1
            time.sleep(0.05)
        milvus.start()
        back = time.monotonic()
        while True:
            try:
                page = engine.search(lib, Source(image=photo))
                break
            except StoreUnavailable:
                assert time.monotonic() - back < 1.0, "searches not back within 1 s"
                time.sleep(0.05)
        assert [h.record.brief for h in page.hits] == ["kept"]
    finally:
        engine.close()
    assert failed > 20
    assert "Traceback" not in capfd.readouterr().err
    lines = [r.getMessage() for r in caplog.records if r.name == "tongtu.storage"]
    assert sum("stopped answering" in line for line in lines) == 1, lines
    assert sum("answers again" in line for line in lines) == 1, lines


def test_writes_a_restarted_milvus_lost_are_replayed_from_its_last_flush(
    tmp_path: Path, milvus: MilvusServer
) -> None:
    """Milvus acknowledged adds it had not flushed and lost them in a restart (milvus-lite's
    server does when two calls open the collection at once; here its write-ahead log is
    gone). The store that finds it answering again replays the journal from its last
    flush: every image is searched again, none twice."""
    from tests.fakes import fake_engine
    from tongtu.engine import Source
    from tongtu.errors import StoreUnavailable
    from tongtu.settings import Settings

    engine = fake_engine(Settings(data_dir=tmp_path / "data", vectors=milvus.url))
    try:
        lib = engine.library("shop", create=True)
        for name in NAMES[:3]:
            engine.add(lib, Source(image=(PHOTOS / name).read_bytes()), name)
        assert engine.vectors.size(lib.id) == 3
        milvus.stop()
        logs = list((milvus.folder / "milvus").rglob("wal_*.arrow"))
        assert logs  # the adds were in its log only
        for path in logs:
            path.unlink()
        with pytest.raises(StoreUnavailable):
            engine.search(lib, Source(image=(PHOTOS / NAMES[1]).read_bytes()))
        milvus.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                page = engine.search(lib, Source(image=(PHOTOS / NAMES[1]).read_bytes()))
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert [h.record.brief for h in page.hits] == [NAMES[1]]
        assert engine.vectors.size(lib.id) == 3
    finally:
        engine.close()


def test_stores_opening_one_new_milvus_collection_at_once_all_open_it(
    tmp_path: Path, new_database: str, milvus_server: str
) -> None:
    """Workers or import shares that start together on an empty deployment each find the
    collection missing; one creates it and the others open it (the server refuses a second
    create with 'File exists')."""
    from concurrent.futures import ThreadPoolExecutor

    from tongtu.features import DIM
    from tongtu.settings import Settings
    from tongtu.storage import open_catalog_url, open_vectors

    catalog = open_catalog_url(new_database)
    settings = Settings(data_dir=tmp_path / "data", vectors=milvus_server)
    try:
        for name in ("images_a", "images_b", "images_c"):  # a new collection each round
            s = settings.model_copy(update={"milvus_collection": name})
            with ThreadPoolExecutor(6) as pool:  # map re-raises an open that failed
                opened = list(pool.map(open_vectors, [s] * 6, [catalog] * 6, [DIM] * 6))
            assert len(opened) == 6
            for store in opened:
                store.close()
    finally:
        catalog.close()
