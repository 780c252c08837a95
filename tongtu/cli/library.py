"""The library `add` and `search` work on: the data directory's, through the engine, or
with `--server` a running server's, through the client. One protocol and two thin
adapters, so that each command is written once.

The client's `ApiError` becomes tongtu's own error at the adapter (`ItemExists` with its
cont_sign, else `Refused` with the server's code, message and status), so the commands
report a server's errors as they report the engine's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import click

from tongtu.cli.common import choose_library, library_name, open_engine
from tongtu.errors import ItemExists, TongtuError
from tongtu.params import parse_brief

if TYPE_CHECKING:
    from tongtu.client import ApiError, Client
    from tongtu.engine import Engine
    from tongtu.storage.base import LibraryRecord


@dataclass(frozen=True, slots=True)
class Found:
    """A search result as the CLI prints it."""

    cont_sign: str
    score: float
    kind: str
    brief: str


class Library(Protocol):
    """What `add` and `search` ask of a library, wherever it is."""

    def add(self, image: Path, brief: str | None, tags: tuple[int, ...]) -> str:
        """The cont_sign of the image added (brief: the file's name when None);
        ItemExists when the library holds the image already."""
        ...

    def search(self, image: Path, tags: tuple[int, ...], any_tag: bool, rn: int) -> list[Found]:
        """The library's copies of the image, best first, at most `rn` of them."""
        ...


class EngineLibrary:
    """A library of the data directory, through the engine in this process."""

    def __init__(self, engine: Engine, lib: LibraryRecord) -> None:
        self._engine = engine
        self._lib = lib

    def add(self, image: Path, brief: str | None, tags: tuple[int, ...]) -> str:
        from tongtu.engine import Source

        source = Source(image=image.read_bytes())
        added = self._engine.add(self._lib, source, parse_brief(brief or image.name) or "", tags)
        return added.record.cont_sign

    def search(self, image: Path, tags: tuple[int, ...], any_tag: bool, rn: int) -> list[Found]:
        from tongtu.engine import Source

        page = self._engine.search(
            self._lib, Source(image=image.read_bytes()), tags, any_tag, 0, rn
        )
        return [Found(h.record.cont_sign, h.score, h.kind.value, h.record.brief) for h in page.hits]


class ClientLibrary:
    """A library on a running server, through its native API."""

    def __init__(self, client: Client, name: str) -> None:
        self._client = client
        self._name = name

    def add(self, image: Path, brief: str | None, tags: tuple[int, ...]) -> str:
        with _translated():  # the server checks the brief
            return self._client.add(self._name, image, brief or image.name, tags).image.cont_sign

    def search(self, image: Path, tags: tuple[int, ...], any_tag: bool, rn: int) -> list[Found]:
        with _translated():
            found = self._client.search(self._name, image, tags, any_tag, 0, rn)
        return [Found(r.image.cont_sign, r.score, r.kind, r.image.brief) for r in found.results]


class Refused(TongtuError):
    """An error the server answered, with its code, message and HTTP status."""

    def __init__(self, exc: ApiError) -> None:
        super().__init__(exc.message)
        self.code = exc.code
        self.http_status = exc.status


@contextmanager
def _translated() -> Iterator[None]:
    from tongtu.client import ApiError

    try:
        yield
    except ApiError as exc:
        if exc.code == ItemExists.code and exc.cont_sign:
            raise ItemExists(exc.cont_sign, exc.message) from exc
        raise Refused(exc) from exc


@dataclass(frozen=True, slots=True)
class Server:
    """`--server URL` and the app's keys."""

    url: str
    api_key: str | None
    secret_key: str | None


@contextmanager
def open_library(
    server: Server | None, name: str | None, create: bool = False
) -> Iterator[Library]:
    """The library `name` names (common.choose_library): in the data directory when
    `server` is None, made there if missing and `create`; else on the server, which the
    CLI makes none on (an app's library is made with the app). A server that cannot be
    reached is one line and exit code 1."""
    if server is None:
        # the engine is left open to the process's end, as every command leaves it
        engine = open_engine()
        yield EngineLibrary(engine, engine.library(library_name(engine, name), create=create))
        return
    import httpx

    from tongtu.client import Client

    try:
        with Client(server.url, server.api_key, server.secret_key) as client:
            with _translated():
                chosen = choose_library(
                    name, lambda: [lib.name for lib in client.libraries()], None
                )
            yield ClientLibrary(client, chosen)
    except (OSError, httpx.TransportError) as exc:
        click.echo(f"error: cannot reach the server: {exc}", err=True)
        sys.exit(1)
