"""`tongtu dedup` cost against its floor: one decode + descriptor pass over the same files.

    python -m bench.dedup [--copies 2] [--threads N]

The folder: every photo of ../shared/photos plus `--copies` edited copies of each
(re-encode, resize, crop, in turn). Prints one table: files, time of the feature pass
alone (decode + descriptor + local features, the floor), time of the whole dedup, the
ratio, and the clusters found against the clusters planted.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.record import Table, conditions, save
from corpus.photos import PHOTOS
from tongtu.errors import TongtuError
from tongtu.features import Extractor, data_model, settle_native_threads
from tongtu.features.policy import MatchPolicy
from tongtu.folder_dedup import DECODE_SIDE, MAX_SIDE, dedup_folder, walk_images
from tongtu.imaging import decode_image
from tongtu.settings import Settings


def _plant(root: Path, copies: int) -> int:
    planted = 0
    for n, src in enumerate(sorted(walk_images(PHOTOS))):
        try:
            img = Image.open(src)
            img.load()
            img = img.convert("RGB")
        except OSError:
            continue
        shutil.copy(src, root / src.name)
        w, h = img.size
        for c in range(copies):
            edit = (n + c) % 3
            if edit == 0:
                out = img
            elif edit == 1:
                out = img.resize((max(64, w // 2), max(64, h // 2)))
            else:
                out = img.crop((w // 8, h // 8, w, h))
            out.save(root / f"{src.stem}.copy{c}.jpg", quality=60 + 10 * c)
        planted += 1
    return planted


def main() -> None:
    settle_native_threads()  # as the server and the CLI run
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    settings = Settings(threads=args.threads)
    settings = settings.model_copy(update={"model": data_model(settings.model, ())})
    extractor = Extractor.from_model(
        settings.model, settings.resolved_threads(), settings.local_features
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        planted = _plant(root, args.copies)
        files = list(walk_images(root))

        t = time.perf_counter()
        for path in files:
            try:
                pic = decode_image(path.read_bytes(), max_side=MAX_SIDE, reduce_to=DECODE_SIDE)
            except TongtuError:
                continue
            extractor.reference(pic.rgb)
        floor = time.perf_counter() - t

        t = time.perf_counter()
        report = dedup_folder(root, extractor, MatchPolicy.from_settings(settings))
        total = time.perf_counter() - t

    whole = sum(1 for c in report.clusters if len(c.members) == args.copies + 1)
    cond = conditions(
        model=settings.model,
        threads=settings.resolved_threads(),
        files=f"{len(files)} ({planted} photos + {args.copies} copies each)",
    )
    out = Table(
        "tongtu dedup against its floor (decode + features of every file)",
        ["files", "feature pass (floor)", "dedup", "ratio", "clusters", "complete clusters"],
        align=["---:"] * 6,
    )
    out.add(
        len(files),
        f"{floor:.1f} s",
        f"{total:.1f} s",
        f"{total / floor:.2f}",
        len(report.clusters),
        f"{whole} / {planted}",
    )
    save("dedup", cond, [out])


if __name__ == "__main__":
    main()
