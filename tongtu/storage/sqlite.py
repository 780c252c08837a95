"""The embedded catalog: SQLite in WAL mode, the source of truth.

`synchronous=FULL`: a write is on disk before it is acknowledged, so a `kill -9` or a
power cut after the reply loses nothing. One writer at a time (a lock in this process,
SQLite's own lock across processes); readers never wait for it in WAL mode.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tongtu.errors import ItemExists, LibraryFull, LibraryInUse, TongtuError
from tongtu.storage.base import (
    AppRecord,
    ImageRecord,
    JournalEntry,
    LibraryRecord,
    NewImage,
    TagFilter,
)

__all__ = ["SqliteCatalog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS libraries (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    created_at REAL NOT NULL,
    images INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS apps (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    api_key TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    library_id INTEGER NOT NULL REFERENCES libraries(id),
    created_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    admin INTEGER NOT NULL DEFAULT 0,
    qps_limit REAL,
    daily_limit INTEGER
);
CREATE TABLE IF NOT EXISTS grants (
    app_id INTEGER NOT NULL REFERENCES apps(id),
    library_id INTEGER NOT NULL REFERENCES libraries(id),
    PRIMARY KEY (app_id, library_id)
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    app_id INTEGER NOT NULL REFERENCES apps(id),
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    library_id INTEGER NOT NULL REFERENCES libraries(id),
    cont_sign TEXT NOT NULL,
    brief TEXT NOT NULL,
    tag1 INTEGER,
    tag2 INTEGER,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created_at REAL NOT NULL,
    embedding BLOB NOT NULL,
    local BLOB NOT NULL,
    UNIQUE (library_id, cont_sign)
);
CREATE INDEX IF NOT EXISTS images_tag1 ON images(library_id, tag1);
CREATE INDEX IF NOT EXISTS images_tag2 ON images(library_id, tag2);
CREATE TABLE IF NOT EXISTS thumbnails (
    image_id INTEGER PRIMARY KEY,
    jpeg BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    library_id INTEGER NOT NULL,
    image_id INTEGER NOT NULL,
    added INTEGER NOT NULL
);
"""

_IMAGE_COLS = "id, library_id, cont_sign, brief, tag1, tag2, width, height, created_at"


def _image(row: Any) -> ImageRecord:
    return ImageRecord(
        id=int(row[0]),
        library_id=int(row[1]),
        cont_sign=str(row[2]),
        brief=str(row[3]),
        tags=tuple(int(t) for t in (row[4], row[5]) if t is not None),
        width=int(row[6]),
        height=int(row[7]),
        created_at=float(row[8]),
    )


def _app(row: Any) -> AppRecord:
    return AppRecord(
        id=int(row[0]),
        name=str(row[1]),
        api_key=str(row[2]),
        library_id=int(row[3]),
        created_at=float(row[4]),
        revoked=bool(row[5]),
        admin=bool(row[6]),
        qps_limit=None if row[7] is None else float(row[7]),
        daily_limit=None if row[8] is None else int(row[8]),
    )


def _vec(blob: bytes) -> NDArray[np.float32]:
    return np.frombuffer(blob, dtype="<f2").astype(np.float32)


class SqliteCatalog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._write_lock:
            db = self._db()
            db.executescript(_SCHEMA)
            _migrate(db)

    # connections -----------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        with self._write_lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # libraries and apps ----------------------------------------------------------

    def create_library(self, name: str, model: str, capacity: int) -> LibraryRecord:
        now = time.time()
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO libraries(name, model, capacity, created_at) VALUES (?,?,?,?)",
                (name, model, capacity, now),
            )
        return LibraryRecord(int(cur.lastrowid or 0), name, model, capacity, now)

    def _library(self, where: str, arg: object) -> LibraryRecord | None:
        row = (
            self._db()
            .execute(
                f"SELECT id, name, model, capacity, created_at FROM libraries WHERE {where}", (arg,)
            )
            .fetchone()
        )
        return LibraryRecord(*row) if row else None

    def library_by_name(self, name: str) -> LibraryRecord | None:
        return self._library("name = ?", name)

    def library_by_id(self, library_id: int) -> LibraryRecord | None:
        return self._library("id = ?", library_id)

    def libraries(self) -> list[LibraryRecord]:
        rows = self._db().execute(
            "SELECT id, name, model, capacity, created_at FROM libraries ORDER BY id"
        )
        return [LibraryRecord(*r) for r in rows]

    def set_capacity(self, library_id: int, capacity: int) -> None:
        with self._write() as db:
            db.execute("UPDATE libraries SET capacity = ? WHERE id = ?", (capacity, library_id))

    def delete_library(self, library_id: int) -> int:
        """Delete a library and its images (journalled); returns the number of images.

        Refused (LibraryInUse) while an app has it as its default library."""
        with self._write() as db:
            row = db.execute("SELECT name FROM apps WHERE library_id = ?", (library_id,)).fetchone()
            if row is not None:
                raise LibraryInUse(f"the library is the default library of app {row[0]!r}")
            ids = [
                r[0]
                for r in db.execute("SELECT id FROM images WHERE library_id = ?", (library_id,))
            ]
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM thumbnails WHERE image_id IN ({marks})", chunk)
                db.execute(f"DELETE FROM images WHERE id IN ({marks})", chunk)
                db.executemany(
                    "INSERT INTO journal(library_id, image_id, added) VALUES (?,?,0)",
                    [(library_id, i) for i in chunk],
                )
            db.execute("DELETE FROM grants WHERE library_id = ?", (library_id,))
            db.execute("DELETE FROM libraries WHERE id = ?", (library_id,))
        return len(ids)

    def create_app(
        self, name: str, api_key: str, secret_hash: str, library_id: int, admin: bool = False
    ) -> AppRecord:
        now = time.time()
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO apps(name, api_key, secret_hash, library_id, created_at, admin) "
                "VALUES (?,?,?,?,?,?)",
                (name, api_key, secret_hash, library_id, now, int(admin)),
            )
            app_id = int(cur.lastrowid or 0)
            db.execute("INSERT INTO grants(app_id, library_id) VALUES (?,?)", (app_id, library_id))
        return AppRecord(app_id, name, api_key, library_id, now, False, admin)

    def grant(self, app_id: int, library_id: int) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO grants(app_id, library_id) VALUES (?,?)",
                (app_id, library_id),
            )

    def granted(self, app_id: int) -> list[LibraryRecord]:
        rows = self._db().execute(
            "SELECT l.id, l.name, l.model, l.capacity, l.created_at FROM libraries l "
            "JOIN grants g ON g.library_id = l.id WHERE g.app_id = ? ORDER BY l.id",
            (app_id,),
        )
        return [LibraryRecord(*r) for r in rows]

    def is_granted(self, app_id: int, library_id: int) -> bool:
        row = (
            self._db()
            .execute(
                "SELECT 1 FROM grants WHERE app_id = ? AND library_id = ?", (app_id, library_id)
            )
            .fetchone()
        )
        return row is not None

    _APP_COLS = "id, name, api_key, library_id, created_at, revoked, admin, qps_limit, daily_limit"

    def apps(self) -> list[AppRecord]:
        rows = self._db().execute(f"SELECT {self._APP_COLS} FROM apps ORDER BY id")
        return [_app(r) for r in rows]

    def revoke_app(self, app_id: int) -> None:
        """The app can no longer get or use a token; its library stays."""
        with self._write() as db:
            db.execute("UPDATE apps SET revoked = 1 WHERE id = ?", (app_id,))
            db.execute("DELETE FROM tokens WHERE app_id = ?", (app_id,))

    def rotate_secret(self, app_id: int, secret_hash: str) -> None:
        """A new secret; every token issued with the old one stops working."""
        with self._write() as db:
            db.execute("UPDATE apps SET secret_hash = ? WHERE id = ?", (secret_hash, app_id))
            db.execute("DELETE FROM tokens WHERE app_id = ?", (app_id,))

    def set_limits(self, app_id: int, qps: float | None, daily: int | None) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE apps SET qps_limit = ?, daily_limit = ? WHERE id = ?", (qps, daily, app_id)
            )

    def app_by_key(self, api_key: str) -> tuple[AppRecord, str] | None:
        row = (
            self._db()
            .execute(
                f"SELECT {self._APP_COLS}, secret_hash FROM apps WHERE api_key = ?", (api_key,)
            )
            .fetchone()
        )
        if row is None:
            return None
        return _app(row), str(row[9])

    def app_by_name(self, name: str) -> AppRecord | None:
        row = (
            self._db()
            .execute(f"SELECT {self._APP_COLS} FROM apps WHERE name = ?", (name,))
            .fetchone()
        )
        return _app(row) if row else None

    def app_by_id(self, app_id: int) -> AppRecord | None:
        row = (
            self._db()
            .execute(f"SELECT {self._APP_COLS} FROM apps WHERE id = ?", (app_id,))
            .fetchone()
        )
        return _app(row) if row else None

    def store_token(self, token_hash: str, app_id: int, expires_at: float) -> None:
        with self._write() as db:
            db.execute("DELETE FROM tokens WHERE expires_at < ?", (time.time() - 86400,))
            db.execute(
                "INSERT INTO tokens(token_hash, app_id, expires_at) VALUES (?,?,?)",
                (token_hash, app_id, expires_at),
            )

    def token(self, token_hash: str) -> tuple[int, float] | None:
        row = (
            self._db()
            .execute("SELECT app_id, expires_at FROM tokens WHERE token_hash = ?", (token_hash,))
            .fetchone()
        )
        return (int(row[0]), float(row[1])) if row else None

    # images ----------------------------------------------------------------------

    def count(self, library_id: int) -> int:
        row = (
            self._db()
            .execute("SELECT images FROM libraries WHERE id = ?", (library_id,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def add_image(
        self,
        library_id: int,
        cont_sign: str,
        brief: str,
        tags: Sequence[int],
        size: tuple[int, int],
        embedding: NDArray[np.float32],
        local: bytes,
        capacity: int,
        thumbnail: bytes | None = None,
    ) -> ImageRecord:
        item = NewImage(cont_sign, brief, tuple(tags), size, embedding, local, thumbnail)
        (out,) = self.add_images(library_id, [item], capacity)
        if isinstance(out, TongtuError):
            raise out
        return out

    def add_images(
        self, library_id: int, items: Sequence[NewImage], capacity: int
    ) -> list[ImageRecord | TongtuError]:
        """Add several images in one transaction (one sync to disk); an image already
        there (ItemExists) or beyond the capacity (LibraryFull) fails alone."""
        out: list[ImageRecord | TongtuError] = []
        with self._write() as db:
            (n,) = db.execute("SELECT images FROM libraries WHERE id = ?", (library_id,)).fetchone()
            for item in items:
                row = db.execute(
                    "SELECT cont_sign FROM images WHERE library_id = ? AND cont_sign = ?",
                    (library_id, item.cont_sign),
                ).fetchone()
                if row is not None:
                    out.append(ItemExists(item.cont_sign))
                    continue
                if n >= capacity:
                    out.append(LibraryFull(f"the library is full ({capacity} images)"))
                    continue
                now = time.time()
                t1, t2 = ([*item.tags, None, None])[:2]
                cur = db.execute(
                    "INSERT INTO images(library_id, cont_sign, brief, tag1, tag2, width, "
                    "height, created_at, embedding, local) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        library_id,
                        item.cont_sign,
                        item.brief,
                        t1,
                        t2,
                        item.size[0],
                        item.size[1],
                        now,
                        item.embedding.astype("<f2").tobytes(),
                        item.local,
                    ),
                )
                image_id = int(cur.lastrowid or 0)
                if item.thumbnail is not None:
                    db.execute(
                        "INSERT INTO thumbnails(image_id, jpeg) VALUES (?,?)",
                        (image_id, item.thumbnail),
                    )
                db.execute(
                    "INSERT INTO journal(library_id, image_id, added) VALUES (?,?,1)",
                    (library_id, image_id),
                )
                n += 1
                out.append(
                    ImageRecord(
                        image_id,
                        library_id,
                        item.cont_sign,
                        item.brief,
                        item.tags,
                        item.size[0],
                        item.size[1],
                        now,
                    )
                )
            db.execute("UPDATE libraries SET images = ? WHERE id = ?", (n, library_id))
        return out

    def image_by_sign(self, library_id: int, cont_sign: str) -> ImageRecord | None:
        row = (
            self._db()
            .execute(
                f"SELECT {_IMAGE_COLS} FROM images WHERE library_id = ? AND cont_sign = ?",
                (library_id, cont_sign),
            )
            .fetchone()
        )
        return _image(row) if row else None

    def image_by_id(self, library_id: int, image_id: int) -> ImageRecord | None:
        row = (
            self._db()
            .execute(
                f"SELECT {_IMAGE_COLS} FROM images WHERE library_id = ? AND id = ?",
                (library_id, image_id),
            )
            .fetchone()
        )
        return _image(row) if row else None

    def list_images(
        self,
        library_id: int,
        before: int | None,
        limit: int,
        tags: TagFilter | None = None,
        text: str | None = None,
    ) -> list[ImageRecord]:
        """Newest first: images with id < `before` (a cursor), filtered by tags and brief."""
        where = ["library_id = ?"]
        args: list[object] = [library_id]
        if before is not None:
            where.append("id < ?")
            args.append(before)
        if tags is not None:
            cond, targs = _tag_condition(tags)
            where.append(cond)
            args += targs
        if text:
            where.append("instr(lower(brief), lower(?)) > 0")
            args.append(text)
        rows = self._db().execute(
            f"SELECT {_IMAGE_COLS} FROM images WHERE {' AND '.join(where)} "
            "ORDER BY id DESC LIMIT ?",
            [*args, limit],
        )
        return [_image(r) for r in rows]

    def thumbnail(self, image_id: int) -> bytes | None:
        row = (
            self._db()
            .execute("SELECT jpeg FROM thumbnails WHERE image_id = ?", (image_id,))
            .fetchone()
        )
        return bytes(row[0]) if row else None

    def images_by_id(self, ids: Iterable[int]) -> dict[int, ImageRecord]:
        out: dict[int, ImageRecord] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for row in self._db().execute(
                f"SELECT {_IMAGE_COLS} FROM images WHERE id IN ({marks})", chunk
            ):
                out[int(row[0])] = _image(row)
        return out

    def images_with_local(self, ids: Iterable[int]) -> dict[int, tuple[ImageRecord, bytes]]:
        out: dict[int, tuple[ImageRecord, bytes]] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for row in self._db().execute(
                f"SELECT {_IMAGE_COLS}, local FROM images WHERE id IN ({marks})", chunk
            ):
                out[int(row[0])] = (_image(row), bytes(row[9]))
        return out

    def local_features(self, ids: Iterable[int]) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for row in self._db().execute(
                f"SELECT id, local FROM images WHERE id IN ({marks})", chunk
            ):
                out[int(row[0])] = bytes(row[1])
        return out

    def update_image(self, image_id: int, brief: str | None, tags: Sequence[int] | None) -> None:
        with self._write() as db:
            if brief is not None:
                db.execute("UPDATE images SET brief = ? WHERE id = ?", (brief, image_id))
            if tags is not None:
                t1, t2 = ([*list(tags), None, None])[:2]
                db.execute("UPDATE images SET tag1 = ?, tag2 = ? WHERE id = ?", (t1, t2, image_id))

    def delete_images(self, library_id: int, cont_signs: Sequence[str]) -> int:
        deleted = 0
        with self._write() as db:
            for sign in dict.fromkeys(cont_signs):
                row = db.execute(
                    "SELECT id FROM images WHERE library_id = ? AND cont_sign = ?",
                    (library_id, sign),
                ).fetchone()
                if row is None:
                    continue
                db.execute("DELETE FROM images WHERE id = ?", (row[0],))
                db.execute("DELETE FROM thumbnails WHERE image_id = ?", (row[0],))
                db.execute("UPDATE libraries SET images = images - 1 WHERE id = ?", (library_id,))
                db.execute(
                    "INSERT INTO journal(library_id, image_id, added) VALUES (?,?,0)",
                    (library_id, row[0]),
                )
                deleted += 1
        return deleted

    def ids_with_tags(self, library_id: int, tags: TagFilter) -> NDArray[np.int64]:
        cond, targs = _tag_condition(tags)
        rows = (
            self._db()
            .execute(f"SELECT id FROM images WHERE library_id = ? AND {cond}", [library_id, *targs])
            .fetchall()
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    # journal -----------------------------------------------------------------------

    def journal_since(self, seq: int) -> list[JournalEntry]:
        rows = self._db().execute(
            "SELECT seq, library_id, image_id, added FROM journal WHERE seq > ? ORDER BY seq",
            (seq,),
        )
        return [JournalEntry(int(a), int(b), int(c), bool(d)) for a, b, c, d in rows]

    def instance(self) -> str:
        row = self._db().execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
        return str(row[0])

    def snapshot(
        self, library_ids: Sequence[int]
    ) -> tuple[int, dict[int, tuple[NDArray[np.int64], NDArray[np.float32]]]]:
        """The journal position and the descriptors of these libraries, read in one
        transaction: replaying the journal after that position then adds nothing twice."""
        db = self._db()
        db.execute("BEGIN")
        try:
            seq = self.last_seq()
            out = {lib: self.all_embeddings(lib) for lib in library_ids}
        finally:
            db.execute("COMMIT")
        return seq, out

    def last_seq(self) -> int:
        row = self._db().execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()
        return int(row[0])

    def embeddings(self, ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        out: dict[int, NDArray[np.float32]] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for row in self._db().execute(
                f"SELECT id, embedding FROM images WHERE id IN ({marks})", chunk
            ):
                out[int(row[0])] = _vec(row[1])
        return out

    def all_embeddings(self, library_id: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        rows = (
            self._db()
            .execute(
                "SELECT id, embedding FROM images WHERE library_id = ? ORDER BY id", (library_id,)
            )
            .fetchall()
        )
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f2").reshape(len(rows), -1)
        return ids, vecs.astype(np.float32)


def _tag_condition(tags: TagFilter) -> tuple[str, list[object]]:
    clause = " OR " if tags.any_of else " AND "
    cond = clause.join("(tag1 = ? OR tag2 = ?)" for _ in tags.tags)
    args: list[object] = []
    for t in tags.tags:
        args += [t, t]
    return f"({cond})", args


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a catalog written by an older tongtu up to this schema."""
    lib_cols = {r[1] for r in db.execute("PRAGMA table_info(libraries)")}
    if "images" not in lib_cols:  # the count kept with each write, not counted per add
        db.execute("ALTER TABLE libraries ADD COLUMN images INTEGER NOT NULL DEFAULT 0")
        db.execute(
            "UPDATE libraries SET images = "
            "(SELECT count(*) FROM images WHERE images.library_id = libraries.id)"
        )
    cols = {r[1] for r in db.execute("PRAGMA table_info(apps)")}
    if "admin" not in cols:
        db.execute("ALTER TABLE apps ADD COLUMN admin INTEGER NOT NULL DEFAULT 0")
    if "qps_limit" not in cols:
        db.execute("ALTER TABLE apps ADD COLUMN qps_limit REAL")
        db.execute("ALTER TABLE apps ADD COLUMN daily_limit INTEGER")
    db.execute("INSERT OR IGNORE INTO grants(app_id, library_id) SELECT id, library_id FROM apps")
    # Names this catalog: an index saved for another one (a restored backup) is not used.
    db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('instance', ?)", (uuid.uuid4().hex,))


def _chunks(items: list[int], size: int = 900) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
