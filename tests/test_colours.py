"""A copy keeps its hues up to one saturation factor (`MatchPolicy.colours`,
features/colour.py): copies whose colours were edited with AugLy — saturation turned down
or up, a colour jitter, made grey, made darker — are found as often as without the
check, on photos and on themed screens."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import augly.image.functional as F
import numpy as np
import pytest
from PIL import Image

from corpus.families import FAMILIES
from corpus.graphics import screens_pool
from tests.conftest import jpeg, open_photo, photo_names, png
from tongtu.engine import Engine, Source
from tongtu.features.colour import laid_agreement
from tongtu.features.local import Match
from tongtu.features.matcher import MatchPolicy
from tongtu.settings import Settings

EDITS = {
    "saturation 0.4": lambda im: F.saturation(im, factor=0.4),
    "saturation 2.5": lambda im: F.saturation(im, factor=2.5),
    "jitter": lambda im: F.color_jitter(
        im, brightness_factor=1.2, contrast_factor=1.3, saturation_factor=1.6
    ),
    "grey": lambda im: F.grayscale(im),
    "darker": lambda im: F.brightness(im, factor=0.6),
}


def _identity() -> Match:
    region = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    return Match(50, region, region, np.eye(3))


def test_a_copy_agrees_and_another_palette_does_not() -> None:
    """Laid over itself, a themed screen's colours agree whatever its saturation within
    the fitted factor; another theme of the same screen, laid over it, does not."""
    groups = [g for g in screens_pool(21, 12) if g.kind in ("login", "boot", "player")]
    for g in groups:
        ref = g.reference
        h, w = ref.shape[:2]
        match = _identity()
        for name in ("saturation 0.4", "saturation 2.5", "jitter"):
            copy = np.asarray(EDITS[name](Image.fromarray(ref)).convert("RGB"))
            hues = laid_agreement(copy, ref, match, (w, h), (w, h))
            assert hues is None or hues >= 0.7, (g.kind, name, hues)  # None: too grey
        grey = np.asarray(EDITS["grey"](Image.fromarray(ref)).convert("RGB"))
        assert laid_agreement(grey, ref, match, (w, h), (w, h)) is None  # nothing to tell
        others = [laid_agreement(look, ref, match, (w, h), (w, h)) for look in g.lookalikes]
        assert all(o is not None and o < 0.5 for o in others), (g.kind, others)


@pytest.mark.slow
@pytest.mark.model
def test_copies_with_edited_colours_are_found_as_often(tmp_path: Path) -> None:
    photos = [open_photo(n) for n in photo_names()[:8]]
    screens = [Image.fromarray(g.reference) for g in screens_pool(21, 8)]
    pairs = [
        (Source(image=jpeg(edit(img).convert("RGB"), 85)), Source(image=png(img)))
        for img in [*photos, *screens]
        for edit in EDITS.values()
    ]
    engine = Engine.open(Settings(data_dir=tmp_path))
    found = sum(engine.compare(q, ref).same for q, ref in pairs)
    engine.policy = replace(MatchPolicy(), colours=0.0)
    without = sum(engine.compare(q, ref).same for q, ref in pairs)
    engine.close()
    assert found == without >= len(pairs) - 2, (found, without, len(pairs))


@pytest.mark.slow
@pytest.mark.model
def test_a_library_s_duplicates_ask_the_colours_too(tmp_path: Path) -> None:
    """A library holding themed screens and crops and memes of their other themes: the
    duplicates found join no screen with another theme's edit, as a search would not
    serve it; each screen's own captioned copy joins it."""
    groups = [g for g in screens_pool(21, 12) if g.kind in ("login", "boot", "player")]
    engine = Engine.open(Settings(data_dir=tmp_path))
    lib = engine.library("screens", create=True)
    rng = np.random.default_rng(23)

    def add(rgb: np.ndarray, name: str) -> int:
        return engine.add(lib, Source(image=jpeg(Image.fromarray(rgb), 85)), name).record.id

    screen, other, copy = {}, {}, {}
    for k, g in enumerate(groups):
        screen[add(g.reference, f"screen {k}")] = k
        copy[add(FAMILIES["meme"](g.reference, rng, []), f"copy {k}")] = k
        for look in g.lookalikes:
            for family in ("crop_30", "meme"):
                other[add(FAMILIES[family](look, rng, []), f"other {k}")] = k

    def joined(policy: MatchPolicy) -> tuple[int, int]:
        engine.policy = policy
        clusters, _ = engine.duplicates(lib)
        wrong = right = 0
        for c in clusters:
            screens = {screen[m] for m in c.members if m in screen}
            wrong += bool(screens) and any(m in other for m in c.members)
            right += sum(copy[m] in screens for m in c.members if m in copy)
        return wrong, right

    wrong_without, right_without = joined(replace(MatchPolicy(), colours=0.0))
    wrong, right = joined(MatchPolicy())
    engine.close()
    assert wrong_without > 0, "no other theme joined even without the colours: moot"
    assert wrong == 0 and right == right_without == len(groups), (wrong, right, right_without)
