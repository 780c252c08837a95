"""Graphics that share a template are not copies of one another (features/agreement.py):
two screens of one application, one slide template with other text, one poster template
with another picture, one chart style with other data or the same data drawn another way.
They align dozens of local features on one transform; their pixels disagree across most
of the region, while a copy's agree everywhere but under its edit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from corpus.families import FAMILIES, WHOLE_FAMILIES
from corpus.graphics import graphics_pool
from tests.conftest import jpeg, open_photo, photo_names
from tests.groups import index_groups, served
from tongtu.engine import Engine
from tongtu.features.matcher import MatchPolicy

pytestmark = [pytest.mark.slow, pytest.mark.model]

FEATURES_ALONE = MatchPolicy(check_pixels=False)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, list]:
    photos = [np.asarray(open_photo(n)) for n in photo_names(2000)[:12]]
    groups = graphics_pool(21, 16, photos)  # another seed than bench/hard's
    return index_groups(tmp_path_factory.mktemp("lookalikes"), "designs", groups), groups


def _served(engine: Engine, data: bytes) -> list[str]:
    return served(engine, "designs", data)


def test_lookalikes_of_charts_and_posters_are_refused(indexed: tuple[Engine, list]) -> None:
    """Another chart of the same data, the same chart style with other data, the same
    poster template with other text and picture, the same logo on another design."""
    engine, groups = indexed
    queries = [
        jpeg(Image.fromarray(look), 85)
        for g in groups
        if g.kind in ("chart", "poster")
        for look in g.lookalikes
    ]
    engine.policy = FEATURES_ALONE
    by_features = sum(bool(_served(engine, q)) for q in queries)
    engine.policy = MatchPolicy()
    served = sum(bool(_served(engine, q)) for q in queries)
    # measured 2026-12-02: 14 of 16 served on features alone, none with the rule.
    assert by_features >= len(queries) // 3, "the templates no longer fool the features"
    assert served == 0, served


def _lookalikes(groups: list, kinds: tuple[str, ...]) -> list[bytes]:
    return [
        jpeg(Image.fromarray(look), 85) for g in groups if g.kind in kinds for look in g.lookalikes
    ]


def test_windows_and_slides_of_other_text_are_refused_by_the_guided_check(
    indexed: tuple[Engine, list],
) -> None:
    """Another screen of one application, one slide template with other text: their
    lines of text fall on each other, so the blocks' pixels agree at the comparison's
    scale; the reference's features carried into the query find other descriptors there
    (features/guided.py)."""
    engine, groups = indexed
    queries = _lookalikes(groups, ("window", "slide"))
    engine.policy = replace(MatchPolicy(), guided=0.0)
    without = sum(bool(_served(engine, q)) for q in queries)
    engine.policy = MatchPolicy()
    served = sum(bool(_served(engine, q)) for q in queries)
    # measured 2026-12-03: 10 of 16 served without the guided check, 0 with it
    assert without >= len(queries) // 3, "the pixels alone refuse them: the test is moot"
    assert served <= 1, (served, without)


def test_blurred_copies_are_not_held_to_the_guided_check(indexed: tuple[Engine, list]) -> None:
    """A strongly blurred copy has the reference's structure but other descriptors: the
    guided check is not told where the query holds far less fine detail."""
    engine, groups = indexed
    queries = [
        (
            f"{g.kind} {k}",
            jpeg(Image.fromarray(g.reference).filter(ImageFilter.GaussianBlur(4)), 85),
        )
        for k, g in enumerate(groups)
    ]

    def found() -> int:
        return sum(_served(engine, q)[:1] == [name] for name, q in queries)

    # the guided check's exemption alone: with the contrast of a dark part undone
    # (`range_matched`), one more blurred copy is found told everywhere too (13 -> 14)
    engine.policy = replace(MatchPolicy(), guided_detail=0.0, range_matched=0)  # told everywhere
    everywhere = found()
    engine.policy = replace(MatchPolicy(), range_matched=0)
    served = found()
    engine.policy = MatchPolicy()
    now = found()
    assert served >= everywhere + 3, (everywhere, served)
    assert now >= served, (served, now)  # measured 2026-12-07: 16 and 16


def _captioned(img: Image.Image) -> bytes:
    """A copy with a caption band over its lower fifth and a sticker in a corner."""
    out = img.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    w, h = out.size
    d.rectangle((0, int(h * 0.8), w, h), fill=(0, 0, 0))
    d.text((20, int(h * 0.84)), "shared from my phone", fill=(255, 255, 255))
    d.ellipse((int(w * 0.8), 10, int(w * 0.95), int(w * 0.15) + 10), fill=(250, 200, 0))
    return jpeg(out, 80)


def test_copies_of_graphics_are_still_found(indexed: tuple[Engine, list]) -> None:
    """Halved and re-encoded, every kind; captioned, posters. An opaque band over a fifth
    of the picture and a sticker cover a fifth of its blocks: of a chart, most of its few
    textured blocks (3 of 4 charts here refused by the pixel rule); of a window or a
    slide, the grey level of more than a quarter of them (levels 0.70-0.74, refused
    since `TONGTU_LEVELS` of 0.75). Both are prices of their rules (bench/README.md)."""
    engine, groups = indexed
    for k, group in enumerate(groups):
        ref = Image.fromarray(group.reference)
        small = ref.resize((ref.width // 2, ref.height // 2))
        copies = [jpeg(small, 60)] + ([_captioned(ref)] if group.kind == "poster" else [])
        for copy in copies:
            assert _served(engine, copy)[:1] == [f"{group.kind} {k}"], group.kind


# the matching policy before the region's likeness (features/likeness.py)
_NO_LIKENESS = {"region_likeness": 0.0, "region_held_below": 0.0, "second_look": 1}


def _crops(groups: list, area: float, seed: int) -> tuple[list[tuple[str, bytes]], list[bytes]]:
    """A crop keeping `area` of each design at a random place (AugLy, bench/hard's edit),
    and one of each of its look-alikes."""
    crop = FAMILIES[f"crop_{round(area * 100)}"]
    rng = np.random.default_rng(seed)
    copies, lookalikes = [], []
    for k, g in enumerate(groups):
        copies.append((f"{g.kind} {k}", jpeg(Image.fromarray(crop(g.reference, rng, [])), 90)))
        lookalikes += [jpeg(Image.fromarray(crop(look, rng, [])), 90) for look in g.lookalikes]
    return copies, lookalikes


def test_a_tenth_of_a_design_is_found_through_its_regions_likeness(
    indexed: tuple[Engine, list],
) -> None:
    """A tenth of a design scores a low cosine against the design as a whole, and the
    inliers that cosine asks for are more than a few words or a corner of a chart hold;
    where the match lays the design over the crop, the design is the crop's picture."""
    engine, groups = indexed
    copies, _ = _crops(groups, 0.10, seed=1)

    def found() -> set[str]:
        return {name for name, q in copies if _served(engine, q) == [name]}

    engine.policy = replace(MatchPolicy(), **_NO_LIKENESS)
    without = found()
    engine.policy = MatchPolicy()
    served = found()
    # measured 2026-12-06: 1 of 16 without, 6 with
    assert len(served) >= len(without) + 3, (sorted(without), sorted(served))


def test_a_crop_of_another_slide_of_the_template_is_refused_on_its_pixels(
    indexed: tuple[Engine, list],
) -> None:
    """A tenth of another slide of one template is a few other words in the same font:
    to the descriptor, text on white looks like text on white (a region cosine of
    0.65-0.69), so a match on fewer inliers than the cosine asks must also agree pixel by
    pixel nearly everywhere (`MatchPolicy.region_share`; these 0.69-0.71). Some are
    laid along their rows of text by a fit stretched past `max_stretch`, refused too: the
    moot-check switches both off."""
    engine, groups = indexed
    crops = _crops(groups, 0.10, seed=1)[1] + _crops(groups, 0.15, seed=2)[1]
    engine.policy = replace(MatchPolicy(), region_share=0.0, max_stretch=float("inf"))
    without = sum(bool(_served(engine, q)) for q in crops)
    engine.policy = MatchPolicy()
    served = sum(bool(_served(engine, q)) for q in crops)
    assert without >= 1, "no look-alike's crop is taken on fewer inliers: the test is moot"
    assert served == 0, (served, without)


def test_blurred_designs_are_found_seen_coarsely(
    indexed: tuple[Engine, list],
) -> None:
    """A design blurred by 2-4 px per 1000 px of its diagonal (AugLy, bench/hard's edit)
    keeps the descriptor's cosine and loses the corners ORB finds at the work size; seen
    small, both pictures have them again (`MatchPolicy.coarse_look`).
    Seen small, a look-alike blurred alike agrees too (other words in one font): such a
    match must also agree at the finer scale with the reference blurred as much
    (`coarse_share`; measured 2026-12-06: 3 of 32 look-alikes served without it)."""
    engine, groups = indexed
    blur = WHOLE_FAMILIES["blur"]
    rng = np.random.default_rng(1)
    copies, lookalikes = [], []
    for k, g in enumerate(groups):
        copies.append((f"{g.kind} {k}", jpeg(Image.fromarray(blur(g.reference, rng, [])), 90)))
        lookalikes += [jpeg(Image.fromarray(blur(look, rng, [])), 90) for look in g.lookalikes]

    def found() -> set[str]:
        return {name for name, q in copies if _served(engine, q) == [name]}

    engine.policy = replace(MatchPolicy(), coarse_look=0, whole_look=0)  # the whole look
    without = found()  # finds some blurred copies too, held at the finer scale alike
    assert not any(_served(engine, q) for q in lookalikes)
    engine.policy = MatchPolicy()
    served = found()
    # measured 2026-12-06: 10 of 16 without, 16 with
    assert len(served) >= len(without) + 3, (sorted(without), sorted(served))
    assert not any(_served(engine, q) for q in lookalikes)
    # the levels refuse them too (features/agreement.py): without them, the fine scale
    engine.policy = replace(MatchPolicy(), coarse_share=0.0, levels=0.0, part_whole=0.0)
    assert any(_served(engine, q) for q in lookalikes), "the fine scale refuses none: moot"
