"""Baidu-compatible routes: the OAuth token endpoint and same_hq add/search/update/delete.

Errors are HTTP 200 with {"log_id", "error_code", "error_msg"}, as Baidu does, so the
official SDKs (which read the body, not the status) behave exactly as against Baidu.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tongtu.api.auth import authorize, query_token
from tongtu.api.errors import log_error, new_log_id
from tongtu.api.fields import read_fields
from tongtu.apps import Apps, BadSecret, UnknownClient
from tongtu.engine import Engine, Source
from tongtu.errors import (
    InvalidParam,
    ItemExists,
    MissingParam,
    TongtuError,
)
from tongtu.imaging import decode_base64
from tongtu.params import (
    parse_brief,
    parse_cont_signs,
    parse_page,
    parse_tag_logic,
    parse_tags,
)
from tongtu.storage.base import LibraryRecord

__all__ = ["router"]

log = logging.getLogger("tongtu.api")
router = APIRouter()

# A 4 MB base64 image grows by up to a third when form-encoded (%2B, %2F, %3D).
MAX_BODY = 8 * 1024 * 1024
SCOPE = "public brain_all_scope tongtu_same_hq"


# --- OAuth ------------------------------------------------------------------------------


async def token(request: Request) -> JSONResponse:
    """OAuth 2.0 client_credentials: an access token for an app's API key and secret."""
    params = dict(request.query_params)
    if request.method == "POST":
        with contextlib.suppress(TongtuError):
            params = {**await _read_form(request), **params}
    if params.get("grant_type") != "client_credentials":
        return JSONResponse(
            {"error": "unsupported_grant_type", "error_description": "unsupported grant type"},
            status_code=400,
        )
    apps: Apps = request.app.state.apps
    try:
        tok = await run_in_threadpool(
            apps.issue_token, params.get("client_id", ""), params.get("client_secret", "")
        )
    except (UnknownClient, BadSecret) as exc:
        return JSONResponse(
            {"error": "invalid_client", "error_description": str(exc)}, status_code=401
        )
    return JSONResponse(
        {
            "refresh_token": f"25.{secrets.token_hex(16)}",
            "expires_in": tok.expires_in,
            "session_key": secrets.token_hex(16),
            "access_token": tok.access_token,
            "scope": SCOPE,
            "session_secret": secrets.token_hex(16),
        }
    )


for _method in ("GET", "POST"):
    router.add_api_route(
        "/oauth/2.0/token",
        token,
        methods=[_method],
        operation_id=f"oauth_token_{_method.lower()}",
        tags=["baidu"],
    )


# --- same_hq --------------------------------------------------------------------------


async def _read_form(request: Request) -> dict[str, str]:
    """The body's text fields, each one's last value (as Baidu reads a repeated one)."""
    fields = await read_fields(
        request,
        MAX_BODY,
        forms_only=True,
        too_large="request body is too large (image base64 is limited to 4 MB)",
    )
    form: dict[str, str] = {}
    for key, value in fields.items():
        texts = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
        if texts:
            form[key] = texts[-1]
    return form


def _source(form: dict[str, str]) -> Source:
    image = form.get("image")
    if image is not None:
        return Source(image=decode_base64(image))
    url = form.get("url")
    return Source(url=url) if url else Source()


def _library(request: Request, form: dict[str, str]) -> LibraryRecord:
    app = authorize(request, query_token(request) or form.get("access_token"))
    apps: Apps = request.app.state.apps
    return apps.default_library(app)


def _add(request: Request, form: dict[str, str]) -> dict[str, Any]:
    engine: Engine = request.app.state.engine
    lib = _library(request, form)
    brief = parse_brief(form.get("brief"))
    tags = parse_tags(form.get("tags")) or ()
    source = _source(form)
    if not source.given:
        raise MissingParam("image or url is required")
    if brief is None:
        raise MissingParam("brief is required")
    added = engine.add(lib, source, brief, tags)
    return {"cont_sign": added.record.cont_sign}


def _search(request: Request, form: dict[str, str]) -> dict[str, Any]:
    engine: Engine = request.app.state.engine
    lib = _library(request, form)
    tags = parse_tags(form.get("tags"))
    any_tag = parse_tag_logic(form.get("tag_logic"))
    pn, rn = parse_page(form.get("pn"), form.get("rn"))
    source = _source(form)
    if not source.given:
        raise MissingParam("image or url is required")
    page = engine.search(lib, source, tags, any_tag, pn, rn)
    request.state.search_timings = page.timings
    return {
        "result_num": len(page.hits),
        "result": [
            {"cont_sign": h.record.cont_sign, "score": h.score, "brief": h.record.brief}
            for h in page.hits
        ],
        "has_more": page.has_more,
    }


def _update(request: Request, form: dict[str, str]) -> dict[str, Any]:
    engine: Engine = request.app.state.engine
    lib = _library(request, form)
    brief = parse_brief(form.get("brief"))
    tags = parse_tags(form.get("tags"))
    source = _source(form)
    sign = form.get("cont_sign")
    if not source.given and not sign:
        raise MissingParam("image, url or cont_sign is required")
    if brief is None and tags is None:
        raise MissingParam("brief or tags is required")
    if not source.given and sign is not None:
        signs = parse_cont_signs(sign)
        if len(signs) != 1:
            raise InvalidParam("update takes one cont_sign")
        sign = signs[0]
    record = engine.find(lib, source, sign)
    engine.update(record, brief, tags)
    return {}


def _delete(request: Request, form: dict[str, str]) -> dict[str, Any]:
    engine: Engine = request.app.state.engine
    lib = _library(request, form)
    source = _source(form)
    if source.given:
        signs = [engine.find(lib, source, None).cont_sign]
    elif form.get("cont_sign"):
        signs = parse_cont_signs(form["cont_sign"])
    else:
        raise MissingParam("image, url or cont_sign is required")
    engine.delete(lib, signs)
    return {}


_OPS: dict[str, Callable[[Request, dict[str, str]], dict[str, Any]]] = {
    "add": _add,
    "search": _search,
    "update": _update,
    "delete": _delete,
}


@router.post("/rest/2.0/realtime_search/same_hq/{op}")
async def same_hq(op: str, request: Request) -> JSONResponse:
    log_id = new_log_id()
    handler = _OPS.get(op)
    if handler is None:
        return JSONResponse(
            {"log_id": log_id, "error_code": 3, "error_msg": "Unsupported openapi method"}
        )
    try:
        token = query_token(request)
        if token:  # the caller is known before its body is read (Baidu's SDKs send it so)
            await run_in_threadpool(authorize, request, token)
        form = await _read_form(request)
        body = await run_in_threadpool(handler, request, form)
    except TongtuError as exc:
        return JSONResponse(error_body(log_id, exc))
    except Exception:
        log.exception("internal error (log_id %s)", log_id)
        return JSONResponse({"log_id": log_id, "error_code": 282000, "error_msg": "internal error"})
    return JSONResponse({"log_id": log_id, **body})


def error_body(log_id: int, exc: TongtuError) -> dict[str, Any]:
    log_error(log_id, exc)  # Baidu's error_msg is kept verbatim; the reason goes to the log
    body: dict[str, Any] = {"log_id": log_id, "error_code": exc.code, "error_msg": exc.baidu_msg}
    if isinstance(exc, ItemExists):
        body["cont_sign"] = exc.cont_sign
    return body
