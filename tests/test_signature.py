"""Signature versions: a new library decodes large JPEGs at a DCT-reduced scale (and signs
those pixels); a library made before keeps full-size decoding, so that no image's
cont_sign ever changes under it."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import PHOTOS
from tongtu.engine import Engine, Source
from tongtu.errors import ItemExists
from tongtu.features.score import MatchKind
from tongtu.imaging import REDUCED_SIDE, SIGNATURE, decode_for, decode_image
from tongtu.settings import Settings
from tongtu.storage.sqlite import sqlite_catalog

pytestmark = pytest.mark.model

# A JPEG over 2 × REDUCED_SIDE on its longer side: decoded at half size by signature 2.
LARGE_JPEG = "enlightenment-data__carved__Mountain.jpg"


def _png(rgb: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", compress_level=1)  # type: ignore[arg-type]
    return buf.getvalue()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = Engine.open(Settings(data_dir=tmp_path))
    yield engine
    engine.close()


def test_a_new_library_signs_the_reduced_pixels(engine: Engine) -> None:
    data = (PHOTOS / LARGE_JPEG).read_bytes()
    full, reduced = decode_image(data), decode_image(data, reduce_to=REDUCED_SIDE)
    assert max(full.size) > 2 * REDUCED_SIDE and max(reduced.rgb.shape[:2]) < max(full.size)
    assert full.cont_sign != reduced.cont_sign

    lib = engine.library("new", create=True)
    assert lib.signature == SIGNATURE == 2
    record = engine.add(lib, Source(image=data), "mountain").record
    assert record.cont_sign == reduced.cont_sign
    assert (record.width, record.height) == full.size  # the file's own size is recorded
    hit = engine.search(lib, Source(image=data)).hits[0]
    assert (hit.record.id, hit.kind, hit.score) == (record.id, MatchKind.EXACT, 1.0)
    with pytest.raises(ItemExists):
        engine.add(lib, Source(image=data), "again")
    assert engine.find(lib, Source(image=data), None).id == record.id


def test_a_library_made_before_versions_keeps_full_size_decoding(engine: Engine) -> None:
    data = (PHOTOS / LARGE_JPEG).read_bytes()
    old = engine.catalog.create_library("old", "sscd", 100, 1)
    record = engine.add(old, Source(image=data), "mountain").record
    assert record.cont_sign == decode_image(data).cont_sign
    hit = engine.search(old, Source(image=data)).hits[0]
    assert (hit.record.id, hit.kind) == (record.id, MatchKind.EXACT)
    # other formats decode at full size in every version: a PNG of the same pixels
    png = _png(decode_image(data).rgb)
    assert decode_for(png, 2).cont_sign == decode_for(png, 1).cont_sign == record.cont_sign


def test_an_older_catalog_gets_signature_1(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    catalog = sqlite_catalog(path)
    catalog.create_library("shop", "sscd", 10, 2)
    catalog.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE libraries DROP COLUMN signature")  # as an older tongtu wrote it
    db.commit()
    db.close()
    catalog = sqlite_catalog(path)
    lib = catalog.library_by_name("shop")
    assert lib is not None and lib.signature == 1
    assert catalog.create_library("new", "sscd", 10, 2).signature == 2
    catalog.close()
