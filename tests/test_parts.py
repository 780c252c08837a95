"""A library picture's parts (features/parts.py, TONGTU_REFERENCE_PARTS): features found
on its quarters, centre half and ninths at each part's own scale are what a query that is
a 15 % crop of it is verified on. The same crops, searched in the same pictures kept
without parts, are mostly refused; the other half of a picture is no crop of it, and the
look-alikes of a design stay refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus.graphics import graphics_pool
from tests.conftest import PHOTOS, jpeg, open_photo, photo_names, png
from tongtu.engine import Engine, Source
from tongtu.errors import ItemExists
from tongtu.features.local import LocalFeatures
from tongtu.features.parts import FRAME, part_boxes, part_features
from tongtu.settings import Settings
from tongtu.storage.maintenance import check_file

pytestmark = [pytest.mark.slow, pytest.mark.model]

PER_PART = Settings.model_fields["reference_parts"].default  # 80
AREA = 0.15


def _crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A square-proportioned crop keeping AREA of the picture, at a random place."""
    w, h = img.size
    side = AREA**0.5
    cw, ch = round(w * side), round(h * side)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return img.crop((x, y, x + cw, y + ch))


def _library(tmp: Path, parts: int, pictures: dict[str, Image.Image]) -> Engine:
    engine = Engine.open(Settings(data_dir=tmp, reference_parts=parts))
    lib = engine.library("lib", create=True)
    for name, img in pictures.items():
        engine.add(lib, Source(image=png(img)), name)
    return engine


def _served(engine: Engine, img: Image.Image) -> list[str]:
    page = engine.search(engine.library("lib"), Source(image=jpeg(img, 90)))
    return [h.record.brief for h in page.hits]


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    """Photos of 1400 px or more on their shorter side: a 15 % crop of a smaller one is
    found on the thumbnail's features already."""
    large = [n for n in photo_names() if min(Image.open(PHOTOS / n).size) >= 1400]
    return {name: open_photo(name) for name in large[:12]}


@pytest.fixture(scope="module")
def designs() -> dict[str, Image.Image]:
    photos = [np.asarray(open_photo(n)) for n in photo_names(2000)[:12]]
    groups = graphics_pool(44, 12, photos)  # a seed of its own
    return {f"{g.kind} {k}": Image.fromarray(g.reference) for k, g in enumerate(groups)}


@pytest.fixture(scope="module")
def engines(
    tmp_path_factory: pytest.TempPathFactory,
    photos: dict[str, Image.Image],
    designs: dict[str, Image.Image],
) -> Iterator[dict[tuple[str, int], Engine]]:
    out = {
        (kind, parts): _library(tmp_path_factory.mktemp(f"{kind}-{parts}"), parts, pictures)
        for kind, pictures in (("photos", photos), ("designs", designs))
        for parts in (0, PER_PART)
    }
    for engine in out.values():  # the parts measured alone: the placed look finds most
        engine.policy = replace(engine.policy, placed_look=0)  # of these crops too
    yield out
    for engine in out.values():
        engine.close()


def _found(engine: Engine, pictures: dict[str, Image.Image]) -> tuple[int, int]:
    """(crops whose picture is served, wrong results) over two crops of each picture."""
    rng = np.random.default_rng(7)
    found = wrong = 0
    for name, img in [*pictures.items(), *pictures.items()]:
        served = _served(engine, _crop(img, rng))
        found += name in served
        wrong += sum(s != name for s in served)
    return found, wrong


@pytest.mark.parametrize("kind", ["photos", "designs"])
def test_a_15_percent_crop_is_found_on_the_parts(
    kind: str,
    engines: dict[tuple[str, int], Engine],
    photos: dict[str, Image.Image],
    designs: dict[str, Image.Image],
) -> None:
    pictures = photos if kind == "photos" else designs
    without, wrong_without = _found(engines[kind, 0], pictures)
    with_parts, wrong_with = _found(engines[kind, PER_PART], pictures)
    assert wrong_with == 0 and wrong_without == 0
    # measured 2026-12-06 (24 crops): photos 15 → 18, designs 13 → 18
    assert with_parts >= without + 2 and with_parts >= 16, (without, with_parts)


def test_the_policy_can_leave_the_parts_out(
    engines: dict[tuple[str, int], Engine], designs: dict[str, Image.Image]
) -> None:
    """`MatchPolicy.parts_look=0` searches a library that keeps parts as one without."""
    engine = engines["designs", PER_PART]
    with_parts = _found(engine, designs)
    engine.policy = replace(engine.policy, parts_look=0)
    try:
        left_out = _found(engine, designs)
    finally:
        engine.policy = replace(engine.policy, parts_look=1)
    assert left_out == _found(engines["designs", 0], designs)
    assert with_parts[0] > left_out[0]


def test_the_other_half_of_a_picture_is_not_a_crop_of_it(
    tmp_path: Path, photos: dict[str, Image.Image], designs: dict[str, Image.Image]
) -> None:
    """The library keeps the left half of each picture; its right half is searched."""
    pictures = {**photos, **designs}
    halves = {n: img.crop((0, 0, img.width // 2, img.height)) for n, img in pictures.items()}
    engine = _library(tmp_path, PER_PART, halves)
    served = {
        n: _served(engine, img.crop((img.width // 2, 0, img.width, img.height)))
        for n, img in pictures.items()
    }
    found_left = sum(n in _served(engine, halves[n]) for n in list(halves)[:4])
    engine.close()
    assert found_left == 4  # the library answers: its own halves are found
    assert not any(served.values()), served


def test_the_parts_lie_in_one_frame_of_the_picture() -> None:
    """A part's features keep their place in the picture: a picture flat but for its
    lower right ninth has its parts' features there in the frame, and only there."""
    rng = np.random.default_rng(3)
    rgb = np.full((900, 1200, 3), 128, dtype=np.uint8)
    rgb[600:, 800:] = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    local = part_features(rgb, 50)
    assert local is not None
    assert (local.width, local.height) == (FRAME, FRAME * 3 // 4)
    assert len(part_boxes(1200, 900)) == 14
    x, y = local.points[:, 0], local.points[:, 1]
    margin = 0.02 * FRAME
    assert len(local) >= 50  # the ninth's, its quarter's and the centre's
    assert (x > FRAME * 2 / 3 - margin).all() and (y > local.height * 2 / 3 - margin).all()
    assert x.max() > FRAME * 0.95 and y.max() > local.height * 0.95
    stored = LocalFeatures.from_bytes(local.to_bytes())
    assert np.abs(stored.points - local.points).max() <= 1 / 16
    assert part_features(rgb[:200], 50) is None  # too small to have parts


def test_adding_a_folder_again_gives_a_library_made_without_parts_its_parts(
    tmp_path: Path, photos: dict[str, Image.Image]
) -> None:
    """A library made before the parts (or with none) gains them when its pictures are
    added again, as `tongtu import` over the same folder adds them: they are told apart
    by their signature and kept, not added twice."""
    pictures = dict(list(photos.items())[:3])
    _library(tmp_path, 0, pictures).close()
    engine = Engine.open(Settings(data_dir=tmp_path, reference_parts=PER_PART))
    lib = engine.library("lib")
    ids = [r.id for r in engine.catalog.images_by_id(range(1, 10)).values()]
    assert len(ids) == 3 and all(engine.catalog.parts(i) is None for i in ids)
    items = [(Source(image=png(img)), name, ()) for name, img in pictures.items()]
    outcomes = [outcome for _, outcome in engine.add_many(lib, items)]
    assert all(isinstance(o, ItemExists) for o in outcomes)
    assert engine.catalog.count(lib.id) == 3
    kept = [engine.catalog.parts(i) for i in ids]
    assert all(k is not None and len(LocalFeatures.from_bytes(k)) > 0 for k in kept)
    engine.close()


def test_check_reads_the_parts_and_a_catalog_made_before_them(
    tmp_path: Path, photos: dict[str, Image.Image]
) -> None:
    """`tongtu check` counts the images that keep parts, reports a damaged parts' row,
    and checks a catalog made before there were parts (no table for them) as clean."""
    _library(tmp_path, PER_PART, dict(list(photos.items())[:2])).close()
    report = check_file(tmp_path / "catalog.db")
    assert report.clean and "2 images keep their parts' features" in report.notes
    db = sqlite3.connect(tmp_path / "catalog.db")
    with db:
        db.execute("UPDATE parts SET local = substr(local, 1, 100) WHERE image_id = 1")
    damaged = check_file(tmp_path / "catalog.db")
    assert "image 1: its parts' features are truncated" in damaged.problems
    with db:
        db.execute("DROP TABLE parts")
    db.close()
    before = check_file(tmp_path / "catalog.db")
    assert before.clean and not any("parts" in n for n in before.notes)
