"""`tongtu add` and `tongtu search`: on the data directory's library, or with `--server`
on a running server's through its native API."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tongtu.cli.common import (
    choose_library,
    domain_errors,
    library_name,
    library_option,
    open_engine,
)
from tongtu.errors import ItemExists, TongtuError
from tongtu.params import parse_brief, parse_tags

if TYPE_CHECKING:
    from tongtu.client import Client


@dataclass(frozen=True, slots=True)
class Remote:
    server: str
    api_key: str | None
    secret_key: str | None

    def client(self) -> Client:
        from tongtu.client import Client

        return Client(self.server, self.api_key, self.secret_key)


def _remote_library(client: Client, name: str | None) -> str:
    return choose_library(name, lambda: [lib.name for lib in client.libraries()], None)


def _remote_errors[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from tongtu.client import ApiError

        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            click.echo(f"error {exc.code}: {exc.message}", err=True)
            sys.exit(1)
        except OSError as exc:
            click.echo(f"error: cannot reach the server: {exc}", err=True)
            sys.exit(1)

    return wrapper


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--brief", default=None, help="Brief (default: the file name).")
@click.option("--tags", default=None, help='Up to two tags, "1,2".')
@library_option
@click.pass_obj
@domain_errors
def add(
    remote: Remote | None,
    images: tuple[str, ...],
    brief: str | None,
    tags: str | None,
    library: str | None,
) -> None:
    """Add images to the library."""
    from tongtu.engine import Source

    if remote is not None:
        _remote_add(remote, images, brief, parse_tags(tags) or (), library)
        return

    engine = open_engine()
    lib = engine.library(library_name(engine, library), create=True)
    tag_values = parse_tags(tags) or ()
    failed = False
    for path in images:
        try:
            rec = engine.add(
                lib,
                Source(image=Path(path).read_bytes()),
                parse_brief(brief or Path(path).name) or "",
                tag_values,
            ).record
            click.echo(f"{rec.cont_sign}\t{path}")
        except ItemExists as exc:
            click.echo(f"{exc.cont_sign}\t{path}\t(already in the library)")
        except TongtuError as exc:
            click.echo(f"error {exc.code}: {path}: {exc}", err=True)
            failed = True
    sys.exit(1 if failed else 0)


@click.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--tags", default=None, help='Only results with these tags, "1,2".')
@click.option("--any-tag", is_flag=True, help="Results with any of the tags (default: all).")
@click.option("--rn", default=20, show_default=True, help="Number of results.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@library_option
@click.pass_obj
@domain_errors
def search(
    remote: Remote | None,
    image: str,
    tags: str | None,
    any_tag: bool,
    rn: int,
    as_json: bool,
    library: str | None,
) -> None:
    """Search the library with an image."""
    from tongtu.engine import Source

    if remote is not None:
        rows = _remote_search(remote, Path(image), parse_tags(tags) or (), any_tag, rn, library)
    else:
        engine = open_engine()
        lib = engine.library(library_name(engine, library))
        page = engine.search(
            lib, Source(image=Path(image).read_bytes()), parse_tags(tags), any_tag, 0, rn
        )
        rows = [
            {
                "cont_sign": h.record.cont_sign,
                "score": h.score,
                "kind": h.kind.value,
                "brief": h.record.brief,
            }
            for h in page.hits
        ]
    if as_json:
        click.echo(json.dumps({"result_num": len(rows), "result": rows}, ensure_ascii=False))
        return
    if not rows:
        click.echo("no match")
    for r in rows:
        click.echo(f"{r['score']:.3f}\t{r['kind']}\t{r['cont_sign']}\t{r['brief']}")


@_remote_errors
def _remote_add(
    remote: Remote,
    images: tuple[str, ...],
    brief: str | None,
    tags: tuple[int, ...],
    library: str | None,
) -> None:
    from tongtu.client import ApiError

    failed = False
    with remote.client() as client:
        name = _remote_library(client, library)
        for path in images:
            try:
                added = client.add(name, Path(path), brief or Path(path).name, tags)
                click.echo(f"{added.image.cont_sign}\t{path}")
            except ApiError as exc:
                if exc.code == ItemExists.code and exc.cont_sign:
                    click.echo(f"{exc.cont_sign}\t{path}\t(already in the library)")
                    continue
                if exc.status in (401, 403):
                    raise
                click.echo(f"error {exc.code}: {path}: {exc.message}", err=True)
                failed = True
    sys.exit(1 if failed else 0)


@_remote_errors
def _remote_search(
    remote: Remote,
    image: Path,
    tags: tuple[int, ...],
    any_tag: bool,
    rn: int,
    library: str | None,
) -> list[dict[str, Any]]:
    with remote.client() as client:
        found = client.search(_remote_library(client, library), image, tags, any_tag, 0, rn)
    return [
        {"cont_sign": r.image.cont_sign, "score": r.score, "kind": r.kind, "brief": r.image.brief}
        for r in found.results
    ]
