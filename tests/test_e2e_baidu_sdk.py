"""End to end: the real server process, driven by Baidu's official Python SDK, unchanged.

The SDK's endpoints are private class attributes; redirecting them to the local server
is the only thing changed, exactly what a user switching to tongtu does.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from aip import AipImageSearch
from aip.base import AipBase
from PIL import Image

from tests.conftest import ServerProcess, jpeg, photo_names, png

pytestmark = [pytest.mark.slow, pytest.mark.model]

N_PHOTOS = 32
SAME_HQ = "/rest/2.0/realtime_search/same_hq/"


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[AipImageSearch]:
    creds = json.loads(server.cli("apps", "create", "e2e", "--json"))
    saved = {}
    attrs = {
        "_AipImageSearch__sameHqAddUrl": "add",
        "_AipImageSearch__sameHqSearchUrl": "search",
        "_AipImageSearch__sameHqUpdateUrl": "update",
        "_AipImageSearch__sameHqDeleteUrl": "delete",
    }
    for attr, op in attrs.items():
        saved[attr] = getattr(AipImageSearch, attr)
        setattr(AipImageSearch, attr, server.base + SAME_HQ + op)
    saved_token = AipBase._AipBase__accessTokenUrl  # type: ignore[attr-defined]
    AipBase._AipBase__accessTokenUrl = server.base + "/oauth/2.0/token"  # type: ignore[attr-defined]
    yield AipImageSearch(creds["app_id"], creds["api_key"], creds["secret_key"])
    for attr, value in saved.items():
        setattr(AipImageSearch, attr, value)
    AipBase._AipBase__accessTokenUrl = saved_token  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def library(client: AipImageSearch, photos: Path) -> dict[str, dict[str, str]]:
    """N_PHOTOS photos added with brief = file name and two tags each."""
    added: dict[str, dict[str, str]] = {}
    for i, name in enumerate(photo_names()[:N_PHOTOS]):
        tags = f"{1 + i % 3},{10 + i % 2}"
        res = client.sameHqAdd((photos / name).read_bytes(), name, {"tags": tags})
        assert "error_code" not in res, (name, res)
        assert len(res["cont_sign"].split(",")) == 2
        added[name] = {"cont_sign": res["cont_sign"], "tags": tags}
    return added


def _copies(path: Path) -> dict[str, bytes]:
    img = Image.open(path)
    img.load()
    w, h = img.size
    crop_w, crop_h = int(w * 0.84), int(h * 0.84)  # ~70 % of the area, off-centre
    return {
        "reencoded": jpeg(img, 40),
        "resized": png(img.convert("RGB").resize((max(60, w // 2), max(60, h // 2)))),
        "cropped": jpeg(img.crop((w - crop_w, 0, w, crop_h)), 85),
    }


def test_copies_find_their_original_first(
    client: AipImageSearch, library: dict[str, dict[str, str]], photos: Path
) -> None:
    names = list(library)[::4]
    for name in names:
        for kind, data in _copies(photos / name).items():
            res = client.sameHqSearch(data)
            assert "error_code" not in res, (name, kind, res)
            assert res["result_num"] >= 1, (name, kind, res)
            top = res["result"][0]
            assert top["brief"] == name, (name, kind, res["result"][:3])
            assert top["cont_sign"] == library[name]["cont_sign"]
            assert 0.0 < top["score"] <= 1.0


def test_photo_outside_the_library_matches_nothing(
    client: AipImageSearch, library: dict[str, dict[str, str]], photos: Path
) -> None:
    outside = [n for n in photo_names() if n not in library][:5]
    for name in outside:
        res = client.sameHqSearch((photos / name).read_bytes())
        assert res["result_num"] == 0, (name, res)


def test_tags_filter_with_and_and_or(
    client: AipImageSearch, library: dict[str, dict[str, str]], photos: Path
) -> None:
    name = next(iter(library))
    data = (photos / name).read_bytes()
    t1, t2 = library[name]["tags"].split(",")
    other = str(3 if t1 != "3" else 2)

    def found(opts: dict[str, str]) -> bool:
        res = client.sameHqSearch(data, opts)
        assert "error_code" not in res, res
        return any(r["brief"] == name for r in res["result"])

    assert found({"tags": f"{t1},{t2}", "tag_logic": "0"})
    assert not found({"tags": f"{t1},{other}", "tag_logic": "0"})
    assert found({"tags": f"{t1},{other}", "tag_logic": "1"})
    assert not found({"tags": other, "tag_logic": "1"})


def test_update_then_search_shows_the_new_brief(
    client: AipImageSearch, library: dict[str, dict[str, str]], photos: Path
) -> None:
    name = list(library)[1]
    sign = library[name]["cont_sign"]
    assert "error_code" not in client.sameHqUpdateContSign(sign, {"brief": "renamed"})
    res = client.sameHqSearch((photos / name).read_bytes())
    assert res["result"][0]["brief"] == "renamed"
    # by image, which takes priority over cont_sign
    data = (photos / name).read_bytes()
    assert "error_code" not in client.sameHqUpdate(data, {"brief": name, "tags": "7"})
    res = client.sameHqSearch(data, {"tags": "7"})
    assert [r["brief"] for r in res["result"]] == [name]


def test_batch_delete_removes_at_once(
    client: AipImageSearch, library: dict[str, dict[str, str]], photos: Path
) -> None:
    victims = list(library)[-3:]
    res = client.sameHqDeleteBySign(";".join(library[n]["cont_sign"] for n in victims))
    assert "error_code" not in res, res
    for name in victims:
        res = client.sameHqSearch((photos / name).read_bytes())
        assert all(r["brief"] != name for r in res["result"]), res
    again = client.sameHqDeleteBySign(library[victims[0]]["cont_sign"])
    assert again["error_code"] == 216682


def test_adding_an_identical_image_returns_216681_with_existing_cont_sign(
    client: AipImageSearch, library: dict[str, dict[str, str]], photos: Path
) -> None:
    jpegs = [n for n in library if n.endswith(".jpg")]
    name = min(jpegs, key=lambda n: Image.open(photos / n).size[0])  # its BMP stays < 4 MB
    bmp = io.BytesIO()
    Image.open(photos / name).convert("RGB").save(bmp, "BMP")
    # the same file again, and the same pixels as BMP: both are the same picture
    for data in ((photos / name).read_bytes(), bmp.getvalue()):
        res = client.sameHqAdd(data, "again")
        assert res["error_code"] == 216681, res
        assert res["cont_sign"] == library[name]["cont_sign"]


def _post(server: ServerProcess, client: AipImageSearch, op: str, data: dict[str, str]) -> dict:
    token = client._auth()["access_token"]
    r = requests.post(
        f"{server.base}{SAME_HQ}{op}", params={"access_token": token}, data=data, timeout=60
    )
    assert r.status_code == 200
    return dict(r.json())


def _image_b64(size: tuple[int, int]) -> str:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return base64.b64encode(png(Image.fromarray(arr))).decode()


@pytest.mark.parametrize(
    ("op", "data", "code"),
    [
        ("add", {"brief": "x"}, 216101),
        ("add", {"image": "@image"}, 216101),
        ("search", {}, 216101),
        ("update", {"brief": "x"}, 216101),
        ("delete", {}, 216101),
        ("add", {"image": "@image", "brief": "x" * 257}, 216100),
        ("add", {"image": "@image", "brief": "x", "tags": "0"}, 216100),
        ("add", {"image": "@image", "brief": "x", "tags": "1,2,3"}, 216100),
        ("add", {"image": "@image", "brief": "x", "tags": "abc"}, 216100),
        ("search", {"image": "@image", "tag_logic": "2"}, 216100),
        ("search", {"image": "@image", "pn": "-1"}, 216100),
        ("search", {"image": "@image", "rn": "1001"}, 216100),
        ("delete", {"cont_sign": "1,2;" * 1001}, 216100),
        ("delete", {"cont_sign": "not-a-sign"}, 216100),
        ("add", {"image": "", "brief": "x"}, 216200),
        ("add", {"image": base64.b64encode(b"not an image at all").decode(), "brief": "x"}, 216201),
        ("add", {"image": "@tiny", "brief": "x"}, 216202),
        ("add", {"image": "@huge", "brief": "x"}, 216202),
        ("add", {"image": "A" * (4 * 1024 * 1024 + 4), "brief": "x"}, 216202),
        ("add", {"image": "!!!!not base64!!!!", "brief": "x"}, 216203),
        ("delete", {"cont_sign": "1,2"}, 216682),
        ("update", {"cont_sign": "1,2", "brief": "x"}, 216682),
        ("add", {"url": "ftp://example.com/a.jpg", "brief": "x"}, 282111),
        ("add", {"url": "http://169.254.169.254/latest/meta-data", "brief": "x"}, 282111),
        ("add", {"url": "http://x/" + "a" * 1100, "brief": "x"}, 282111),
        ("add", {"url": "@missing", "brief": "x"}, 282113),
    ],
)
def test_bad_input_returns_its_error_code(
    server: ServerProcess,
    client: AipImageSearch,
    library: dict[str, dict[str, str]],
    photo_server: str,
    op: str,
    data: dict[str, str],
    code: int,
) -> None:
    substitutes = {
        "@image": _image_b64((80, 80)),
        "@tiny": _image_b64((40, 200)),
        "@huge": _image_b64((4100, 60)),
        "@missing": photo_server + "/photos/missing.jpg",
    }
    data = {k: substitutes.get(v, v) for k, v in data.items()}
    res = _post(server, client, op, data)
    assert res.get("error_code") == code, res
    assert isinstance(res["log_id"], int)
    assert res["error_msg"]


def test_unknown_token_is_110_and_sdk_refreshes(server: ServerProcess) -> None:
    r = requests.post(
        f"{server.base}{SAME_HQ}search",
        params={"access_token": "24.bogus"},
        data={"image": "x"},
        timeout=30,
    )
    assert r.json()["error_code"] == 110
    r = requests.get(
        f"{server.base}/oauth/2.0/token",
        params={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
        timeout=30,
    )
    assert r.status_code == 401
    assert r.json() == {"error": "invalid_client", "error_description": "unknown client id"}


def test_url_add_search_and_delete(
    client: AipImageSearch, library: dict[str, dict[str, str]], photo_server: str
) -> None:
    name = photo_names()[40]
    res = client.sameHqAddUrl(f"{photo_server}/redirect/{name}", "from-url")
    assert "error_code" not in res, res
    found = client.sameHqSearchUrl(f"{photo_server}/photos/{name}")
    assert found["result"][0]["brief"] == "from-url"
    assert found["result"][0]["cont_sign"] == res["cont_sign"]
    assert "error_code" not in client.sameHqDeleteByUrl(f"{photo_server}/photos/{name}")
    assert client.sameHqSearchUrl(f"{photo_server}/photos/{name}")["result_num"] == 0


def test_restart_keeps_every_acknowledged_write(
    server: ServerProcess, client: AipImageSearch, library: dict[str, dict[str, str]], photos: Path
) -> None:
    # one more add and one more delete right before the crash
    late = photo_names()[N_PHOTOS + 1]
    assert "cont_sign" in client.sameHqAdd((photos / late).read_bytes(), late)
    gone = list(library)[3]
    assert "error_code" not in client.sameHqDeleteBySign(library[gone]["cont_sign"])

    server.kill()
    server.start()

    res = client.sameHqSearch((photos / late).read_bytes())
    assert res["result"][0]["brief"] == late
    res = client.sameHqSearch((photos / gone).read_bytes())
    assert all(r["brief"] != gone for r in res["result"])
    kept = list(library)[4]
    res = client.sameHqSearch((photos / kept).read_bytes())
    assert res["result"][0]["brief"] == kept
