"""Schemathesis over the native API's OpenAPI document: whatever it generates is answered
with a documented status and the one error shape, never a 500."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from tests.fakes import fake_app
from tongtu.settings import Settings

EXAMPLES = int(os.environ.get("TONGTU_FUZZ_EXAMPLES", "150")) // 6 or 1


def _app() -> FastAPI:
    app = fake_app(Settings(data_dir=Path(tempfile.mkdtemp(prefix="tongtu-schema-")), qps_limit=0))
    lib = app.state.engine.library("fuzz", create=True)
    new = app.state.apps.create("fuzz", lib.id, admin=True)
    app.state.fuzz_token = app.state.apps.issue_token(new.app.api_key, new.secret_key).access_token
    return app


APP = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).include(path_regex="^/v1/")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_native_api_never_fails_on_generated_input(case: Any) -> None:
    response = case.call(headers={"Authorization": f"Bearer {APP.state.fuzz_token}"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], int) and error["message"] and error["log_id"]
