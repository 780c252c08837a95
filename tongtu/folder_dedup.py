"""`tongtu dedup DIR`: clusters of copies among the images of a folder, no server needed.

One pass decodes each file (JPEG at reduced DCT scale) and computes its descriptor and
local features; then the same clustering as a library's duplicates (clusters.py).
Reports as JSON, CSV, or an HTML page with the copies' thumbnails side by side.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tongtu.clusters import Cluster, Item, find_clusters
from tongtu.errors import TongtuError
from tongtu.features import Extractor, LocalFeatures
from tongtu.features.agreement import thumbnail_gray
from tongtu.features.colour import thumbnail_colour
from tongtu.features.matcher import DEFAULT_POLICY, Matcher, MatchPolicy
from tongtu.imaging import decode_image, thumbnail_jpeg

__all__ = ["IMAGE_SUFFIXES", "FolderReport", "dedup_folder", "walk_images"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm"}
# Larger than the service accepts: a folder may hold camera originals. Decoded at most
# at the size the features need (the descriptor and ORB work on ≤ 864 / 800 px).
MAX_SIDE = 8192
DECODE_SIDE = 1024
THUMB_SIDE = 160


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str  # relative to the folder
    width: int
    height: int
    thumbnail: bytes


@dataclass(frozen=True, slots=True)
class FolderReport:
    root: Path
    files: list[FileInfo]  # indexed by Item.key
    failed: list[tuple[str, str]]  # (path, reason)
    clusters: list[Cluster]

    def as_dict(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "files": len(self.files),
            "failed": [{"path": p, "error": e} for p, e in self.failed],
            "clusters": [
                {
                    "canonical": self.files[c.canonical].path,
                    "members": [
                        {
                            "path": self.files[k].path,
                            "width": self.files[k].width,
                            "height": self.files[k].height,
                        }
                        for k in c.members
                    ],
                    "pairs": [
                        {
                            "a": self.files[e.a].path,
                            "b": self.files[e.b].path,
                            "score": e.score,
                            "kind": e.kind.value,
                        }
                        for e in c.edges
                    ],
                }
                for c in self.clusters
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def to_csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["cluster", "path", "canonical", "width", "height"])
        for n, c in enumerate(self.clusters, 1):
            for k in c.members:
                f = self.files[k]
                w.writerow([n, f.path, int(k == c.canonical), f.width, f.height])
        return out.getvalue()

    def to_html(self) -> str:
        rows = []
        for n, c in enumerate(self.clusters, 1):
            cells = []
            for k in c.members:
                f = self.files[k]
                src = "data:image/jpeg;base64," + base64.b64encode(f.thumbnail).decode()
                mark = " canonical" if k == c.canonical else ""
                cells.append(
                    f'<figure class="m{mark}"><img src="{src}" alt=""><figcaption>'
                    f"{html.escape(f.path)}<br>{f.width}×{f.height}"
                    f"{'<br><b>canonical</b>' if mark else ''}</figcaption></figure>"
                )
            rows.append(
                f"<section><h2>Cluster {n} · {len(c.members)} copies</h2>{''.join(cells)}</section>"
            )
        body = "".join(rows) or "<p>No copies found.</p>"
        failed = "".join(f"<li>{html.escape(p)}: {html.escape(e)}</li>" for p, e in self.failed)
        return (
            "<!doctype html><html lang=en><meta charset=utf-8>"
            f"<title>tongtu dedup: {html.escape(str(self.root))}</title>"
            "<style>body{font:14px system-ui,sans-serif;margin:2em}"
            "section{border-top:1px solid #ccc;padding:.5em 0}"
            "figure{display:inline-block;margin:.3em;vertical-align:top;max-width:180px}"
            "figure.canonical img{outline:3px solid #2a7}"
            "img{max-width:170px;max-height:170px}figcaption{font-size:12px;word-break:break-all}"
            "</style>"
            f"<h1>Copies in {html.escape(str(self.root))}</h1>"
            f"<p>{len(self.files)} images, {len(self.clusters)} clusters, "
            f"{len(self.failed)} unreadable.</p>{body}"
            + (f"<h2>Unreadable files</h2><ul>{failed}</ul>" if failed else "")
            + "</html>"
        )


def walk_images(root: Path) -> Iterator[Path]:
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = Path(dirpath) / f
            if p.suffix.lower() in IMAGE_SUFFIXES:
                yield p


def dedup_folder(
    root: Path,
    extractor: Extractor,
    policy: MatchPolicy = DEFAULT_POLICY,
    progress: Callable[[str], None] | None = None,
) -> FolderReport:
    paths = list(walk_images(root))
    files: list[FileInfo] = []
    items: list[Item] = []
    vectors: list[np.ndarray] = []
    local: list[bytes] = []
    failed: list[tuple[str, str]] = []
    for path in paths:
        rel = str(path.relative_to(root))
        try:
            pic = decode_image(path.read_bytes(), max_side=MAX_SIDE, reduce_to=DECODE_SIDE)
            feats = extractor.reference(pic.rgb)
        except (TongtuError, OSError) as exc:
            failed.append((rel, str(exc)))
        else:
            w, h = pic.source_size or (pic.width, pic.height)
            key = len(files)
            files.append(FileInfo(rel, w, h, thumbnail_jpeg(pic.rgb, THUMB_SIDE)))
            items.append(Item(key, w, h, path.stat().st_mtime, pic.cont_sign))
            vectors.append(feats.embedding)
            local.append(feats.local.to_bytes())
        if progress is not None:
            progress(rel)

    def features(positions: Sequence[int]) -> dict[int, LocalFeatures]:
        return {p: LocalFeatures.from_bytes(local[p]) for p in positions}

    def pixels(position: int) -> NDArray[np.uint8] | None:
        return thumbnail_gray(files[position].thumbnail)

    def colours(position: int) -> NDArray[np.uint8] | None:
        return thumbnail_colour(files[position].thumbnail)

    matrix = np.stack(vectors) if vectors else np.zeros((0, 1), np.float32)
    clusters = find_clusters(
        items, matrix, features, Matcher(policy, scale=extractor.scale), None, pixels, colours
    )
    return FolderReport(root, files, failed, clusters)
