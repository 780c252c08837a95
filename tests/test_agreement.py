"""A mirrored match must agree pixel by pixel (features/agreement.py).

Symmetric objects are built from the shared photos: one photo's picture pasted against
the inner edge of a half with another photo as background, and mirrored against the
inner edge of the other half, on a third photo; like a butterfly's two wings. The mirrored
right half then matches the left half on its features; it is not a copy of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import jpeg, open_photo, photo_names, png
from tongtu.engine import Engine, Source
from tongtu.features.agreement import agreement
from tongtu.features.local import Match, stretch, work_gray
from tongtu.features.matcher import MatchPolicy
from tongtu.settings import Settings

pytestmark = pytest.mark.model

W, H = 480, 640


def _halves(obj: str, left_bg: str, right_bg: str) -> tuple[Image.Image, Image.Image]:
    """The two halves of a picture whose object (36 % of a half) is mirror-symmetric."""
    thing = open_photo(obj).resize((int(W * 0.6), int(H * 0.6)))
    left = open_photo(left_bg).resize((W, H))
    right = open_photo(right_bg).resize((W, H))
    top = (H - thing.height) // 2
    left.paste(thing, (W - thing.width, top))
    right.paste(thing.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (0, top))
    return left, right


@pytest.fixture(scope="module")
def symmetric(photos: Path) -> list[tuple[Image.Image, Image.Image]]:
    names = photo_names(max_side=2000)
    return [_halves(*names[3 * k : 3 * k + 3]) for k in range(8)]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.open(Settings(data_dir=tmp_path_factory.mktemp("agreement")))


def test_the_other_half_of_a_symmetric_object_is_refused(
    engine: Engine,
    symmetric: list[tuple[Image.Image, Image.Image]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def same(left: Image.Image, right: Image.Image) -> int:
        return engine.compare(Source(image=jpeg(right)), Source(image=png(left))).same

    with monkeypatch.context() as m:
        m.setattr(engine, "policy", MatchPolicy(check_pixels=False))  # features alone
        by_features = sum(same(*pair) for pair in symmetric)
    # measured 2026-11-28: 6 of 8 on the features alone (the other two never reach the
    # mirrored verification), none once the pixels are compared
    assert by_features >= 4, "the construction no longer fools the features: test is moot"
    assert sum(same(*pair) for pair in symmetric) == 0


def test_mirrored_copies_still_match(
    engine: Engine, symmetric: list[tuple[Image.Image, Image.Image]]
) -> None:
    for left, _ in symmetric:
        mirrored = left.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        result = engine.compare(Source(image=jpeg(mirrored, 80)), Source(image=png(left)))
        assert result.same and result.score >= 0.9, result


def test_search_compares_with_the_stored_thumbnail(
    tmp_path: Path, symmetric: list[tuple[Image.Image, Image.Image]]
) -> None:
    engine = Engine.open(Settings(data_dir=tmp_path))
    lib = engine.library("halves", create=True)
    for k, (left, _) in enumerate(symmetric):
        engine.add(lib, Source(image=png(left)), f"left {k}")
    for k, (left, right) in enumerate(symmetric):
        assert engine.search(lib, Source(image=jpeg(right))).hits == []
        mirrored = jpeg(left.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 80)
        hits = engine.search(lib, Source(image=mirrored)).hits
        assert [h.record.brief for h in hits] == [f"left {k}"]
    engine.close()


def _gray(img: Image.Image) -> np.ndarray:
    return work_gray(np.asarray(img.convert("RGB")))


def test_agreement_measures_the_pixels_under_the_transform(photos: Path) -> None:
    names = photo_names(max_side=2000)
    a = open_photo(names[0]).resize((600, 400))
    b = open_photo(names[1]).resize((600, 400))
    query = _gray(a)  # work image: 800 × 533
    ref_size = (query.shape[1], query.shape[0])
    identity = Match(100, (), (), np.eye(3), False)
    thumb = stretch(np.asarray(a.convert("L").resize((300, 200))))  # a smaller thumbnail
    assert agreement(query, thumb, ref_size, identity) >= 0.9  # type: ignore[operator]
    other = stretch(np.asarray(b.convert("L").resize((300, 200))))
    assert agreement(query, other, ref_size, identity) < 0.3  # type: ignore[operator]
    # the mirrored query's frame: the reference is compared with the query mirrored back
    mirrored = _gray(a.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    flipped = Match(100, (), (), np.eye(3), True)
    assert agreement(mirrored, thumb, ref_size, flipped) >= 0.9  # type: ignore[operator]
    assert agreement(mirrored, thumb, ref_size, identity) < 0.3  # type: ignore[operator]
    # nothing to judge: no transform, or no texture
    assert agreement(query, thumb, ref_size, Match(100, (), ())) is None
    flat = np.full((200, 300), 128, np.uint8)
    assert agreement(query, flat, ref_size, identity) is None
