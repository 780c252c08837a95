"""Who is calling: the app behind a request's token, counted against its limits once."""

from __future__ import annotations

from fastapi import Request

from tongtu.apps import Apps
from tongtu.limits import Limiter
from tongtu.storage.base import AppRecord

__all__ = ["authorize", "query_token"]


def query_token(request: Request) -> str | None:
    """The `access_token` of the query string, as Baidu's gateway reads it.

    Baidu's Node.js SDK (every release so far) appends `?aipSdk=node` twice, so its
    request target reads `…?aipSdk=node&access_token=TOKEN?aipSdk=node` and a standard
    query parser reads the token as `TOKEN?aipSdk=node`. A token never holds `?`, so
    what follows one is not part of it."""
    token = request.query_params.get("access_token")
    return None if token is None else token.split("?", 1)[0]


def authorize(request: Request, token: str | None) -> AppRecord:
    cached: AppRecord | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    apps: Apps = request.app.state.apps
    app = apps.authenticate(token)
    limiter: Limiter = request.app.state.limiter
    limiter.check(app)
    request.state.caller = app
    return app
