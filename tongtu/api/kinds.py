"""The kinds of field a native request body holds (api/bodies.py): one validator each,
built on the parsers the Baidu routes use (`tongtu.params`), which raise the API's own
errors, and the JSON schema the OpenAPI document shows for it."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo
from pydantic.json_schema import WithJsonSchema

from tongtu.api.fields import Fields, as_text, flag, image_bytes, tags_text, text
from tongtu.engine import OnDuplicate
from tongtu.errors import InvalidParam, MissingParam
from tongtu.params import MAX_RESULTS, parse_brief, parse_page, parse_tag_logic, parse_tags

__all__ = [
    "FILE_SCHEMA",
    "MAX_DELETE",
    "NAME",
    "TAGS_SCHEMA",
    "BatchTags",
    "Brief",
    "Capacity",
    "Duplicate",
    "Files",
    "Flag",
    "Image",
    "Items",
    "LibraryName",
    "PageSize",
    "PageStart",
    "Positive",
    "Refs",
    "TagLogic",
    "Tags",
    "Text",
    "Url",
]

MAX_DELETE = 1000
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


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


TAGS_SCHEMA = {
    "description": 'Up to two integer tags in 1..65535: [1, 2] or "1,2".',
    "oneOf": [{"type": "array", "items": {"type": "integer"}, "maxItems": 2}, {"type": "string"}],
}
# A file part in multipart; `Body.openapi` writes base64 text for JSON.
FILE_SCHEMA = {"type": "string", "format": "binary"}

Text = Annotated[str | None, BeforeValidator(_text), WithJsonSchema({"type": "string"})]
Image = Annotated[bytes | None, BeforeValidator(_image), WithJsonSchema(FILE_SCHEMA)]
Tags = Annotated[tuple[int, ...] | None, BeforeValidator(_tags), WithJsonSchema(TAGS_SCHEMA)]
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

Items = Annotated[list[Fields] | None, BeforeValidator(_objects)]
Files = Annotated[list[Any] | None, BeforeValidator(_files)]
BatchTags = Annotated[str | None, BeforeValidator(lambda v, i: tags_text({"tags": v}))]
TagLogic = Annotated[
    bool,
    BeforeValidator(_tag_logic),
    WithJsonSchema({"type": "string", "description": "AND (0, default) or OR (1)."}),
]
PageStart = Annotated[
    int,
    BeforeValidator(_pn),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_RESULTS, "default": 0}),
]
PageSize = Annotated[
    int,
    BeforeValidator(_rn),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "default": 300}),
]
Flag = Annotated[
    bool, BeforeValidator(_flag), WithJsonSchema({"type": "boolean", "default": False})
]
LibraryName = Annotated[
    str, BeforeValidator(_text), WithJsonSchema({"type": "string", "pattern": NAME.pattern})
]
Capacity = Annotated[
    int | None,
    BeforeValidator(_positive),
    WithJsonSchema({"type": "integer", "minimum": 1, "description": "Admin only."}),
]
Refs = Annotated[
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
