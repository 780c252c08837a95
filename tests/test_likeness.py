"""The region's likeness (features/likeness.py): the reference's pixels that a match lays
over the query are described again and compared with the query. A crop's own picture
there is the same picture; another picture laid over it by the same transform is not."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from tests.conftest import open_photo, photo_names
from tongtu.features import Extractor, shrink
from tongtu.features.descriptor import SHORT_SIDE
from tongtu.features.likeness import region_cosine
from tongtu.features.local import extract_local, verify
from tongtu.features.policy import DEFAULT_POLICY, MatchPolicy

pytestmark = [pytest.mark.model]

NAMES = photo_names()[60:72]
BOUND = MatchPolicy(region_likeness=0.5).region_likeness


@pytest.fixture(scope="module")
def extractor() -> Iterator[Extractor]:
    extractor = Extractor.from_model("sscd", threads=2)
    yield extractor
    extractor.close()


def _rgb(img: Image.Image, side: int) -> np.ndarray:
    img = img.convert("RGB")
    img.thumbnail((side, side))
    return np.asarray(img, dtype=np.uint8)


def test_a_crops_own_picture_is_like_it_and_another_laid_the_same_way_is_not(
    extractor: Extractor,
) -> None:
    rng = np.random.default_rng(5)
    seen = 0
    for name, other in zip(NAMES, NAMES[1:] + NAMES[:1], strict=True):
        whole = _rgb(open_photo(name), 1600)
        h, w = whole.shape[:2]
        ch, cw = round(h * 0.1**0.5), round(w * 0.1**0.5)  # a tenth of the picture
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        query = extractor.query(shrink(np.ascontiguousarray(whole[y : y + ch, x : x + cw])))
        thumb = _rgb(Image.fromarray(whole), 512)  # what a library keeps of it
        dense = extract_local(thumb, DEFAULT_POLICY.second_look_features)
        view = query.seen_small(DEFAULT_POLICY.small_look[0])
        match = verify(view.local, dense)
        if match.inliers < DEFAULT_POLICY.region_min_inliers:
            continue  # a crop of a smooth part: nothing to lay over it
        seen += 1
        laid_other = np.asarray(
            Image.fromarray(_rgb(open_photo(other), 1024)).resize(thumb.shape[1::-1]), np.uint8
        )

        def describe(rgb: np.ndarray) -> np.ndarray:
            return extractor.describe(rgb, SHORT_SIDE)

        own = region_cosine(view, dense, match, thumb, describe)
        another = region_cosine(view, dense, match, laid_other, describe)
        assert own is not None and another is not None
        # the crop against the picture as a whole says little; its region says "same"
        whole_cosine = float(np.dot(query.embedding, extractor.describe(thumb, SHORT_SIDE)))
        assert own >= BOUND > another, (name, own, another)
        assert own > whole_cosine, (name, own, whole_cosine)
    assert seen >= 6, seen


def test_the_settings_turn_the_likeness_and_the_coarse_look_off() -> None:
    """TONGTU_REGION_LIKENESS=0 and TONGTU_COARSE_LOOK=0 reach the policy a search asks."""
    from tongtu.settings import Settings

    off = MatchPolicy.from_settings(Settings(region_likeness=0.0, coarse_look=0))
    on = MatchPolicy.from_settings(Settings())
    assert (off.region_likeness, off.coarse_look) == (0.0, 0)
    assert (on.region_likeness, on.coarse_look) == (0.6, 1)
