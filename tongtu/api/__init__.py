"""The HTTP server: `create_app(settings)` builds it and holds all its state."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tongtu.api import baidu
from tongtu.apps import Apps
from tongtu.engine import Engine
from tongtu.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("tongtu")


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    engine = engine or Engine.open(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.close()

    app = FastAPI(title="tongtu", version="0.1.0", lifespan=lifespan)
    app.state.engine = engine
    app.state.apps = Apps(engine.catalog, settings.token_ttl)
    app.include_router(baidu.router)
    return app
