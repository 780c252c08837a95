"""The `tongtu` command: serve, apps, add, search, import, dedup.

Every command works on the data directory of TONGTU_DATA_DIR (default ./tongtu-data),
so the commands of one shell share one library; with `--server URL` (and an app's keys)
`add` and `search` go to a running server's native API instead. Domain errors become
one line on stderr and exit code 1; bad usage exits 2 (click's convention).

The commands by family: serve.py, apps.py, images.py (add and search, written once over
library.py's protocol, which the engine and the client both meet), folders.py (import,
dedup), maintenance.py (check, backup, restore, migrate); common.py holds what they
share. The heavy parts (the engine, the model, the client) are imported inside the
commands, so that `tongtu --help` starts at once.
"""

from __future__ import annotations

import click

from tongtu.cli import apps, folders, images, maintenance, serve
from tongtu.cli.library import Server

__all__ = ["main"]


@click.group(
    commands=[
        serve.serve,
        apps.apps,
        images.add,
        images.search,
        folders.import_,
        folders.dedup,
        maintenance.check,
        maintenance.backup,
        maintenance.restore,
        maintenance.migrate,
    ]
)
@click.option(
    "--server",
    envvar="TONGTU_SERVER",
    default=None,
    help="URL of a running server: add and search use its native API (env TONGTU_SERVER).",
)
@click.option("--api-key", envvar="TONGTU_API_KEY", default=None, help="With --server.")
@click.option("--secret-key", envvar="TONGTU_SECRET_KEY", default=None, help="With --server.")
@click.pass_context
def main(
    ctx: click.Context, server: str | None, api_key: str | None, secret_key: str | None
) -> None:
    """tongtu: self-hosted same-image search."""
    ctx.obj = Server(server, api_key, secret_key) if server else None
