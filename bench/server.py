"""A real `tongtu serve` process on loopback for the benches that drive it over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, seconds: float = 90) -> None:
    """Until something listens on `port`; raises if `proc` exits first or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process meant to listen on {port} exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


@dataclass(frozen=True)
class Served:
    base: str  # http://127.0.0.1:PORT
    creds: dict[str, str]  # app_id, api_key, secret_key of one app
    pid: int
    data_dir: Path


@contextlib.contextmanager
def serve(app: str = "bench", **settings: str) -> Iterator[Served]:
    """`tongtu serve` on a fresh data directory, with one app; `settings` as TONGTU_*
    variables (model="sscd_distilled" → TONGTU_MODEL)."""
    data_dir = Path(tempfile.mkdtemp(prefix="tongtu-bench-"))
    env = {**os.environ, "TONGTU_DATA_DIR": str(data_dir), "TONGTU_QPS_LIMIT": "0"}
    env.update({f"TONGTU_{k.upper()}": v for k, v in settings.items()})
    cli = [sys.executable, "-m", "tongtu.cli"]
    made = subprocess.run(
        [*cli, "apps", "create", app, "--json"], env=env, check=True, capture_output=True
    )
    port = free_port()
    with (data_dir / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [*cli, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_port(port, server)
            yield Served(f"http://127.0.0.1:{port}", json.loads(made.stdout), server.pid, data_dir)
        finally:
            server.kill()
            server.wait()


def baidu_client(server: Served) -> object:
    """Baidu's own Python SDK (`baidu-aip`) pointed at the server: its endpoints are private
    class attributes, so a subclass renames them (tests/test_sdks.py does the same)."""
    from aip import AipImageSearch

    class Client(AipImageSearch):  # type: ignore[misc]
        pass

    Client._AipBase__accessTokenUrl = server.base + "/oauth/2.0/token"
    for op in ("Add", "Search", "Update", "Delete"):
        url = f"{server.base}/rest/2.0/realtime_search/same_hq/{op.lower()}"
        setattr(Client, f"_AipImageSearch__sameHq{op}Url", url)
    c = server.creds
    return Client(c["app_id"], c["api_key"], c["secret_key"])
