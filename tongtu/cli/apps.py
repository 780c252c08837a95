"""`tongtu apps`: the apps (API key / secret key) that may use the server."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from tongtu.cli.common import domain_errors, library_option, open_engine
from tongtu.errors import InvalidParam

if TYPE_CHECKING:
    from tongtu.apps import Apps
    from tongtu.engine import Engine


@click.group()
def apps() -> None:
    """Manage the apps (API key / secret key) that may use the server."""


@apps.command("create")
@click.argument("name")
@library_option
@click.option("--admin", is_flag=True, help="May see every library and change capacities.")
@click.option("--json", "as_json", is_flag=True, help="Print {app_id, api_key, secret_key}.")
@domain_errors
def apps_create(name: str, library: str | None, admin: bool, as_json: bool) -> None:
    """Create app NAME with its own library (named NAME unless --library is given).

    A library that exists already is handed to the new app only when --library names it:
    otherwise any app could create a library named after an app to come, and read what
    that app adds."""
    from tongtu.apps import Apps

    engine = open_engine()
    if engine.catalog.app_by_name(name) is not None:
        raise InvalidParam(f"an app named {name!r} already exists")
    existing = engine.catalog.library_by_name(library or name)
    if existing is not None and library is None:
        catalog = engine.catalog
        holders = [a.name for a in catalog.apps() if catalog.is_granted(a.id, existing.id)]
        raise InvalidParam(
            f"a library named {name!r} exists already"
            + (f" (used by {', '.join(holders)})" if holders else "")
            + f": pass --library {name} to share it with the new app, or --library OTHER"
            " to give the new app a library of its own"
        )
    lib = engine.library(library or name, create=True)
    new = Apps(engine.catalog, engine.settings.token_ttl).create(name, lib.id, admin)
    if existing is not None:
        click.echo(f"note: app {name} shares the existing library {lib.name}", err=True)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "app_id": str(new.app.id),
                    "api_key": new.app.api_key,
                    "secret_key": new.secret_key,
                }
            )
        )
    else:
        click.echo(f"app        {name} (id {new.app.id}), library {lib.name}")
        click.echo(f"api_key    {new.app.api_key}")
        click.echo(f"secret_key {new.secret_key}   (shown once: store it now)")


def _apps() -> tuple[Engine, Apps]:
    from tongtu.apps import Apps

    engine = open_engine()
    return engine, Apps(engine.catalog, engine.settings.token_ttl)


@apps.command("list")
@domain_errors
def apps_list() -> None:
    """List the apps: name, id, API key, default library, role, limits, state."""
    engine, _ = _apps()
    libs = {lib.id: lib.name for lib in engine.catalog.libraries()}
    s = engine.settings
    for a in engine.catalog.apps():
        qps = f"{a.qps_limit:g}" if a.qps_limit is not None else f"{s.qps_limit:g} (default)"
        daily = str(a.daily_limit) if a.daily_limit is not None else f"{s.daily_limit} (default)"
        click.echo(
            f"{a.name}\tid {a.id}\t{a.api_key}\tlibrary {libs.get(a.library_id, '?')}\t"
            f"{'admin' if a.admin else 'app'}\tqps {qps}\tdaily {daily}\t"
            f"{'REVOKED' if a.revoked else 'active'}"
        )


@apps.command("revoke")
@click.argument("name")
@domain_errors
def apps_revoke(name: str) -> None:
    """Revoke app NAME: its tokens stop working at once and no new one is issued.

    Its library and images stay."""
    _, registry = _apps()
    registry.revoke(name)
    click.echo(f"app {name} revoked")


@apps.command("rotate")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print {api_key, secret_key}.")
@domain_errors
def apps_rotate(name: str, as_json: bool) -> None:
    """Give app NAME a new secret key; the old one and its tokens stop working."""
    _, registry = _apps()
    new = registry.rotate(name)
    if as_json:
        click.echo(json.dumps({"api_key": new.app.api_key, "secret_key": new.secret_key}))
    else:
        click.echo(f"secret_key {new.secret_key}   (shown once: store it now)")


@apps.command("limits")
@click.argument("name")
@click.option("--qps", type=float, default=None, help="Requests per second (0 = none).")
@click.option("--daily", type=int, default=None, help="Requests a day, UTC (0 = none).")
@click.option("--default", "reset", is_flag=True, help="Back to the server's settings.")
@domain_errors
def apps_limits(name: str, qps: float | None, daily: int | None, reset: bool) -> None:
    """Set app NAME's request limits; a running server applies them at once."""
    engine, registry = _apps()
    app = registry.by_name(name)
    if reset:
        engine.catalog.set_limits(app.id, None, None)
    else:
        if (qps is not None and qps < 0) or (daily is not None and daily < 0):
            raise click.UsageError("limits are ≥ 0")
        engine.catalog.set_limits(
            app.id,
            qps if qps is not None else app.qps_limit,
            daily if daily is not None else app.daily_limit,
        )
    click.echo(f"app {name}: limits set")
