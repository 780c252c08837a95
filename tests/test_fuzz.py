"""Property-based tests: any parameters and any image bytes on the Baidu routes get a
listed error code or a success, never a 500 or a hang, and an error leaves the library
unchanged. `make fuzz` runs the same with many more examples (TONGTU_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import base64
import os
import random
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.seeds import hostile, seeds
from tests.fakes import fake_app
from tongtu.errors import ImageError
from tongtu.imaging import decode_image
from tongtu.settings import Settings

EXAMPLES = int(os.environ.get("TONGTU_FUZZ_EXAMPLES", "150"))
SAME_HQ = "/rest/2.0/realtime_search/same_hq/"
# Every code a same_hq route may answer (docs/baidu-api.md, "Errors"), and success.
LISTED = {
    6, 17, 18, 4, 100, 110, 111, 216100, 216101, 216200, 216201, 216202, 216203,
    216630, 216681, 216682, 282111, 282112, 282113, 282114,
}  # fmt: skip
SEEDS = {**seeds(), **hostile()}
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return fake_app(Settings(data_dir=tmp_path_factory.mktemp("fuzz"), qps_limit=0))


@pytest.fixture(scope="module")
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def token(app: FastAPI, http: TestClient) -> str:
    lib = app.state.engine.library("fuzz", create=True)
    new = app.state.apps.create("fuzz", lib.id)
    r = http.get(
        "/oauth/2.0/token",
        params={
            "grant_type": "client_credentials",
            "client_id": new.app.api_key,
            "client_secret": new.secret_key,
        },
    )
    return str(r.json()["access_token"])


def _mutate(data: bytes, rnd: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        if not out:
            break
        op = rnd.randrange(4)
        i = rnd.randrange(len(out))
        if op == 0:
            out[i] ^= 1 << rnd.randrange(8)
        elif op == 1:
            del out[i : i + rnd.randint(1, 64)]
        elif op == 2:
            out[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
        else:
            out = out[:i]
    return bytes(out)


image_bytes = st.one_of(
    st.sampled_from(sorted(SEEDS)).map(SEEDS.__getitem__),
    st.tuples(st.sampled_from(sorted(SEEDS)), st.integers(0, 2**32)).map(
        lambda t: _mutate(SEEDS[t[0]], random.Random(t[1]))
    ),
    st.binary(max_size=2048),
)
raw_text = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),  # invalid UTF-8 too
    st.sampled_from(["", "0", "1", "-1", "1,2", "1,2,3", "65536", "1;2", "1,2;3,4", "9" * 30]),
    st.just("x" * 300),
    st.just("é" * 600_000),  # a megabyte-long field
    st.just("9" * 5000),  # more digits than int() reads
    st.just("1," + "9" * 4400),
)
image_field = st.one_of(
    image_bytes.map(lambda b: base64.b64encode(b)),
    raw_text,
    st.just(b"A" * (4 * 1024 * 1024 + 8)),
)
url_field = st.one_of(
    raw_text,
    st.sampled_from(
        [
            "http://127.0.0.1/x.jpg",
            "http://[::1]/x.jpg",
            "http://169.254.169.254/latest",
            "http://10.1.2.3/a.png",
            "file:///etc/passwd",
            "gopher://x",
            "http://" + "a" * 1100,
        ]
    ),
)
FIELDS = {
    "image": image_field,
    "url": url_field,
    "brief": raw_text,
    "tags": raw_text,
    "tag_logic": raw_text,
    "pn": raw_text,
    "rn": raw_text,
    "cont_sign": raw_text,
    "unknown_field": raw_text,
}


def _body(fields: dict[str, Any]) -> bytes:
    parts = []
    for key, value in fields.items():
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")
        parts.append(f"{key}=".encode() + quote_from_bytes(raw).encode())
    return b"&".join(parts)


@FUZZ_SETTINGS
@given(
    op=st.sampled_from(["add", "search", "update", "delete"]),
    fields=st.fixed_dictionaries({}, optional=FIELDS),
)
def test_same_hq_answers_a_listed_code_and_errors_change_nothing(
    app: FastAPI, http: TestClient, token: str, op: str, fields: dict[str, Any]
) -> None:
    catalog = app.state.engine.catalog
    before = catalog.last_seq()
    r = http.post(
        SAME_HQ + op,
        params={"access_token": token},
        content=_body(fields),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body.get("log_id"), int)
    if "error_code" in body:
        assert body["error_code"] in LISTED, body
        assert body["error_msg"]
        assert catalog.last_seq() == before  # nothing written
    elif op == "search":
        assert body["result_num"] == len(body["result"])


@FUZZ_SETTINGS
@given(data=image_bytes)
def test_decoder_decodes_or_raises_an_image_error(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pic = decode_image(data)
        except ImageError:
            return
    assert pic.rgb.ndim == 3 and pic.rgb.shape[2] == 3
    assert min(pic.width, pic.height) >= 50 and max(pic.width, pic.height) <= 4096


@pytest.mark.parametrize("name", sorted(hostile()))
def test_hostile_files_are_refused_quickly(name: str) -> None:
    with pytest.raises(ImageError):
        decode_image(hostile()[name])


@pytest.mark.parametrize("name", sorted(seeds()))
def test_every_seed_layout_decodes_to_rgb(name: str) -> None:
    pic = decode_image(seeds()[name])
    assert pic.rgb.shape == (72, 96, 3)


@pytest.mark.slow
def test_atheris_short_run() -> None:
    """The coverage-guided fuzzer for a few thousand inputs (`make fuzz` runs longer)."""
    import subprocess
    import sys

    runs = max(2000, EXAMPLES * 20)
    out = subprocess.run(
        [sys.executable, "-m", "fuzz.decoder", f"-atheris_runs={runs}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"Done {runs}" in out.stderr


# --- the abuse classes of tests/test_hardening.py, fuzzed on every front end ---------

_CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/json",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=xyz",
        "text/plain",
        "",
    ]
)


def _nested(depth: int) -> bytes:
    return b'{"image": ' + b"[" * depth + b"]" * depth + b"}"


_BODIES = st.one_of(
    st.binary(max_size=512),
    st.integers(0, 200_000).map(_nested),  # JSON nested up to 200,000 deep
    st.tuples(st.text(max_size=20), st.integers(0, 300_000)).map(
        lambda t: (
            b'--xyz\r\nContent-Disposition: form-data; name="'
            + t[0].encode("utf-8", "surrogatepass")
            + b'"\r\nX-Pad: '
            + b"h" * t[1]
            + b"\r\n\r\nv\r\n--xyz--\r\n"
        )
    ),
    st.just(b"client_id=%ED%A0%80&client_secret=%ED%A0%80&grant_type=client_credentials"),
)


@FUZZ_SETTINGS
@given(
    target=st.sampled_from(
        [
            "/oauth/2.0/token?grant_type=client_credentials",
            SAME_HQ + "search?access_token={t}",
            "/v1/libraries/fuzz/search?access_token={t}",
            "/v1/libraries/fuzz/images/batch?access_token={t}",
            "/v1/libraries?access_token={t}",
        ]
    ),
    ctype=_CONTENT_TYPES,
    body=_BODIES,
)
def test_any_body_on_any_route_is_an_answer_not_an_internal_error(
    http: TestClient, token: str, target: str, ctype: str, body: bytes
) -> None:
    r = http.post(target.format(t=token), content=body, headers={"content-type": ctype})
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if target.startswith("/rest"):
        assert r.json().get("error_code", 0) != 282000, r.text[:300]
