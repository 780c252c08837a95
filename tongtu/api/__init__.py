"""The HTTP server: `create_app(settings)` builds it and holds all its state."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from tongtu import __version__
from tongtu.api import baidu, native
from tongtu.api.errors import install_handlers, log_error, new_log_id
from tongtu.api.metrics import Metrics
from tongtu.api.schemas import HealthOut
from tongtu.apps import Apps
from tongtu.engine import Engine
from tongtu.errors import TongtuError
from tongtu.features import settle_native_threads
from tongtu.limits import Limiter
from tongtu.settings import Settings

__all__ = ["app_from_environment", "create_app", "redact_tokens_in_logs"]

log = logging.getLogger("tongtu")

_SECRET_PARAM = re.compile(r"((?:access_token|client_secret|thumb)=)[^&\s\"]*", re.I)


class _Redact(logging.Filter):
    """Keeps access tokens and secrets out of log lines: Baidu's SDKs send the token in
    the query string of every request, and uvicorn's access log prints the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_PARAM.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _SECRET_PARAM.sub(r"\1***", record.msg)
        return True


def redact_tokens_in_logs() -> None:
    """Install the filter on the loggers that print request targets (idempotent)."""
    for name in ("uvicorn.access", "uvicorn.error", "tongtu", "tongtu.api"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Redact) for f in logger.filters):
            logger.addFilter(_Redact())


def app_from_environment() -> FastAPI:
    """The app of one worker of `tongtu serve --workers N` (settings from TONGTU_*)."""
    settle_native_threads()
    return create_app(Settings())


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    engine = engine or Engine.open(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.close()

    app = FastAPI(
        title="tongtu",
        version=__version__,
        description=(
            "Self-hosted same-image search. The native API is under /v1; the Baidu "
            "same_hq routes are under /rest/2.0 and /oauth/2.0."
        ),
        lifespan=lifespan,
        # /docs is tongtu's own page over /openapi.json: FastAPI's loads Swagger UI from a
        # CDN, which an offline machine cannot reach and a strict CSP refuses.
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.apps = Apps(engine.catalog, settings.token_ttl)
    app.state.limiter = Limiter(settings.qps_limit, settings.daily_limit, settings.max_qps)
    metrics = Metrics(engine.catalog, engine.writes)
    app.state.metrics = metrics
    install_handlers(app)
    metrics.install(app)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    redact_tokens_in_logs()
    app.include_router(baidu.router)
    app.include_router(native.router)

    package = Path(__file__).resolve().parents[1]
    app.mount("/console", _Static(directory=package / "console", html=True), name="console")
    app.mount("/docs", _Static(directory=package / "apidocs", html=True), name="docs")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> RedirectResponse:
        return RedirectResponse("/docs/")

    @app.get("/healthz", response_model=HealthOut, tags=["operations"])
    async def healthz() -> HealthOut:
        """The process is up."""
        return HealthOut(status="ok")

    @app.get("/readyz", response_model=HealthOut, tags=["operations"])
    async def readyz() -> Response:
        """The catalog answers and the vector indexes are current: ready to serve."""
        try:
            libraries = await run_in_threadpool(_ready, engine)
        except Exception as exc:  # not ready, whatever the reason: say why, plainly
            log_id = new_log_id()
            if isinstance(exc, TongtuError):
                log_error(log_id, exc)
                reason = str(exc)
            else:
                log.exception("readiness check failed (log_id %s)", log_id)
                reason = "internal error"
            body = HealthOut(status="unavailable", detail={"reason": reason, "log_id": log_id})
            return JSONResponse(body.model_dump(), status_code=503)
        return JSONResponse(HealthOut(status="ready", detail={"libraries": libraries}).model_dump())

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics_route(request: Request) -> Response:
        """Prometheus text format."""
        return await run_in_threadpool(metrics.render)

    return app


class _Static(StaticFiles):
    """The console's and the API reference's files, with headers that keep them to their
    own origin."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' blob: data: http: https:; "
            "style-src 'self'; script-src 'self'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response


def _ready(engine: Engine) -> int:
    engine.sync()
    return len(engine.catalog.libraries())
