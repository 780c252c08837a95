"""Libraries: create, find, resize, delete (with their images, journalled)."""

from __future__ import annotations

import time

from tongtu.errors import LibraryInUse
from tongtu.storage.base import LibraryRecord
from tongtu.storage.catalog.tables import LIBRARY_COLS, Tables, chunks

__all__ = ["Libraries"]


class Libraries(Tables):
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
            .execute(f"SELECT {LIBRARY_COLS} FROM libraries WHERE {where}", (arg,))
            .fetchone()
        )
        return LibraryRecord(*row) if row else None

    def library_by_name(self, name: str) -> LibraryRecord | None:
        return self._library("name = ?", name)

    def library_by_id(self, library_id: int) -> LibraryRecord | None:
        return self._library("id = ?", library_id)

    def libraries(self) -> list[LibraryRecord]:
        rows = self._db().execute(f"SELECT {LIBRARY_COLS} FROM libraries ORDER BY id")
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
            for chunk in chunks(ids):
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM thumbnails WHERE image_id IN ({marks})", chunk)
                db.execute(f"DELETE FROM parts WHERE image_id IN ({marks})", chunk)
                db.execute(f"DELETE FROM images WHERE id IN ({marks})", chunk)
                db.executemany(
                    "INSERT INTO journal(library_id, image_id, added) VALUES (?,?,0)",
                    [(library_id, i) for i in chunk],
                )
            db.execute("DELETE FROM grants WHERE library_id = ?", (library_id,))
            db.execute("DELETE FROM libraries WHERE id = ?", (library_id,))
        return len(ids)
