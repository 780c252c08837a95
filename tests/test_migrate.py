"""`tongtu migrate`: an embedded library moved to PostgreSQL + Milvus and back, without
re-extracting features, resumable, verified by counts and compared searches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PHOTOS, jpeg, open_photo, photo_names
from tongtu.apps import Apps
from tongtu.engine import Engine, Source
from tongtu.imaging import SIGNATURE
from tongtu.settings import Settings
from tongtu.storage import catalog_url_of
from tongtu.storage import migrate as migration

pytestmark = [pytest.mark.slow, pytest.mark.model]

NAMES = photo_names()[40:47]


def _fill(data_dir: Path) -> tuple[dict[str, int], str, str]:
    engine = Engine.open(Settings(data_dir=data_dir, reference_parts=50))
    lib = engine.library("shop", create=True)
    ids = {}
    for i, name in enumerate(NAMES):
        ids[name] = engine.add(
            lib, Source(image=(PHOTOS / name).read_bytes()), name, (i % 2 + 1,)
        ).record.id
    # a library made before signature versions: migrated, it keeps decoding at full size
    engine.catalog.create_library("empty", lib.model, 10, 1)
    new = Apps(engine.catalog, 3600).create("shop", lib.id)
    engine.close()
    return ids, new.app.api_key, new.secret_key


def test_migrate_embedded_to_scale_out_and_back(tmp_path: Path, new_database: str) -> None:
    src = tmp_path / "embedded"
    ids, api_key, secret = _fill(src)
    milvus = f"milvus://{tmp_path / 'milvus.db'}"

    # interrupted after the first batch ...
    def stop(name: str, done: int, total: int) -> None:
        if name == "shop" and done >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migration.migrate(str(catalog_url_of(str(src))), new_database, progress=stop, batch=3)
    # ... and resumed from the command line: nothing copied twice
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tongtu.cli",
            "migrate",
            str(src),
            new_database,
            "--dst-vectors",
            milvus,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TONGTU_DATA_DIR": str(tmp_path / "unused")},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert f"shop: {len(NAMES)} images in the source, {len(NAMES)} in the destination" in out.stdout
    assert f"copied {len(NAMES) - 3} images and 1 apps" in out.stdout

    # the scale-out deployment serves the library: same ids, same app, same matches
    settings = Settings(data_dir=tmp_path / "scale", catalog=new_database, vectors=milvus)
    engine = Engine.open(settings)
    try:
        lib = engine.library("shop")
        assert engine.catalog.count(lib.id) == len(NAMES)
        assert (lib.signature, engine.library("empty").signature) == (SIGNATURE, 1)
        for name in NAMES[::3]:
            page = engine.search(lib, Source(image=jpeg(open_photo(name), 60)))
            assert [h.record.id for h in page.hits][:1] == [ids[name]]
        record = engine.get(lib, str(ids[NAMES[1]]))
        assert record.tags == (2,) and engine.thumbnail(record)[:2] == b"\xff\xd8"
        assert engine.catalog.parts(record.id) is not None  # the parts' features came too
        apps = Apps(engine.catalog, 3600)
        assert apps.authenticate(apps.issue_token(api_key, secret).access_token).name == "shop"
        added = engine.add(lib, Source(image=jpeg(open_photo(photo_names()[50]))), "new")
        assert added.record.id > max(ids.values())  # new ids continue above the copied ones
    finally:
        engine.close()

    # `tongtu check` on the scale-out deployment: journal, counts and Milvus agree
    checked = subprocess.run(
        [sys.executable, "-m", "tongtu.cli", "check"],
        capture_output=True,
        text=True,
        env={**os.environ, "TONGTU_CATALOG": new_database, "TONGTU_VECTORS": milvus},
        timeout=300,
    )
    assert checked.returncode == 0, checked.stderr
    assert f"{len(NAMES) + 1} images in 2 libraries: clean" in checked.stdout
    assert f"{len(NAMES) + 1} images keep their parts' features" in checked.stdout  # + "new"

    # and back into a new embedded data directory
    back = tmp_path / "back"
    report = migration.migrate(new_database, catalog_url_of(str(back)), src_vectors=milvus)
    assert report.clean and report.libraries["shop"] == (len(NAMES) + 1, len(NAMES) + 1)
    assert report.searches == len(NAMES) + 1


def test_migrate_refuses_a_clashing_destination(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d, model in ((a, "sscd"), (b, "sscd_distilled")):
        from tongtu.storage.sqlite import sqlite_catalog

        cat = sqlite_catalog(d / "catalog.db")
        cat.create_library("shop", model, 10, 1)
        cat.close()
    from tongtu.errors import ConfigError

    with pytest.raises(ConfigError, match="another library named 'shop'"):
        migration.migrate(catalog_url_of(str(a)), catalog_url_of(str(b)))
