"""Shared fixtures: the photos in ../shared/photos and a real server process."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

# The shared photos beside the clone, else those scripts/photos.py fetched from the
# packages that ship them (`make test` runs it for a clone with nothing beside it).
from corpus.photos import PHOTOS

# Markers a test gets from the fixtures it uses (pyproject.toml lists them).
_FIXTURE_MARKS = {
    "server": "server",
    "postgres": "postgres",
    "new_database": "postgres",
    "page": "browser",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, mark in _FIXTURE_MARKS.items():
            if fixture in names:
                item.add_marker(getattr(pytest.mark, mark))


def photo_names(max_side: int = 4096) -> list[str]:
    """Photos within Baidu's size rules (sides, and base64 ≤ 4 MB), in manifest order."""
    with (PHOTOS / "MANIFEST.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [
        r["file"]
        for r in rows
        if max(int(r["width"]), int(r["height"])) <= max_side
        and (int(r["bytes"]) + 2) // 3 * 4 <= 4 * 1024 * 1024
    ]


@pytest.fixture(scope="session")
def photos() -> Path:
    if not PHOTOS.is_dir():
        pytest.fail(f"{PHOTOS} is missing: run `python scripts/photos.py` (make test does)")
    return PHOTOS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    data_dir: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    args: tuple[str, ...] = ()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "tongtu.cli", *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def start(self) -> None:
        log = (self.data_dir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tongtu.cli", "serve", "--port", str(self.port), *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers included in kill()
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.data_dir / "server.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not start within 60 s")

    def kill(self) -> None:
        """SIGKILL to the server and its workers: no shutdown hook runs, as in a crash."""
        if self.proc is not None:
            import signal

            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("server")
    env = {
        **os.environ,
        "TONGTU_DATA_DIR": str(data_dir),
        "TONGTU_URL_ALLOW": json.dumps(["127.0.0.1/32"]),
    }
    srv = ServerProcess(data_dir, free_port(), env)
    srv.start()
    yield srv
    srv.kill()


@pytest.fixture(scope="session")
def photo_server(photos: Path) -> Iterator[str]:
    """A loopback web server: /photos/NAME serves a photo, /redirect/NAME redirects to it.

    Servers under test allow-list loopback for it (TONGTU_URL_ALLOW)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            kind, _, name = self.path.strip("/").partition("/")
            path = photos / name
            if "/" in name or not name or not path.is_file():
                self.send_error(404)
            elif kind == "photos":
                body = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif kind == "redirect":
                self.send_response(302)
                self.send_header("Location", f"/photos/{name}")
                self.end_headers()
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def crop(img: Image.Image, side_fraction: float) -> Image.Image:
    """An off-centre crop (top right) keeping `side_fraction` of each side."""
    w, h = img.size
    cw, ch = int(w * side_fraction), int(h * side_fraction)
    return img.crop((w - cw, 0, w, ch))


def open_photo(name: str) -> Image.Image:
    img = Image.open(PHOTOS / name)
    img.load()
    return img.convert("RGB")


ROOT = Path(__file__).resolve().parents[1]


class PostgresCluster:
    """A throw-away PostgreSQL cluster (Debian's package, scripts/postgres.sh) on a port
    of its own, which a test may stop and start again."""

    def __init__(self) -> None:
        import tempfile

        # Not under pytest's temp folder: as root the cluster runs as `postgres`, which
        # must be able to reach it.
        self.folder = Path(tempfile.mkdtemp(prefix="tongtu-pg-"))
        self.port = str(free_port())
        self._script = str(ROOT / "scripts" / "postgres.sh")

    def start(self) -> str:
        """Started (made the first time); the URL of its server."""
        out = subprocess.run(
            [self._script, "start", str(self.folder), self.port],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def stop(self) -> None:
        subprocess.run([self._script, "stop", str(self.folder)], check=False, capture_output=True)

    def remove(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def pg_sessions(url: str) -> int:
    """PostgreSQL's sessions on the database of `url`, this count's own left out."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL cluster: the URL of its server; `new_database` gives each
    test a database of its own."""
    cluster = PostgresCluster()
    yield cluster.start()
    cluster.remove()


def create_database(server: str) -> str:
    """A new, empty database on the cluster at `server`; its URL."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def new_database(postgres: str) -> Iterator[str]:
    import psycopg

    url = create_database(postgres)
    yield url
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
