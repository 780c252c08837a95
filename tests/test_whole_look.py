"""A phone photo of a design, a little out of focus (AugLy's perspective, a blur of 2-3 px,
light, then JPEG): the descriptor ranks its design first at a cosine above the second
look's, but the design's 500 stored features fit the photo loosely enough for the pixels
to disagree. The whole look (`MatchPolicy.whole_look`) judges it again on its thumbnail's
dense features, as the second look's first step does. A look-alike (the same template
with other text or data, another screen of the layout) is no more served for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus.families import RGB, augly, to_pil, to_rgb
from corpus.graphics import graphics_pool, screens_pool
from tests.conftest import jpeg, open_photo, photo_names
from tests.groups import index_groups, served_under
from tongtu.engine import Engine, Source
from tongtu.features.matcher import MatchPolicy
from tongtu.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.model]

Queries = list[tuple[str | None, bytes]]  # (the design it copies, or None; the query)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Queries]]:
    photos = [np.asarray(open_photo(n)) for n in photo_names(2000)[:12]]
    groups = graphics_pool(37, 12, photos) + screens_pool(37, 8)  # seeds of their own
    engine = index_groups(tmp_path_factory.mktemp("whole"), "lib", groups)
    rng = np.random.default_rng(37)
    queries: Queries = []
    for k, g in enumerate(groups):
        name = f"{g.kind} {k}"
        queries += [(name, jpeg(Image.fromarray(_phone(g.reference, rng)), 90)) for _ in "abc"]
        queries += [(None, jpeg(Image.fromarray(look), 85)) for look in g.lookalikes]
    yield engine, queries
    engine.close()


def _phone(im: RGB, r: np.random.Generator) -> RGB:
    """bench/hard's phone photo (corpus/families.py), blurred a little more."""
    F = augly()
    img = F.perspective_transform(  # type: ignore[attr-defined]
        to_pil(im), sigma=float(r.uniform(30, 60)), seed=int(r.integers(1 << 30))
    )
    img = F.blur(img, radius=float(r.uniform(2.0, 3.0)))  # type: ignore[attr-defined]
    img = F.brightness(img, factor=float(r.uniform(0.7, 1.3)))  # type: ignore[attr-defined]
    return to_rgb(F.encoding_quality(img, quality=int(r.integers(40, 75))))  # type: ignore[attr-defined]


def test_a_phone_photo_of_a_design_is_found_on_the_dense_features(
    library: tuple[Engine, Queries],
) -> None:
    engine, queries = library
    found, wrong = {}, {}
    for whole in (1, 0):
        got = served_under(engine, "lib", [q for _, q in queries], whole_look=whole)
        found[whole] = sum(name in g for (name, _), g in zip(queries, got, strict=True) if name)
        wrong[whole] = sum(len(set(g) - {name}) for (name, _), g in zip(queries, got, strict=True))
    photos = sum(1 for name, _ in queries if name)
    assert wrong[1] <= wrong[0], wrong
    # measured 2026-12-07: 47 of 60 found without the whole look, 54 with it unheld, 50
    # held at the finer scale where blurrier, 49 held to `whole_share` too; nothing
    # wrong in any
    assert found[1] >= found[0] + 2, (found, photos)


def test_another_chart_of_one_template_is_refused(tmp_path: Path) -> None:
    """bench/hard's dev draw (seed 9) served a look-alike chart (one template, other
    data) through the whole look: the dense features align its frame, title, legend and
    grid, and its pixels agree in 0.62 of the blocks: its data differs. A copy fitted
    densely agrees nearly everywhere (`whole_share`)."""
    from bench.hard import build  # the bench's own draw and edit of the query
    from bench.quality import _png

    items, queries = build("graphics", "dev", 9, 9)
    looks = [q for q in queries if q.family == "lookalike" and q.source == "chart-44"]
    engine = Engine.open(Settings(data_dir=tmp_path))
    engine.add(engine.library("lib", create=True), Source(image=_png(items["chart-44"])), "chart")
    try:
        shares = [
            served_under(engine, "lib", [_png(q.rgb) for q in looks], whole_share=share)
            for share in (0.0, MatchPolicy().whole_share)
        ]
    finally:
        engine.close()
    assert any(shares[0]), "the whole look alone refuses them: the test is moot"
    assert not any(shares[1]), shares
