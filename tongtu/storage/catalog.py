"""The catalog, the source of truth: libraries, apps, tokens, images with their features,
and the journal every image write is recorded in (in the same transaction).

Every query is written once, with `?` placeholders, for SQLite (embedded) and PostgreSQL
(scale-out); what differs between them is a `Dialect` (storage/sqlite.py,
storage/postgres.py): its connections, a write transaction that serialises writers
across processes (so journal positions commit, and become visible, in order), a
consistent read, a cross-process lock and a word or two of SQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

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

__all__ = ["Catalog", "Connection", "Dialect", "live_images"]

_LIBRARY_COLS = ", ".join(
    f"libraries.{c}" for c in ("id", "name", "model", "capacity", "created_at", "signature")
)
_IMAGE_COLS = "id, library_id, cont_sign, brief, tag1, tag2, width, height, created_at"


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, args: Sequence[object] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, args: Iterable[Sequence[object]], /) -> Any: ...


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


class Dialect(Protocol):
    """What a database engine supplies to the catalog."""

    url: str
    # `{col}` contains `{arg}` (a substring test).
    contains: str

    def connection(self) -> Connection:
        """This thread's connection (autocommit outside `write` and `read`)."""
        ...

    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction; one at a time across every process using the catalog."""
        ...

    def read(self) -> AbstractContextManager[Connection]:
        """A transaction whose reads see one moment."""
        ...

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """A lock held across every process using the catalog."""
        ...

    def reset_ids(self, db: Connection) -> None:
        """After rows were written with explicit ids: new ids continue above them."""
        ...

    def close(self) -> None: ...


def live_images(entries: Iterable[JournalEntry]) -> set[tuple[int, int]]:
    """The (library, image) pairs the journal leaves in place, replayed in order: what
    any index following it must hold."""
    live: set[tuple[int, int]] = set()
    for e in entries:
        if e.added:
            live.add((e.library_id, e.image_id))
        else:
            live.discard((e.library_id, e.image_id))
    return live


class Catalog:
    """The catalog over one database (`dialect`)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.url = dialect.url

    def _db(self) -> Connection:
        return self.dialect.connection()

    def _write(self) -> AbstractContextManager[Connection]:
        return self.dialect.write()

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """A lock held across every process using this catalog."""
        return self.dialect.exclusive(name)

    def close(self) -> None:
        self.dialect.close()

    # libraries and apps ----------------------------------------------------------

    def create_library(self, name: str, model: str, capacity: int, signature: int) -> LibraryRecord:
        now = time.time()
        with self._write() as db:
            (library_id,) = db.execute(
                "INSERT INTO libraries(name, model, capacity, created_at, signature) "
                "VALUES (?,?,?,?,?) RETURNING id",
                (name, model, capacity, now, signature),
            ).fetchone()
        return LibraryRecord(int(library_id), name, model, capacity, now, signature)

    def _library(self, where: str, arg: object) -> LibraryRecord | None:
        row = (
            self._db()
            .execute(f"SELECT {_LIBRARY_COLS} FROM libraries WHERE {where}", (arg,))
            .fetchone()
        )
        return LibraryRecord(*row) if row else None

    def library_by_name(self, name: str) -> LibraryRecord | None:
        return self._library("name = ?", name)

    def library_by_id(self, library_id: int) -> LibraryRecord | None:
        return self._library("id = ?", library_id)

    def libraries(self) -> list[LibraryRecord]:
        rows = self._db().execute(f"SELECT {_LIBRARY_COLS} FROM libraries ORDER BY id")
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
            (app_id,) = db.execute(
                "INSERT INTO apps(name, api_key, secret_hash, library_id, created_at, admin) "
                "VALUES (?,?,?,?,?,?) RETURNING id",
                (name, api_key, secret_hash, library_id, now, int(admin)),
            ).fetchone()
            db.execute("INSERT INTO grants(app_id, library_id) VALUES (?,?)", (app_id, library_id))
        return AppRecord(app_id, name, api_key, library_id, now, False, admin)

    def grant(self, app_id: int, library_id: int) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO grants(app_id, library_id) VALUES (?,?) ON CONFLICT DO NOTHING",
                (app_id, library_id),
            )

    def granted(self, app_id: int) -> list[LibraryRecord]:
        rows = self._db().execute(
            f"SELECT {_LIBRARY_COLS} FROM libraries "
            "JOIN grants g ON g.library_id = libraries.id WHERE g.app_id = ? "
            "ORDER BY libraries.id",
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

    def _app_where(self, where: str, arg: object) -> AppRecord | None:
        row = (
            self._db()
            .execute(f"SELECT {self._APP_COLS} FROM apps WHERE {where}", (arg,))
            .fetchone()
        )
        return _app(row) if row else None

    def app_by_name(self, name: str) -> AppRecord | None:
        return self._app_where("name = ?", name)

    def app_by_id(self, app_id: int) -> AppRecord | None:
        return self._app_where("id = ?", app_id)

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

    def add_images(
        self, library_id: int, items: Sequence[NewImage], capacity: int
    ) -> list[ImageRecord | TongtuError]:
        """Add several images in one transaction (one sync to disk); an image already
        there (ItemExists) or beyond the capacity (LibraryFull) fails alone."""
        [out] = self.add_to_libraries([(library_id, items, capacity)])
        return out

    def add_to_libraries(
        self, writes: Sequence[tuple[int, Sequence[NewImage], int]]
    ) -> list[list[ImageRecord | TongtuError]]:
        """`add_images` for several (library id, images, capacity) at once, all in one
        transaction: the writes of concurrent requests committed together."""
        with self._write() as db:
            return [self._add_to(db, *write) for write in writes]

    def _add_to(
        self, db: Connection, library_id: int, items: Sequence[NewImage], capacity: int
    ) -> list[ImageRecord | TongtuError]:
        out: list[ImageRecord | TongtuError] = []
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
            (image_id,) = db.execute(
                "INSERT INTO images(library_id, cont_sign, brief, tag1, tag2, width, "
                "height, created_at, embedding, local) VALUES (?,?,?,?,?,?,?,?,?,?) "
                "RETURNING id",
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
            ).fetchone()
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
            where.append(self.dialect.contains.format(col="lower(brief)", arg="lower(?)"))
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

    def _by_id[T](
        self, columns: str, ids: Iterable[int], row_to: Callable[[Any], T]
    ) -> dict[int, T]:
        """`columns` of the images with these ids (the first column is the id), read in
        chunks that stay under the databases' limits on parameters."""
        out: dict[int, T] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for row in self._db().execute(
                f"SELECT {columns} FROM images WHERE id IN ({marks})", chunk
            ):
                out[int(row[0])] = row_to(row)
        return out

    def images_by_id(self, ids: Iterable[int]) -> dict[int, ImageRecord]:
        return self._by_id(_IMAGE_COLS, ids, _image)

    def images_with_local(self, ids: Iterable[int]) -> dict[int, tuple[ImageRecord, bytes]]:
        return self._by_id(f"{_IMAGE_COLS}, local", ids, lambda row: (_image(row), bytes(row[9])))

    def local_features(self, ids: Iterable[int]) -> dict[int, bytes]:
        return self._by_id("id, local", ids, lambda row: bytes(row[1]))

    def update_image(self, image_id: int, brief: str | None, tags: Sequence[int] | None) -> None:
        with self._write() as db:
            if brief is not None:
                db.execute("UPDATE images SET brief = ? WHERE id = ?", (brief, image_id))
            if tags is not None:
                t1, t2 = ([*list(tags), None, None])[:2]
                row = db.execute(
                    "UPDATE images SET tag1 = ?, tag2 = ? WHERE id = ? RETURNING library_id",
                    (t1, t2, image_id),
                ).fetchone()
                if row is not None:  # a vector store that filters by tag follows it
                    db.execute(
                        "INSERT INTO journal(library_id, image_id, added) VALUES (?,?,2)",
                        (row[0], image_id),
                    )

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

    def journal_since(self, seq: int, limit: int | None = None) -> list[JournalEntry]:
        """The entries after position `seq`, in order (the first `limit` of them)."""
        sql = "SELECT seq, library_id, image_id, added FROM journal WHERE seq > ? ORDER BY seq"
        args: tuple[int, ...] = (seq,)
        if limit is not None:
            sql, args = sql + " LIMIT ?", (seq, limit)
        rows = self._db().execute(sql, args)
        return [JournalEntry(int(a), int(b), int(c), d != 0, d == 2) for a, b, c, d in rows]

    def instance(self) -> str:
        return self.meta("instance") or ""

    def meta(self, key: str) -> str | None:
        row = self._db().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES (?,?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def snapshot(
        self, library_ids: Sequence[int]
    ) -> tuple[int, dict[int, tuple[NDArray[np.int64], NDArray[np.float32]]]]:
        """The journal position and the descriptors of these libraries, read in one
        transaction: replaying the journal after that position then adds nothing twice."""
        with self.dialect.read():
            seq = self.last_seq()
            out = {lib: self.all_embeddings(lib) for lib in library_ids}
        return seq, out

    def last_seq(self) -> int:
        row = self._db().execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()
        return int(row[0])

    def embeddings(self, ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        return self._by_id("id, embedding", ids, lambda row: _vec(row[1]))

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

    # copying between back ends (`tongtu migrate`): rows keep their ids --------------

    def reset_ids(self) -> None:
        """After rows were written with explicit ids: new ids continue above them."""
        with self._write() as db:
            self.dialect.reset_ids(db)

    def export_images(self, library_id: int, after: int, limit: int) -> list[tuple[Any, ...]]:
        """Up to `limit` images with id > `after`, oldest first: every column, the
        features and the thumbnail (or None)."""
        cols = ", ".join(f"i.{c.strip()}" for c in _IMAGE_COLS.split(","))
        rows = self._db().execute(
            f"SELECT {cols}, i.embedding, i.local, t.jpeg FROM images i "
            "LEFT JOIN thumbnails t ON t.image_id = i.id "
            "WHERE i.library_id = ? AND i.id > ? ORDER BY i.id LIMIT ?",
            (library_id, after, limit),
        )
        return [tuple(r) for r in rows]

    def import_images(self, library_id: int, rows: Sequence[tuple[Any, ...]]) -> int:
        """Write exported images with their ids (journalled, counted); one already there
        is skipped, so an interrupted copy resumes. Returns how many were written."""
        written = 0
        with self._write() as db:
            for row in rows:
                have = db.execute(
                    "SELECT library_id, cont_sign FROM images WHERE id = ?", (row[0],)
                ).fetchone()
                if have is not None:
                    if (int(have[0]), str(have[1])) != (library_id, row[2]):
                        raise LibraryInUse(
                            f"image id {row[0]} is taken by another image in the destination"
                        )
                    continue
                db.execute(
                    f"INSERT INTO images({_IMAGE_COLS}, embedding, local) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    row[:11],
                )
                if row[11] is not None:
                    db.execute(
                        "INSERT INTO thumbnails(image_id, jpeg) VALUES (?,?)", (row[0], row[11])
                    )
                db.execute(
                    "INSERT INTO journal(library_id, image_id, added) VALUES (?,?,1)",
                    (library_id, row[0]),
                )
                written += 1
            db.execute(
                "UPDATE libraries SET images = images + ? WHERE id = ?", (written, library_id)
            )
        return written

    def import_library(self, lib: LibraryRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO libraries(id, name, model, capacity, created_at, signature) "
                "VALUES (?,?,?,?,?,?)",
                (lib.id, lib.name, lib.model, lib.capacity, lib.created_at, lib.signature),
            )

    def import_app(self, app: AppRecord, secret_hash: str, library_ids: Sequence[int]) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO apps(id, name, api_key, secret_hash, library_id, created_at, "
                "revoked, admin, qps_limit, daily_limit) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    app.id,
                    app.name,
                    app.api_key,
                    secret_hash,
                    app.library_id,
                    app.created_at,
                    int(app.revoked),
                    int(app.admin),
                    app.qps_limit,
                    app.daily_limit,
                ),
            )
            for lib_id in library_ids:
                db.execute(
                    "INSERT INTO grants(app_id, library_id) VALUES (?,?) ON CONFLICT DO NOTHING",
                    (app.id, lib_id),
                )

    def max_image_id(self, library_id: int) -> int:
        row = (
            self._db()
            .execute("SELECT coalesce(max(id), 0) FROM images WHERE library_id = ?", (library_id,))
            .fetchone()
        )
        return int(row[0])


def _tag_condition(tags: TagFilter) -> tuple[str, list[object]]:
    clause = " OR " if tags.any_of else " AND "
    cond = clause.join("(tag1 = ? OR tag2 = ?)" for _ in tags.tags)
    args: list[object] = []
    for t in tags.tags:
        args += [t, t]
    return f"({cond})", args


def _chunks(items: list[int], size: int = 900) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
