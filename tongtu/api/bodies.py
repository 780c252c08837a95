"""The native API's request bodies: a pydantic model each, from which both the parsing
and the OpenAPI document come.

A body arrives as JSON, multipart or urlencoded; `api/fields.py` reads it into fields
first. Each field is then validated by its kind (`api/kinds.py`): the parsers the Baidu
routes use (`tongtu.params`), which raise the API's own errors (216100 and the rest,
with their messages); pydantic calls them and lets their exceptions through. An image field is a
file part in multipart and base64 text in JSON; the OpenAPI document says so for each.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from tongtu.api.fields import Fields, Upload
from tongtu.api.kinds import (
    FILE_SCHEMA,
    MAX_DELETE,
    NAME,
    TAGS_SCHEMA,
    BatchTags,
    Brief,
    Capacity,
    Duplicate,
    Files,
    Flag,
    Image,
    Items,
    LibraryName,
    PageSize,
    PageStart,
    Positive,
    Refs,
    TagLogic,
    Tags,
    Text,
    Url,
)
from tongtu.engine import OnDuplicate, Source
from tongtu.errors import InvalidParam, MissingParam
from tongtu.storage.base import TagFilter

__all__ = [
    "MAX_BATCH",
    "MAX_DELETE",
    "AddBody",
    "BatchBody",
    "Body",
    "CapacityBody",
    "CompareBody",
    "DeleteBody",
    "ImageEditBody",
    "LibraryBody",
    "SearchBody",
    "TagQuery",
]

MAX_BATCH = 100


class Body(BaseModel):
    """A request body. `parse` validates fields read from any content type; a field
    the model does not name is ignored, as the Baidu routes ignore one."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    # Required fields: MissingParam names the first one absent.
    required: ClassVar[tuple[str, ...]] = ()
    # Whether the body may come as multipart (with files) or as JSON only.
    multipart: ClassVar[bool] = True

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        for key in cls.required:
            if fields.get(key) is None:
                raise MissingParam(f"{key} is required")
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:  # a check of pydantic's own: still the client's error
            raise InvalidParam(str(exc.errors(include_url=False)[0]["msg"])) from exc

    @classmethod
    def openapi(cls) -> dict[str, Any]:
        """The requestBody of the route's OpenAPI operation."""
        return {"requestBody": {"required": True, "content": cls._content()}}

    @classmethod
    def _content(cls) -> dict[str, Any]:
        form = cls._schema()
        props = {
            k: ({"type": "string", "contentEncoding": "base64", "description": "base64 image"}
                if v == FILE_SCHEMA else v)
            for k, v in form["properties"].items()
        }  # fmt: skip
        content = {"application/json": {"schema": {**form, "properties": props}}}
        if cls.multipart:
            content["multipart/form-data"] = {"schema": form}
        return content

    @classmethod
    def _schema(cls) -> dict[str, Any]:
        schema = cls.model_json_schema()
        props = {name: _documented(prop) for name, prop in schema["properties"].items()}
        return {"type": "object", "properties": props, "required": list(cls.required)}


def _documented(prop: dict[str, Any]) -> dict[str, Any]:
    """A property as the document shows it: no title, and a default only where it is a
    value the client could send (not None, not the parsed form of a text field)."""
    out = {k: v for k, v in prop.items() if k != "title"}
    default = out.get("default")
    if default is None or (out.get("type") == "string" and not isinstance(default, str)):
        out.pop("default", None)
    return out


class _Picture(Body):
    image: Image = None
    url: Url = None

    def source(self) -> Source:
        """The picture: its bytes, else its URL; MissingParam when neither was sent."""
        if self.image is not None:
            return Source(image=self.image)
        if self.url:
            return Source(url=self.url)
        raise MissingParam("image or url is required")


class AddBody(_Picture):
    brief: Brief = None
    tags: Tags = None
    on_duplicate: Duplicate = OnDuplicate.REJECT

    def new_image(self) -> tuple[Source, str, tuple[int, ...]]:
        return self.source(), self.brief or "", self.tags or ()


class BatchBody(Body):
    """JSON: `items`, each an add's fields; multipart: repeated `image` files, each one's
    brief its file name. Items are parsed one by one (`AddBody`): a bad one fails alone."""

    items: Items = None
    image: Files = None
    tags: BatchTags = None
    on_duplicate: Duplicate = OnDuplicate.REJECT

    def each(self) -> list[Fields]:
        if self.items is not None:
            items = [dict(i) for i in self.items]
        elif self.image is not None:
            items = [
                {"image": p, "brief": p.filename if isinstance(p, Upload) else None}
                for p in self.image
            ]
        else:
            raise MissingParam("items (JSON) or image files (multipart) are required")
        if not items:
            raise MissingParam("the batch is empty")
        if len(items) > MAX_BATCH:
            raise InvalidParam(f"at most {MAX_BATCH} images in one batch")
        for item in items:  # the batch's tags for an item that names none
            if self.tags is not None and item.get("tags") is None:
                item["tags"] = self.tags
        return items

    @classmethod
    def _content(cls) -> dict[str, Any]:
        one = AddBody._content()
        duplicate = one["application/json"]["schema"]["properties"]["on_duplicate"]
        item = dict(one["application/json"]["schema"])
        item["properties"] = {k: v for k, v in item["properties"].items() if k != "on_duplicate"}
        return {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "items": {"type": "array", "maxItems": MAX_BATCH, "items": item},
                        "on_duplicate": duplicate,
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
                            "items": FILE_SCHEMA,
                            "description": "Files; each one's brief is its file name.",
                        },
                        "tags": TAGS_SCHEMA,
                        "on_duplicate": duplicate,
                    },
                }
            },
        }


class TagQuery(Body):
    """Tags a result must carry, and whether all of them (AND) or any (OR)."""

    tags: Tags = None
    tag_logic: TagLogic = False

    def tag_filter(self) -> TagFilter | None:
        return TagFilter(self.tags, self.tag_logic) if self.tags else None


class SearchBody(TagQuery, _Picture):
    pn: PageStart = 0
    rn: PageSize = 300
    explain: Flag = False


class CompareBody(Body):
    a: Image = None
    b: Image = None
    a_url: Text = None
    b_url: Text = None

    def sources(self) -> tuple[Source, Source]:
        def one(image: bytes | None, url: str | None) -> Source:
            return Source(image=image) if image is not None else Source(url=url or None)

        a, b = one(self.a, self.a_url), one(self.b, self.b_url)
        if not a.given or not b.given:
            raise MissingParam("two images are required: a (or a_url) and b (or b_url)")
        return a, b


class LibraryBody(Body):
    required = ("name",)
    multipart = False

    name: LibraryName
    capacity: Capacity = None

    def checked_name(self) -> str:
        if not NAME.match(self.name):
            raise InvalidParam("library name: 1-64 letters, digits, '-' or '_'")
        return self.name


class CapacityBody(Body):
    required = ("capacity",)
    multipart = False

    capacity: Positive


class ImageEditBody(Body):
    multipart = False

    brief: Brief = None
    tags: Tags = None

    def new_tags(self) -> tuple[int, ...] | None:
        """The tags to set (() removes them: `[]`, `""` or null), or None to keep them."""
        return (self.tags or ()) if "tags" in self.model_fields_set else None


class DeleteBody(Body):
    required = ("images",)
    multipart = False

    images: Refs
