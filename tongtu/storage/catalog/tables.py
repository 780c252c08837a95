"""What every family of the catalog's tables shares: the database seam (`Dialect`) and
the reading of rows into records."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from tongtu.storage.base import AppRecord, ImageRecord

__all__ = [
    "APP_COLS",
    "IMAGE_COLS",
    "LIBRARY_COLS",
    "Connection",
    "Cursor",
    "Dialect",
    "Tables",
    "app_record",
    "chunks",
    "image_record",
    "vector_of",
]

LIBRARY_COLS = ", ".join(
    f"libraries.{c}" for c in ("id", "name", "model", "capacity", "created_at", "signature")
)
IMAGE_COLS = "id, library_id, cont_sign, brief, tag1, tag2, width, height, created_at"
APP_COLS = "id, name, api_key, library_id, created_at, revoked, admin, qps_limit, daily_limit"


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, args: Sequence[object] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, args: Iterable[Sequence[object]], /) -> Any: ...


def image_record(row: Any) -> ImageRecord:
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


def app_record(row: Any) -> AppRecord:
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


def vector_of(blob: bytes) -> NDArray[np.float32]:
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


class Tables:
    """One family of tables over the catalog's database (`dialect`)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.url = dialect.url

    def _db(self) -> Connection:
        return self.dialect.connection()

    def _write(self) -> AbstractContextManager[Connection]:
        return self.dialect.write()

    def _by_id[T](
        self, columns: str, ids: Iterable[int], row_to: Callable[[Any], T]
    ) -> dict[int, T]:
        """`columns` of the images with these ids (the first column is the id), read in
        chunks that stay under the databases' limits on parameters."""
        out: dict[int, T] = {}
        for chunk in chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for row in self._db().execute(
                f"SELECT {columns} FROM images WHERE id IN ({marks})", chunk
            ):
                out[int(row[0])] = row_to(row)
        return out


def chunks(items: list[int], size: int = 900) -> Iterator[list[int]]:
    """Ids in chunks that stay under the databases' limits on parameters."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
