"""Revocation, rotation, isolation between apps and request limits, on both front ends."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import PHOTOS, photo_names
from tests.fakes import fake_app
from tongtu.settings import Settings

SAME_HQ = "/rest/2.0/realtime_search/same_hq/"


def _app(tmp: Any, **settings: Any) -> FastAPI:
    return fake_app(Settings(data_dir=tmp, **settings))


def _creds(app: FastAPI, name: str) -> dict[str, str]:
    lib = app.state.engine.library(name, create=True)
    new = app.state.apps.create(name, lib.id)
    return {"client_id": new.app.api_key, "client_secret": new.secret_key}


def _token(http: TestClient, creds: dict[str, str]) -> Any:
    return http.get("/oauth/2.0/token", params={"grant_type": "client_credentials", **creds})


def _baidu(http: TestClient, op: str, token: str, **data: str) -> dict[str, Any]:
    r = http.post(SAME_HQ + op, params={"access_token": token}, data=data)
    assert r.status_code == 200
    return dict(r.json())


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return _app(tmp_path_factory.mktemp("security"))


@pytest.fixture(scope="module")
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def test_default_bind_is_loopback() -> None:
    assert Settings().host == "127.0.0.1"


def test_revoked_app_loses_its_tokens_at_once(app: FastAPI, http: TestClient) -> None:
    creds = _creds(app, "revokee")
    token = _token(http, creds).json()["access_token"]
    assert _baidu(http, "search", token)["error_code"] == 216101  # authenticated
    app.state.apps.revoke("revokee")
    assert _baidu(http, "search", token)["error_code"] == 110
    r = http.get("/v1/libraries", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == 110
    r = _token(http, creds)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_rotation_retires_the_old_secret_and_its_tokens(app: FastAPI, http: TestClient) -> None:
    creds = _creds(app, "rotor")
    old_token = _token(http, creds).json()["access_token"]
    new = app.state.apps.rotate("rotor")
    assert _baidu(http, "search", old_token)["error_code"] == 110
    assert _token(http, creds).status_code == 401
    fresh = _token(http, {**creds, "client_secret": new.secret_key})
    assert fresh.status_code == 200
    assert _baidu(http, "search", fresh.json()["access_token"])["error_code"] == 216101


def test_an_app_sees_only_its_own_library(app: FastAPI, http: TestClient) -> None:
    mine = _token(http, _creds(app, "mine")).json()["access_token"]
    theirs = _token(http, _creds(app, "theirs")).json()["access_token"]
    image = base64.b64encode((PHOTOS / photo_names()[12]).read_bytes()).decode()
    added = _baidu(http, "add", mine, image=image, brief="private")
    assert "cont_sign" in added
    assert _baidu(http, "search", theirs, image=image)["result_num"] == 0
    assert _baidu(http, "delete", theirs, cont_sign=added["cont_sign"])["error_code"] == 216682
    assert _baidu(http, "search", mine, image=image)["result"][0]["brief"] == "private"
    r = http.get("/v1/libraries/mine", headers={"Authorization": f"Bearer {theirs}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == 6


def test_qps_limit_is_18_on_baidu_routes_and_429_on_native(app: FastAPI, http: TestClient) -> None:
    creds = _creds(app, "busy")
    app.state.engine.catalog.set_limits(app.state.apps.by_name("busy").id, 2.0, None)
    token = _token(http, creds).json()["access_token"]
    codes = [_baidu(http, "search", token).get("error_code") for _ in range(3)]
    assert codes == [216101, 216101, 18]
    r = http.get("/v1/libraries", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 429 and r.json()["error"]["code"] == 18
    time.sleep(1.1)  # the bucket refills at 2 a second
    assert _baidu(http, "search", token)["error_code"] == 216101


def test_daily_limit_is_17(app: FastAPI, http: TestClient) -> None:
    creds = _creds(app, "daily")
    app.state.engine.catalog.set_limits(app.state.apps.by_name("daily").id, None, 3)
    token = _token(http, creds).json()["access_token"]
    codes = [_baidu(http, "search", token).get("error_code") for _ in range(4)]
    assert codes == [216101, 216101, 216101, 17]
    r = http.get("/v1/libraries", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 429 and r.json()["error"]["code"] == 17
    # Other apps are not affected.
    other = _token(http, _creds(app, "other")).json()["access_token"]
    assert _baidu(http, "search", other)["error_code"] == 216101


def test_server_wide_limit_is_4(tmp_path: Any) -> None:
    app = _app(tmp_path, max_qps=1.0)
    with TestClient(app) as http:
        a = _token(http, _creds(app, "a")).json()["access_token"]
        b = _token(http, _creds(app, "b")).json()["access_token"]
        assert _baidu(http, "search", a)["error_code"] == 216101
        assert _baidu(http, "search", b)["error_code"] == 4
