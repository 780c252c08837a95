"""Shared fixtures: the photos in ../shared/photos and a real server process."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"


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
        pytest.fail(f"{PHOTOS} is missing: tests read the shared photos from ../shared/photos")
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
            [sys.executable, "-m", "tongtu.cli", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
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
        """SIGKILL: no shutdown hook runs, as in a crash."""
        if self.proc is not None:
            self.proc.kill()
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
