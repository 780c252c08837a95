"""Two themes of one layout, both in the library: a desktop's boot or login screen over two
wallpapers, one player in two skins (corpus/graphics.py's screens pool). An edit of one
of them, a crop above all, can lie over the panel or menu both share, and both pass the
pixel rule there. Where the two references differ (the other theme's entries, its
wallpaper's detail), the query shows one of them: the other is dropped
(`MatchPolicy.rival_gap`), unless the two are copies of each other."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus.families import FAMILIES
from corpus.graphics import Group, screens_pool
from tests.conftest import jpeg, png
from tests.groups import served, served_under
from tongtu.engine import Engine, Source
from tongtu.features.matcher import MatchPolicy
from tongtu.search import Search
from tongtu.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.model]

KINDS = ("login", "boot", "player")
FAMILY_NAMES = ("crop_10", "crop_15", "crop_30", "meme", "text_overlay")


@pytest.fixture(scope="module")
def themes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, list[Group]]]:
    """Every theme of each layout indexed, `kind k t` (t = 0 the group's reference)."""
    groups = [g for g in screens_pool(24, 24) if g.kind in KINDS]  # not bench/hard's seed
    engine = Engine.open(Settings(data_dir=tmp_path_factory.mktemp("rivals")))
    library = engine.library("screens", create=True)
    for k, group in enumerate(groups):
        for t, rgb in enumerate([group.reference, *group.lookalikes]):
            engine.add(library, Source(image=png(Image.fromarray(rgb))), f"{group.kind} {k} {t}")
    yield engine, groups
    engine.close()


def test_an_edit_of_one_theme_is_not_served_as_the_other(
    themes: tuple[Engine, list[Group]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crops of 10-30 %, memes and text overlays of each theme (AugLy, as bench/hard's
    families): the theme itself found as often, the other themes of its layout served
    beside it less often. The two must be copies of each other both ways to stay: a pair
    of skins of one player is a copy one way round on their stored features (148
    inliers), not the other (none). Measured 2026-12-07: of 270 queries, 255 found their
    theme in every arm; another theme served 3 times without the contest, 2 with it
    where a copy one way round spared it, 1 with it as it is: that one differs from the
    query's theme in 7 blocks of the crop, under rule.MIN_BLOCKS."""
    engine, groups = themes
    rng = np.random.default_rng(24)
    queries = [
        (f"{g.kind} {k} {t}", png(Image.fromarray(FAMILIES[family](rgb, rng, []))))
        for k, g in enumerate(groups)
        for t, rgb in enumerate([g.reference, *g.lookalikes])
        for family in FAMILY_NAMES
    ]

    def found() -> tuple[int, int]:
        right = wrong = 0
        for name, data in queries:
            names = served(engine, "screens", data)
            right += name in names
            layout = name.rsplit(" ", 1)[0]
            wrong += sum(n != name and n.startswith(layout + " ") for n in names)
        return right, wrong

    engine.policy = replace(MatchPolicy(), rival_gap=0.0)
    try:
        right_without, wrong_without = found()
    finally:
        engine.policy = MatchPolicy()
    right, wrong = found()
    copies = Search._copies
    with monkeypatch.context() as m:  # a copy one way round is enough
        m.setattr(
            Search, "_copies", lambda self, run, a, b, both_ways=False: copies(self, run, a, b)
        )
        right_one_way, wrong_one_way = found()
    assert wrong_without > 0, "no other theme served: the test is moot"
    assert wrong < wrong_one_way <= wrong_without, (wrong, wrong_one_way, wrong_without)
    assert right == right_one_way == right_without, (right, right_one_way, right_without)


def test_a_crop_of_one_boot_theme_is_not_served_as_another(tmp_path: Path) -> None:
    """bench/hard's screens dev draw (seed 10) served a crop keeping 10 % of one boot
    screen as another theme's too: the two menus' last entries and frame are the same
    pixels. Where the two screens differ (the entry above, in other words), the crop
    agreed with its own screen in 14 of 15 blocks and with the other in 1."""
    from bench.hard import build  # the bench's own draw and edit of the query
    from bench.quality import _png

    items, queries = build("screens", "dev", 10, 9)
    crops = [q for q in queries if q.family == "crop_10" and q.source == "boot-5"]
    engine = Engine.open(Settings(data_dir=tmp_path))
    library = engine.library("lib", create=True)
    for name in ("boot-5", "boot-41"):
        engine.add(library, Source(image=_png(items[name])), name)
    try:
        without, with_contest = (
            served_under(engine, "lib", [_png(q.rgb) for q in crops], rival_gap=gap)
            for gap in (0.0, MatchPolicy().rival_gap)
        )
    finally:
        engine.close()
    assert any("boot-41" in names for names in without), "no other theme: the test is moot"
    assert with_contest == [["boot-5"]] * len(crops), with_contest


def test_a_copy_in_the_library_beside_its_picture_is_served_too(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library holding a screen and its copy under a text overlay: a query of the
    screen shows it, not the overlay, where the two differ, but the two are copies of
    each other, and both are served."""
    group = next(g for g in screens_pool(25, 6) if g.kind == "login")
    overlaid = FAMILIES["text_overlay"](group.reference, np.random.default_rng(25), [])
    engine = Engine.open(Settings(data_dir=tmp_path_factory.mktemp("copy")))
    try:
        library = engine.library("screens", create=True)
        engine.add(library, Source(image=png(Image.fromarray(group.reference))), "screen")
        engine.add(library, Source(image=png(Image.fromarray(overlaid))), "overlaid")
        query = jpeg(Image.fromarray(group.reference).resize((700, 525)), 80)
        assert sorted(served(engine, "screens", query)) == ["overlaid", "screen"]
        # without the copies' exemption the contest drops the overlaid one
        monkeypatch.setattr(Search, "_copies", lambda self, run, a, b, both_ways=False: False)
        assert served(engine, "screens", query) == ["screen"]
    finally:
        engine.close()
