"""`tongtu serve`: the HTTP server on the data directory."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from tongtu.cli.common import domain_errors
from tongtu.errors import ConfigError
from tongtu.settings import Settings


@click.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default 8000).")
@click.option(
    "--workers",
    default=1,
    type=click.IntRange(1, 64),
    show_default=True,
    help="Server processes sharing the port. Each loads the model; with the scale-out "
    "back ends they share the catalog and the vectors (docs/deploy.md).",
)
@domain_errors
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the HTTP server (Baidu-compatible routes, native API, console)."""
    import logging

    import uvicorn

    from tongtu.api import create_app
    from tongtu.features import settle_native_threads
    from tongtu.storage.maintenance import PID_FILE

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if workers > 1 and settings.vectors.startswith("milvus:///"):
        raise ConfigError(
            "milvus-lite (TONGTU_VECTORS=milvus:///path) opens its data in one process only: "
            "for several workers run `milvus-lite server --data-dir DIR --port 19530` (or a "
            "Milvus server) and set TONGTU_VECTORS=milvus://127.0.0.1:19530"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _say_how_to_sign_in(settings)
    pid_file = settings.data_dir / PID_FILE
    pid_file.write_text(str(os.getpid()))
    try:
        if workers == 1:
            settle_native_threads()
            app = create_app(settings)
            uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
        else:  # each worker builds its app from the TONGTU_* environment (host and port are
            # uvicorn's alone: the app never reads them)
            uvicorn.run(
                "tongtu.api:app_from_environment",
                factory=True,
                workers=workers,
                host=settings.host,
                port=settings.port,
                log_level="info",
            )
    finally:
        pid_file.unlink(missing_ok=True)


def _say_how_to_sign_in(settings: Settings) -> None:
    """On a catalog with no app nobody can sign in: say the exact command that makes one
    (the `tongtu` of this environment, which `make run` does not put on the PATH)."""
    from tongtu.storage import open_catalog

    catalog = open_catalog(settings)
    try:
        if catalog.apps():
            return
    finally:
        catalog.close()
    exe = Path(sys.executable).with_name("tongtu")
    command = str(exe) if exe.exists() else (shutil.which("tongtu") or "tongtu")
    data_dir = Path(settings.data_dir).resolve()
    click.echo(
        "tongtu: no app exists yet, so nobody can sign in. Create one (its keys are shown "
        f"once):\n\n    TONGTU_DATA_DIR={data_dir} {command} apps create admin --admin\n",
        err=True,
    )
