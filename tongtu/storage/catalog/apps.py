"""Apps, the libraries granted to them, and their tokens."""

from __future__ import annotations

import time

from tongtu.storage.base import AppRecord, LibraryRecord
from tongtu.storage.catalog.tables import APP_COLS, LIBRARY_COLS, Tables, app_record

__all__ = ["Apps"]


class Apps(Tables):
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
            f"SELECT {LIBRARY_COLS} FROM libraries "
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

    def apps(self) -> list[AppRecord]:
        rows = self._db().execute(f"SELECT {APP_COLS} FROM apps ORDER BY id")
        return [app_record(r) for r in rows]

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
            .execute(f"SELECT {APP_COLS}, secret_hash FROM apps WHERE api_key = ?", (api_key,))
            .fetchone()
        )
        if row is None:
            return None
        return app_record(row), str(row[9])

    def _app_where(self, where: str, arg: object) -> AppRecord | None:
        row = self._db().execute(f"SELECT {APP_COLS} FROM apps WHERE {where}", (arg,)).fetchone()
        return app_record(row) if row else None

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
