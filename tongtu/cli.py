"""The `tongtu` command: serve, apps, add, search, import.

Every command works on the data directory of TONGTU_DATA_DIR (default ./tongtu-data),
so the commands of one shell share one library. Domain errors become one line on stderr
and exit code 1; bad usage exits 2 (click's convention).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from tongtu.errors import ItemExists, TongtuError
from tongtu.params import parse_brief, parse_tags
from tongtu.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm"}


def _domain_errors[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TongtuError as exc:
            click.echo(f"error {exc.code}: {exc}", err=True)
            sys.exit(1)

    return wrapper


def _engine() -> Any:
    from tongtu.engine import Engine

    return Engine.open(Settings())


def _library_name(engine: Any, name: str | None) -> str:
    """--library, else TONGTU_LIBRARY, else the only library, else 'default'."""
    if name:
        return name
    env = os.environ.get("TONGTU_LIBRARY")
    if env:
        return env
    libs = engine.catalog.libraries()
    if len(libs) == 1:
        return str(libs[0].name)
    if len(libs) > 1:
        names = ", ".join(lib.name for lib in libs)
        raise click.UsageError(f"several libraries exist ({names}): pass --library")
    return "default"


library_option = click.option(
    "--library", "-l", default=None, help="Library name (default: TONGTU_LIBRARY or the only one)."
)


@click.group()
def main() -> None:
    """tongtu: self-hosted same-image search."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Run the HTTP server (Baidu-compatible routes)."""
    import logging

    import uvicorn

    from tongtu.api import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


@main.group()
def apps() -> None:
    """Manage the apps (API key / secret key) that may use the server."""


@apps.command("create")
@click.argument("name")
@library_option
@click.option("--admin", is_flag=True, help="May see every library and change capacities.")
@click.option("--json", "as_json", is_flag=True, help="Print {app_id, api_key, secret_key}.")
@_domain_errors
def apps_create(name: str, library: str | None, admin: bool, as_json: bool) -> None:
    """Create app NAME with its own library (named NAME unless --library is given)."""
    from tongtu.apps import Apps

    engine = _engine()
    lib = engine.library(library or name, create=True)
    new = Apps(engine.catalog, engine.settings.token_ttl).create(name, lib.id, admin)
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


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--brief", default=None, help="Brief (default: the file name).")
@click.option("--tags", default=None, help='Up to two tags, "1,2".')
@library_option
@_domain_errors
def add(images: tuple[str, ...], brief: str | None, tags: str | None, library: str | None) -> None:
    """Add images to the library."""
    from tongtu.engine import Source

    engine = _engine()
    lib = engine.library(_library_name(engine, library), create=True)
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


@main.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--tags", default=None, help='Only results with these tags, "1,2".')
@click.option("--any-tag", is_flag=True, help="Results with any of the tags (default: all).")
@click.option("--rn", default=20, show_default=True, help="Number of results.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@library_option
@_domain_errors
def search(
    image: str, tags: str | None, any_tag: bool, rn: int, as_json: bool, library: str | None
) -> None:
    """Search the library with an image."""
    from tongtu.engine import Source

    engine = _engine()
    lib = engine.library(_library_name(engine, library))
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


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in sorted(os.walk(root)):
        for f in sorted(files):
            p = Path(dirpath) / f
            if p.suffix.lower() in IMAGE_SUFFIXES:
                yield p


@main.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--tags", default=None, help='Tags for every image, "1,2".')
@library_option
@_domain_errors
def import_(directory: str, tags: str | None, library: str | None) -> None:
    """Add every image under DIRECTORY (brief: its relative path).

    Resumable: files done in an earlier run are skipped (a journal of them is kept in
    the data directory), and an image already in the library counts as done. A file
    that fails is reported and the import goes on.
    """
    from tqdm import tqdm

    from tongtu.engine import Source

    engine = _engine()
    lib = engine.library(_library_name(engine, library), create=True)
    tag_values = parse_tags(tags) or ()
    root = Path(directory).resolve()
    done_file = engine.settings.data_dir / "imports" / f"{lib.name}-{_stable_id(str(root))}.done"
    done_file.parent.mkdir(parents=True, exist_ok=True)
    done = set(done_file.read_text("utf-8").splitlines()) if done_file.exists() else set()
    files = [p for p in _walk(root) if str(p.relative_to(root)) not in done]
    counts = {"added": 0, "existing": 0, "failed": 0, "skipped": len(done)}
    with (
        done_file.open("a", encoding="utf-8") as journal,
        tqdm(files, unit="img", desc="import", file=sys.stderr) as bar,
    ):
        for path in bar:
            rel = str(path.relative_to(root))
            try:
                brief = rel.encode("utf-8")[:256].decode("utf-8", "ignore")
                engine.add(lib, Source(image=path.read_bytes()), brief, tag_values)
                counts["added"] += 1
            except ItemExists:
                counts["existing"] += 1
            except (TongtuError, OSError) as exc:
                counts["failed"] += 1
                code = getattr(exc, "code", "io")
                tqdm.write(f"error {code}: {rel}: {exc}", file=sys.stderr)
                continue
            journal.write(rel + "\n")
            journal.flush()
    click.echo(
        f"added {counts['added']}, already present {counts['existing']}, "
        f"failed {counts['failed']}, skipped (earlier run) {counts['skipped']}"
    )


def _stable_id(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


if __name__ == "__main__":
    main()
