"""The native API under /v1: libraries, images, search, compare, duplicates.

It calls the same engine as the Baidu routes. Auth is the same OAuth token, sent as
`Authorization: Bearer TOKEN` (or `?access_token=` where a header cannot be set, as in an
<img> tag). An app sees the libraries it was granted (its own default library and those
it created); an admin app sees all of them and alone may change a capacity (apps.py
decides).

Request bodies are models (api/bodies.py): they parse the fields and write the OpenAPI
document. Routes are plain functions, which FastAPI runs in its thread pool: they call
the engine, which blocks. Errors are `{"error": {"code", "message", "log_id", "type"}}`
with an HTTP status that fits; `code` is the Baidu code where one exists (errors.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from tongtu.api.auth import authorize, query_token
from tongtu.api.bodies import (
    AddBody,
    BatchBody,
    CapacityBody,
    CompareBody,
    DeleteBody,
    ImageEditBody,
    LibraryBody,
    SearchBody,
    TagQuery,
)
from tongtu.api.errors import error_detail, new_log_id
from tongtu.api.fields import Fields, read_fields
from tongtu.api.schemas import (
    ERROR_RESPONSES,
    AddOut,
    BatchItemOut,
    BatchOut,
    CompareOut,
    DeletedOut,
    DeleteItemOut,
    DuplicatesOut,
    ImageOut,
    ImagesOut,
    LibrariesOut,
    LibraryDeletedOut,
    LibraryOut,
    SearchOut,
    ThumbnailKeyOut,
)
from tongtu.apps import THUMBNAIL_KEY_TTL, Apps
from tongtu.engine import Engine, Source
from tongtu.errors import (
    InvalidParam,
    ItemNotFound,
    MissingParam,
    NameTaken,
    NoPermission,
    TongtuError,
)
from tongtu.storage.base import AppRecord, LibraryRecord

__all__ = ["router"]

MAX_BODY = 8 * 1024 * 1024
MAX_BATCH_BODY = 96 * 1024 * 1024
MAX_PAGE = 200

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


# --- auth and lookups ------------------------------------------------------------------


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _apps(request: Request) -> Apps:
    apps: Apps = request.app.state.apps
    return apps


def caller(request: Request) -> AppRecord:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    return authorize(request, token or query_token(request))


def _fields(limit: int) -> Callable[[Request], Awaitable[Fields]]:
    """The body's fields, read only once the caller is known: an anonymous client must
    not make the server hold a body of the route's limit (up to 96 MB) for a 401."""

    async def read(request: Request) -> Fields:
        await run_in_threadpool(caller, request)
        return await read_fields(request, limit)

    return read


_BODY = Depends(_fields(MAX_BODY))
_BATCH_BODY = Depends(_fields(MAX_BATCH_BODY))
_PAIR_BODY = Depends(_fields(2 * MAX_BODY))


def _library(request: Request, name: str) -> LibraryRecord:
    return _apps(request).library(caller(request), name)


def _library_out(engine: Engine, lib: LibraryRecord) -> LibraryOut:
    return LibraryOut.of(lib, engine.catalog.count(lib.id), engine.settings.threshold)


# --- libraries --------------------------------------------------------------------------


@router.get("/libraries", response_model=LibrariesOut, tags=["libraries"])
def list_libraries(request: Request) -> LibrariesOut:
    """The libraries this app may use (all of them for an admin)."""
    engine = _engine(request)
    libs = _apps(request).libraries(caller(request))
    return LibrariesOut(libraries=[_library_out(engine, lib) for lib in libs])


@router.post(
    "/libraries",
    response_model=LibraryOut,
    status_code=201,
    tags=["libraries"],
    openapi_extra=LibraryBody.openapi(),
)
def create_library(request: Request, fields: Fields = _BODY) -> LibraryOut:
    """Create a library owned by this app (capacity: the server's default unless admin)."""
    app = caller(request)
    engine = _engine(request)
    body = LibraryBody.parse(fields)
    name = body.checked_name()
    if body.capacity is not None and not app.admin:
        raise NoPermission("only an admin app may set a library's capacity")
    if engine.catalog.library_by_name(name) is not None:
        raise NameTaken(f"a library named {name!r} already exists")
    lib = engine.library(name, create=True)
    _apps(request).grant(app, lib)
    if body.capacity is not None:
        lib = engine.set_capacity(lib, body.capacity)
    return _library_out(engine, lib)


@router.get("/libraries/{name}", response_model=LibraryOut, tags=["libraries"])
def get_library(name: str, request: Request) -> LibraryOut:
    return _library_out(_engine(request), _library(request, name))


@router.patch(
    "/libraries/{name}",
    response_model=LibraryOut,
    tags=["libraries"],
    openapi_extra=CapacityBody.openapi(),
)
def update_library(name: str, request: Request, fields: Fields = _BODY) -> LibraryOut:
    """Change the capacity (admin only)."""
    lib = _library(request, name)
    if not caller(request).admin:
        raise NoPermission("only an admin app may change a library's capacity")
    capacity = CapacityBody.parse(fields).capacity
    assert capacity is not None  # required
    return _library_out(_engine(request), _engine(request).set_capacity(lib, capacity))


@router.delete("/libraries/{name}", response_model=LibraryDeletedOut, tags=["libraries"])
def delete_library(name: str, request: Request) -> LibraryDeletedOut:
    """Delete a library and every image in it (not an app's default library)."""
    lib = _library(request, name)
    return LibraryDeletedOut(name=lib.name, deleted_images=_engine(request).delete_library(lib))


# --- images -----------------------------------------------------------------------------


@router.post(
    "/libraries/{name}/images",
    response_model=AddOut,
    status_code=201,
    tags=["images"],
    openapi_extra=AddBody.openapi(),
)
def add_image(name: str, request: Request, response: Response, fields: Fields = _BODY) -> AddOut:
    """Add one image (file, base64 or url). 201 when added, 200 for an existing one."""
    lib = _library(request, name)
    body = AddBody.parse(fields)
    added = _engine(request).add(lib, *body.new_image(), body.on_duplicate)
    if added.status != "added":
        response.status_code = 200
    return AddOut(status=added.status, image=ImageOut.of(added.record))  # type: ignore[arg-type]


@router.post(
    "/libraries/{name}/images/batch",
    response_model=BatchOut,
    response_model_exclude_none=True,
    tags=["images"],
    openapi_extra=BatchBody.openapi(),
)
def add_images(name: str, request: Request, fields: Fields = _BATCH_BODY) -> BatchOut:
    """Add up to 100 images; each item has its own status, a bad one fails alone."""
    lib = _library(request, name)
    body = BatchBody.parse(fields)
    items = body.each()
    results: dict[int, BatchItemOut] = {}
    valid: list[tuple[int, tuple[Source, str, tuple[int, ...]]]] = []
    for index, item in enumerate(items):
        try:
            valid.append((index, AddBody.parse(item).new_image()))
        except TongtuError as exc:
            results[index] = _item_error(index, exc)
    for pos, outcome in _engine(request).add_many(lib, [v for _, v in valid], body.on_duplicate):
        index = valid[pos][0]
        if isinstance(outcome, TongtuError):
            results[index] = _item_error(index, outcome)
        else:
            results[index] = BatchItemOut(
                index=index,
                status=outcome.status,  # type: ignore[arg-type]
                image=ImageOut.of(outcome.record),
            )
    out = [results[i] for i in range(len(items))]
    failed = sum(1 for o in out if o.status == "error")
    added_n = sum(1 for o in out if o.status == "added")
    return BatchOut(added=added_n, failed=failed, items=out)


def _item_error(index: int, exc: TongtuError) -> BatchItemOut:
    return BatchItemOut(index=index, status="error", error=error_detail(exc, new_log_id()))


@router.get("/libraries/{name}/images", response_model=ImagesOut, tags=["images"])
def list_images(
    name: str,
    request: Request,
    cursor: str | None = Query(default=None, description="next_cursor of the previous page."),
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
    tags: str | None = Query(default=None, description='Only images with these tags, "1,2".'),
    tag_logic: str | None = Query(default=None, description="AND (default) or OR."),
    q: str | None = Query(default=None, max_length=256, description="Text the brief contains."),
) -> ImagesOut:
    """Newest first, cursor-paged."""
    lib = _library(request, name)
    before = None
    if cursor:
        if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
            raise InvalidParam("cursor is not one this server gave")
        before = int(cursor)
    tag_filter = TagQuery.parse({"tags": tags, "tag_logic": tag_logic}).tag_filter()
    records = _engine(request).catalog.list_images(lib.id, before, limit + 1, tag_filter, q)
    more = len(records) > limit
    records = records[:limit]
    return ImagesOut(
        items=[ImageOut.of(r) for r in records],
        next_cursor=str(records[-1].id) if more and records else None,
    )


@router.get("/libraries/{name}/images/{ref}", response_model=ImageOut, tags=["images"])
def get_image(name: str, ref: str, request: Request) -> ImageOut:
    """An image by its id or its cont_sign."""
    return ImageOut.of(_engine(request).get(_library(request, name), ref))


@router.get(
    "/libraries/{name}/images/{ref}/thumbnail",
    tags=["images"],
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "JPEG thumbnail"}},
)
def get_thumbnail(name: str, ref: str, request: Request) -> Response:
    """Authorised by the token, or by `?thumb=` a key from `POST …/thumbnail-key`."""
    engine = _engine(request)
    key = request.query_params.get("thumb")
    if key is not None and getattr(request.state, "caller", None) is None:
        request.state.caller = _apps(request).thumbnail_app(key, name)
    jpeg = engine.thumbnail(engine.get(_library(request, name), ref))
    return Response(
        jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )


@router.post("/libraries/{name}/thumbnail-key", response_model=ThumbnailKeyOut, tags=["images"])
def thumbnail_key(name: str, request: Request) -> ThumbnailKeyOut:
    """A key for `…/thumbnail?thumb=KEY` URLs of this library, valid 15 minutes: pages
    that show thumbnails in `<img>` elements put it, not the token, in their URLs."""
    lib = _library(request, name)
    key = _apps(request).thumbnail_key(caller(request), lib.id)
    return ThumbnailKeyOut(key=key, expires_in=THUMBNAIL_KEY_TTL)


@router.patch(
    "/libraries/{name}/images/{ref}",
    response_model=ImageOut,
    tags=["images"],
    openapi_extra=ImageEditBody.openapi(),
)
def update_image(name: str, ref: str, request: Request, fields: Fields = _BODY) -> ImageOut:
    """Change the brief and/or the tags (tags [] or "" removes them)."""
    engine = _engine(request)
    lib = _library(request, name)
    record = engine.get(lib, ref)
    body = ImageEditBody.parse(fields)
    tags = body.new_tags()
    if body.brief is None and tags is None:
        raise MissingParam("brief or tags is required")
    engine.update(record, body.brief, tags)
    return ImageOut.of(engine.get(lib, str(record.id)))


@router.delete("/libraries/{name}/images/{ref}", response_model=DeletedOut, tags=["images"])
def delete_image(name: str, ref: str, request: Request) -> DeletedOut:
    engine = _engine(request)
    lib = _library(request, name)
    record = engine.get(lib, ref)
    engine.delete(lib, [record.cont_sign])
    return DeletedOut(deleted=1, items=[DeleteItemOut(ref=ref, status="deleted")])


@router.post(
    "/libraries/{name}/images/delete",
    response_model=DeletedOut,
    tags=["images"],
    openapi_extra=DeleteBody.openapi(),
)
def delete_images(name: str, request: Request, fields: Fields = _BODY) -> DeletedOut:
    """Delete up to 1000 images by id or cont_sign; each one has its own status."""
    engine = _engine(request)
    lib = _library(request, name)
    refs = DeleteBody.parse(fields).images
    found: dict[str, str] = {}
    for ref in refs:
        with contextlib.suppress(ItemNotFound):
            found[ref] = engine.get(lib, ref).cont_sign
    deleted = engine.delete(lib, list(found.values())) if found else 0
    items = [DeleteItemOut(ref=r, status="deleted" if r in found else "not_found") for r in refs]
    return DeletedOut(deleted=deleted, items=items)


# --- search, compare, duplicates ----------------------------------------------------------


@router.post(
    "/libraries/{name}/search",
    response_model=SearchOut,
    response_model_exclude_none=True,
    tags=["search"],
    openapi_extra=SearchBody.openapi(),
)
def search(name: str, request: Request, fields: Fields = _BODY) -> SearchOut:
    """Images that are the same picture as the query, or a part of it, best first."""
    engine = _engine(request)
    lib = _library(request, name)
    body = SearchBody.parse(fields)
    page = engine.search(lib, body.source(), body.tags, body.tag_logic, body.pn, body.rn)
    request.state.search_timings = page.timings
    return SearchOut.of(page, engine.settings.threshold, body.explain)


@router.post(
    "/compare", response_model=CompareOut, tags=["search"], openapi_extra=CompareBody.openapi()
)
def compare(request: Request, fields: Fields = _PAIR_BODY) -> CompareOut:
    """Are two images the same picture (or one a part of the other)?"""
    engine = _engine(request)
    caller(request)
    a, b = CompareBody.parse(fields).sources()
    return CompareOut.of(engine.compare(a, b), engine.settings.threshold)


@router.get("/libraries/{name}/duplicates", response_model=DuplicatesOut, tags=["search"])
def duplicates(name: str, request: Request) -> DuplicatesOut:
    """Clusters of copies within the library, each with a canonical image."""
    engine = _engine(request)
    lib = _library(request, name)
    t = time.perf_counter()
    clusters, records = engine.duplicates(lib)
    return DuplicatesOut.of(
        clusters, records, engine.catalog.count(lib.id), time.perf_counter() - t
    )
