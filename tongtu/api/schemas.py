"""Response shapes of the native API (they are also its OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tongtu.clusters import Cluster
from tongtu.engine import Comparison, Hit, SearchPage
from tongtu.storage.base import ImageRecord, LibraryRecord

Point = tuple[float, float]
REGION_DOC = (
    "Matched region as a polygon of (x, y) points in 0..1 coordinates of the image "
    "(0, 0 = top left; multiply by the width and height for pixels). Empty when none."
)


class ErrorDetail(BaseModel):
    code: int = Field(description="Baidu error code where one exists (see docs/baidu-api.md).")
    message: str
    log_id: int
    type: str = Field(description="The error's name, e.g. item_exists.")
    cont_sign: str | None = Field(default=None, description="For item_exists: the existing image.")


class ErrorOut(BaseModel):
    error: ErrorDetail


# What each error status of a native route means, for the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
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


class ImageOut(BaseModel):
    id: int
    cont_sign: str
    brief: str
    tags: list[int]
    width: int
    height: int
    created_at: float = Field(description="Seconds since the epoch.")

    @classmethod
    def of(cls, r: ImageRecord) -> ImageOut:
        return cls(
            id=r.id,
            cont_sign=r.cont_sign,
            brief=r.brief,
            tags=list(r.tags),
            width=r.width,
            height=r.height,
            created_at=r.created_at,
        )


class LibraryOut(BaseModel):
    name: str
    model: str
    count: int
    capacity: int
    threshold: float = Field(description="Results scoring below this are not served.")
    created_at: float

    @classmethod
    def of(cls, lib: LibraryRecord, count: int, threshold: float) -> LibraryOut:
        return cls(
            name=lib.name,
            model=lib.model,
            count=count,
            capacity=lib.capacity,
            threshold=threshold,
            created_at=lib.created_at,
        )


class LibrariesOut(BaseModel):
    libraries: list[LibraryOut]


class LibraryDeletedOut(BaseModel):
    name: str
    deleted_images: int


class AddOut(BaseModel):
    status: Literal["added", "existing", "replaced"]
    image: ImageOut


class BatchItemOut(BaseModel):
    index: int
    status: Literal["added", "existing", "replaced", "error"]
    image: ImageOut | None = None
    error: ErrorDetail | None = None


class BatchOut(BaseModel):
    added: int
    failed: int
    items: list[BatchItemOut]


class ImagesOut(BaseModel):
    items: list[ImageOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class DeleteItemOut(BaseModel):
    ref: str
    status: Literal["deleted", "not_found"]


class DeletedOut(BaseModel):
    deleted: int
    items: list[DeleteItemOut]


class ResultOut(BaseModel):
    image: ImageOut
    score: float = Field(description="Calibrated 0..1; see docs/matching.md, 'Scores'.")
    kind: str = Field(
        description="exact | near_exact | query_is_part_of_result | result_is_part_of_query"
    )
    query_region: list[Point] = Field(description=REGION_DOC + " On the query.")
    result_region: list[Point] = Field(description=REGION_DOC + " On the result.")

    @classmethod
    def of(cls, h: Hit) -> ResultOut:
        return cls(
            image=ImageOut.of(h.record),
            score=h.score,
            kind=h.kind.value,
            query_region=list(h.query_region),
            result_region=list(h.result_region),
        )


class StageOut(BaseModel):
    name: str
    seconds: float
    count: int | None = Field(default=None, description="Images the stage looked at.")
    matched: int | None = None


class ExplainOut(BaseModel):
    stages: list[StageOut]
    total_seconds: float


class SearchOut(BaseModel):
    result_num: int
    results: list[ResultOut]
    has_more: bool
    total: int
    threshold: float
    explain: ExplainOut | None = None

    @classmethod
    def of(cls, page: SearchPage, threshold: float, explain: bool) -> SearchOut:
        return cls(
            result_num=len(page.hits),
            results=[ResultOut.of(h) for h in page.hits],
            has_more=page.has_more,
            total=page.total,
            threshold=threshold,
            explain=_explain(page) if explain else None,
        )


def _explain(page: SearchPage) -> ExplainOut:
    t, c = page.timings, page.counts
    stages = [
        StageOut(name="decode", seconds=round(t.get("decode", 0.0), 6)),
        StageOut(name="exact", seconds=round(t.get("exact", 0.0), 6), count=c.get("exact", 0)),
        StageOut(name="features", seconds=round(t.get("features", 0.0), 6)),
        StageOut(
            name="candidates",
            seconds=round(t.get("candidates", 0.0), 6),
            count=c.get("candidates", 0),
        ),
        StageOut(
            name="verification",
            seconds=round(t.get("verification", 0.0), 6),
            count=c.get("verified", 0),
            matched=c.get("matched", 0),
        ),
    ]
    return ExplainOut(stages=stages, total_seconds=round(t.get("total", 0.0), 6))


class CompareOut(BaseModel):
    same: bool
    score: float
    kind: str | None
    cosine: float = Field(description="Cosine of the two global descriptors.")
    a_region: list[Point] = Field(description=REGION_DOC + " On image a.")
    b_region: list[Point] = Field(description=REGION_DOC + " On image b.")
    threshold: float
    seconds: float

    @classmethod
    def of(cls, c: Comparison, threshold: float) -> CompareOut:
        return cls(
            same=c.same,
            score=c.score,
            kind=c.kind.value if c.kind else None,
            cosine=c.cosine,
            a_region=list(c.a_region),
            b_region=list(c.b_region),
            threshold=threshold,
            seconds=round(c.timings.get("total", 0.0), 6),
        )


class PairOut(BaseModel):
    a: int = Field(description="Image id.")
    b: int
    score: float
    kind: str = Field(description="Seen from a: query_is_part_of_result = a is a part of b.")


class ClusterOut(BaseModel):
    canonical: ImageOut = Field(description="Largest resolution, then oldest.")
    members: list[ImageOut] = Field(description="Every image of the cluster, canonical first.")
    pairs: list[PairOut] = Field(description="The verified pairs that join the cluster.")


class DuplicatesOut(BaseModel):
    images: int = Field(description="Images in the library.")
    clusters: list[ClusterOut]
    seconds: float

    @classmethod
    def of(
        cls, clusters: list[Cluster], records: dict[int, ImageRecord], images: int, seconds: float
    ) -> DuplicatesOut:
        return cls(
            images=images,
            clusters=[
                ClusterOut(
                    canonical=ImageOut.of(records[c.canonical]),
                    members=[ImageOut.of(records[k]) for k in c.members],
                    pairs=[
                        PairOut(a=e.a, b=e.b, score=e.score, kind=e.kind.value) for e in c.edges
                    ],
                )
                for c in clusters
            ],
            seconds=round(seconds, 3),
        )


class ThumbnailKeyOut(BaseModel):
    key: str
    expires_in: int


class HealthOut(BaseModel):
    status: str
    detail: dict[str, Any] = Field(default_factory=dict)
