"""`tongtu add` and `tongtu search`: on the data directory's library, or with `--server`
on a running server's through its native API (library.py: one protocol, two adapters)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from tongtu.cli.common import domain_errors, library_option
from tongtu.cli.library import Server, open_library
from tongtu.errors import ItemExists, TongtuError
from tongtu.params import parse_tags


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--brief", default=None, help="Brief (default: the file name).")
@click.option("--tags", default=None, help='Up to two tags, "1,2".')
@library_option
@click.pass_obj
@domain_errors
def add(
    server: Server | None,
    images: tuple[str, ...],
    brief: str | None,
    tags: str | None,
    library: str | None,
) -> None:
    """Add images to the library."""
    tag_values = parse_tags(tags) or ()
    failed = False
    with open_library(server, library, create=True) as lib:
        for path in images:
            try:
                click.echo(f"{lib.add(Path(path), brief, tag_values)}\t{path}")
            except ItemExists as exc:
                click.echo(f"{exc.cont_sign}\t{path}\t(already in the library)")
            except TongtuError as exc:
                if exc.http_status in (401, 403):  # the server refuses the app itself:
                    raise  # every image would meet the same
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
    server: Server | None,
    image: str,
    tags: str | None,
    any_tag: bool,
    rn: int,
    as_json: bool,
    library: str | None,
) -> None:
    """Search the library with an image."""
    tag_values = parse_tags(tags) or ()
    with open_library(server, library) as lib:
        found = lib.search(Path(image), tag_values, any_tag, rn)
    if as_json:
        rows = [asdict(f) for f in found]
        click.echo(json.dumps({"result_num": len(rows), "result": rows}, ensure_ascii=False))
        return
    if not found:
        click.echo("no match")
    for f in found:
        click.echo(f"{f.score:.3f}\t{f.kind}\t{f.cont_sign}\t{f.brief}")
