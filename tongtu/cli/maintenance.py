"""The data directory's upkeep: `tongtu check`, `backup`, `restore` and `migrate`
(tongtu/storage/maintenance.py and tongtu/storage/migrate.py do the work)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tongtu.cli.common import domain_errors
from tongtu.errors import ConfigError
from tongtu.settings import Settings


@click.command()
@domain_errors
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


@click.command()
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@domain_errors
def backup(dest: Path) -> None:
    """Write a consistent snapshot of the catalog to DEST, also while a server writes.

    The vector indexes are derived from the catalog: the snapshot is all there is to keep."""
    from tongtu.storage.maintenance import backup as run_backup

    report = run_backup(_embedded_db(), dest)
    size = dest.stat().st_size / 1e6
    click.echo(f"{report.images} images in {report.libraries} libraries -> {dest} ({size:.1f} MB)")


@click.command()
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@domain_errors
def restore(src: Path) -> None:
    """Replace the catalog with the backup SRC (checked first; the server must be stopped).

    The catalog it replaces is kept beside it as catalog.db.before-restore-TIME."""
    from tongtu.storage.maintenance import restore as run_restore

    report, kept = run_restore(src, _embedded_db())
    click.echo(f"restored {report.images} images in {report.libraries} libraries from {src}")
    if kept is not None:
        click.echo(f"the previous catalog is kept at {kept}")


def _embedded_db() -> Path:
    settings = Settings()
    if not settings.embedded_catalog:
        raise ConfigError(
            "backup and restore are for the embedded (SQLite) catalog; a PostgreSQL "
            "catalog is backed up with pg_dump / pg_basebackup (docs/deploy.md)"
        )
    return settings.db_path


@click.command()
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
@domain_errors
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
