"""What the native API answers, as the client returns it: images, libraries, results,
comparisons, duplicate clusters, and `ApiError` for a refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Added",
    "ApiError",
    "BatchItem",
    "Comparison",
    "DuplicateCluster",
    "Image",
    "Library",
    "Region",
    "Result",
    "SearchResults",
    "error_of",
    "region_of",
]

Region = list[tuple[float, float]]


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        log_id: int | None = None,
        type: str = "",
        cont_sign: str | None = None,
    ) -> None:
        super().__init__(f"{code} {type}: {message}" if type else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.log_id = log_id
        self.type = type
        self.cont_sign = cont_sign


@dataclass(frozen=True, slots=True)
class Image:
    id: int
    cont_sign: str
    brief: str
    tags: list[int]
    width: int
    height: int
    created_at: float

    @classmethod
    def of(cls, d: dict[str, Any]) -> Image:
        return cls(
            int(d["id"]),
            d["cont_sign"],
            d["brief"],
            list(d["tags"]),
            int(d["width"]),
            int(d["height"]),
            float(d["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class Library:
    name: str
    model: str
    count: int
    capacity: int
    threshold: float
    created_at: float

    @classmethod
    def of(cls, d: dict[str, Any]) -> Library:
        return cls(
            d["name"], d["model"], d["count"], d["capacity"], d["threshold"], d["created_at"]
        )


@dataclass(frozen=True, slots=True)
class Added:
    status: str  # added | existing | replaced
    image: Image


@dataclass(frozen=True, slots=True)
class BatchItem:
    index: int
    status: str  # added | existing | replaced | error
    image: Image | None
    error: ApiError | None


@dataclass(frozen=True, slots=True)
class Result:
    image: Image
    score: float
    kind: str
    query_region: Region
    result_region: Region


@dataclass(frozen=True, slots=True)
class SearchResults:
    results: list[Result]
    has_more: bool
    total: int
    threshold: float
    explain: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    same: bool
    score: float
    kind: str | None
    cosine: float
    a_region: Region
    b_region: Region


@dataclass(frozen=True, slots=True)
class DuplicateCluster:
    canonical: Image
    members: list[Image]
    pairs: list[dict[str, Any]] = field(default_factory=list)


def region_of(points: list[list[float]]) -> Region:
    return [(float(x), float(y)) for x, y in points]


def error_of(status: int, body: Any) -> ApiError:
    e = body.get("error", {}) if isinstance(body, dict) else {}
    return ApiError(
        status,
        int(e.get("code", 282000)),
        str(e.get("message", "unexpected response")),
        e.get("log_id"),
        str(e.get("type", "")),
        e.get("cont_sign"),
    )
