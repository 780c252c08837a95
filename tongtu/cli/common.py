"""What the commands share: a domain error as one line and exit code 1, the engine of the
data directory, and the choice of the library a command works on."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING

import click

from tongtu.errors import TongtuError
from tongtu.settings import Settings

if TYPE_CHECKING:
    from tongtu.engine import Engine


def domain_errors[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TongtuError as exc:
            click.echo(f"error {exc.code}: {exc}", err=True)
            sys.exit(1)

    return wrapper


def open_engine() -> Engine:
    from tongtu.engine import Engine
    from tongtu.features import settle_native_threads

    settle_native_threads()
    return Engine.open(Settings())


def library_name(engine: Engine, name: str | None) -> str:
    """--library, else TONGTU_LIBRARY, else the only library, else 'default'."""
    return choose_library(name, lambda: [lib.name for lib in engine.catalog.libraries()], "default")


def choose_library(name: str | None, names: Callable[[], list[str]], none: str | None) -> str:
    """--library, else TONGTU_LIBRARY, else the only one of `names()`, else `none`."""
    name = name or Settings().library
    if name:
        return name
    found = names()
    if len(found) == 1:
        return found[0]
    if not found and none is not None:
        return none
    if not found:
        raise click.UsageError("there is no library: pass --library")
    raise click.UsageError(f"several libraries exist ({', '.join(found)}): pass --library")


library_option = click.option(
    "--library", "-l", default=None, help="Library name (default: TONGTU_LIBRARY or the only one)."
)
