"""The native API under /v1: libraries, images, search, compare, duplicates.

It calls the same engine as the Baidu routes. Auth is the same OAuth token, sent as
`Authorization: Bearer TOKEN` (or `?access_token=` where a header cannot be set, as in an
<img> tag). An app sees the libraries it was granted (its own default library and those
it created); an admin app sees all of them and alone may change a capacity.

Errors are `{"error": {"code", "message", "log_id", "type"}}` with an HTTP status that
fits; `code` is the Baidu code where one exists (errors.py).
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from tongtu.api.auth import authorize, query_token
from tongtu.api.body import (
    Fields,
    Upload,
    as_text,
    flag,
    image_bytes,
    read_fields,
    require,
    tags_text,
    text,
)
from tongtu.api.errors import error_detail, new_log_id
from tongtu.api.schemas import (
    AddOut,
    BatchItemOut,
    BatchOut,
    CompareOut,
    DeletedOut,
    DeleteItemOut,
    DuplicatesOut,
    ErrorOut,
    ImageOut,
    ImagesOut,
    LibrariesOut,
    LibraryDeletedOut,
    LibraryOut,
    SearchOut,
    ThumbnailKeyOut,
)
from tongtu.apps import THUMBNAIL_KEY_TTL, Apps
from tongtu.engine import Engine, OnDuplicate, Source
from tongtu.errors import (
    InvalidParam,
    ItemNotFound,
    MissingParam,
    NameTaken,
    NoPermission,
    TongtuError,
)
from tongtu.params import (
    parse_brief,
    parse_page,
    parse_tag_logic,
    parse_tags,
)
from tongtu.storage.base import AppRecord, LibraryRecord, TagFilter

__all__ = ["router"]

MAX_BODY = 8 * 1024 * 1024
MAX_BATCH_BODY = 96 * 1024 * 1024
MAX_BATCH = 100
MAX_DELETE = 1000
MAX_PAGE = 200
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": desc}
    for status, desc in (
        (400, "Bad parameter or image"),
        (401, "Missing, unknown or expired token"),
        (403, "The app may not use this library or operation"),
        (404, "No such library or image"),
        (409, "Already exists / library full / library in use"),
        (413, "Image or body too large"),
        (415, "Not an accepted image format"),
        (422, "Features could not be extracted / malformed request"),
        (429, "Request limit reached"),
    )
}


def _body_doc(properties: dict[str, Any], required: list[str], files: tuple[str, ...]) -> Any:
    """An OpenAPI requestBody accepting JSON (images as base64) or multipart (files)."""
    json_props = {
        k: ({"type": "string", "description": "base64 image"} if k in files else v)
        for k, v in properties.items()
    }
    form_props = {
        k: ({"type": "string", "format": "binary"} if k in files else v)
        for k, v in properties.items()
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": json_props, "required": required}
                },
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": form_props, "required": required}
                },
            },
        }
    }


_STR = {"type": "string"}
_TAGS = {
    "description": 'Up to two integer tags in 1..65535: [1, 2] or "1,2".',
    "oneOf": [{"type": "array", "items": {"type": "integer"}, "maxItems": 2}, {"type": "string"}],
}
_IMAGE_PROPS = {
    "image": _STR,
    "url": {"type": "string", "description": "Fetched by the server when image is absent."},
}
_ADD_DOC = _body_doc(
    {
        **_IMAGE_PROPS,
        "brief": {"type": "string", "description": "Up to 256 bytes. Default: empty."},
        "tags": _TAGS,
        "on_duplicate": {
            "type": "string",
            "enum": [o.value for o in OnDuplicate],
            "description": "When the same picture is already in the library. Default reject.",
        },
    },
    [],
    ("image",),
)
_SEARCH_DOC = _body_doc(
    {
        **_IMAGE_PROPS,
        "tags": _TAGS,
        "tag_logic": {"type": "string", "description": "AND (0, default) or OR (1)."},
        "pn": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 0},
        "rn": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 300},
        "explain": {"type": "boolean", "default": False},
    },
    [],
    ("image",),
)
_COMPARE_DOC = _body_doc({"a": _STR, "b": _STR, "a_url": _STR, "b_url": _STR}, [], ("a", "b"))
_BATCH_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "on_duplicate": {"type": "string", "enum": [o.value for o in OnDuplicate]},
                        "items": {
                            "type": "array",
                            "maxItems": MAX_BATCH,
                            "items": {
                                "type": "object",
                                "properties": {
                                    "image": {"type": "string", "description": "base64 image"},
                                    "url": _STR,
                                    "brief": _STR,
                                    "tags": _TAGS,
                                },
                            },
                        },
                    },
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "Files; each one's brief is its file name.",
                        },
                        "tags": _TAGS,
                        "on_duplicate": {"type": "string", "enum": [o.value for o in OnDuplicate]},
                    },
                }
            },
        },
    }
}


def _json_doc(properties: dict[str, Any], required: list[str]) -> Any:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": properties, "required": required}
                }
            },
        }
    }


router = APIRouter(prefix="/v1", responses=_ERRORS)


# --- auth and lookups ------------------------------------------------------------------


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def caller(request: Request) -> AppRecord:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    return authorize(request, token or query_token(request))


async def _fields(request: Request, limit: int) -> Fields:
    """The body, read only once the caller is known: an anonymous client must not make
    the server hold a body of the route's limit (up to 96 MB) for a 401."""
    await run_in_threadpool(caller, request)
    return await read_fields(request, limit)


def _library(request: Request, name: str) -> LibraryRecord:
    app = caller(request)
    engine = _engine(request)
    lib = engine.catalog.library_by_name(name)
    if lib is None:
        raise ItemNotFound(f"no library named {name!r}")
    if not app.admin and not engine.catalog.is_granted(app.id, lib.id):
        raise NoPermission(f"this app may not use library {name!r}")
    return lib


def _library_out(engine: Engine, lib: LibraryRecord) -> LibraryOut:
    return LibraryOut.of(lib, engine.catalog.count(lib.id), engine.settings.threshold)


def _source(fields: Fields, image_key: str = "image", url_key: str = "url") -> Source:
    data = image_bytes(fields.get(image_key), image_key)
    if data is not None:
        return Source(image=data)
    url = text(fields, url_key)
    return Source(url=url) if url else Source()


def _new_image(fields: Fields) -> tuple[Source, str, tuple[int, ...]]:
    """What to add: the image (or its url), brief and tags of one add."""
    source = _source(fields)
    if not source.given:
        raise MissingParam("image or url is required")
    return source, parse_brief(text(fields, "brief")) or "", parse_tags(tags_text(fields)) or ()


def _on_duplicate(value: str | None) -> OnDuplicate:
    if value is None or value == "":
        return OnDuplicate.REJECT
    try:
        return OnDuplicate(value)
    except ValueError:
        choices = ", ".join(o.value for o in OnDuplicate)
        raise InvalidParam(f"on_duplicate must be one of {choices}") from None


def _tag_logic(value: str | None) -> bool:
    if value is not None and value.strip().upper() in ("AND", "OR"):
        return value.strip().upper() == "OR"
    return parse_tag_logic(value)


# --- libraries --------------------------------------------------------------------------


@router.get("/libraries", response_model=LibrariesOut, tags=["libraries"])
async def list_libraries(request: Request) -> LibrariesOut:
    """The libraries this app may use (all of them for an admin)."""

    def run() -> LibrariesOut:
        app = caller(request)
        engine = _engine(request)
        libs = engine.catalog.libraries() if app.admin else engine.catalog.granted(app.id)
        return LibrariesOut(libraries=[_library_out(engine, lib) for lib in libs])

    return await run_in_threadpool(run)


@router.post(
    "/libraries",
    response_model=LibraryOut,
    status_code=201,
    tags=["libraries"],
    openapi_extra=_json_doc(
        {
            "name": {"type": "string", "pattern": _NAME.pattern},
            "capacity": {"type": "integer", "minimum": 1, "description": "Admin only."},
        },
        ["name"],
    ),
)
async def create_library(request: Request) -> LibraryOut:
    """Create a library owned by this app (capacity: the server's default unless admin)."""
    fields = await _fields(request, MAX_BODY)

    def run() -> LibraryOut:
        app = caller(request)
        engine = _engine(request)
        name = require(text(fields, "name"), "name")
        if not _NAME.match(name):
            raise InvalidParam("library name: 1-64 letters, digits, '-' or '_'")
        capacity_text = text(fields, "capacity")
        if capacity_text is not None and not app.admin:
            raise NoPermission("only an admin app may set a library's capacity")
        if engine.catalog.library_by_name(name) is not None:
            raise NameTaken(f"a library named {name!r} already exists")
        lib = engine.library(name, create=True)
        engine.catalog.grant(app.id, lib.id)
        if capacity_text is not None:
            lib = engine.set_capacity(lib, _positive("capacity", capacity_text))
        return _library_out(engine, lib)

    return await run_in_threadpool(run)


@router.get("/libraries/{name}", response_model=LibraryOut, tags=["libraries"])
async def get_library(name: str, request: Request) -> LibraryOut:
    def run() -> LibraryOut:
        return _library_out(_engine(request), _library(request, name))

    return await run_in_threadpool(run)


@router.patch(
    "/libraries/{name}",
    response_model=LibraryOut,
    tags=["libraries"],
    openapi_extra=_json_doc({"capacity": {"type": "integer", "minimum": 1}}, ["capacity"]),
)
async def update_library(name: str, request: Request) -> LibraryOut:
    """Change the capacity (admin only)."""
    fields = await _fields(request, MAX_BODY)

    def run() -> LibraryOut:
        lib = _library(request, name)
        if not caller(request).admin:
            raise NoPermission("only an admin app may change a library's capacity")
        capacity = _positive("capacity", require(text(fields, "capacity"), "capacity"))
        return _library_out(_engine(request), _engine(request).set_capacity(lib, capacity))

    return await run_in_threadpool(run)


@router.delete("/libraries/{name}", response_model=LibraryDeletedOut, tags=["libraries"])
async def delete_library(name: str, request: Request) -> LibraryDeletedOut:
    """Delete a library and every image in it (not an app's default library)."""

    def run() -> LibraryDeletedOut:
        lib = _library(request, name)
        return LibraryDeletedOut(name=lib.name, deleted_images=_engine(request).delete_library(lib))

    return await run_in_threadpool(run)


def _positive(name: str, value: str) -> int:
    v = value.strip()
    if not (v.isascii() and v.isdigit()) or not 1 <= int(v) <= 10**10:
        raise InvalidParam(f"{name} must be a positive integer")
    return int(v)


# --- images -----------------------------------------------------------------------------


@router.post(
    "/libraries/{name}/images",
    response_model=AddOut,
    status_code=201,
    tags=["images"],
    openapi_extra=_ADD_DOC,
)
async def add_image(name: str, request: Request, response: Response) -> AddOut:
    """Add one image (file, base64 or url). 201 when added, 200 for an existing one."""
    fields = await _fields(request, MAX_BODY)

    def run() -> AddOut:
        lib = _library(request, name)
        source, brief, tags = _new_image(fields)
        on_dup = _on_duplicate(text(fields, "on_duplicate"))
        added = _engine(request).add(lib, source, brief, tags, on_dup)
        return AddOut(status=added.status, image=ImageOut.of(added.record))  # type: ignore[arg-type]

    out = await run_in_threadpool(run)
    if out.status != "added":
        response.status_code = 200
    return out


@router.post(
    "/libraries/{name}/images/batch",
    response_model=BatchOut,
    response_model_exclude_none=True,
    tags=["images"],
    openapi_extra=_BATCH_DOC,
)
async def add_images(name: str, request: Request) -> BatchOut:
    """Add up to 100 images; each item has its own status, a bad one fails alone."""
    fields = await _fields(request, MAX_BATCH_BODY)

    def run() -> BatchOut:
        lib = _library(request, name)
        engine = _engine(request)
        on_dup = _on_duplicate(text(fields, "on_duplicate"))
        common_tags = tags_text(fields)
        items = _batch_items(fields, common_tags)
        results: dict[int, BatchItemOut] = {}
        valid: list[tuple[int, tuple[Source, str, tuple[int, ...]]]] = []
        for index, item in enumerate(items):
            try:
                valid.append((index, _new_image(item)))
            except TongtuError as exc:
                results[index] = _item_error(index, exc)
        for pos, outcome in engine.add_many(lib, [v for _, v in valid], on_dup):
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

    return await run_in_threadpool(run)


def _item_error(index: int, exc: TongtuError) -> BatchItemOut:
    return BatchItemOut(index=index, status="error", error=error_detail(exc, new_log_id()))


def _batch_items(fields: Fields, common_tags: str | None) -> list[Fields]:
    raw = fields.get("items")
    if raw is not None:  # JSON: a list of objects
        if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
            raise InvalidParam("items must be a list of objects")
        items: list[Fields] = [{str(k): as_text(v) for k, v in i.items()} for i in raw]
    else:  # multipart: repeated `image` file parts
        files = fields.get("image")
        if files is None:
            raise MissingParam("items (JSON) or image files (multipart) are required")
        parts = files if isinstance(files, list) else [files]
        items = [
            {"image": p, "brief": p.filename if isinstance(p, Upload) else None} for p in parts
        ]
    if not items:
        raise MissingParam("the batch is empty")
    if len(items) > MAX_BATCH:
        raise InvalidParam(f"at most {MAX_BATCH} images in one batch")
    for item in items:
        if common_tags is not None and item.get("tags") is None:
            item["tags"] = common_tags
    return items


@router.get("/libraries/{name}/images", response_model=ImagesOut, tags=["images"])
async def list_images(
    name: str,
    request: Request,
    cursor: str | None = Query(default=None, description="next_cursor of the previous page."),
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
    tags: str | None = Query(default=None, description='Only images with these tags, "1,2".'),
    tag_logic: str | None = Query(default=None, description="AND (default) or OR."),
    q: str | None = Query(default=None, max_length=256, description="Text the brief contains."),
) -> ImagesOut:
    """Newest first, cursor-paged."""

    def run() -> ImagesOut:
        lib = _library(request, name)
        before = None
        if cursor:
            if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
                raise InvalidParam("cursor is not one this server gave")
            before = int(cursor)
        tag_values = parse_tags(tags)
        tag_filter = TagFilter(tag_values, _tag_logic(tag_logic)) if tag_values else None
        records = _engine(request).catalog.list_images(lib.id, before, limit + 1, tag_filter, q)
        more = len(records) > limit
        records = records[:limit]
        return ImagesOut(
            items=[ImageOut.of(r) for r in records],
            next_cursor=str(records[-1].id) if more and records else None,
        )

    return await run_in_threadpool(run)


@router.get("/libraries/{name}/images/{ref}", response_model=ImageOut, tags=["images"])
async def get_image(name: str, ref: str, request: Request) -> ImageOut:
    """An image by its id or its cont_sign."""

    def run() -> ImageOut:
        return ImageOut.of(_engine(request).get(_library(request, name), ref))

    return await run_in_threadpool(run)


@router.get(
    "/libraries/{name}/images/{ref}/thumbnail",
    tags=["images"],
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "JPEG thumbnail"}},
)
async def get_thumbnail(name: str, ref: str, request: Request) -> Response:
    """Authorised by the token, or by `?thumb=` a key from `POST …/thumbnail-key`."""

    def run() -> bytes:
        engine = _engine(request)
        key = request.query_params.get("thumb")
        if key is not None and getattr(request.state, "caller", None) is None:
            lib = engine.catalog.library_by_name(name)
            if lib is None:
                raise ItemNotFound(f"no library named {name!r}")
            apps: Apps = request.app.state.apps
            request.state.caller = apps.thumbnail_app(key, lib.id)
        return engine.thumbnail(engine.get(_library(request, name), ref))

    jpeg = await run_in_threadpool(run)
    return Response(
        jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )


@router.post("/libraries/{name}/thumbnail-key", response_model=ThumbnailKeyOut, tags=["images"])
async def thumbnail_key(name: str, request: Request) -> ThumbnailKeyOut:
    """A key for `…/thumbnail?thumb=KEY` URLs of this library, valid 15 minutes: pages
    that show thumbnails in `<img>` elements put it, not the token, in their URLs."""

    def run() -> ThumbnailKeyOut:
        lib = _library(request, name)
        apps: Apps = request.app.state.apps
        key = apps.thumbnail_key(caller(request), lib.id)
        return ThumbnailKeyOut(key=key, expires_in=THUMBNAIL_KEY_TTL)

    return await run_in_threadpool(run)


@router.patch(
    "/libraries/{name}/images/{ref}",
    response_model=ImageOut,
    tags=["images"],
    openapi_extra=_json_doc({"brief": _STR, "tags": _TAGS}, []),
)
async def update_image(name: str, ref: str, request: Request) -> ImageOut:
    """Change the brief and/or the tags (tags [] or "" removes them)."""
    fields = await _fields(request, MAX_BODY)

    def run() -> ImageOut:
        engine = _engine(request)
        lib = _library(request, name)
        record = engine.get(lib, ref)
        brief = parse_brief(text(fields, "brief"))
        tags: tuple[int, ...] | None = None
        if "tags" in fields:
            raw = fields["tags"]
            tags = () if raw is None else parse_tags(tags_text(fields)) or ()
        if brief is None and tags is None:
            raise MissingParam("brief or tags is required")
        engine.update(record, brief, tags)
        return ImageOut.of(engine.get(lib, str(record.id)))

    return await run_in_threadpool(run)


@router.delete("/libraries/{name}/images/{ref}", response_model=DeletedOut, tags=["images"])
async def delete_image(name: str, ref: str, request: Request) -> DeletedOut:
    def run() -> DeletedOut:
        engine = _engine(request)
        lib = _library(request, name)
        record = engine.get(lib, ref)
        engine.delete(lib, [record.cont_sign])
        return DeletedOut(deleted=1, items=[DeleteItemOut(ref=ref, status="deleted")])

    return await run_in_threadpool(run)


@router.post(
    "/libraries/{name}/images/delete",
    response_model=DeletedOut,
    tags=["images"],
    openapi_extra=_json_doc(
        {
            "images": {
                "type": "array",
                "maxItems": MAX_DELETE,
                "items": {"type": "string"},
                "description": "Image ids or cont_signs.",
            }
        },
        ["images"],
    ),
)
async def delete_images(name: str, request: Request) -> DeletedOut:
    """Delete up to 1000 images by id or cont_sign; each one has its own status."""
    fields = await _fields(request, MAX_BODY)

    def run() -> DeletedOut:
        engine = _engine(request)
        lib = _library(request, name)
        refs = fields.get("images")
        if isinstance(refs, str):
            refs = [r for r in re.split(r"[;\s]+", refs) if r]
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise InvalidParam("images must be a list of ids or cont_signs")
        if not refs:
            raise MissingParam("images is empty")
        if len(refs) > MAX_DELETE:
            raise InvalidParam(f"at most {MAX_DELETE} images in one request")
        found: dict[str, str] = {}
        for ref in refs:
            with contextlib.suppress(ItemNotFound):
                found[ref] = engine.get(lib, ref).cont_sign
        deleted = engine.delete(lib, list(found.values())) if found else 0
        items = [
            DeleteItemOut(ref=r, status="deleted" if r in found else "not_found") for r in refs
        ]
        return DeletedOut(deleted=deleted, items=items)

    return await run_in_threadpool(run)


# --- search, compare, duplicates ----------------------------------------------------------


@router.post(
    "/libraries/{name}/search",
    response_model=SearchOut,
    response_model_exclude_none=True,
    tags=["search"],
    openapi_extra=_SEARCH_DOC,
)
async def search(name: str, request: Request) -> SearchOut:
    """Images that are the same picture as the query, or a part of it, best first."""
    fields = await _fields(request, MAX_BODY)

    def run() -> SearchOut:
        engine = _engine(request)
        lib = _library(request, name)
        tags = parse_tags(tags_text(fields))
        any_tag = _tag_logic(text(fields, "tag_logic"))
        pn, rn = parse_page(text(fields, "pn"), text(fields, "rn"))
        explain = flag(fields, "explain")
        source = _source(fields)
        if not source.given:
            raise MissingParam("image or url is required")
        page = engine.search(lib, source, tags, any_tag, pn, rn)
        request.state.search_timings = page.timings
        return SearchOut.of(page, engine.settings.threshold, explain)

    return await run_in_threadpool(run)


@router.post("/compare", response_model=CompareOut, tags=["search"], openapi_extra=_COMPARE_DOC)
async def compare(request: Request) -> CompareOut:
    """Are two images the same picture (or one a part of the other)?"""
    fields = await _fields(request, 2 * MAX_BODY)

    def run() -> CompareOut:
        engine = _engine(request)
        caller(request)
        a = _source(fields, "a", "a_url")
        b = _source(fields, "b", "b_url")
        if not a.given or not b.given:
            raise MissingParam("two images are required: a (or a_url) and b (or b_url)")
        return CompareOut.of(engine.compare(a, b), engine.settings.threshold)

    return await run_in_threadpool(run)


@router.get("/libraries/{name}/duplicates", response_model=DuplicatesOut, tags=["search"])
async def duplicates(name: str, request: Request) -> DuplicatesOut:
    """Clusters of copies within the library, each with a canonical image."""

    def run() -> DuplicatesOut:
        engine = _engine(request)
        lib = _library(request, name)
        t = time.perf_counter()
        clusters, records = engine.duplicates(lib)
        return DuplicatesOut.of(
            clusters, records, engine.catalog.count(lib.id), time.perf_counter() - t
        )

    return await run_in_threadpool(run)
