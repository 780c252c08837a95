"""The query's parts: library pictures inside a bigger query, found through the cells of
the query grid (`TONGTU_QUERY_GRID`), and a look-alike kept out of them.

A picture pasted into a photo with no straight border, or several on one page, ranks far
down as a whole and holds too few of the query's features; a grid cell that holds it is
an ordinary near copy. A cell of a look-alike (another picture in the same frame) shows
the same part of its reference as it does of the query: a match covering a part of the
reference, not the reference inside the query.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from corpus.families import FAMILIES
from corpus.graphics import graphics_pool, screens_pool
from tests.conftest import jpeg, open_photo, photo_names
from tests.groups import index_groups, served
from tongtu.engine import Engine, Source
from tongtu.features.matcher import MatchPolicy
from tongtu.features.score import MatchKind
from tongtu.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.model]

NAMES = photo_names()[40:52]
GRID = (2, 3)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def _sized(name: str, side: int) -> Image.Image:
    img = open_photo(name)
    img.thumbnail((side, side))
    return img


def _paste(back: Image.Image, pictures: list[tuple[Image.Image, float, float, float]]) -> bytes:
    """`back` with each picture pasted at (x, y) (fractions of the frame), `area` of it."""
    out = back.copy()
    W, H = out.size
    for img, area, x, y in pictures:
        s = np.sqrt(area * W * H / (img.width * img.height))
        small = img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.LANCZOS)
        out.paste(small, (round(x * W), round(y * H)))
    return _png(out)


def _edited(
    pictures: list[tuple[str, NDArray[np.uint8]]], families: tuple[str, ...], seed: int
) -> list[tuple[str, bytes]]:
    """Each named picture through each of bench/hard's `families` in turn (the shared
    photos fill their templates), as JPEG q85."""
    photos = [np.asarray(open_photo(n)) for n in photo_names(2000)[:12]]
    rng = np.random.default_rng(seed)
    return [
        (name, jpeg(Image.fromarray(FAMILIES[family](rgb, rng, photos)), 85))
        for name, rgb in pictures
        for family in families
    ]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = Engine.open(Settings(data_dir=tmp_path_factory.mktemp("parts")))
    lib = engine.library("parts", create=True)
    for name in NAMES[:8]:
        engine.add(lib, Source(image=_png(_sized(name, 800))), name)
    yield engine
    engine.close()


def _found(engine: Engine, query: bytes, grid: tuple[int, ...], **policy: float) -> set[str]:
    before = engine.policy
    engine.policy = dataclasses.replace(before, query_grid=grid, **policy)
    try:
        page = engine.search(engine.library("parts"), Source(image=query))
    finally:
        engine.policy = before
    assert all(h.kind is not MatchKind.EXACT for h in page.hits)
    return {h.record.brief for h in page.hits}


def test_a_picture_pasted_small_into_a_photo_is_found_through_a_cell(engine: Engine) -> None:
    back = _sized(NAMES[10], 1024)  # not in the library
    query = _paste(back, [(_sized(NAMES[1], 800), 0.07, 0.58, 0.18)])
    assert _found(engine, query, GRID) == {NAMES[1]}
    assert _found(engine, query, ()) == set()  # the whole query and its rectangles miss it


def test_every_picture_of_a_collage_is_found(engine: Engine) -> None:
    back = _sized(NAMES[11], 1024)
    query = _paste(
        back,
        [
            (_sized(NAMES[2], 800), 0.10, 0.04, 0.06),
            (_sized(NAMES[3], 800), 0.10, 0.62, 0.10),
            (_sized(NAMES[4], 800), 0.10, 0.30, 0.60),
        ],
    )
    assert _found(engine, query, GRID) == {NAMES[2], NAMES[3], NAMES[4]}
    assert len(_found(engine, query, ())) < 3


def _framed(name: str) -> Image.Image:
    """A picture in an application's window: title bar, tool bar and side panel drawn the
    same for every picture, the picture in the rest."""
    frame = Image.new("RGB", (1024, 768), (236, 239, 242))
    draw = ImageDraw.Draw(frame)
    draw.rectangle((0, 0, 1023, 56), fill=(32, 72, 140))
    for i in range(6):
        draw.rectangle((20 + 150 * i, 70, 140 + 150 * i, 110), outline=(60, 60, 60), width=3)
        draw.text((40 + 150 * i, 82), f"Tool {i + 1}", fill=(20, 20, 20))
    for j in range(9):
        draw.text((24, 150 + 60 * j), f"Folder number {j + 1}", fill=(30, 30, 30))
        draw.line((20, 190 + 60 * j, 270, 190 + 60 * j), fill=(120, 120, 120), width=2)
    draw.text((24, 18), "Picture Viewer 3.2 - library", fill=(255, 255, 255))
    picture = _sized(name, 1024).resize((720, 620))
    frame.paste(picture, (290, 130))
    return frame


def test_a_look_alike_is_not_let_in_through_a_cell(tmp_path: Path) -> None:
    """The window around another picture: its tool bar's and side panel's cells match
    the reference's, a ninth or a quarter of it; refused with the cover rule, served
    without it (and without the region's likeness and the levels, which refuse it too:
    the cell's region of the reference holds the other picture's corner)."""
    engine = Engine.open(Settings(data_dir=tmp_path))
    try:
        lib = engine.library("parts", create=True)
        engine.add(lib, Source(image=_png(_framed(NAMES[5]))), "window")
        look = _png(_framed(NAMES[9]))
        assert _found(engine, look, GRID) == set()
        no_levels = {"levels": 0.0, "part_whole": 0.0}  # which refuse it too
        assert _found(engine, look, GRID, grid_ref_cover=0.0, region_likeness=0.0, **no_levels) == {
            "window"
        }
        assert _found(engine, look, GRID, grid_ref_cover=0.0, **no_levels) == set()
        assert _found(engine, look, GRID, grid_ref_cover=0.0, region_likeness=0.0) == set()
    finally:
        engine.close()


def test_a_part_is_a_copy_of_one_picture_not_of_its_look_alikes(tmp_path: Path) -> None:
    """Windows of one application with other lists in them, all in the library beside a
    copy of one: a screenshot shows a window too small for its text to differ, so a cell
    of it can match another window of the layout as well as its own. Two results over
    the same part of the query stay together only if they are copies of each other
    (`MatchPolicy.rivals`): the copy stays, the other windows go."""
    photos = [np.asarray(open_photo(n)) for n in photo_names(2000)[:12]]
    windows = [g for g in graphics_pool(21, 16, photos) if g.kind == "window"]
    engine = Engine.open(Settings(data_dir=tmp_path))
    try:
        lib = engine.library("windows", create=True)
        for k, g in enumerate(windows):
            engine.add(lib, Source(image=_png(Image.fromarray(g.reference))), f"window {k}")
            for j, look in enumerate(g.lookalikes):
                engine.add(lib, Source(image=_png(Image.fromarray(look))), f"window {k} look {j}")
        copy = Image.fromarray(windows[1].reference)
        engine.add(
            lib, Source(image=jpeg(copy.resize((copy.width // 2, copy.height // 2)))), "copy"
        )
        shown = [(f"window {k}", g.reference) for k, g in enumerate(windows)]
        queries = _edited(shown, ("screenshot_web", "screenshot_mobile"), 21)

        def served(rivals: float) -> list[tuple[str, set[str]]]:
            engine.policy = dataclasses.replace(MatchPolicy(), rivals=rivals)
            return [
                (name, {h.record.brief for h in engine.search(lib, Source(image=q)).hits})
                for name, q in queries
            ]

        def wrong(results: list[tuple[str, set[str]]]) -> int:
            return sum(
                len(got - {name} - ({"copy"} if name == "window 1" else set()))
                for name, got in results
            )

        without, with_rule = served(1.0), served(MatchPolicy().rivals)
        # measured 2026-12-06: 2 other windows served without the rule, none with it
        assert wrong(without) >= 1, "no window lets another in: the test is moot"
        assert wrong(with_rule) == 0
        assert [name in got for name, got in with_rule] == [name in got for name, got in without]
        copies_found = [got for name, got in with_rule if name == "window 1"]
        assert all("copy" in got for got in copies_found), copies_found
    finally:
        engine.close()


def test_a_part_inside_a_result_found_lets_no_other_screen_in(tmp_path: Path) -> None:
    """A phone screenshot of a login screen: the whole query finds the screen inside it,
    and a cell over the screen's panel matches another theme's login screen, whose panel
    is the same pixels; its region is small beside the screen's, so no rival. A part
    lying half or more inside a result found is not searched
    (`MatchPolicy.part_covered`)."""
    groups = screens_pool(22, 12)  # not bench/hard's seed
    engine = index_groups(tmp_path, "screens", groups)
    try:
        shown = [(f"{g.kind} {k}", g.reference) for k, g in enumerate(groups)]
        queries = _edited(shown, ("screenshot_web", "screenshot_mobile"), 22)

        def results(part_covered: float) -> list[tuple[str, list[str]]]:
            engine.policy = dataclasses.replace(MatchPolicy(), part_covered=part_covered)
            return [(name, served(engine, "screens", q)) for name, q in queries]

        without, with_rule = results(0.0), results(MatchPolicy().part_covered)
        wrong = [[r for r in got if r != name] for name, got in without]
        # measured 2026-12-06: 2 other login screens served without the rule
        assert any(wrong), "no screenshot lets another screen in: the test is moot"
        assert all(got in ([name], []) for name, got in with_rule), with_rule
        assert [name in got for name, got in with_rule] == [name in got for name, got in without]
    finally:
        engine.close()


def test_a_button_of_another_login_screen_is_no_copy_of_its_screen(tmp_path: Path) -> None:
    """A phone screenshot of another theme's login screen: the rectangles of the query
    include the screen's password field and button, tiny, which lie inside every login
    screen of the layout and are found there as crops of it. Where a rectangle's match
    must cover `MatchPolicy.part_ref_cover` of its reference (a framed picture shows most
    of it), none is served. Off by default: at 0.3 a captioned boot screen refused as a
    whole is no longer found through its menu (test_themes)."""
    groups = screens_pool(22, 12)  # not bench/hard's seed
    engine = index_groups(tmp_path, "screens", groups)
    try:
        others = [("", look) for g in groups if g.kind == "login" for look in g.lookalikes]
        queries = [q for _, q in _edited(others, ("screenshot_mobile",), 22)]

        def wrong(part_ref_cover: float) -> int:
            engine.policy = dataclasses.replace(MatchPolicy(), part_ref_cover=part_ref_cover)
            return sum(len(served(engine, "screens", q)) for q in queries)

        # measured 2026-12-07: 4 other screens served for these 6 queries without it
        assert wrong(0.0) >= 1, "no field lets a screen in: the test is moot"
        assert wrong(0.3) == 0
    finally:
        engine.close()
