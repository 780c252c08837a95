"""Crash safety: SIGKILL in the middle of bulk adds, an import and batch deletes; then
`tongtu check`, and backup / restore while the server serves."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PHOTOS, ServerProcess, free_port, jpeg, open_photo, photo_names
from tongtu.client import ApiError, Client

pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.server]


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {**os.environ, "TONGTU_DATA_DIR": str(tmp_path)}
    srv = ServerProcess(tmp_path, free_port(), env)
    srv.start()
    yield srv
    srv.kill()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tongtu.cli", *args], env=env, capture_output=True, text=True
    )


def _check_clean(env: dict[str, str]) -> str:
    out = _cli(env, "check")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "clean" in out.stdout
    return out.stdout


def _client(srv: ServerProcess, creds: dict[str, str]) -> Client:
    return Client(srv.base, creds["api_key"], creds["secret_key"], timeout=30)


def _adder(
    srv: ServerProcess, creds: dict[str, str], names: list[str], acked: list[dict[str, object]]
) -> threading.Thread:
    def run() -> None:
        try:
            with _client(srv, creds) as tt:
                for name in names:
                    added = tt.add("crash", PHOTOS / name, brief=name)
                    acked.append({"name": name, "id": added.image.id})
        except (ApiError, OSError, Exception):
            return  # the server died under us: what was acknowledged is in `acked`

    return threading.Thread(target=run, daemon=True)


def test_kill_during_adds_keeps_every_acknowledged_add(fresh_server: ServerProcess) -> None:
    srv = fresh_server
    creds = json.loads(srv.cli("apps", "create", "crash", "--json"))
    names = photo_names()[:60]
    acked: list[dict[str, object]] = []
    worker = _adder(srv, creds, names, acked)
    worker.start()
    deadline = time.monotonic() + 120
    while len(acked) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.kill()  # mid-request: an add is in flight
    worker.join(timeout=30)
    assert 8 <= len(acked) < len(names)
    srv.start()
    _check_clean(srv.env)
    with _client(srv, creds) as tt:
        stored = {img.brief for img in tt.images("crash")}
        assert {str(a["name"]) for a in acked} <= stored
        # At most the one in flight beyond them, and whole: the index agrees with the
        # catalog, so a re-encoded copy of each stored image finds it through the index.
        assert len(stored) <= len(acked) + 1
        for brief in sorted(stored)[:: max(1, len(stored) // 4)]:
            found = tt.search("crash", jpeg(open_photo(brief), 75), rn=3).results
            assert found and found[0].image.brief == brief


def test_kill_during_batch_deletes_keeps_every_acknowledged_delete(
    fresh_server: ServerProcess,
) -> None:
    srv = fresh_server
    creds = json.loads(srv.cli("apps", "create", "crash", "--json"))
    with _client(srv, creds) as tt:
        items = tt.add_many("crash", [PHOTOS / n for n in photo_names()[:30]])
    ids = [i.image.id for i in items if i.image is not None]
    assert len(ids) == 30
    deleted: list[int] = []

    def run() -> None:
        try:
            with _client(srv, creds) as tt:
                for start in range(0, len(ids), 3):
                    batch = ids[start : start + 3]
                    tt.delete_many("crash", batch)
                    deleted.extend(batch)
        except Exception:
            return

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    deadline = time.monotonic() + 60
    while len(deleted) < 9 and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.kill()
    worker.join(timeout=30)
    assert len(deleted) >= 9
    srv.start()
    _check_clean(srv.env)
    with _client(srv, creds) as tt:
        remaining = {img.id for img in tt.images("crash")}
        assert not remaining & set(deleted)
        assert remaining >= set(ids) - set(deleted) - set(ids[len(deleted) : len(deleted) + 3])
        gone = photo_names()[: len(deleted)]
        for name in gone[:3]:
            assert tt.search("crash", PHOTOS / name).results == []


def test_kill_during_import_then_resume(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    names = photo_names()[:40]
    for name in names:
        (folder / name).symlink_to(PHOTOS / name)
    env = {**os.environ, "TONGTU_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tongtu.cli", "import", str(folder), "--library", "imp"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = tmp_path / "data" / "catalog.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if db.exists() and _count(db) >= 6:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    before = _count(db)
    assert 6 <= before < len(names)
    _check_clean(env)
    out = _cli(env, "import", str(folder), "--library", "imp")
    assert out.returncode == 0, out.stderr
    assert _count(db) == len(names)
    _check_clean(env)


def _count(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM images").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_check_finds_damage(tmp_path: Path) -> None:
    env = {**os.environ, "TONGTU_DATA_DIR": str(tmp_path)}
    out = _cli(env, "add", *(str(PHOTOS / n) for n in photo_names()[:3]), "--library", "d")
    assert out.returncode == 0, out.stderr
    _check_clean(env)
    with sqlite3.connect(tmp_path / "catalog.db") as conn:
        conn.execute("UPDATE images SET local = substr(local, 1, 100) WHERE id = 1")
        conn.execute("DELETE FROM journal WHERE image_id = 2")
    out = _cli(env, "check")
    assert out.returncode == 1
    assert "image 1: local features are truncated" in out.stderr
    assert "image 2 (library 1) is missing from the journal" in out.stderr


def test_backup_while_serving_and_restore(fresh_server: ServerProcess, tmp_path: Path) -> None:
    srv = fresh_server
    creds = json.loads(srv.cli("apps", "create", "crash", "--json"))
    acked: list[dict[str, object]] = []
    worker = _adder(srv, creds, photo_names()[:24], acked)
    worker.start()
    while len(acked) < 4:
        time.sleep(0.05)
    snapshot = tmp_path / "backups" / "snap.db"
    out = _cli(srv.env, "backup", str(snapshot))  # while adds are being written
    assert out.returncode == 0, out.stderr
    worker.join(timeout=300)
    at_backup = int(out.stdout.split()[0])
    assert 4 <= at_backup <= 24

    refused = _cli(srv.env, "restore", str(snapshot))
    assert refused.returncode == 1 and "stop it first" in refused.stderr

    target = {**srv.env, "TONGTU_DATA_DIR": str(tmp_path / "restored")}
    out = _cli(target, "restore", str(snapshot))
    assert out.returncode == 0, out.stderr
    _check_clean(target)
    restored = ServerProcess(tmp_path / "restored", free_port(), target)
    restored.start()
    try:
        with _client(restored, creds) as tt:
            briefs = [img.brief for img in tt.images("crash")]
            assert len(briefs) == at_backup
            name = briefs[-1]  # the oldest: acknowledged before the backup began
            assert tt.search("crash", jpeg(open_photo(name), 70)).results[0].image.brief == name
    finally:
        restored.kill()
