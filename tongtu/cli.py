"""The `tongtu` command: serve, apps, add, search, import, dedup.

Every command works on the data directory of TONGTU_DATA_DIR (default ./tongtu-data),
so the commands of one shell share one library; with `--server URL` (and an app's keys)
`add` and `search` go to a running server's native API instead. Domain errors become
one line on stderr and exit code 1; bad usage exits 2 (click's convention).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from tongtu.errors import ConfigError, InvalidParam, ItemExists, TongtuError
from tongtu.params import parse_brief, parse_tags
from tongtu.settings import Settings

if TYPE_CHECKING:
    from tongtu.client import Client

P = ParamSpec("P")
R = TypeVar("R")


def _domain_errors[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TongtuError as exc:
            click.echo(f"error {exc.code}: {exc}", err=True)
            sys.exit(1)

    return wrapper


def _embedded_db() -> Path:
    settings = Settings()
    if not settings.embedded_catalog:
        raise ConfigError(
            "backup and restore are for the embedded (SQLite) catalog; a PostgreSQL "
            "catalog is backed up with pg_dump / pg_basebackup (docs/deploy.md)"
        )
    return settings.db_path


def _engine() -> Any:
    from tongtu.engine import Engine
    from tongtu.features import settle_native_threads

    settle_native_threads()
    return Engine.open(Settings())


def _library_name(engine: Any, name: str | None) -> str:
    """--library, else TONGTU_LIBRARY, else the only library, else 'default'."""
    return _choose_library(
        name, lambda: [lib.name for lib in engine.catalog.libraries()], "default"
    )


def _choose_library(name: str | None, names: Callable[[], list[str]], none: str | None) -> str:
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


@dataclass(frozen=True, slots=True)
class Remote:
    server: str
    api_key: str | None
    secret_key: str | None

    def client(self) -> Client:
        from tongtu.client import Client

        return Client(self.server, self.api_key, self.secret_key)


@click.group()
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
    ctx.obj = Remote(server, api_key, secret_key) if server else None


def _remote_library(client: Client, name: str | None) -> str:
    return _choose_library(name, lambda: [lib.name for lib in client.libraries()], None)


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


@main.command()
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
@_domain_errors
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


@main.command()
@click.argument("src")
@click.argument("dst")
@click.option("--library", "libraries", multiple=True, help="Only this library (repeatable).")
@click.option(
    "--src-vectors", default="faiss", show_default=True, help="The source's vector store."
)
@click.option(
    "--dst-vectors",
    default=None,
    help="The destination's vector store, filled as the rows are copied "
    "(default: TONGTU_VECTORS, else faiss).",
)
@click.option("--sample", default=20, show_default=True, help="Searches compared per library.")
@_domain_errors
def migrate(
    src: str,
    dst: str,
    libraries: tuple[str, ...],
    src_vectors: str,
    dst_vectors: str | None,
    sample: int,
) -> None:
    """Move libraries from catalog SRC to catalog DST, features and all (no re-extraction).

    SRC and DST are catalog URLs (sqlite:///path.db, postgresql://user@host/db) or data
    directories. Ids are kept; run it again to resume an interrupted copy. Checked by
    counts and by a sample of searches compared on both sides."""
    from tqdm import tqdm

    from tongtu.storage import catalog_url_of
    from tongtu.storage.migrate import migrate as run_migrate

    bars: dict[str, tqdm[int]] = {}

    def progress(name: str, done: int, total: int) -> None:
        bar = bars.setdefault(name, tqdm(total=total, desc=name, unit="img"))
        bar.update(done - bar.n)

    report = run_migrate(
        catalog_url_of(src),
        catalog_url_of(dst),
        libraries,
        src_vectors,
        dst_vectors or Settings().vectors,
        sample,
        progress,
    )
    for bar in bars.values():
        bar.close()
    for name, (n_src, n_dst) in report.libraries.items():
        click.echo(f"{name}: {n_src} images in the source, {n_dst} in the destination")
    click.echo(
        f"copied {report.copied} images and {report.apps} apps; {report.searches} searches compared"
    )
    for problem in report.problems:
        click.echo(f"PROBLEM {problem}", err=True)
    sys.exit(0 if report.clean else 1)


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
    """Create app NAME with its own library (named NAME unless --library is given).

    A library that exists already is handed to the new app only when --library names it:
    otherwise any app could create a library named after an app to come, and read what
    that app adds."""
    from tongtu.apps import Apps

    engine = _engine()
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


def _apps() -> Any:
    from tongtu.apps import Apps

    engine = _engine()
    return engine, Apps(engine.catalog, engine.settings.token_ttl)


@apps.command("list")
@_domain_errors
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
@_domain_errors
def apps_revoke(name: str) -> None:
    """Revoke app NAME: its tokens stop working at once and no new one is issued.

    Its library and images stay."""
    _, registry = _apps()
    registry.revoke(name)
    click.echo(f"app {name} revoked")


@apps.command("rotate")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print {api_key, secret_key}.")
@_domain_errors
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
@_domain_errors
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


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--brief", default=None, help="Brief (default: the file name).")
@click.option("--tags", default=None, help='Up to two tags, "1,2".')
@library_option
@click.pass_obj
@_domain_errors
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
@click.pass_obj
@_domain_errors
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


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "html"]),
    default="json",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here (default: standard output).",
)
@_domain_errors
def dedup(directory: Path, fmt: str, out: Path | None) -> None:
    """Find clusters of copies among the images of DIRECTORY (no server, no library).

    Each cluster names a canonical image: the largest resolution, then the oldest file.
    """
    from tqdm import tqdm

    from tongtu.features import Extractor, settle_native_threads
    from tongtu.features.policy import MatchPolicy
    from tongtu.folder_dedup import dedup_folder, walk_images

    settle_native_threads()
    settings = Settings()
    extractor = Extractor.from_model(
        settings.model, settings.resolved_threads(), settings.local_features
    )
    total = sum(1 for _ in walk_images(directory))
    try:
        with tqdm(total=total, unit="img", desc="dedup", file=sys.stderr) as bar:
            report = dedup_folder(
                directory.resolve(),
                extractor,
                MatchPolicy.from_settings(settings),
                lambda _p: bar.update(1),
            )
    finally:
        extractor.close()
    text = {"json": report.to_json, "csv": report.to_csv, "html": report.to_html}[fmt]()
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        out.write_text(text, encoding="utf-8")
    for path, reason in report.failed:
        click.echo(f"unreadable: {path}: {reason}", err=True)
    copies = sum(len(c.members) for c in report.clusters)
    click.echo(
        f"{len(report.files)} images, {len(report.clusters)} clusters holding {copies} copies",
        err=True,
    )


@main.command()
@_domain_errors
def check() -> None:
    """Check the data directory: catalog integrity, stored features, thumbnails, apps,
    and that the vector indexes' journal gives exactly the catalog's images.

    Exit code 0 when clean, 1 when a problem is found."""
    from tongtu.storage.maintenance import check as run_check
    from tongtu.storage.maintenance import check_file

    settings = Settings()
    if settings.embedded_catalog:
        report = check_file(settings.db_path, settings.data_dir / "index")
    else:  # what is checked is what tongtu keeps, the vector store included
        from tongtu.features import DIM
        from tongtu.storage import open_catalog, open_vectors

        catalog = open_catalog(settings)
        vectors = open_vectors(settings, catalog, DIM)
        try:
            report = run_check(catalog, vectors)
        finally:
            vectors.close()
            catalog.close()
    for note in report.notes:
        click.echo(f"note: {note}")
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    verdict = "clean" if report.clean else f"{len(report.problems)} problems"
    click.echo(f"{report.images} images in {report.libraries} libraries: {verdict}")
    sys.exit(0 if report.clean else 1)


@main.command()
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@_domain_errors
def backup(dest: Path) -> None:
    """Write a consistent snapshot of the catalog to DEST, also while a server writes.

    The vector indexes are derived from the catalog: the snapshot is all there is to keep."""
    from tongtu.storage.maintenance import backup as run_backup

    report = run_backup(_embedded_db(), dest)
    size = dest.stat().st_size / 1e6
    click.echo(f"{report.images} images in {report.libraries} libraries -> {dest} ({size:.1f} MB)")


@main.command()
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_domain_errors
def restore(src: Path) -> None:
    """Replace the catalog with the backup SRC (checked first; the server must be stopped).

    The catalog it replaces is kept beside it as catalog.db.before-restore-TIME."""
    from tongtu.storage.maintenance import restore as run_restore

    report, kept = run_restore(src, _embedded_db())
    click.echo(f"restored {report.images} images in {report.libraries} libraries from {src}")
    if kept is not None:
        click.echo(f"the previous catalog is kept at {kept}")


@main.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--tags", default=None, help='Tags for every image, "1,2".')
@click.option(
    "--shard",
    default=None,
    metavar="K/N",
    help="Take share K of N (1 ≤ K ≤ N): N processes or machines, one share each, "
    "import one folder into one shared catalog (PostgreSQL + Milvus).",
)
@library_option
@_domain_errors
def import_(directory: str, tags: str | None, shard: str | None, library: str | None) -> None:
    """Add every image under DIRECTORY (brief: its relative path).

    Resumable: files done in an earlier run are skipped (a journal of them is kept in
    the data directory, one for each share), and an image already in the library counts
    as done. A file that fails is reported and the import goes on. With --shard K/N the
    files are split by a hash of their relative path: the shares are disjoint, cover the
    folder, and are the same on every machine and in every run.
    """
    from tqdm import tqdm

    from tongtu.engine import Source

    engine = _engine()
    lib = engine.library(_library_name(engine, library), create=True)
    tag_values = parse_tags(tags) or ()
    share, shares = _shard(shard)
    root = Path(directory).resolve()
    part = f"-{share}of{shares}" if shares > 1 else ""
    done_file = (
        engine.settings.data_dir / "imports" / f"{lib.name}-{_stable_id(str(root))}{part}.done"
    )
    done_file.parent.mkdir(parents=True, exist_ok=True)
    done = set(done_file.read_text("utf-8").splitlines()) if done_file.exists() else set()
    from tongtu.folder_dedup import walk_images

    files = [
        p
        for p in walk_images(root)
        if str(p.relative_to(root)) not in done
        and in_share(str(p.relative_to(root)), share, shares)
    ]
    counts = {"added": 0, "existing": 0, "failed": 0, "skipped": len(done)}
    rels = [str(p.relative_to(root)) for p in files]

    def items() -> Iterator[tuple[Source, str, tuple[int, ...]]]:
        for path, rel in zip(files, rels, strict=True):
            try:
                data = path.read_bytes()
            except OSError as exc:
                data = b""
                tqdm.write(f"error io: {rel}: {exc}", file=sys.stderr)
            yield (
                Source(image=data),
                rel.encode("utf-8")[:256].decode("utf-8", "ignore"),
                tag_values,
            )

    with (
        done_file.open("a", encoding="utf-8") as journal,
        tqdm(total=len(files), unit="img", desc="import", file=sys.stderr) as bar,
    ):
        # Decoding and features of the next images overlap the current one's, one worker
        # a core; each batch is committed in one transaction, then noted as done.
        workers = max(2, engine.settings.resolved_threads())
        for pos, outcome in engine.add_many(lib, items(), workers=workers):
            bar.update(1)
            rel = rels[pos]
            if isinstance(outcome, ItemExists):
                counts["existing"] += 1
            elif isinstance(outcome, TongtuError):
                counts["failed"] += 1
                tqdm.write(f"error {outcome.code}: {rel}: {outcome}", file=sys.stderr)
                continue
            else:
                counts["added"] += 1
            journal.write(rel + "\n")
            journal.flush()
    click.echo(
        f"added {counts['added']}, already present {counts['existing']}, "
        f"failed {counts['failed']}, skipped (earlier run) {counts['skipped']}"
    )


def _shard(text: str | None) -> tuple[int, int]:
    """--shard K/N as (K, N); (1, 1) without it."""
    if text is None:
        return 1, 1
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n) <= 10_000):
        raise click.BadParameter("K/N with 1 ≤ K ≤ N, e.g. 2/3", param_hint="--shard")
    return int(k), int(n)


def in_share(rel: str, share: int, shares: int) -> bool:
    """Whether the file at `rel` (its path under the folder) is in share K of N: by a
    hash of the path, so every process and machine splits a folder the same way."""
    import hashlib

    digest = hashlib.sha256(rel.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % shares == share - 1


def _stable_id(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


if __name__ == "__main__":
    main()
