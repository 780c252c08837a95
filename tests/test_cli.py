"""The CLI on one data directory, run in-process: apps, import (resumable, per-file
errors), search."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import photo_names
from tongtu.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.model]


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _tongtu(env: dict[str, str], *args: str, check: bool = True) -> Ran:
    """`tongtu ARGS` in this process (click's runner): a subprocess adds nothing here."""
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    ran = Ran(result.exit_code, result.stdout, result.stderr)
    if check:
        assert ran.returncode == 0, ran.stderr
    return ran


def test_import_is_resumable_and_reports_bad_files(tmp_path: Path, photos: Path) -> None:
    env = {**os.environ, "TONGTU_DATA_DIR": str(tmp_path / "data")}
    creds = json.loads(_tongtu(env, "apps", "create", "cli", "--json").stdout)
    assert set(creds) == {"app_id", "api_key", "secret_key"}

    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    names = [n for n in photo_names() if n.endswith(".jpg")][:3]
    for n in names[:2]:
        shutil.copy(photos / n, folder / n)
    shutil.copy(photos / names[2], folder / "sub" / names[2])
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")

    first = _tongtu(env, "import", str(folder))
    assert "added 3, already present 0, failed 1" in first.stdout
    assert "broken.jpg" in first.stderr and "216201" in first.stderr

    second = _tongtu(env, "import", str(folder))
    assert "added 0, already present 0, failed 1, skipped (earlier run) 3" in second.stdout

    found = json.loads(_tongtu(env, "search", str(photos / names[2]), "--json").stdout)
    assert found["result"][0]["brief"] == f"sub/{names[2]}"
    assert found["result"][0]["kind"] == "exact"

    again = _tongtu(env, "add", str(photos / names[0]))
    assert "already in the library" in again.stdout


def test_import_again_gives_a_library_made_without_parts_its_parts(
    tmp_path: Path, photos: Path
) -> None:
    """A folder imported with no parts kept (TONGTU_REFERENCE_PARTS=0, or before there
    were parts) and imported again with --again: nothing is added twice, and each picture
    gains its parts' features, which `tongtu check` counts."""
    env = {**os.environ, "TONGTU_DATA_DIR": str(tmp_path / "data")}
    folder = tmp_path / "in"
    folder.mkdir()
    names = [n for n in photo_names() if n.endswith(".jpg")][:2]
    for n in names:
        shutil.copy(photos / n, folder / n)
    first = _tongtu({**env, "TONGTU_REFERENCE_PARTS": "0"}, "import", str(folder))
    assert "added 2," in first.stdout
    assert "keep their parts" not in _tongtu(env, "check").stdout

    plain = _tongtu(env, "import", str(folder))  # the done files are skipped
    assert "skipped (earlier run) 2" in plain.stdout
    assert "keep their parts" not in _tongtu(env, "check").stdout

    again = _tongtu(env, "import", "--again", str(folder))
    assert "added 0, already present 2, failed 0, skipped (earlier run) 0" in again.stdout
    checked = _tongtu(env, "check").stdout
    assert "note: 2 images keep their parts' features" in checked
    assert "2 images in 1 libraries: clean" in checked


def test_apps_list_limits_rotate_and_revoke(tmp_path: Path) -> None:
    env = {**os.environ, "TONGTU_DATA_DIR": str(tmp_path)}
    creds = json.loads(_tongtu(env, "apps", "create", "shop", "--json").stdout)
    _tongtu(env, "apps", "create", "boss", "--admin")
    _tongtu(env, "apps", "limits", "shop", "--qps", "5", "--daily", "1000")
    listed = _tongtu(env, "apps", "list").stdout.splitlines()
    shop = next(line for line in listed if line.startswith("shop\t"))
    assert creds["api_key"] in shop and "qps 5\t" in shop and "daily 1000\t" in shop
    assert "active" in shop
    boss = next(line for line in listed if line.startswith("boss\t"))
    assert "\tadmin\t" in boss and "qps 100 (default)" in boss

    rotated = json.loads(_tongtu(env, "apps", "rotate", "shop", "--json").stdout)
    assert rotated["api_key"] == creds["api_key"]
    assert rotated["secret_key"] != creds["secret_key"]
    _tongtu(env, "apps", "revoke", "shop")
    assert "REVOKED" in _tongtu(env, "apps", "list").stdout
    missing = _tongtu(env, "apps", "revoke", "nobody", check=False)
    assert missing.returncode == 1 and "216682" in missing.stderr


def test_serve_on_a_data_directory_without_apps_names_the_command_that_makes_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tongtu.apps import Apps
    from tongtu.cli.serve import _say_how_to_sign_in
    from tongtu.engine import Engine
    from tongtu.settings import Settings

    settings = Settings(data_dir=tmp_path)
    _say_how_to_sign_in(settings)
    said = capsys.readouterr().err
    assert f"TONGTU_DATA_DIR={tmp_path.resolve()} " in said
    assert "apps create admin --admin" in said
    command = said.split(f"TONGTU_DATA_DIR={tmp_path.resolve()} ")[1].split()[0]
    assert Path(command).name == "tongtu" and Path(command).exists()
    engine = Engine.open(settings)
    Apps(engine.catalog, 60).create("first", engine.library("first", create=True).id)
    engine.close()
    _say_how_to_sign_in(settings)
    assert capsys.readouterr().err == ""


def test_a_server_that_cannot_be_reached_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    """With an app's keys the client asks for a token first: a refused connection there
    is httpx's error, not an OSError, and was a traceback."""
    import socket

    with socket.socket() as sock:  # a port on loopback that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    image = tmp_path / "q.jpg"
    image.write_bytes(b"\xff\xd8")
    env = {"TONGTU_DATA_DIR": str(tmp_path / "data")}
    server = ["--server", f"http://127.0.0.1:{port}", "--api-key", "k", "--secret-key", "s"]
    for command in (["search", str(image)], ["add", str(image)]):
        ran = _tongtu(env, *server, *command, check=False)
        assert ran.returncode == 1, ran
        assert ran.stderr.startswith("error: cannot reach the server"), ran.stderr
        assert "Traceback" not in ran.stderr and len(ran.stderr.splitlines()) == 1
