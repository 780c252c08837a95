"""A picture pasted across the borders of the query grid's cells: no cell holds enough
of it for its match to cover `MatchPolicy.grid_ref_cover` of the picture, so the cells
find only a part of it. The cell's match lays the whole picture on the query; that box,
searched for the picture alone (`MatchPolicy.follow_cells`), holds all of it. A
look-alike pasted the same way (the same template with other text or data) is followed
too, and refused there as a whole query would be."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from corpus.graphics import graphics_pool
from tests.conftest import jpeg, open_photo, photo_names, png
from tests.groups import index_groups, served_under
from tests.pastes import CENTRES, backs, pasted
from tongtu.engine import Engine, Source

pytestmark = [pytest.mark.slow, pytest.mark.model]

Shown = list[tuple[str, NDArray[np.uint8], list[NDArray[np.uint8]]]]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Shown]]:
    photos = [np.asarray(open_photo(n)) for n in photo_names(2000)[:12]]
    groups = graphics_pool(31, 12, photos)
    engine = index_groups(tmp_path_factory.mktemp("follow"), "lib", groups)
    yield engine, [(f"{g.kind} {k}", g.reference, g.lookalikes) for k, g in enumerate(groups)]
    engine.close()


def _queries(
    shown: Shown, looks: bool, centres: list[tuple[float, float]]
) -> list[tuple[str, bytes]]:
    """Each picture (or each of its look-alikes) pasted at 12 % of a photo's area,
    centred on each of `centres` in turn."""
    photos = backs()
    return [
        (name, jpeg(pasted(picture, photos[(i + j) % len(photos)], 0.12, centre)[0], 85))
        for i, (name, reference, lookalikes) in enumerate(shown)
        for j, centre in enumerate(centres)
        for picture in (lookalikes if looks else [reference])
    ]


def test_a_paste_across_the_cells_is_followed_to_all_of_it(
    library: tuple[Engine, Shown],
) -> None:
    engine, shown = library
    queries = _queries(shown, False, CENTRES)
    found: dict[int, set[int]] = {}
    for follow in (3, 0):
        served = served_under(engine, "lib", [q for _, q in queries], follow_cells=follow)
        assert all(set(got) <= {name} for (name, _), got in zip(queries, served, strict=True))
        found[follow] = {
            i for i, ((name, _), got) in enumerate(zip(queries, served, strict=True)) if name in got
        }
    # measured 2026-12-07: 51 of 60 found by the cells alone, 56 followed
    assert len(found[3]) >= len(found[0]) + 3, (found, len(queries))
    # compare is a search over the one picture: it follows the same cells
    pictures = {name: png(Image.fromarray(reference)) for name, reference, _ in shown}
    followed = [queries[i] for i in sorted(found[3] - found[0])]
    refused = [
        name
        for name, query in followed
        if not engine.compare(Source(image=query), Source(image=pictures[name])).same
    ]
    assert not refused, refused


def test_a_look_alike_pasted_across_the_cells_is_not_let_in_by_following(
    library: tuple[Engine, Shown],
) -> None:
    """The followed box is a whole query's worth of the look-alike: the same template
    with other text or data, refused there as it is as a query of its own."""
    engine, shown = library
    queries = _queries(shown, True, CENTRES[:2])
    assert queries, "no look-alikes drawn: the test is moot"
    followed = sum(
        len(got) for got in served_under(engine, "lib", [q for _, q in queries], follow_cells=3)
    )
    cells_alone = sum(
        len(got) for got in served_under(engine, "lib", [q for _, q in queries], follow_cells=0)
    )
    assert followed <= cells_alone, (cells_alone, followed)
