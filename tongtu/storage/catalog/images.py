"""Images with their features and thumbnails: every write journalled in its transaction."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from tongtu.errors import ItemExists, LibraryFull, TongtuError
from tongtu.storage.base import ImageRecord, NewImage, TagFilter
from tongtu.storage.catalog.tables import IMAGE_COLS, Connection, Tables, image_record, vector_of

__all__ = ["Images"]


class Images(Tables):
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
            if item.parts is not None:
                db.execute(
                    "INSERT INTO parts(image_id, local) VALUES (?,?)", (image_id, item.parts)
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

    def _image_where(self, where: str, args: tuple[object, ...]) -> ImageRecord | None:
        row = (
            self._db()
            .execute(f"SELECT {IMAGE_COLS} FROM images WHERE library_id = ? AND {where}", args)
            .fetchone()
        )
        return image_record(row) if row else None

    def image_by_sign(self, library_id: int, cont_sign: str) -> ImageRecord | None:
        return self._image_where("cont_sign = ?", (library_id, cont_sign))

    def image_by_id(self, library_id: int, image_id: int) -> ImageRecord | None:
        return self._image_where("id = ?", (library_id, image_id))

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
            f"SELECT {IMAGE_COLS} FROM images WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            [*args, limit],
        )
        return [image_record(r) for r in rows]

    def thumbnail(self, image_id: int) -> bytes | None:
        row = (
            self._db()
            .execute("SELECT jpeg FROM thumbnails WHERE image_id = ?", (image_id,))
            .fetchone()
        )
        return bytes(row[0]) if row else None

    def add_parts(self, image_id: int, local: bytes) -> None:
        """Keep the parts' features of an image that has none (one added without them)."""
        with self._write() as db:
            if db.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone():
                db.execute(
                    "INSERT INTO parts(image_id, local) VALUES (?,?) ON CONFLICT DO NOTHING",
                    (image_id, local),
                )

    def has_parts(self, image_id: int) -> bool:
        row = self._db().execute("SELECT 1 FROM parts WHERE image_id = ?", (image_id,))
        return row.fetchone() is not None

    def parts(self, image_id: int) -> bytes | None:
        """The local features of the image's parts (features/parts.py), if it has them."""
        row = (
            self._db().execute("SELECT local FROM parts WHERE image_id = ?", (image_id,)).fetchone()
        )
        return bytes(row[0]) if row else None

    def images_by_id(self, ids: Iterable[int]) -> dict[int, ImageRecord]:
        return self._by_id(IMAGE_COLS, ids, image_record)

    def images_with_local(self, ids: Iterable[int]) -> dict[int, tuple[ImageRecord, bytes]]:
        return self._by_id(
            f"{IMAGE_COLS}, local", ids, lambda row: (image_record(row), bytes(row[9]))
        )

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
                db.execute("DELETE FROM parts WHERE image_id = ?", (row[0],))
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

    def embeddings(self, ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        return self._by_id("id, embedding", ids, lambda row: vector_of(row[1]))

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
