"""The commands over a folder of images: `tongtu import` adds them to a library,
`tongtu dedup` finds the copies among them (no library)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from tongtu.cli.common import domain_errors, library_name, library_option, open_engine
from tongtu.errors import ItemExists, TongtuError
from tongtu.params import parse_tags
from tongtu.settings import Settings


@click.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--tags", default=None, help='Tags for every image, "1,2".')
@click.option(
    "--shard",
    default=None,
    metavar="K/N",
    help="Take share K of N (1 ≤ K ≤ N): N processes or machines, one share each, "
    "import one folder into one shared catalog (PostgreSQL + Milvus).",
)
@click.option(
    "--again",
    is_flag=True,
    help="Go over the files done in an earlier run too: each image already in the "
    "library gains what it was added without (its parts' features).",
)
@library_option
@domain_errors
def import_(
    directory: str, tags: str | None, shard: str | None, again: bool, library: str | None
) -> None:
    """Add every image under DIRECTORY (brief: its relative path).

    Resumable: files done in an earlier run are skipped (a journal of them is kept in
    the data directory, one for each share), and an image already in the library counts
    as done. A file that fails is reported and the import goes on. With --shard K/N the
    files are split by a hash of their relative path: the shares are disjoint, cover the
    folder, and are the same on every machine and in every run. With --again the files
    done before are read again: a library added before it kept its pictures' parts
    (TONGTU_REFERENCE_PARTS) gains them, since they are found on the pictures themselves.
    """
    from tqdm import tqdm

    from tongtu.engine import Source

    engine = open_engine()
    lib = engine.library(library_name(engine, library), create=True)
    tag_values = parse_tags(tags) or ()
    share, shares = _shard(shard)
    root = Path(directory).resolve()
    part = f"-{share}of{shares}" if shares > 1 else ""
    done_file = (
        engine.settings.data_dir / "imports" / f"{lib.name}-{_stable_id(str(root))}{part}.done"
    )
    done_file.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if done_file.exists() and not again:
        done = set(done_file.read_text("utf-8").splitlines())
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


@click.command()
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
@domain_errors
def dedup(directory: Path, fmt: str, out: Path | None) -> None:
    """Find clusters of copies among the images of DIRECTORY (no server, no library).

    Each cluster names a canonical image: the largest resolution, then the oldest file.
    """
    from tqdm import tqdm

    from tongtu.features import Extractor, data_model, settle_native_threads
    from tongtu.features.policy import MatchPolicy
    from tongtu.folder_dedup import dedup_folder, walk_images

    settle_native_threads()
    settings = Settings()
    extractor = Extractor.from_model(
        data_model(settings.model, ()), settings.resolved_threads(), settings.local_features
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
