"""The journal of image writes, which every index follows, and the catalog's meta keys."""

from __future__ import annotations

from collections.abc import Iterable

from tongtu.storage.base import JournalEntry
from tongtu.storage.catalog.tables import Tables

__all__ = ["Journal", "live_images"]


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


class Journal(Tables):
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

    def last_seq(self) -> int:
        row = self._db().execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()
        return int(row[0])
