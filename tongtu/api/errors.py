"""Error bodies of the native API and the handlers that produce them.

One shape everywhere: `{"error": {"code", "message", "log_id", "type"}}`, with the HTTP
status of the error class (errors.py). Nothing unexpected leaks: an internal error is
logged with its log_id and answered with 500 and that id only.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tongtu.api.schemas import ErrorDetail
from tongtu.errors import ItemExists, StoreUnavailable, TongtuError

__all__ = ["error_detail", "install_handlers", "log_error", "new_log_id"]

log = logging.getLogger("tongtu.api")

# HTTP statuses that are not TongtuErrors (routing, validation), as Baidu-like codes.
_HTTP_CODES = {
    404: (3, "not_found"),
    405: (3, "method_not_allowed"),
    422: (216100, "invalid_param"),
}


def new_log_id() -> int:
    return int(time.time() * 1000) % 10**13 * 1000 + secrets.randbelow(1000)


def log_error(log_id: int, exc: TongtuError) -> None:
    """The server's line for an error answered to a client: its log_id, code and reason,
    and what the client is not told (a store's address and its driver's words). A store
    that does not answer is logged once per outage where it is noticed (storage/pool.py,
    storage/milvus.py); each request it fails is an info line, not an error."""
    detail = exc.detail if isinstance(exc, StoreUnavailable) and exc.detail else ""
    text = f"{exc} ({detail})" if detail else str(exc)
    if exc.code == 282000:
        log.error("internal error (log_id %s): %s", log_id, text)
    elif exc.http_status >= 500 and not isinstance(exc, StoreUnavailable):
        log.error("error (log_id %s): %s", log_id, text)
    else:
        log.info("log_id %s: error %s: %s", log_id, exc.code, text)


def error_detail(exc: TongtuError, log_id: int) -> ErrorDetail:
    return ErrorDetail(
        code=exc.code,
        message=str(exc) if exc.code != 282000 else "internal error",
        log_id=log_id,
        type=re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower(),
        cont_sign=exc.cont_sign if isinstance(exc, ItemExists) else None,
    )


def _response(status: int, detail: ErrorDetail) -> JSONResponse:
    return JSONResponse({"error": detail.model_dump(exclude_none=True)}, status_code=status)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(TongtuError)
    async def tongtu_error(request: Request, exc: TongtuError) -> JSONResponse:
        log_id = new_log_id()
        log_error(log_id, exc)
        return _response(exc.http_status, error_detail(exc, log_id))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        detail = ErrorDetail(
            code=216100,
            message=problems or "invalid request",
            log_id=new_log_id(),
            type="invalid_param",
        )
        return _response(422, detail)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code, kind = _HTTP_CODES.get(exc.status_code, (282000, "http_error"))
        detail = ErrorDetail(code=code, message=str(exc.detail), log_id=new_log_id(), type=kind)
        return _response(exc.status_code, detail)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log_id = new_log_id()
        log.exception("internal error (log_id %s)", log_id)
        detail = ErrorDetail(code=282000, message="internal error", log_id=log_id, type="internal")
        return _response(500, detail)
