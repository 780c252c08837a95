"""tongtu.client against the real server process, and the CLI's remote mode through it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import PHOTOS, ServerProcess, crop, jpeg, open_photo, photo_names
from tongtu.cli import main
from tongtu.client import ApiError, Client

pytestmark = [pytest.mark.slow, pytest.mark.model]


@pytest.fixture(scope="module")
def creds(server: ServerProcess) -> dict[str, str]:
    return dict(json.loads(server.cli("apps", "create", "shop", "--json")))


def test_round_trip(server: ServerProcess, creds: dict[str, str], photo_server: str) -> None:
    names = photo_names()[80:86]
    with Client(server.base, creds["api_key"], creds["secret_key"]) as tt:
        assert [lib.name for lib in tt.libraries()] == ["shop"]
        first = tt.add("shop", PHOTOS / names[0], brief="first", tags=[4])
        assert first.status == "added" and first.image.tags == [4]
        batch = tt.add_many("shop", [PHOTOS / n for n in names[1:4]] + [b"junk"])
        assert [b.status for b in batch] == ["added", "added", "added", "error"]
        assert batch[3].error is not None and batch[3].error.code == 216201
        assert batch[0].image is not None and batch[0].image.brief == names[1]
        by_url = tt.add("shop", f"{photo_server}/photos/{names[4]}", brief="by url")
        assert by_url.status == "added"

        with pytest.raises(ApiError) as err:
            tt.add("shop", PHOTOS / names[0])
        assert (err.value.status, err.value.code) == (409, 216681)
        assert err.value.cont_sign == first.image.cont_sign
        again = tt.add("shop", PHOTOS / names[0], on_duplicate="return-existing")
        assert again.image == first.image

        listed = list(tt.images("shop", page_size=2))
        assert [i.id for i in listed] == sorted((i.id for i in listed), reverse=True)
        assert len(listed) == 5 == tt.library("shop").count
        assert [i.brief for i in tt.images("shop", tags=[4])] == ["first"]

        query = jpeg(crop(open_photo(names[0]), 0.8), 80)
        found = tt.search("shop", query, explain=True)
        assert found.results[0].image.id == first.image.id
        assert found.results[0].kind == "query_is_part_of_result"
        assert found.explain is not None and found.threshold == 0.5
        assert tt.search("shop", query, tags=[99]).results == []

        same = tt.compare(query, PHOTOS / names[0])
        assert same.same and same.b_region
        assert not tt.compare(query, PHOTOS / names[1]).same

        updated = tt.update("shop", first.image.id, brief="renamed", tags=[])
        assert (updated.brief, updated.tags) == ("renamed", [])
        thumb = tt.thumbnail("shop", first.image.cont_sign)
        assert thumb[:2] == b"\xff\xd8"

        gone = tt.delete_many("shop", [first.image.id, "1,2"])
        assert gone == {str(first.image.id): "deleted", "1,2": "not_found"}
        tt.delete("shop", by_url.image.cont_sign)
        with pytest.raises(ApiError) as err:
            tt.image("shop", by_url.image.id)
        assert (err.value.status, err.value.code) == (404, 216682)
        assert tt.duplicates("shop") == []


def test_stale_token_is_fetched_again(server: ServerProcess, creds: dict[str, str]) -> None:
    with Client(server.base, creds["api_key"], creds["secret_key"], token="24.stale") as tt:
        assert tt.library("shop").name == "shop"
    with Client(server.base, token="24.stale") as tt, pytest.raises(ApiError) as err:
        tt.libraries()
    assert (err.value.status, err.value.code) == (401, 110)


def test_cli_remote_mode(server: ServerProcess, creds: dict[str, str], tmp_path: Path) -> None:
    name = photo_names()[90]
    env = {
        **server.env,
        "TONGTU_DATA_DIR": str(tmp_path / "unused"),  # remote mode never touches it
        "TONGTU_API_KEY": creds["api_key"],
        "TONGTU_SECRET_KEY": creds["secret_key"],
    }

    def tongtu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tongtu.cli", "--server", server.base, *args],
            env=env,
            capture_output=True,
            text=True,
        )

    added = tongtu("add", str(PHOTOS / name), "--brief", "via cli")
    assert added.returncode == 0, added.stderr
    query = tmp_path / "query.jpg"
    query.write_bytes(jpeg(crop(open_photo(name), 0.8), 80))
    out = tongtu("search", str(query), "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["result"]
    assert rows[0]["brief"] == "via cli" and rows[0]["kind"] == "query_is_part_of_result"
    assert not (tmp_path / "unused").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "tongtu.cli", "--server", server.base, "search", str(query)],
        env={**env, "TONGTU_SECRET_KEY": "wrong"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "error 100" in bad.stderr


def test_cli_add_and_search_say_the_same_on_a_data_directory_and_through_a_server(
    server: ServerProcess, tmp_path: Path
) -> None:
    """`add` and `search` are written once over the engine and the client (tongtu/cli/
    library.py): the same images give the same lines, errors and exit codes either way."""
    keys = json.loads(server.cli("apps", "create", "same", "--json"))
    names = photo_names()[92:94]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    query = tmp_path / "query.jpg"
    query.write_bytes(jpeg(crop(open_photo(names[1]), 0.8), 80))
    adds = [str(PHOTOS / n) for n in names] + [str(broken)]
    runs = [
        ("add", *adds, "--tags", "3"),
        ("add", adds[0]),
        ("search", str(query)),
        ("search", str(query), "--json", "--tags", "3"),
    ]

    def said(*front: str) -> list[tuple[int, str, str]]:
        env = {**os.environ, "TONGTU_DATA_DIR": str(tmp_path / "data")}
        out = []
        for args in runs:
            r = CliRunner().invoke(main, [*front, *args, "--library", "same"], env=env)
            out.append((r.exit_code, r.stdout, r.stderr))
        return out

    here = said()
    assert [code for code, _, _ in here] == [1, 0, 0, 0]
    assert "error 216201: " in here[0][2] and "(already in the library)" in here[1][1]
    assert json.loads(here[3][1])["result"][0]["kind"] == "query_is_part_of_result"
    remote = ("--server", server.base, "--api-key", keys["api_key"], "--secret-key")
    assert said(*remote, keys["secret_key"]) == here
