"""What an attacker or a bad day sends: each test fails without the guard it names."""

from __future__ import annotations

import base64
import logging
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import PHOTOS, free_port, photo_names
from tests.fakes import FakeRuntime, fake_app
from tongtu.api import create_app
from tongtu.apps import API_KEY_LENGTH, SECRET_KEY_LENGTH
from tongtu.cli import main
from tongtu.engine import Engine
from tongtu.features import DIM, Extractor
from tongtu.fetch import Fetcher
from tongtu.settings import Settings
from tongtu.storage import open_vectors
from tongtu.storage.sqlite import sqlite_catalog

SAME_HQ = "/rest/2.0/realtime_search/same_hq/"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return fake_app(Settings(data_dir=tmp_path_factory.mktemp("hardening")))


@pytest.fixture(scope="module")
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def creds(app: FastAPI) -> dict[str, str]:
    lib = app.state.engine.library("hard", create=True)
    new = app.state.apps.create("hard", lib.id)
    return {"client_id": new.app.api_key, "client_secret": new.secret_key}


@pytest.fixture(scope="module")
def token(http: TestClient, creds: dict[str, str]) -> str:
    r = http.get("/oauth/2.0/token", params={"grant_type": "client_credentials", **creds})
    return str(r.json()["access_token"])


def _photo_b64() -> str:
    return base64.b64encode((PHOTOS / photo_names(1600)[0]).read_bytes()).decode()


def test_node_sdk_token_form_is_accepted(http: TestClient, token: str) -> None:
    """Baidu's Node.js SDK sends `?aipSdk=node&access_token=TOKEN?aipSdk=node`."""
    r = http.post(
        f"{SAME_HQ}search?aipSdk=node&access_token={token}?aipSdk=node",
        content=b"tags=1",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.json()["error_code"] == 216101  # authenticated: only the image is missing
    r = http.get(f"/v1/libraries?access_token={token}?aipSdk=node")
    assert r.status_code == 200


def test_keys_are_letters_and_digits_of_baidus_lengths(app: FastAPI) -> None:
    lib = app.state.engine.library("keys", create=True)
    for i in range(40):  # token_urlsafe gave '-' or '_' first in one key of 32
        new = app.state.apps.create(f"keys{i}", lib.id)
        assert re.fullmatch(rf"[A-Za-z0-9]{{{API_KEY_LENGTH}}}", new.app.api_key)
        assert re.fullmatch(rf"[A-Za-z0-9]{{{SECRET_KEY_LENGTH}}}", new.secret_key)


@pytest.mark.parametrize("field", ["tags", "pn", "rn"])
def test_numbers_of_thousands_of_digits_are_invalid_params(
    http: TestClient, token: str, field: str
) -> None:
    huge = "9" * 5000  # int() refuses over 4,300 digits
    r = http.post(SAME_HQ + "search", params={"access_token": token}, data={field: huge})
    assert r.json()["error_code"] == 216100
    r = http.post(
        "/v1/libraries/hard/search",
        params={"access_token": token},
        json={"image": _photo_b64(), field: huge},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == 216100


def test_json_nested_100000_deep_is_a_400(http: TestClient, token: str) -> None:
    body = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = http.post(
        "/v1/libraries/hard/search",
        params={"access_token": token},
        content=body,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == 216100


@pytest.mark.parametrize(
    "ctype, body",
    [
        ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--"),
        ("multipart/form-data; boundary=", b"--\r\n\r\n"),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\nvalue\r\n--x--\r\n"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n"),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nX-Big: " + b"h" * 200_000 + b"\r\n\r\nv\r\n--x--\r\n",
        ),
    ],
)
def test_malformed_multipart_is_216100_not_an_internal_error(
    http: TestClient, token: str, ctype: str, body: bytes
) -> None:
    r = http.post(
        SAME_HQ + "search", params={"access_token": token}, content=body,
        headers={"content-type": ctype},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["error_code"] in (216100, 216101)
    r = http.post(
        "/v1/libraries/hard/search", params={"access_token": token}, content=body,
        headers={"content-type": ctype},
    )  # fmt: skip
    assert r.status_code in (400, 422) and r.json()["error"]["code"] in (216100, 216101)
    r = http.post("/oauth/2.0/token", content=body, headers={"content-type": ctype})
    assert r.status_code in (400, 401)


def test_lone_surrogate_in_client_credentials_is_401(http: TestClient) -> None:
    for raw in (b"client_id=%ED%A0%80&client_secret=x", b"client_id=a&client_secret=%ED%A0%80"):
        r = http.post(
            "/oauth/2.0/token?grant_type=client_credentials",
            content=raw,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 401, r.text
    r = http.get("/oauth/2.0/token?grant_type=client_credentials&client_id=%ED%A0%80")
    assert r.status_code == 401


def test_a_lone_surrogate_secret_of_a_known_client_is_a_wrong_secret(
    http: TestClient, creds: dict[str, str]
) -> None:
    """The client id exists: a secret holding a lone surrogate is a wrong secret, as any
    other wrong secret is, not an unknown client."""
    raw = f"client_id={creds['client_id']}&client_secret=%ED%A0%80".encode()
    r = http.post(
        "/oauth/2.0/token?grant_type=client_credentials",
        content=raw,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    wrong = http.post(
        "/oauth/2.0/token?grant_type=client_credentials",
        data={"client_id": creds["client_id"], "client_secret": "not-the-secret"},
    )
    assert r.status_code == wrong.status_code == 401
    assert r.json()["error_description"] == wrong.json()["error_description"]
    assert r.json()["error_description"] == "Client authentication failed"


def test_made_up_methods_do_not_grow_the_metrics(http: TestClient) -> None:
    for i in range(60):
        http.request(f"M{i:05d}X", "/v1/libraries")
    text = http.get("/metrics").text
    assert "M00001X" not in text and 'method="other"' in text


def test_api_answers_carry_nosniff(http: TestClient, token: str) -> None:
    for r in (
        http.get("/healthz"),
        http.get("/v1/libraries", params={"access_token": token}),
        http.post(SAME_HQ + "search", params={"access_token": token}),
        http.get("/v1/nothing"),
    ):
        assert r.headers["x-content-type-options"] == "nosniff"


def test_tokens_never_reach_a_log_line(caplog: pytest.LogCaptureFixture, tmp_path: Any) -> None:
    """Baidu's SDKs put the token in every request's query, and the console its
    thumbnails' URLs: uvicorn's access log prints them (the filter comes with create_app)."""
    create_app(Settings(data_dir=tmp_path))
    access = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        access.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5",
            "GET",
            "/v1/libraries/a/images/1/thumbnail?access_token=24.abc.2592000.1-ff&x=1",
            "1.1",
            200,
        )
    line = caplog.records[-1].getMessage()
    assert "24.abc" not in line and "access_token=***&x=1" in line


def _engine_on_capped_catalog(settings: Settings, max_pages: int) -> Engine:
    """The fake engine of `settings` over its catalog file capped at `max_pages`."""
    catalog = sqlite_catalog(settings.db_path, max_pages=max_pages)
    extractor = Extractor(FakeRuntime(), settings.local_features, threads=1)
    return Engine(settings, catalog, open_vectors(settings, catalog, DIM), extractor, Fetcher())


def test_a_full_disk_refuses_writes_clearly_and_still_signs_in_and_searches(
    tmp_path: Any,
) -> None:
    """SQLite's own SQLITE_FULL, by capping the database at the pages it has."""
    settings = Settings(data_dir=tmp_path)
    image = _photo_b64()
    app = fake_app(settings)
    with TestClient(app) as http:
        new = app.state.apps.create("full", app.state.engine.library("full", create=True).id)
        creds = {"client_id": new.app.api_key, "client_secret": new.secret_key}
        r = http.get("/oauth/2.0/token", params={"grant_type": "client_credentials", **creds})
        token = r.json()["access_token"]
        r = http.post(
            SAME_HQ + "add", params={"access_token": token}, data={"image": image, "brief": "a"}
        )
        assert "cont_sign" in r.json()
    db = sqlite3.connect(settings.db_path)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.close()
    engine = _engine_on_capped_catalog(settings, pages)
    with TestClient(create_app(settings, engine)) as http:
        other = base64.b64encode((PHOTOS / photo_names(1600)[1]).read_bytes()).decode()
        r = http.post(
            SAME_HQ + "add", params={"access_token": token}, data={"image": other, "brief": "b"}
        )
        assert r.status_code == 200 and r.json()["error_code"] == 2, r.json()
        r = http.post(
            "/v1/libraries/full/images", params={"access_token": token}, json={"image": other}
        )
        assert r.status_code == 507 and "full" in r.json()["error"]["message"]
        # signing in and searching go on
        r = http.get("/oauth/2.0/token", params={"grant_type": "client_credentials", **creds})
        fresh = r.json()["access_token"]
        r = http.post(SAME_HQ + "search", params={"access_token": fresh}, data={"image": image})
        assert r.json()["result_num"] >= 1
        # nothing acknowledged was lost, nothing refused was half-written
        assert engine.catalog.count(engine.library("full").id) == 1


def test_rotated_secret_and_revoked_app_stop_signed_tokens(app: FastAPI, http: TestClient) -> None:
    lib = app.state.engine.library("rot", create=True)
    new = app.state.apps.create("rot", lib.id)
    params = {"grant_type": "client_credentials", "client_id": new.app.api_key}
    old = http.get("/oauth/2.0/token", params={**params, "client_secret": new.secret_key})
    tok = old.json()["access_token"]
    assert (
        http.post(SAME_HQ + "search", params={"access_token": tok}).json()["error_code"] == 216101
    )
    forged = tok[:-4] + ("0000" if not tok.endswith("0000") else "1111")
    assert (
        http.post(SAME_HQ + "search", params={"access_token": forged}).json()["error_code"] == 110
    )
    rotated = app.state.apps.rotate("rot")
    assert http.post(SAME_HQ + "search", params={"access_token": tok}).json()["error_code"] == 110
    r = http.get("/oauth/2.0/token", params={**params, "client_secret": rotated.secret_key})
    tok = r.json()["access_token"]
    app.state.apps.revoke("rot")
    assert http.post(SAME_HQ + "search", params={"access_token": tok}).json()["error_code"] == 110


@pytest.mark.model  # `tongtu apps create` opens the engine of the settings
def test_apps_create_does_not_hand_over_an_existing_library(
    tmp_path: Any, monkeypatch: Any
) -> None:
    """App B's library `victim`, made before an operator's `apps create victim`."""
    monkeypatch.setenv("TONGTU_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(main, ["apps", "create", "bee"]).exit_code == 0
    from tongtu.engine import Engine

    engine = Engine.open(Settings(data_dir=tmp_path))
    bee = engine.catalog.app_by_name("bee")
    assert bee is not None
    engine.catalog.grant(bee.id, engine.library("victim", create=True).id)
    engine.close()
    refused = runner.invoke(main, ["apps", "create", "victim"])
    assert refused.exit_code == 1 and "--library" in refused.output
    shared = runner.invoke(main, ["apps", "create", "victim", "--library", "victim"])
    assert shared.exit_code == 0 and "shares the existing library" in shared.output
    own = runner.invoke(main, ["apps", "create", "victim2", "--library", "fresh"])
    assert own.exit_code == 0


@pytest.fixture(scope="module")
def live(app: FastAPI) -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize(
    "target, mb",
    [("/v1/libraries/hard/images/batch", 90), (SAME_HQ + "add?access_token=nope", 7)],
)
def test_unauthenticated_body_is_refused_before_it_is_read(live: int, target: str, mb: int) -> None:
    """A large body (under the route's cap) announced without a valid token: the refusal
    comes before the body, so an anonymous client cannot make the server hold it."""
    ctype = "application/json" if target.startswith("/v1") else "application/x-www-form-urlencoded"
    with socket.create_connection(("127.0.0.1", live), timeout=10) as s:
        s.sendall(
            f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {mb * 1024 * 1024}\r\n\r\n".encode()
            + b"x" * 65536
        )
        s.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head or not head.rstrip().endswith(b"}"):
            head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 401") or b'"error_code":110' in head, head


@pytest.mark.parametrize(
    "target, headers, body",
    [  # what Baidu's SDKs send, each its own way
        ("search?access_token={t}&", {}, b"tags=1"),  # a trailing '&'
        ("search?aipSdk=C&aipSdkVersion=0_8_1&access_token={t}", {}, b"tags=1"),
        ("search", {}, b"access_token={t}&tags=1"),  # the token in the form
        ("search?access_token={t}", {"host": "aip.baidubce.com"}, b"tags=1"),
        (
            "search?access_token={t}",
            {"content-type": "application/x-www-form-urlencoded;charset=utf-8"},
            b"tags=1",
        ),
    ],
)
def test_baidu_sdk_request_forms_are_accepted(
    http: TestClient, token: str, target: str, headers: dict[str, str], body: bytes
) -> None:
    r = http.post(
        SAME_HQ + target.format(t=token),
        content=body.replace(b"{t}", token.encode()),
        headers={"content-type": "application/x-www-form-urlencoded", **headers},
    )
    assert r.status_code == 200 and r.json()["error_code"] == 216101, r.json()


def test_token_by_get_and_by_post_form(http: TestClient, creds: dict[str, str]) -> None:
    params = {"grant_type": "client_credentials", **creds}
    assert "access_token" in http.get("/oauth/2.0/token", params=params).json()
    assert "access_token" in http.post("/oauth/2.0/token", data=params).json()
    assert "brain_all_scope" in http.post("/oauth/2.0/token", data=params).json()["scope"]


def test_thumbnails_load_with_a_scoped_short_lived_key_not_the_token(
    app: FastAPI, http: TestClient, token: str
) -> None:
    image = _photo_b64()
    added = http.post(
        "/v1/libraries/hard/images",
        params={"access_token": token},
        json={"image": image, "on_duplicate": "return-existing"},
    ).json()["image"]
    key = http.post("/v1/libraries/hard/thumbnail-key", params={"access_token": token}).json()
    assert key["expires_in"] <= 900 and token not in key["key"]
    url = f"/v1/libraries/hard/images/{added['id']}/thumbnail"
    r = http.get(url, params={"thumb": key["key"]})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    # for this library only, not forged, not expired, and it is no token
    app.state.engine.library("elsewhere", create=True)  # a library the key is not for
    assert http.get(f"/v1/libraries/elsewhere/images/{added['id']}/thumbnail",
                    params={"thumb": key["key"]}).status_code == 401  # fmt: skip
    forged = key["key"][:-1] + ("0" if key["key"][-1] != "0" else "1")
    assert http.get(url, params={"thumb": forged}).status_code == 401
    hard = app.state.engine.library("hard")
    caller = app.state.apps.authenticate(token)
    stale = app.state.apps.thumbnail_key(caller, hard.id, ttl=-1)
    assert http.get(url, params={"thumb": stale}).status_code == 401
    # nor does it open any other route
    record = http.get(f"/v1/libraries/hard/images/{added['id']}", params={"thumb": key["key"]})
    assert record.status_code == 401


def test_the_console_never_puts_the_token_in_a_url() -> None:
    from tests.conftest import ROOT

    script = (ROOT / "tongtu" / "console" / "console.js").read_text()
    assert "access_token=" not in script and "?thumb=" in script


def test_pictures_worked_on_at_once_are_bounded_by_a_setting(tmp_path: Any) -> None:
    """The server's thread pool holds 40 threads, each keeping the memory of the largest
    picture it worked on: the server's memory grew under load and stayed (bench/load).
    Searches beyond the bound wait; a second search from inside one does not."""
    import threading

    from tongtu.engine import Source

    runtime = _CountingRuntime()
    settings = Settings(data_dir=tmp_path, image_concurrency=2)
    engine = Engine.open(settings, Extractor(runtime, settings.local_features, threads=1))
    lib = engine.library("gate", create=True)
    image = base64.b64decode(_photo_b64())
    threads = [
        threading.Thread(target=engine.search, args=(lib, Source(image=image))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.close()
    assert runtime.most == 2
    assert Settings(data_dir=tmp_path).resolved_image_concurrency() >= 4


def _reencoded(data: bytes, quality: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


class _CountingRuntime(FakeRuntime):
    """The fake descriptor, slowed down, counting the pictures it runs at once."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0

    def run(self, batch: Any) -> Any:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        try:
            time.sleep(0.1)
            return super().run(batch)
        finally:
            with self.lock:
                self.inside -= 1


def test_adds_are_bounded_by_the_same_setting_as_searches(tmp_path: Any) -> None:
    """A bulk add with four workers, and one-by-one adds from six threads, decode and
    extract at most `image_concurrency` pictures at once (the bound held searches only:
    16 clients adding, server RSS 420 → 602 MB)."""
    import threading

    from tongtu.engine import Engine, Source
    from tongtu.features import Extractor

    runtime = _CountingRuntime()
    settings = Settings(data_dir=tmp_path, image_concurrency=2)
    engine = Engine.open(settings, Extractor(runtime, settings.local_features, threads=1))
    try:
        lib = engine.library("gate", create=True)
        photo = base64.b64decode(_photo_b64())
        pictures = [_reencoded(photo, quality) for quality in range(60, 96, 3)]
        bulk = [(Source(image=p), "", ()) for p in pictures[:6]]
        outcomes = list(engine.add_many(lib, bulk, workers=4))
        assert len(outcomes) == 6
        bulk_most, runtime.most = runtime.most, 0
        threads = [
            threading.Thread(target=engine.add, args=(lib, Source(image=p), ""))
            for p in pictures[6:]
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert engine.catalog.count(lib.id) == len(pictures)
    finally:
        engine.close()
    assert (bulk_most, runtime.most) == (2, 2)
