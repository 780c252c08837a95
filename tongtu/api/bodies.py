"""The native API's request bodies: a pydantic model each, from which both the parsing
and the OpenAPI document come.

A body arrives as JSON, multipart or urlencoded; `api/fields.py` reads it into fields
first. Each field is then validated by the parsers the Baidu routes use
(`tongtu.params`), which raise the API's own errors (216100 and the rest, with their
messages): pydantic calls them and lets their exceptions through. An image field is a
file part in multipart and base64 text in JSON; the OpenAPI document says so for each.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo
from pydantic.json_schema import WithJsonSchema

from tongtu.api.fields import Fields, Upload, as_text, flag, image_bytes, tags_text, text
from tongtu.engine import OnDuplicate, Source
from tongtu.errors import InvalidParam, MissingParam
from tongtu.params import MAX_RESULTS, parse_brief, parse_page, parse_tag_logic, parse_tags
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
MAX_DELETE = 1000
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# --- one validator per kind of field ---------------------------------------------------


def _key(info: ValidationInfo) -> str:
    return str(info.field_name)


def _text(value: Any, info: ValidationInfo) -> str | None:
    return text({_key(info): value}, _key(info))


def _image(value: Any, info: ValidationInfo) -> bytes | None:
    return image_bytes(value, _key(info))


def _tags(value: Any, info: ValidationInfo) -> tuple[int, ...] | None:
    return parse_tags(tags_text({_key(info): value}, _key(info)))


def _brief(value: Any, info: ValidationInfo) -> str | None:
    return parse_brief(_text(value, info))


def _flag(value: Any, info: ValidationInfo) -> bool:
    return flag({_key(info): value}, _key(info))


def _on_duplicate(value: Any, info: ValidationInfo) -> OnDuplicate:
    value = _text(value, info)
    if value is None or value == "":
        return OnDuplicate.REJECT
    try:
        return OnDuplicate(value)
    except ValueError:
        choices = ", ".join(o.value for o in OnDuplicate)
        raise InvalidParam(f"on_duplicate must be one of {choices}") from None


def _tag_logic(value: Any, info: ValidationInfo) -> bool:
    """AND / OR, or Baidu's 0 / 1; True for OR."""
    value = _text(value, info)
    if value is not None and value.strip().upper() in ("AND", "OR"):
        return bool(value.strip().upper() == "OR")
    return parse_tag_logic(value)


def _pn(value: Any, info: ValidationInfo) -> int:
    return parse_page(_text(value, info), None)[0]


def _rn(value: Any, info: ValidationInfo) -> int:
    return parse_page(None, _text(value, info))[1]


def _positive(value: Any, info: ValidationInfo) -> int | None:
    v = _text(value, info)
    if v is None:
        return None
    v = v.strip()
    if not (v.isascii() and v.isdigit()) or len(v) > 11 or not 1 <= int(v) <= 10**10:
        raise InvalidParam(f"{_key(info)} must be a positive integer")
    return int(v)


def _refs(value: Any, info: ValidationInfo) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [r for r in re.split(r"[;\s]+", value) if r]
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise InvalidParam("images must be a list of ids or cont_signs")
    if not value:
        raise MissingParam("images is empty")
    if len(value) > MAX_DELETE:
        raise InvalidParam(f"at most {MAX_DELETE} images in one request")
    return value


def _objects(value: Any, info: ValidationInfo) -> list[Fields] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise InvalidParam("items must be a list of objects")
    return [{str(k): as_text(v) for k, v in i.items()} for i in value]


def _files(value: Any, info: ValidationInfo) -> list[Any] | None:
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


_TAGS_DOC = {
    "description": 'Up to two integer tags in 1..65535: [1, 2] or "1,2".',
    "oneOf": [{"type": "array", "items": {"type": "integer"}, "maxItems": 2}, {"type": "string"}],
}
# A file part in multipart; `Body.openapi` writes base64 text for JSON.
_FILE = {"type": "string", "format": "binary"}

Text = Annotated[str | None, BeforeValidator(_text), WithJsonSchema({"type": "string"})]
Image = Annotated[bytes | None, BeforeValidator(_image), WithJsonSchema(_FILE)]
Tags = Annotated[tuple[int, ...] | None, BeforeValidator(_tags), WithJsonSchema(_TAGS_DOC)]
Brief = Annotated[
    str | None,
    BeforeValidator(_brief),
    WithJsonSchema({"type": "string", "description": "Up to 256 bytes. Default: empty."}),
]
Url = Annotated[
    str | None,
    BeforeValidator(_text),
    WithJsonSchema(
        {"type": "string", "description": "Fetched by the server when the image is absent."}
    ),
]
Duplicate = Annotated[
    OnDuplicate,
    BeforeValidator(_on_duplicate),
    WithJsonSchema(
        {
            "type": "string",
            "enum": [o.value for o in OnDuplicate],
            "description": "When the same picture is already in the library. Default reject.",
        }
    ),
]
Positive = Annotated[
    int | None, BeforeValidator(_positive), WithJsonSchema({"type": "integer", "minimum": 1})
]


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
                if v == _FILE else v)
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

    items: Annotated[list[Fields] | None, BeforeValidator(_objects)] = None
    image: Annotated[list[Any] | None, BeforeValidator(_files)] = None
    tags: Annotated[str | None, BeforeValidator(lambda v, i: tags_text({"tags": v}))] = None
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
                            "items": _FILE,
                            "description": "Files; each one's brief is its file name.",
                        },
                        "tags": _TAGS_DOC,
                        "on_duplicate": duplicate,
                    },
                }
            },
        }


class TagQuery(Body):
    """Tags a result must carry, and whether all of them (AND) or any (OR)."""

    tags: Tags = None
    tag_logic: Annotated[
        bool,
        BeforeValidator(_tag_logic),
        WithJsonSchema({"type": "string", "description": "AND (0, default) or OR (1)."}),
    ] = False

    def tag_filter(self) -> TagFilter | None:
        return TagFilter(self.tags, self.tag_logic) if self.tags else None


class SearchBody(TagQuery, _Picture):
    pn: Annotated[
        int,
        BeforeValidator(_pn),
        WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_RESULTS, "default": 0}),
    ] = 0
    rn: Annotated[
        int,
        BeforeValidator(_rn),
        WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "default": 300}),
    ] = 300
    explain: Annotated[
        bool, BeforeValidator(_flag), WithJsonSchema({"type": "boolean", "default": False})
    ] = False


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

    name: Annotated[
        str, BeforeValidator(_text), WithJsonSchema({"type": "string", "pattern": NAME.pattern})
    ]
    capacity: Annotated[
        int | None,
        BeforeValidator(_positive),
        WithJsonSchema({"type": "integer", "minimum": 1, "description": "Admin only."}),
    ] = None

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

    images: Annotated[
        list[str],
        BeforeValidator(_refs),
        WithJsonSchema(
            {
                "type": "array",
                "maxItems": MAX_DELETE,
                "items": {"type": "string"},
                "description": "Image ids or cont_signs.",
            }
        ),
    ]
