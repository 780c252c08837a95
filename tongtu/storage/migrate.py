"""`tongtu migrate SRC DST`: move libraries between back ends without re-extracting.

Rows are copied with their ids (image ids, cont_signs, library and app ids stay what
clients know), features and thumbnails included, in batches of one transaction each;
each image is journalled in the destination, so its vector store (FAISS or Milvus)
follows as after ordinary adds. Copying again resumes after the last image copied.
The copy is verified by counts and by a sample of searches run on both sides: the same
nearest images in the same order.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tongtu.errors import ConfigError, ItemNotFound
from tongtu.features import DIM
from tongtu.settings import Settings
from tongtu.storage import open_catalog_url, open_vectors, sqlite_file
from tongtu.storage.base import LibraryRecord, VectorStore
from tongtu.storage.catalog import Catalog

__all__ = ["MigrationReport", "migrate"]

BATCH = 500


@dataclass
class MigrationReport:
    libraries: dict[str, tuple[int, int]] = field(default_factory=dict)  # name: (src, dst)
    copied: int = 0
    apps: int = 0
    searches: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def _store(url: str, catalog: Catalog, vectors: str, scratch: Path) -> VectorStore:
    path = sqlite_file(url)
    folder = path.parent if path is not None else scratch / str(abs(hash(url)))
    settings = Settings(data_dir=folder, vectors=vectors)
    return open_vectors(settings, catalog, DIM)


def migrate(
    src_url: str,
    dst_url: str,
    libraries: Sequence[str] = (),
    src_vectors: str = "faiss",
    dst_vectors: str = "faiss",
    sample: int = 20,
    progress: Callable[[str, int, int], None] | None = None,
    batch: int = BATCH,
) -> MigrationReport:
    """Copy the catalog (and what its vector stores need) from `src_url` to `dst_url`,
    `batch` images a transaction; an interrupted copy resumes where it stopped."""
    if src_url == dst_url:
        raise ConfigError("source and destination are the same catalog")
    src = open_catalog_url(src_url)
    dst = open_catalog_url(dst_url)
    report = MigrationReport()
    try:
        libs = src.libraries()
        if libraries:
            missing = set(libraries) - {lib.name for lib in libs}
            if missing:
                raise ItemNotFound(f"no library named {sorted(missing)[0]!r} in {src_url}")
            libs = [lib for lib in libs if lib.name in libraries]
        for lib in libs:
            there = dst.library_by_name(lib.name)
            if there is None:
                if dst.library_by_id(lib.id) is not None:
                    raise ConfigError(
                        f"library id {lib.id} ({lib.name!r}) is taken in the destination"
                    )
                dst.import_library(lib)
            elif (there.id, there.model) != (lib.id, lib.model):
                raise ConfigError(
                    f"the destination has another library named {lib.name!r} "
                    f"(id {there.id}, model {there.model})"
                )
            total = src.count(lib.id)
            after = dst.max_image_id(lib.id)
            done = dst.count(lib.id)
            while rows := src.export_images(lib.id, after, batch):
                report.copied += dst.import_images(lib.id, rows)
                after = int(rows[-1][0])
                done += len(rows)
                if progress:
                    progress(lib.name, min(done, total), total)
        moved = {lib.id for lib in libs}
        for app in src.apps():
            if app.library_id not in moved or dst.app_by_name(app.name) is not None:
                continue
            found = src.app_by_key(app.api_key)
            assert found is not None
            granted = [g.id for g in src.granted(app.id) if g.id in moved]
            dst.import_app(app, found[1], granted)
            report.apps += 1
        dst.reset_ids()
        _verify(src, dst, src_url, dst_url, libs, src_vectors, dst_vectors, sample, report)
    finally:
        src.close()
        dst.close()
    return report


def _verify(
    src: Catalog,
    dst: Catalog,
    src_url: str,
    dst_url: str,
    libs: Sequence[LibraryRecord],
    src_vectors: str,
    dst_vectors: str,
    sample: int,
    report: MigrationReport,
) -> None:
    """Counts per library, and a sample of searches with stored descriptors as queries:
    the destination's store must give the same nearest images as the source's."""
    with tempfile.TemporaryDirectory(prefix="tongtu-migrate-") as tmp:
        a = _store(src_url, src, src_vectors, Path(tmp))
        b = _store(dst_url, dst, dst_vectors, Path(tmp))
        try:
            rng = random.Random(0)
            for lib in libs:
                n_src, n_dst = src.count(lib.id), dst.count(lib.id)
                report.libraries[lib.name] = (n_src, n_dst)
                if n_src != n_dst:
                    report.problems.append(
                        f"{lib.name}: {n_src} images in the source, {n_dst} copied"
                    )
                ids, vecs = src.all_embeddings(lib.id)
                for pos in sorted(rng.sample(range(len(ids)), min(sample, len(ids)))):
                    query = vecs[pos] / max(float(np.linalg.norm(vecs[pos])), 1e-12)
                    ra = a.search(lib.id, query, 5, None)[1].tolist()
                    rb = b.search(lib.id, query, 5, None)[1].tolist()
                    report.searches += 1
                    if ra != rb or (
                        ra and ra[0] != int(ids[pos]) and _differ(src, ids[pos], ra[0])
                    ):
                        report.problems.append(
                            f"{lib.name}: image {int(ids[pos])} finds {rb} in the destination, "
                            f"{ra} in the source"
                        )
        finally:
            a.close()
            b.close()


def _differ(catalog: Catalog, image_id: int, other: int) -> bool:
    """Whether two images' descriptors differ (identical ones may come in either order)."""
    e = catalog.embeddings([int(image_id), int(other)])
    return len(e) == 2 and not np.array_equal(e[int(image_id)], e[int(other)])
