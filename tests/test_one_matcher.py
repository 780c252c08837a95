"""Search, compare and the duplicates route decide "same picture?" by one matcher
(features/matcher.py): the same pair gets the same answer whichever way it is asked,
including the pairs that need the second look (a small crop), the aspect look (a strong
stretch) or the pixel check (look-alike graphics)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from corpus.graphics import graphics_pool
from tests.conftest import crop, jpeg, open_photo, photo_names, png
from tongtu.engine import Engine, Source
from tongtu.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.model]


def _pairs() -> list[tuple[str, bytes, bytes, bool]]:
    """(what, query, reference, is a copy)."""
    out: list[tuple[str, bytes, bytes, bool]] = []
    names = photo_names(2000)[:8]
    for k, name in enumerate(names[:6]):
        img = open_photo(name)
        img.thumbnail((900, 900))
        ref = png(img)
        edits = {
            "crop 0.4": jpeg(crop(img, 0.4), 85),
            "stretch 2.5": jpeg(img.resize((int(img.width * 2.5), img.height)), 85),
            "mirror": jpeg(ImageOps.mirror(img), 85),
        }
        what = list(edits)[k % 3]
        out.append((f"{name} {what}", edits[what], ref, True))
        other = open_photo(names[(k + 1) % len(names)])
        other.thumbnail((900, 900))
        out.append((f"{name} other photo", jpeg(other, 85), ref, False))
    photos = [np.asarray(open_photo(n)) for n in names]
    for g in graphics_pool(33, 6, photos):  # a seed of its own
        ref = png(Image.fromarray(g.reference))
        half = Image.fromarray(g.reference)
        half = half.resize((half.width // 2, half.height // 2))
        out.append((f"{g.kind} halved", jpeg(half, 80), ref, True))
        out += [
            (f"{g.kind} look-alike", jpeg(Image.fromarray(x), 85), ref, False)
            for x in g.lookalikes[:2]
        ]
    return out


def test_search_compare_and_duplicates_agree(tmp_path: Path, photos: Path) -> None:
    pairs = _pairs()
    engine = Engine.open(Settings(data_dir=tmp_path))
    searched, compared, clustered = [], [], []
    for k, (_, query, ref, _copy) in enumerate(pairs):
        lib = engine.library(f"pair{k}", create=True)
        engine.add(lib, Source(image=ref), "ref")
        searched.append(
            any(h.record.brief == "ref" for h in engine.search(lib, Source(image=query)).hits)
        )
        compared.append(engine.compare(Source(image=query), Source(image=ref)).same)
        engine.add(lib, Source(image=query), "query")
        clusters, _ = engine.duplicates(lib)
        clustered.append(bool(clusters))
    disagree = [p[0] for p, s, c in zip(pairs, searched, compared, strict=True) if s != c]
    assert not disagree, disagree
    assert sum(searched) >= 8, "too few copies found for the test to say anything"
    # the duplicates route sees both pictures' stored features (no mirrored ones): it
    # may miss a copy a search finds, never join what search and compare refuse
    joined = [p[0] for p, d, s in zip(pairs, clustered, searched, strict=True) if d and not s]
    assert not joined, joined
    # and the one policy is what they share: without the pixel check all three let
    # look-alikes through alike
    engine.policy = replace(engine.policy, check_pixels=False)
    loose = [
        engine.compare(Source(image=q), Source(image=r)).same for _, q, r, copy in pairs if not copy
    ]
    engine.close()
    assert any(loose), "no look-alike fools the features: the pixel check is moot here"
