"""Integrity check, online backup and restore of a data directory.

`check` reads the catalog and everything derived from it, and says what disagrees:
SQLite's own integrity, every image's stored features, thumbnails, apps and grants, and
the journal the vector indexes follow (replayed, it must give exactly the catalog's
images, or an index would serve a deleted image or miss an added one).
`backup` uses SQLite's online backup: a consistent snapshot while the server writes.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tongtu.errors import ConfigError
from tongtu.features import DIM
from tongtu.storage.base import Catalog, VectorStore

__all__ = ["CheckReport", "backup", "check", "check_shared", "restore", "server_running"]

_LOCAL_HEADER = struct.Struct("<HHH")
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


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ConfigError(f"no catalog at {path}")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)


def check(db_path: Path, index_dir: Path | None = None) -> CheckReport:
    report = CheckReport()
    db = _connect(db_path)
    try:
        _check_sqlite(db, report)
        _check_images(db, report)
        _check_references(db, report)
        _check_journal(db, report)
        _check_saved_indexes(db, index_dir or db_path.parent / "index", report)
    finally:
        db.close()
    return report


def _check_saved_indexes(db: sqlite3.Connection, folder: Path, report: CheckReport) -> None:
    """A saved index, with the journal written after it, must give the catalog's images.

    One that does not is not damage (the engine rebuilds it at start) but is reported."""
    from tongtu.storage.faiss import FaissIndex

    if not folder.is_dir():
        return
    (instance,) = db.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
    for path in sorted(folder.glob("lib-*.faiss")):
        loaded = FaissIndex.load(path, DIM)
        if loaded is None:
            report.notes.append(f"{path.name}: unreadable, will be rebuilt at start")
            continue
        index, meta = loaded
        if meta.catalog != instance:
            report.notes.append(f"{path.name}: saved for another catalog, will be rebuilt")
            continue
        live = set(index.ids().tolist())
        for image_id, added in db.execute(
            "SELECT image_id, added FROM journal WHERE library_id = ? AND seq > ? ORDER BY seq",
            (meta.library_id, meta.seq),
        ):
            if added:
                live.add(image_id)
            else:
                live.discard(image_id)
        stored = {
            i
            for (i,) in db.execute("SELECT id FROM images WHERE library_id = ?", (meta.library_id,))
        }
        if live != stored:
            report.problems.append(
                f"{path.name}: the saved index disagrees with the catalog "
                f"({len(live - stored)} extra, {len(stored - live)} missing)"
            )


def _check_sqlite(db: sqlite3.Connection, report: CheckReport) -> None:
    result = [r[0] for r in db.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        report.problems += [f"sqlite: {r}" for r in result[:20]]
    for table, rowid, parent, _ in db.execute("PRAGMA foreign_key_check"):
        report.problems.append(f"sqlite: {table} row {rowid} points at a missing {parent}")


def _check_images(db: sqlite3.Connection, report: CheckReport) -> None:
    report.libraries = int(db.execute("SELECT count(*) FROM libraries").fetchone()[0])
    no_thumb = 0
    rows = db.execute(
        "SELECT i.id, i.width, i.height, i.embedding, i.local, t.image_id IS NOT NULL "
        "FROM images i LEFT JOIN thumbnails t ON t.image_id = i.id"
    )
    for image_id, width, height, emb, local, has_thumb in rows:
        report.images += 1
        if len(emb) != DIM * 2:
            report.problems.append(f"image {image_id}: descriptor has {len(emb)} bytes")
        else:
            vec = np.frombuffer(emb, dtype="<f2").astype(np.float32)
            norm = float(np.linalg.norm(vec))
            if not np.all(np.isfinite(vec)) or abs(norm - 1.0) > 0.01:
                report.problems.append(f"image {image_id}: descriptor is not unit length")
        if len(local) < _LOCAL_HEADER.size:
            report.problems.append(f"image {image_id}: local features are truncated")
        else:
            n, _, _ = _LOCAL_HEADER.unpack_from(local)
            if len(local) != _LOCAL_HEADER.size + 36 * n:
                report.problems.append(f"image {image_id}: local features are truncated")
        if width < 1 or height < 1:
            report.problems.append(f"image {image_id}: size {width}x{height}")
        no_thumb += 0 if has_thumb else 1
    if no_thumb:
        report.notes.append(f"{no_thumb} images have no thumbnail (added with none kept)")
    (orphans,) = db.execute(
        "SELECT count(*) FROM thumbnails WHERE image_id NOT IN (SELECT id FROM images)"
    ).fetchone()
    if orphans:
        report.problems.append(f"{orphans} thumbnails belong to no image")


def _check_references(db: sqlite3.Connection, report: CheckReport) -> None:
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


def _check_journal(db: sqlite3.Connection, report: CheckReport) -> None:
    """Replay the journal as an index does; it must give exactly the catalog's images."""
    live: set[tuple[int, int]] = set()
    for library_id, image_id, added in db.execute(
        "SELECT library_id, image_id, added FROM journal ORDER BY seq"
    ):
        if added:
            live.add((library_id, image_id))
        else:
            live.discard((library_id, image_id))
    stored = {(lib, i) for lib, i in db.execute("SELECT library_id, id FROM images")}
    for lib, image_id in sorted(stored - live)[:20]:
        report.problems.append(f"image {image_id} (library {lib}) is missing from the journal")
    for lib, image_id in sorted(live - stored)[:20]:
        report.problems.append(f"journal keeps image {image_id} (library {lib}) that is gone")


def check_shared(catalog: Catalog, vectors: VectorStore) -> CheckReport:
    """The checks that hold for any catalog (PostgreSQL included): counts, the journal
    replayed gives exactly the catalog's images, and the vector store holds them."""
    report = CheckReport()
    live: set[tuple[int, int]] = set()
    for e in catalog.journal_since(0):
        if e.added:
            live.add((e.library_id, e.image_id))
        else:
            live.discard((e.library_id, e.image_id))
    stored: set[tuple[int, int]] = set()
    for lib in catalog.libraries():
        report.libraries += 1
        ids = {int(i) for i in catalog.all_embeddings(lib.id)[0].tolist()}
        report.images += len(ids)
        stored |= {(lib.id, i) for i in ids}
        if catalog.count(lib.id) != len(ids):
            report.problems.append(
                f"library {lib.name}: count {catalog.count(lib.id)} but {len(ids)} images"
            )
        in_store = vectors.size(lib.id)
        if in_store != len(ids):
            report.problems.append(
                f"library {lib.name}: {in_store} vectors in {vectors.url} for {len(ids)} images"
            )
    for lib_id, image_id in sorted(stored - live)[:20]:
        report.problems.append(f"image {image_id} (library {lib_id}) is missing from the journal")
    for lib_id, image_id in sorted(live - stored)[:20]:
        report.problems.append(f"journal keeps image {image_id} (library {lib_id}) that is gone")
    return report


def backup(db_path: Path, dest: Path) -> CheckReport:
    """A consistent copy of the catalog, taken while it may be written to."""
    if dest.exists():
        raise ConfigError(f"{dest} exists: choose a new file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    _copy(db_path, tmp)
    report = check(tmp)
    if not report.clean:
        tmp.unlink()
        raise ConfigError("the copy does not check clean: " + "; ".join(report.problems[:3]))
    os.replace(tmp, dest)
    return report


def _copy(db_path: Path, dest: Path) -> None:
    src = _connect(db_path)
    try:
        out = sqlite3.connect(dest)
        try:
            src.backup(out, pages=1024)
        finally:
            out.close()
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
    report = check(src)
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
