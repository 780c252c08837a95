"""The native /v1 API through the real app: real model, real photos, real SQLite + FAISS."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from PIL import Image

from tests.conftest import PHOTOS, crop, jpeg, open_photo, photo_names, png
from tongtu.api import create_app
from tongtu.features.local import polygon_area
from tongtu.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.model]

LOOKALIKE_A = "kphotoalbum__demo__grand_canyon_1.jpg"
LOOKALIKE_B = "kphotoalbum__demo__grand_canyon_2.jpg"


class Api:
    """A signed-in app: its token and the test client."""

    def __init__(self, http: TestClient, api_key: str, secret_key: str) -> None:
        self.http = http
        r = http.post(
            "/oauth/2.0/token",
            params={
                "grant_type": "client_credentials",
                "client_id": api_key,
                "client_secret": secret_key,
            },
        )
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def __call__(self, method: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kw)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, photo_server: str) -> Iterator[FastAPI]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("native"), url_allow=["127.0.0.1/32"], threads=2
    )
    yield create_app(settings)


@pytest.fixture(scope="module")
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def _new_app(app: FastAPI, http: TestClient, name: str, admin: bool = False) -> Api:
    engine = app.state.engine
    lib = engine.library(name, create=True)
    new = app.state.apps.create(name, lib.id, admin)
    return Api(http, new.app.api_key, new.secret_key)


@pytest.fixture(scope="module")
def alpha(app: FastAPI, http: TestClient) -> Api:
    return _new_app(app, http, "alpha")


@pytest.fixture(scope="module")
def beta(app: FastAPI, http: TestClient) -> Api:
    return _new_app(app, http, "beta")


@pytest.fixture(scope="module")
def admin(app: FastAPI, http: TestClient) -> Api:
    return _new_app(app, http, "root", admin=True)


def _file(name: str) -> tuple[str, bytes]:
    return name, (PHOTOS / name).read_bytes()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _err(r: Any, status: int, code: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["log_id"], int) and body["error"]["message"]
    return dict(body["error"])


# --- libraries ---------------------------------------------------------------------------


def test_library_lifecycle_and_capacity_is_admin_only(alpha: Api, beta: Api, admin: Api) -> None:
    r = alpha("POST", "/v1/libraries", json={"name": "alpha-extra"})
    assert r.status_code == 201, r.text
    assert r.json()["count"] == 0 and r.json()["capacity"] == 500_000
    names = [lib["name"] for lib in alpha("GET", "/v1/libraries").json()["libraries"]]
    assert names == ["alpha", "alpha-extra"]
    assert "alpha-extra" not in [
        lib["name"] for lib in beta("GET", "/v1/libraries").json()["libraries"]
    ]
    _err(beta("GET", "/v1/libraries/alpha-extra"), 403, 6)
    _err(alpha("POST", "/v1/libraries", json={"name": "alpha-extra"}), 409, 216100)
    _err(alpha("POST", "/v1/libraries", json={"name": "no spaces"}), 400, 216100)
    _err(alpha("POST", "/v1/libraries", json={"name": "x", "capacity": 9}), 403, 6)
    _err(alpha("PATCH", "/v1/libraries/alpha-extra", json={"capacity": 3}), 403, 6)
    r = admin("PATCH", "/v1/libraries/alpha-extra", json={"capacity": 3})
    assert r.status_code == 200 and r.json()["capacity"] == 3
    assert alpha("GET", "/v1/libraries/alpha-extra").json()["capacity"] == 3
    assert "alpha-extra" in [
        lib["name"] for lib in admin("GET", "/v1/libraries").json()["libraries"]
    ]
    _err(admin("GET", "/v1/libraries/nothing-here"), 404, 216682)


def test_deleting_a_library_removes_its_images_from_search_everywhere(alpha: Api) -> None:
    alpha("POST", "/v1/libraries", json={"name": "tiny"})
    names = photo_names()[60:63]
    for name in names[:2]:
        r = alpha("POST", "/v1/libraries/tiny/images", files={"image": _file(name)})
        assert r.status_code == 201, r.text
    r = alpha("POST", "/v1/libraries/tiny/images", files={"image": _file(names[2])})
    assert r.status_code == 201  # default capacity: room
    r = alpha("DELETE", "/v1/libraries/tiny")
    assert r.status_code == 200 and r.json()["deleted_images"] == 3
    _err(alpha("GET", "/v1/libraries/tiny"), 404, 216682)
    # The deleted images are gone from search everywhere, including a new library's.
    alpha("POST", "/v1/libraries", json={"name": "tiny"})
    r = alpha("POST", "/v1/libraries/tiny/search", files={"image": _file(names[0])})
    assert r.json()["result_num"] == 0
    # An app's own default library cannot be deleted from under it.
    _err(alpha("DELETE", "/v1/libraries/alpha"), 409, 216100)


def test_capacity_is_enforced(alpha: Api, admin: Api) -> None:
    alpha("POST", "/v1/libraries", json={"name": "capped"})
    admin("PATCH", "/v1/libraries/capped", json={"capacity": 1})
    names = photo_names()[64:66]
    assert (
        alpha("POST", "/v1/libraries/capped/images", files={"image": _file(names[0])}).status_code
        == 201
    )
    _err(
        alpha("POST", "/v1/libraries/capped/images", files={"image": _file(names[1])}), 409, 216100
    )


# --- images ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gallery(alpha: Api) -> dict[str, dict[str, Any]]:
    """Ten photos in library alpha, added one by one, half with tags."""
    out = {}
    for i, name in enumerate(photo_names()[:10]):
        data = {"brief": f"photo {i} {name}"}
        if i % 2 == 0:
            data["tags"] = "7" if i % 4 == 0 else "7,8"
        r = alpha("POST", "/v1/libraries/alpha/images", files={"image": _file(name)}, data=data)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "added"
        out[name] = r.json()["image"]
    return out


def test_add_by_base64_and_by_url(alpha: Api, photo_server: str) -> None:
    name, url_name = photo_names()[20], photo_names()[21]
    r = alpha(
        "POST",
        "/v1/libraries/alpha/images",
        json={"image": _b64((PHOTOS / name).read_bytes()), "brief": "b64", "tags": [3]},
    )
    assert r.status_code == 201, r.text
    assert r.json()["image"]["tags"] == [3] and r.json()["image"]["brief"] == "b64"
    r = alpha(
        "POST",
        "/v1/libraries/alpha/images",
        json={"url": f"{photo_server}/redirect/{url_name}", "brief": "from url"},
    )
    assert r.status_code == 201, r.text
    w, h = Image.open(PHOTOS / url_name).size
    assert (r.json()["image"]["width"], r.json()["image"]["height"]) in ((w, h), (h, w))


def test_on_duplicate_reject_return_existing_replace(
    alpha: Api, gallery: dict[str, dict[str, Any]]
) -> None:
    name, first = next(iter(gallery.items()))
    copy = png(open_photo(name))  # other bytes, same pixels: same picture
    err = _err(
        alpha("POST", "/v1/libraries/alpha/images", files={"image": ("x.png", copy)}), 409, 216681
    )
    assert err["cont_sign"] == first["cont_sign"] and err["type"] == "item_exists"
    r = alpha(
        "POST",
        "/v1/libraries/alpha/images",
        files={"image": ("x.png", copy)},
        data={"on_duplicate": "return-existing", "brief": "ignored"},
    )
    assert r.status_code == 200 and r.json()["status"] == "existing"
    assert r.json()["image"] == first
    r = alpha(
        "POST",
        "/v1/libraries/alpha/images",
        json={"image": _b64(copy), "on_duplicate": "replace", "brief": "replaced", "tags": [9]},
    )
    assert r.status_code == 200 and r.json()["status"] == "replaced"
    assert r.json()["image"]["id"] == first["id"]
    assert (r.json()["image"]["brief"], r.json()["image"]["tags"]) == ("replaced", [9])
    _err(
        alpha(
            "POST", "/v1/libraries/alpha/images", json={"image": _b64(copy), "on_duplicate": "x"}
        ),
        400,
        216100,
    )


def test_batch_add_gives_each_item_its_status(
    alpha: Api, gallery: dict[str, dict[str, Any]]
) -> None:
    existing = next(iter(gallery))
    new = photo_names()[30:32]
    items = [
        {"image": _b64((PHOTOS / new[0]).read_bytes()), "brief": "batch 0"},
        {"image": "not base64 at all!", "brief": "bad"},
        {"image": _b64((PHOTOS / existing).read_bytes()), "brief": "dup"},
        {"image": _b64(b"GIF89a" + b"\0" * 40), "brief": "not decodable"},
        {"brief": "no image"},
        {"image": _b64((PHOTOS / new[1]).read_bytes()), "brief": "x" * 300},
    ]
    r = alpha("POST", "/v1/libraries/alpha/images/batch", json={"items": items, "tags": "5"})
    assert r.status_code == 200, r.text
    body = r.json()
    statuses = [(i["index"], i["status"], i.get("error", {}).get("code")) for i in body["items"]]
    assert statuses == [
        (0, "added", None),
        (1, "error", 216203),
        (2, "error", 216681),
        (3, "error", 216201),
        (4, "error", 216101),
        (5, "error", 216100),
    ]
    assert body["items"][0]["image"]["tags"] == [5]
    assert (body["added"], body["failed"]) == (1, 5)
    # Multipart: repeated files, each one's brief its file name.
    files = [("image", _file(n)) for n in photo_names()[32:34]]
    r = alpha("POST", "/v1/libraries/alpha/images/batch", files=files)
    assert [i["image"]["brief"] for i in r.json()["items"]] == photo_names()[32:34]
    too_many = {"items": [{"brief": str(i)} for i in range(101)]}
    _err(alpha("POST", "/v1/libraries/alpha/images/batch", json=too_many), 400, 216100)


def test_get_by_id_and_by_cont_sign(
    alpha: Api, beta: Api, gallery: dict[str, dict[str, Any]]
) -> None:
    img = list(gallery.values())[3]
    assert alpha("GET", f"/v1/libraries/alpha/images/{img['id']}").json() == img
    assert alpha("GET", f"/v1/libraries/alpha/images/{img['cont_sign']}").json() == img
    _err(alpha("GET", "/v1/libraries/alpha/images/999999"), 404, 216682)
    _err(beta("GET", f"/v1/libraries/alpha/images/{img['id']}"), 403, 6)


def test_list_pages_newest_first_with_filters(
    alpha: Api, gallery: dict[str, dict[str, Any]]
) -> None:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = alpha("GET", "/v1/libraries/alpha/images", params=params).json()
        assert len(body["items"]) <= 3
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    ids = [i["id"] for i in seen]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert {i["id"] for i in gallery.values()} <= set(ids)
    count = alpha("GET", "/v1/libraries/alpha").json()["count"]
    assert len(seen) == count

    tagged = alpha("GET", "/v1/libraries/alpha/images", params={"tags": "7,8"}).json()["items"]
    assert tagged and all({7, 8} <= set(i["tags"]) for i in tagged)
    either = alpha(
        "GET", "/v1/libraries/alpha/images", params={"tags": "8,9", "tag_logic": "OR"}
    ).json()["items"]
    assert either and all({8, 9} & set(i["tags"]) for i in either)
    texted = alpha("GET", "/v1/libraries/alpha/images", params={"q": "PHOTO 3 "}).json()["items"]
    assert [i["brief"].startswith("photo 3 ") for i in texted] == [True]
    _err(alpha("GET", "/v1/libraries/alpha/images", params={"cursor": "abc"}), 400, 216100)
    _err(alpha("GET", "/v1/libraries/alpha/images", params={"limit": 0}), 422, 216100)


def test_thumbnail_is_a_small_jpeg_of_the_image(
    alpha: Api, gallery: dict[str, dict[str, Any]]
) -> None:
    img = max(gallery.values(), key=lambda i: i["width"])
    r = alpha("GET", f"/v1/libraries/alpha/images/{img['id']}/thumbnail")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(r.content))
    assert max(thumb.size) == min(512, max(img["width"], img["height"]))
    assert abs(thumb.size[0] / thumb.size[1] - img["width"] / img["height"]) < 0.02


def test_update_brief_and_tags(alpha: Api, gallery: dict[str, dict[str, Any]]) -> None:
    img = list(gallery.values())[5]
    url = f"/v1/libraries/alpha/images/{img['id']}"
    r = alpha("PATCH", url, json={"brief": "new brief", "tags": [11, 12]})
    assert r.status_code == 200 and (r.json()["brief"], r.json()["tags"]) == ("new brief", [11, 12])
    r = alpha("PATCH", url, json={"tags": []})
    assert r.json()["tags"] == [] and r.json()["brief"] == "new brief"
    _err(alpha("PATCH", url, json={}), 400, 216101)
    _err(alpha("PATCH", url, json={"tags": [1, 2, 3]}), 400, 216100)
    _err(alpha("PATCH", url, json={"brief": "b" * 257}), 400, 216100)


def test_delete_one_and_a_batch(alpha: Api, photos: Path) -> None:
    added = []
    for name in photo_names()[40:43]:
        r = alpha("POST", "/v1/libraries/alpha/images", files={"image": _file(name)})
        added.append(r.json()["image"])
    r = alpha("DELETE", f"/v1/libraries/alpha/images/{added[0]['id']}")
    assert r.status_code == 200 and r.json()["deleted"] == 1
    _err(alpha("DELETE", f"/v1/libraries/alpha/images/{added[0]['id']}"), 404, 216682)
    refs = [str(added[1]["id"]), added[2]["cont_sign"], "123,456"]
    r = alpha("POST", "/v1/libraries/alpha/images/delete", json={"images": refs})
    assert r.json()["deleted"] == 2
    assert [i["status"] for i in r.json()["items"]] == ["deleted", "deleted", "not_found"]
    for img, name in zip(added, photo_names()[40:43], strict=True):
        _err(alpha("GET", f"/v1/libraries/alpha/images/{img['id']}"), 404, 216682)
        found = alpha("POST", "/v1/libraries/alpha/search", files={"image": _file(name)}).json()
        assert all(res["image"]["id"] != img["id"] for res in found["results"])


# --- search, compare, duplicates ------------------------------------------------------------


def test_search_with_a_crop_returns_kind_and_regions(
    alpha: Api, gallery: dict[str, dict[str, Any]]
) -> None:
    name = list(gallery)[3]
    query = jpeg(crop(open_photo(name), 0.7), 85)  # 49 % of the area, top right
    r = alpha(
        "POST",
        "/v1/libraries/alpha/search",
        files={"image": ("q.jpg", query)},
        data={"explain": "1"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    top = body["results"][0]
    assert top["image"]["id"] == gallery[name]["id"]
    assert top["kind"] == "query_is_part_of_result"
    assert body["threshold"] == 0.5 and top["score"] >= body["threshold"]
    assert polygon_area(tuple(map(tuple, top["query_region"]))) > 0.9
    assert 0.35 < polygon_area(tuple(map(tuple, top["result_region"]))) < 0.65
    xs = [x for x, _ in top["result_region"]]
    assert min(xs) > 0.2 and max(xs) > 0.95  # the right-hand part of the original
    stages = {s["name"]: s for s in body["explain"]["stages"]}
    assert list(stages) == ["decode", "exact", "features", "candidates", "verification"]
    assert stages["verification"]["matched"] >= 1 and stages["candidates"]["count"] >= 1
    # Exact bytes: the exact stage answers, full regions.
    r = alpha(
        "POST",
        "/v1/libraries/alpha/search",
        json={"image": _b64((PHOTOS / name).read_bytes()), "rn": 1},
    )
    assert r.json()["results"][0]["kind"] == "exact" and "explain" not in r.json()
    # Tag filter inside the search.
    r = alpha(
        "POST",
        "/v1/libraries/alpha/search",
        files={"image": ("q.jpg", query)},
        data={"tags": "1234"},
    )
    assert r.json()["result_num"] == 0


def test_search_refuses_a_look_alike(alpha: Api) -> None:
    r = alpha("POST", "/v1/libraries/alpha/images", files={"image": _file(LOOKALIKE_A)})
    assert r.status_code == 201
    r = alpha("POST", "/v1/libraries/alpha/search", files={"image": _file(LOOKALIKE_B)})
    assert all(res["image"]["id"] != r.json() for res in r.json()["results"])
    assert LOOKALIKE_A not in [res["image"]["brief"] for res in r.json()["results"]]
    assert r.json()["result_num"] == 0


def test_compare(alpha: Api) -> None:
    name = photo_names()[4]
    whole = (PHOTOS / name).read_bytes()
    part = jpeg(crop(open_photo(name), 0.6), 80)
    r = alpha("POST", "/v1/compare", files={"a": ("a.jpg", part), "b": ("b", whole)})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["same"] and c["kind"] == "query_is_part_of_result" and c["score"] >= c["threshold"]
    assert 0.2 < polygon_area(tuple(map(tuple, c["b_region"]))) < 0.5
    c = alpha(
        "POST", "/v1/compare", json={"a": _b64(whole), "b": _b64(png(open_photo(name)))}
    ).json()
    assert (c["same"], c["kind"], c["score"]) == (True, "exact", 1.0)
    c = alpha(
        "POST", "/v1/compare", files={"a": _file(LOOKALIKE_A), "b": _file(LOOKALIKE_B)}
    ).json()
    assert not c["same"] and c["kind"] is None and c["score"] < c["threshold"]
    _err(alpha("POST", "/v1/compare", files={"a": ("a.jpg", part)}), 400, 216101)


def test_duplicates_cluster_copies_with_the_largest_as_canonical(alpha: Api) -> None:
    alpha("POST", "/v1/libraries", json={"name": "dups"})
    a, b, c = photo_names()[70], photo_names()[71], photo_names()[72]
    img_a = open_photo(a)
    small_a = img_a.resize((img_a.width // 2, img_a.height // 2))
    uploads = {
        "a small": jpeg(small_a, 70),
        "a": (PHOTOS / a).read_bytes(),
        "a crop": jpeg(crop(img_a, 0.75), 85),
        "b": (PHOTOS / b).read_bytes(),
        "b q30": jpeg(open_photo(b), 30),
        "c": (PHOTOS / c).read_bytes(),
    }
    ids = {}
    for brief, data in uploads.items():
        r = alpha("POST", "/v1/libraries/dups/images", json={"image": _b64(data), "brief": brief})
        assert r.status_code == 201, r.text
        ids[brief] = r.json()["image"]["id"]
    body = alpha("GET", "/v1/libraries/dups/duplicates").json()
    assert body["images"] == 6
    clusters = {
        frozenset(m["brief"] for m in cl["members"]): cl["canonical"]["brief"]
        for cl in body["clusters"]
    }
    assert clusters == {frozenset({"a", "a small", "a crop"}): "a", frozenset({"b", "b q30"}): "b"}
    for cl in body["clusters"]:
        assert cl["members"][0] == cl["canonical"]
        assert all(p["score"] >= 0.5 for p in cl["pairs"])


# --- errors, operations, OpenAPI ---------------------------------------------------------


def test_errors_have_one_shape_and_fitting_statuses(alpha: Api, http: TestClient) -> None:
    _err(http.get("/v1/libraries"), 401, 100)
    _err(http.get("/v1/libraries", headers={"Authorization": "Bearer nope"}), 401, 110)
    _err(alpha("GET", "/v1/nothing"), 404, 3)
    _err(alpha("PUT", "/v1/libraries"), 405, 3)
    url = "/v1/libraries/alpha/images"
    _err(
        alpha(
            "POST",
            url,
            content=b"{not json",
            headers={"content-type": "application/json"},
        ),
        400,
        216100,
    )
    _err(alpha("POST", url, files={"image": ("x.txt", b"hello, world")}), 415, 216201)
    _err(alpha("POST", url, files={"image": ("x.png", b"")}), 400, 216200)
    tiny = png(Image.new("RGB", (20, 20)))
    _err(alpha("POST", url, files={"image": ("x.png", tiny)}), 413, 216202)
    _err(alpha("POST", url, json={"brief": "nothing"}), 400, 216101)
    _err(alpha("POST", url, json={"url": "http://10.0.0.1/x.jpg"}), 400, 282111)
    big = b"x" * (9 * 1024 * 1024)
    _err(alpha("POST", url, files={"image": ("big.jpg", big)}), 413, 216202)
    _err(
        alpha("POST", url, content=b"a=b", headers={"content-type": "text/plain"}),
        400,
        216100,
    )


def test_health_ready_and_metrics(alpha: Api, http: TestClient, gallery: dict[str, Any]) -> None:
    assert http.get("/healthz").json()["status"] == "ok"
    ready = http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    alpha("POST", "/v1/libraries/alpha/search", files={"image": _file(next(iter(gallery)))})
    text = http.get("/metrics").text
    count = alpha("GET", "/v1/libraries/alpha").json()["count"]
    total = re.search(r"^tongtu_images (\d+)\.0$", text, re.M)
    assert total is not None and int(total.group(1)) >= count > 0
    assert 'library="' not in text  # /metrics needs no token: no library is named
    # The adds that made the gallery were committed, some transactions shared or not.
    writes = re.search(r"^tongtu_add_writes_total (\d+)\.0$", text, re.M)
    transactions = re.search(r"^tongtu_add_transactions_total (\d+)\.0$", text, re.M)
    assert writes is not None and transactions is not None
    assert int(writes.group(1)) >= int(transactions.group(1)) > 0
    assert re.search(
        r'^tongtu_requests_total\{method="POST",'
        r'route="/v1/libraries/\{name\}/search",status="200"\} \d',
        text,
        re.M,
    )
    assert 'tongtu_search_stage_seconds_count{stage="verification"}' in text
    assert 'tongtu_request_seconds_bucket{le="0.5",route="/v1/libraries/{name}/search"}' in text


def test_openapi_document_validates_and_lists_every_route(app: FastAPI, http: TestClient) -> None:
    doc = http.get("/openapi.json").json()
    validate(doc)
    documented = {(path, m.upper()) for path, ops in doc["paths"].items() for m in ops}
    served = {
        (route.path, method)
        for route in _routes(app.routes)
        if route.path.startswith(("/v1", "/healthz", "/readyz", "/metrics", "/rest", "/oauth"))
        for method in getattr(route, "methods", set()) - {"HEAD"}
    }
    assert served and served <= documented, served - documented
    add = doc["paths"]["/v1/libraries/{name}/images"]["post"]
    assert {"application/json", "multipart/form-data"} <= set(add["requestBody"]["content"])
    assert "409" in add["responses"] and "ErrorOut" in json.dumps(add["responses"]["409"])


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "original_router"):  # an included router
            yield from _routes(route.original_router.routes)
        elif hasattr(route, "path"):
            yield route
