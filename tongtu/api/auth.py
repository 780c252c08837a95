"""Who is calling: the app behind a request's token, counted against its limits once."""

from __future__ import annotations

from fastapi import Request

from tongtu.apps import Apps
from tongtu.limits import Limiter
from tongtu.storage.base import AppRecord

__all__ = ["authorize"]


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
