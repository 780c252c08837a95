"""Auth on the Baidu routes, through the real app in-process (real model, tiny photos)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.fakes import fake_app
from tongtu.apps import Apps
from tongtu.settings import Settings

SEARCH = "/rest/2.0/realtime_search/same_hq/search"


@pytest.fixture(scope="module")
def app_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("auth"), token_ttl=2)
    app = fake_app(settings)
    engine = app.state.engine
    lib = engine.library("auth", create=True)
    new = Apps(engine.catalog, settings.token_ttl).create("auth", lib.id)
    with TestClient(app) as client:
        yield client, {"client_id": new.app.api_key, "client_secret": new.secret_key}


def _token(client: TestClient, creds: dict[str, str], method: str = "GET") -> dict[str, object]:
    params = {"grant_type": "client_credentials", **creds}
    r = (
        client.get("/oauth/2.0/token", params=params)
        if method == "GET"
        else client.post("/oauth/2.0/token", data=params)
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_token_endpoint_answers_like_baidu(app_client: tuple[TestClient, dict[str, str]]) -> None:
    client, creds = app_client
    for method in ("GET", "POST"):
        body = _token(client, creds, method)
        assert "brain_all_scope" in str(body["scope"]).split(" ")
        assert body["expires_in"] == 2
        assert {"access_token", "refresh_token", "session_key", "session_secret"} <= set(body)


def test_wrong_secret_is_401_client_authentication_failed(
    app_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, creds = app_client
    r = client.get(
        "/oauth/2.0/token",
        params={
            "grant_type": "client_credentials",
            "client_id": creds["client_id"],
            "client_secret": "no",
        },
    )
    assert r.status_code == 401
    assert r.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed",
    }


def test_missing_token_is_100_unknown_is_110_expired_is_111(
    app_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, creds = app_client
    assert client.post(SEARCH, data={"image": "x"}).json()["error_code"] == 100
    assert client.post(SEARCH, params={"access_token": "nope"}, data={}).json()["error_code"] == 110
    token = str(_token(client, creds)["access_token"])
    assert (
        client.post(SEARCH, params={"access_token": token}, data={}).json()["error_code"] == 216101
    )
    time.sleep(2.2)
    assert client.post(SEARCH, params={"access_token": token}, data={}).json()["error_code"] == 111


def test_tokens_and_secrets_are_not_stored_in_clear(
    app_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, creds = app_client
    token = str(_token(client, creds)["access_token"])
    db: Path = client.app.state.engine.settings.db_path  # type: ignore[attr-defined]
    client.app.state.engine.catalog._db().execute("PRAGMA wal_checkpoint(FULL)")  # type: ignore[attr-defined]
    raw = b"".join(p.read_bytes() for p in db.parent.glob("catalog.db*"))
    assert token.encode() not in raw
    assert creds["client_secret"].encode() not in raw


def test_unknown_operation_and_invalid_utf8_brief(
    app_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, creds = app_client
    token = str(_token(client, creds)["access_token"])
    r = client.post("/rest/2.0/realtime_search/same_hq/nope", params={"access_token": token})
    assert r.json()["error_code"] == 3
    r = client.post(
        "/rest/2.0/realtime_search/same_hq/add",
        params={"access_token": token},
        content=b"brief=%FF%FE&image=abcd",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and r.json()["error_code"] == 216100
