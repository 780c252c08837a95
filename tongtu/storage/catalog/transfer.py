"""Copying between back ends (`tongtu migrate`): rows keep their ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tongtu.errors import LibraryInUse
from tongtu.storage.base import AppRecord, LibraryRecord
from tongtu.storage.catalog.tables import IMAGE_COLS, Tables

__all__ = ["Transfer"]


class Transfer(Tables):
    def reset_ids(self) -> None:
        """After rows were written with explicit ids: new ids continue above them."""
        with self._write() as db:
            self.dialect.reset_ids(db)

    def export_images(self, library_id: int, after: int, limit: int) -> list[tuple[Any, ...]]:
        """Up to `limit` images with id > `after`, oldest first: every column, the
        features, the thumbnail and the parts' features (each or None)."""
        cols = ", ".join(f"i.{c.strip()}" for c in IMAGE_COLS.split(","))
        rows = self._db().execute(
            f"SELECT {cols}, i.embedding, i.local, t.jpeg, p.local FROM images i "
            "LEFT JOIN thumbnails t ON t.image_id = i.id "
            "LEFT JOIN parts p ON p.image_id = i.id "
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
                    f"INSERT INTO images({IMAGE_COLS}, embedding, local) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    row[:11],
                )
                if row[11] is not None:
                    db.execute(
                        "INSERT INTO thumbnails(image_id, jpeg) VALUES (?,?)", (row[0], row[11])
                    )
                if row[12] is not None:
                    db.execute("INSERT INTO parts(image_id, local) VALUES (?,?)", (row[0], row[12]))
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
