"""The catalog, the source of truth: libraries, apps, tokens, images with their features,
and the journal every image write is recorded in (in the same transaction).

Every query is written once, with `?` placeholders, for SQLite (embedded) and PostgreSQL
(scale-out); what differs between them is a `Dialect` (storage/sqlite.py,
storage/postgres.py): its connections, a write transaction that serialises writers
across processes (so journal positions commit, and become visible, in order), a
consistent read, a cross-process lock and a word or two of SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import numpy as np
from numpy.typing import NDArray

from tongtu.storage.catalog.apps import Apps
from tongtu.storage.catalog.images import Images
from tongtu.storage.catalog.journal import Journal, live_images
from tongtu.storage.catalog.libraries import Libraries
from tongtu.storage.catalog.tables import Connection, Cursor, Dialect
from tongtu.storage.catalog.transfer import Transfer

__all__ = ["Catalog", "Connection", "Cursor", "Dialect", "live_images"]


class Catalog(Libraries, Apps, Images, Journal, Transfer):
    """The catalog over one database (`dialect`): each family of tables in its module
    (libraries, apps, images, journal, transfer), over one `Dialect`."""

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """A lock held across every process using this catalog."""
        return self.dialect.exclusive(name)

    def close(self) -> None:
        self.dialect.close()

    def snapshot(
        self, library_ids: Sequence[int]
    ) -> tuple[int, dict[int, tuple[NDArray[np.int64], NDArray[np.float32]]]]:
        """The journal position and the descriptors of these libraries, read in one
        transaction: replaying the journal after that position then adds nothing twice."""
        with self.dialect.read():
            seq = self.last_seq()
            out = {lib: self.all_embeddings(lib) for lib in library_ids}
        return seq, out
