"""A small typed client for tongtu's native API.

    from tongtu.client import Client

    with Client("http://127.0.0.1:8000", api_key="…", secret_key="…") as tt:
        added = tt.add("shop", Path("poster.jpg"), brief="poster 12", tags=[3])
        for r in tt.search("shop", Path("phone-photo.jpg")).results:
            print(r.score, r.kind, r.image.brief, r.result_region)

An image argument is bytes, a Path, or an http(s) URL string (fetched by the server).
Errors raise `ApiError` with the server's code, message, HTTP status and log_id. The
token is fetched on first use and fetched again once when the server says it expired.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tongtu.client.records import (
    Added,
    ApiError,
    BatchItem,
    Comparison,
    DuplicateCluster,
    Image,
    Library,
    Result,
    SearchResults,
    error_of,
    region_of,
)

__all__ = [
    "Added",
    "ApiError",
    "BatchItem",
    "Client",
    "Comparison",
    "DuplicateCluster",
    "Image",
    "Library",
    "Result",
    "SearchResults",
]

ImageInput = bytes | Path | str
_TOKEN_ERRORS = {110, 111}


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        secret_key: str | None = None,
        token: str | None = None,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )
        self._api_key = api_key
        self._secret_key = secret_key
        self._token = token

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # transport -------------------------------------------------------------------

    def _fetch_token(self) -> str:
        if not self._api_key or not self._secret_key:
            raise ApiError(401, 100, "api_key and secret_key (or a token) are required")
        r = self._http.post(
            "/oauth/2.0/token",
            params={
                "grant_type": "client_credentials",
                "client_id": self._api_key,
                "client_secret": self._secret_key,
            },
        )
        body = r.json()
        if r.status_code != 200 or "access_token" not in body:
            raise ApiError(r.status_code, 100, str(body.get("error_description", body)))
        token: str = body["access_token"]
        return token

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in (0, 1):
            if self._token is None:
                self._token = self._fetch_token()
            headers = {"Authorization": f"Bearer {self._token}"}
            r = self._http.request(method, path, headers=headers, **kwargs)
            if r.status_code < 400:
                return r
            try:
                body = r.json()
            except ValueError:
                body = {"error": {"message": r.text[:200]}}
            err = error_of(r.status_code, body)
            if err.code in _TOKEN_ERRORS and attempt == 0 and self._api_key:
                self._token = None  # expired or revoked: fetch a new one, once
                continue
            raise err
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # libraries -------------------------------------------------------------------

    def libraries(self) -> list[Library]:
        return [Library.of(d) for d in self._json("GET", "/v1/libraries")["libraries"]]

    def library(self, name: str) -> Library:
        return Library.of(self._json("GET", f"/v1/libraries/{name}"))

    def create_library(self, name: str, capacity: int | None = None) -> Library:
        body: dict[str, Any] = {"name": name}
        if capacity is not None:
            body["capacity"] = capacity
        return Library.of(self._json("POST", "/v1/libraries", json=body))

    def set_capacity(self, name: str, capacity: int) -> Library:
        return Library.of(self._json("PATCH", f"/v1/libraries/{name}", json={"capacity": capacity}))

    def delete_library(self, name: str) -> int:
        return int(self._json("DELETE", f"/v1/libraries/{name}")["deleted_images"])

    # images ----------------------------------------------------------------------

    def add(
        self,
        library: str,
        image: ImageInput,
        brief: str = "",
        tags: Sequence[int] = (),
        on_duplicate: str = "reject",
    ) -> Added:
        body = {"brief": brief, "tags": list(tags), "on_duplicate": on_duplicate, **_image(image)}
        d = self._json("POST", f"/v1/libraries/{library}/images", json=body)
        return Added(d["status"], Image.of(d["image"]))

    def add_many(
        self,
        library: str,
        images: Sequence[ImageInput],
        briefs: Sequence[str] | None = None,
        tags: Sequence[int] = (),
        on_duplicate: str = "reject",
    ) -> list[BatchItem]:
        """Any number of images, sent in batches of up to 100 (and ~48 MB); each item has
        its own status, in the order given."""
        out: list[BatchItem] = []
        batch: list[dict[str, Any]] = []
        size = 0
        for n, image in enumerate(images):
            default = image.name if isinstance(image, Path) else ""
            item = {"brief": briefs[n] if briefs is not None else default, **_image(image)}
            if tags:
                item["tags"] = ",".join(str(t) for t in tags)
            item_size = sum(len(v) for v in item.values())
            if batch and (len(batch) == 100 or size + item_size > 48 * 1024 * 1024):
                out += self._batch(library, batch, on_duplicate, len(out))
                batch, size = [], 0
            batch.append(item)
            size += item_size
        if batch:
            out += self._batch(library, batch, on_duplicate, len(out))
        return out

    def _batch(
        self, library: str, items: list[dict[str, Any]], on_duplicate: str, offset: int
    ) -> list[BatchItem]:
        d = self._json(
            "POST",
            f"/v1/libraries/{library}/images/batch",
            json={"items": items, "on_duplicate": on_duplicate},
        )
        return [
            BatchItem(
                offset + i["index"],
                i["status"],
                Image.of(i["image"]) if i.get("image") else None,
                error_of(200, {"error": i["error"]}) if i.get("error") else None,
            )
            for i in d["items"]
        ]

    def image(self, library: str, ref: int | str) -> Image:
        return Image.of(self._json("GET", f"/v1/libraries/{library}/images/{ref}"))

    def images(
        self,
        library: str,
        tags: Sequence[int] = (),
        any_tag: bool = False,
        text: str | None = None,
        page_size: int = 100,
    ) -> Iterator[Image]:
        """Every image, newest first, fetched page by page."""
        params: dict[str, Any] = {"limit": page_size}
        if tags:
            params["tags"] = ",".join(str(t) for t in tags)
            params["tag_logic"] = "OR" if any_tag else "AND"
        if text:
            params["q"] = text
        while True:
            d = self._json("GET", f"/v1/libraries/{library}/images", params=params)
            yield from (Image.of(i) for i in d["items"])
            if not d.get("next_cursor"):
                return
            params["cursor"] = d["next_cursor"]

    def thumbnail(self, library: str, ref: int | str) -> bytes:
        return self._request("GET", f"/v1/libraries/{library}/images/{ref}/thumbnail").content

    def update(
        self,
        library: str,
        ref: int | str,
        brief: str | None = None,
        tags: Sequence[int] | None = None,
    ) -> Image:
        body: dict[str, Any] = {}
        if brief is not None:
            body["brief"] = brief
        if tags is not None:
            body["tags"] = list(tags)
        return Image.of(self._json("PATCH", f"/v1/libraries/{library}/images/{ref}", json=body))

    def delete(self, library: str, ref: int | str) -> None:
        self._request("DELETE", f"/v1/libraries/{library}/images/{ref}")

    def delete_many(self, library: str, refs: Sequence[int | str]) -> dict[str, str]:
        """{ref: "deleted" | "not_found"} for up to 1000 ids or cont_signs."""
        d = self._json(
            "POST",
            f"/v1/libraries/{library}/images/delete",
            json={"images": [str(r) for r in refs]},
        )
        return {i["ref"]: i["status"] for i in d["items"]}

    # search ----------------------------------------------------------------------

    def search(
        self,
        library: str,
        image: ImageInput,
        tags: Sequence[int] = (),
        any_tag: bool = False,
        pn: int = 0,
        rn: int = 300,
        explain: bool = False,
    ) -> SearchResults:
        body: dict[str, Any] = {"pn": pn, "rn": rn, "explain": explain, **_image(image)}
        if tags:
            body["tags"] = list(tags)
            body["tag_logic"] = "OR" if any_tag else "AND"
        d = self._json("POST", f"/v1/libraries/{library}/search", json=body)
        return SearchResults(
            [
                Result(
                    Image.of(r["image"]),
                    r["score"],
                    r["kind"],
                    region_of(r["query_region"]),
                    region_of(r["result_region"]),
                )
                for r in d["results"]
            ],
            d["has_more"],
            d["total"],
            d["threshold"],
            d.get("explain"),
        )

    def compare(self, a: ImageInput, b: ImageInput) -> Comparison:
        body = {**_image(a, "a", "a_url"), **_image(b, "b", "b_url")}
        d = self._json("POST", "/v1/compare", json=body)
        return Comparison(
            d["same"],
            d["score"],
            d["kind"],
            d["cosine"],
            region_of(d["a_region"]),
            region_of(d["b_region"]),
        )

    def duplicates(self, library: str) -> list[DuplicateCluster]:
        d = self._json("GET", f"/v1/libraries/{library}/duplicates")
        return [
            DuplicateCluster(
                Image.of(c["canonical"]), [Image.of(m) for m in c["members"]], list(c["pairs"])
            )
            for c in d["clusters"]
        ]


def _image(image: ImageInput, key: str = "image", url_key: str = "url") -> dict[str, str]:
    if isinstance(image, str) and image.startswith(("http://", "https://")):
        return {url_key: image}
    data = Path(image).read_bytes() if isinstance(image, str | Path) else image
    return {key: base64.b64encode(data).decode("ascii")}
