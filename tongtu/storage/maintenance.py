"""Integrity check, online backup and restore.

`check` reads a catalog and everything derived from it, and says what disagrees: the
database's own integrity (SQLite's checks), every image's stored features, thumbnails,
apps and grants, and the journal the vector indexes follow (replayed, it must give
exactly the catalog's images, or an index would serve a deleted image or miss an added
one), and the vector store or the saved indexes themselves. The same checks hold for
PostgreSQL. `backup` uses SQLite's online backup: a consistent snapshot while the server
writes.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tongtu.errors import ConfigError
from tongtu.features.descriptor import DIM
from tongtu.features.local import LocalFeatures
from tongtu.storage.base import JournalEntry, VectorStore
from tongtu.storage.catalog import Catalog, live_images
from tongtu.storage.catalog.tables import Connection
from tongtu.storage.sqlite import SqliteDialect, sqlite_catalog

__all__ = ["CheckReport", "backup", "check", "check_file", "restore", "server_running"]

PID_FILE = "server.pid"


@dataclass
class CheckReport:
    images: int = 0
    libraries: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def check_file(db_path: Path, index_dir: Path | None = None) -> CheckReport:
    """Check an SQLite catalog (opened read-only) and the indexes saved beside it."""
    catalog = sqlite_catalog(db_path, read_only=True)
    try:
        return check(catalog, index_dir=index_dir or db_path.parent / "index")
    finally:
        catalog.close()


def check(
    catalog: Catalog, vectors: VectorStore | None = None, index_dir: Path | None = None
) -> CheckReport:
    """`vectors`: a vector store to hold to the catalog; `index_dir`: FAISS indexes saved
    for it (the embedded store's folder)."""
    report = CheckReport()
    if isinstance(catalog.dialect, SqliteDialect):  # PostgreSQL checks its own pages
        report.problems += catalog.dialect.integrity()
    stored = _check_images(catalog, report)
    _check_references(catalog, report)
    journal = catalog.journal_since(0)
    live = live_images(journal)
    for lib, image_id in sorted(stored - live)[:20]:
        report.problems.append(f"image {image_id} (library {lib}) is missing from the journal")
    for lib, image_id in sorted(live - stored)[:20]:
        report.problems.append(f"journal keeps image {image_id} (library {lib}) that is gone")
    if vectors is not None:
        if behind := getattr(vectors, "behind_at_open", 0):
            report.notes.append(
                f"{vectors.url} was {behind} journal entries behind the catalog when the "
                "check began (writes made while it was down, or not yet applied); they "
                "were applied before comparing"
            )
        for library in catalog.libraries():
            want = {i for lib, i in stored if lib == library.id}
            have = vectors.ids(library.id)
            if have != want:
                report.problems.append(
                    f"library {library.name}: {vectors.url} holds {len(have - want)} images "
                    f"the catalog does not and misses {len(want - have)}"
                )
    if index_dir is not None:
        _check_saved_indexes(catalog, index_dir, journal, stored, report)
    return report


def _check_images(catalog: Catalog, report: CheckReport) -> set[tuple[int, int]]:
    """Each image's descriptor and local features as the engine reads them; its
    (library, image) pairs."""
    db = catalog.dialect.connection()
    report.libraries = len(catalog.libraries())
    stored: set[tuple[int, int]] = set()
    no_thumb = 0
    rows = db.execute(
        "SELECT i.id, i.library_id, i.width, i.height, i.embedding, i.local, "
        "t.image_id IS NOT NULL FROM images i LEFT JOIN thumbnails t ON t.image_id = i.id"
    )
    for image_id, library_id, width, height, emb, local, has_thumb in rows:
        report.images += 1
        stored.add((int(library_id), int(image_id)))
        if len(emb) != DIM * 2:
            report.problems.append(f"image {image_id}: descriptor has {len(emb)} bytes")
        else:
            vec = np.frombuffer(bytes(emb), dtype="<f2").astype(np.float32)
            norm = float(np.linalg.norm(vec))
            if not np.all(np.isfinite(vec)) or abs(norm - 1.0) > 0.01:
                report.problems.append(f"image {image_id}: descriptor is not unit length")
        if not _whole(local):
            report.problems.append(f"image {image_id}: local features are truncated")
        if width < 1 or height < 1:
            report.problems.append(f"image {image_id}: size {width}x{height}")
        no_thumb += 0 if has_thumb else 1
    if no_thumb:
        report.notes.append(f"{no_thumb} images have no thumbnail (added with none kept)")
    _orphans(db, "thumbnails", "thumbnails", report)
    if _has_parts(catalog):
        _check_parts(db, report)
    return stored


def _whole(local: bytes) -> bool:
    """Whether stored local features read back as they were written."""
    try:
        return len(LocalFeatures.from_bytes(bytes(local)).to_bytes()) == len(local)
    except (ValueError, IndexError):  # struct.error is a ValueError
        return False


def _has_parts(catalog: Catalog) -> bool:
    """Whether the catalog has the parts' table: a SQLite catalog made before there were
    parts, checked before a server opened it, has none (PostgreSQL's is made at open)."""
    if not isinstance(catalog.dialect, SqliteDialect):
        return True
    db = catalog.dialect.connection()
    found = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'parts'"
    return db.execute(found).fetchone() is not None


def _check_parts(db: Connection, report: CheckReport) -> None:
    """Each image's parts' features (features/parts.py) as the search reads them."""
    kept = 0
    for image_id, local in db.execute(
        "SELECT p.image_id, p.local FROM parts p JOIN images i ON i.id = p.image_id"
    ):
        kept += 1
        if not _whole(local):
            report.problems.append(f"image {image_id}: its parts' features are truncated")
    if kept:  # TONGTU_REFERENCE_PARTS when they were added
        report.notes.append(f"{kept} images keep their parts' features")
    _orphans(db, "parts", "parts' features", report)


def _orphans(db: Connection, table: str, what: str, report: CheckReport) -> None:
    """Rows of a table kept per image (`table`: a name of ours) whose image is gone."""
    (orphans,) = db.execute(
        f"SELECT count(*) FROM {table} WHERE image_id NOT IN (SELECT id FROM images)"
    ).fetchone()
    if orphans:
        report.problems.append(f"{orphans} {what} belong to no image")


def _check_references(catalog: Catalog, report: CheckReport) -> None:
    db = catalog.dialect.connection()
    for name, lib in db.execute(
        "SELECT name, library_id FROM apps WHERE library_id NOT IN (SELECT id FROM libraries)"
    ):
        report.problems.append(f"app {name}: its library {lib} does not exist")
    (stray,) = db.execute(
        "SELECT count(*) FROM images WHERE library_id NOT IN (SELECT id FROM libraries)"
    ).fetchone()
    if stray:
        report.problems.append(f"{stray} images belong to no library")
    for name, kept, actual in db.execute(
        "SELECT l.name, l.images, (SELECT count(*) FROM images i WHERE i.library_id = l.id) "
        "FROM libraries l"
    ):
        if kept != actual:
            report.problems.append(f"library {name}: count {kept} but {actual} images")


def _check_saved_indexes(
    catalog: Catalog,
    folder: Path,
    journal: list[JournalEntry],
    stored: set[tuple[int, int]],
    report: CheckReport,
) -> None:
    """A saved index, with the journal written after it, must give the catalog's images.

    One that does not is not damage (the engine rebuilds it at start) but is reported."""
    from tongtu.storage.faiss_index import FaissIndex

    if not folder.is_dir():
        return
    instance = catalog.instance()
    for path in sorted(folder.glob("lib-*.faiss")):
        loaded = FaissIndex.load(path, DIM)
        if loaded is None:
            report.notes.append(f"{path.name}: unreadable, will be rebuilt at start")
            continue
        index, meta = loaded
        if meta.catalog != instance:
            report.notes.append(f"{path.name}: saved for another catalog, will be rebuilt")
            continue
        lib = meta.library_id
        later = [e for e in journal if e.seq > meta.seq and e.library_id == lib]
        live = {(lib, int(i)) for i in index.ids().tolist()}
        live -= {(lib, e.image_id) for e in later}
        live |= live_images(later)
        want = {pair for pair in stored if pair[0] == lib}
        if live != want:
            report.problems.append(
                f"{path.name}: the saved index disagrees with the catalog "
                f"({len(live - want)} extra, {len(want - live)} missing)"
            )


def backup(db_path: Path, dest: Path) -> CheckReport:
    """A consistent copy of the catalog, taken while it may be written to."""
    if dest.exists():
        raise ConfigError(f"{dest} exists: choose a new file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    _copy(db_path, tmp)
    report = check_file(tmp)
    if not report.clean:
        tmp.unlink()
        raise ConfigError("the copy does not check clean: " + "; ".join(report.problems[:3]))
    os.replace(tmp, dest)
    return report


def _copy(db_path: Path, dest: Path) -> None:
    src = SqliteDialect(db_path, read_only=True)
    try:
        src.copy_to(dest)
    finally:
        src.close()


def server_running(data_dir: Path) -> int | None:
    pid_file = data_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def restore(src: Path, db_path: Path) -> tuple[CheckReport, Path | None]:
    """Put a backup in place of the catalog; the one it replaces is kept aside."""
    pid = server_running(db_path.parent)
    if pid is not None:
        raise ConfigError(f"a server (pid {pid}) is using {db_path.parent}: stop it first")
    report = check_file(src)
    if not report.clean:
        raise ConfigError(f"{src} does not check clean: " + "; ".join(report.problems[:3]))
    db_path.parent.mkdir(parents=True, exist_ok=True)
    kept: Path | None = None
    if db_path.exists():
        kept = db_path.with_name(f"{db_path.name}.before-restore-{int(time.time())}")
        _copy(db_path, kept)
    shutil.rmtree(db_path.parent / "index", ignore_errors=True)  # derived: rebuilt at start
    tmp = db_path.with_name(db_path.name + ".restoring")
    shutil.copyfile(src, tmp)
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    os.replace(tmp, db_path)
    return report, kept
