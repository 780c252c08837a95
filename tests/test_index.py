"""The persisted vector index: used when current, rebuilt when stale, and the IVF-SQ8 kind."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import PHOTOS, jpeg, open_photo, photo_names
from tongtu.engine import Engine, Source
from tongtu.features import DIM
from tongtu.settings import Settings
from tongtu.storage.base import NewImage
from tongtu.storage.faiss_index import FaissIndex
from tongtu.storage.faiss_store import FaissVectors
from tongtu.storage.maintenance import check_file
from tongtu.storage.sqlite import sqlite_catalog

pytestmark = pytest.mark.model

NAMES = photo_names()[:8]


def _engine(data_dir: Path, **kw: Any) -> Engine:
    return Engine.open(Settings(data_dir=data_dir, **kw))


def _fill(data_dir: Path, names: list[str]) -> None:
    engine = _engine(data_dir)
    lib = engine.library("lib", create=True)
    for name in names:
        engine.add(lib, Source(image=(PHOTOS / name).read_bytes()), name)
    engine.close()


def _found(engine: Engine, name: str) -> list[str]:
    lib = engine.library("lib")
    page = engine.search(lib, Source(image=jpeg(open_photo(name), 70)), rn=5)
    return [h.record.brief for h in page.hits]


def _rebuilt(engine: Engine) -> set[int]:
    """The libraries whose index the engine's FAISS store built from the catalog."""
    assert isinstance(engine.vectors, FaissVectors)
    return engine.vectors.rebuilt


def test_saved_index_is_used_and_follows_later_writes(tmp_path: Path) -> None:
    _fill(tmp_path, NAMES[:5])
    assert (tmp_path / "index" / "lib-1.faiss").is_file()
    engine = _engine(tmp_path)  # loads the saved index: no rebuild
    lib = engine.library("lib")
    engine.add(lib, Source(image=(PHOTOS / NAMES[5]).read_bytes()), NAMES[5])
    engine.delete(lib, [engine.catalog.list_images(lib.id, None, 10)[-1].cont_sign])
    assert _rebuilt(engine) == set()
    # Killed: no close, so the saved index is behind the journal.
    engine = _engine(tmp_path)
    assert _found(engine, NAMES[5])[0] == NAMES[5]
    assert NAMES[0] not in _found(engine, NAMES[0])  # the delete is replayed too
    assert engine.vectors.size(1) == 5
    assert _rebuilt(engine) == set()  # replayed onto the saved index, not rebuilt
    assert check_file(tmp_path / "catalog.db").clean


def test_index_of_another_catalog_or_damaged_is_rebuilt(tmp_path: Path) -> None:
    _fill(tmp_path / "a", NAMES[:3])
    _fill(tmp_path / "b", NAMES[3:6])
    shutil.rmtree(tmp_path / "b" / "index")
    shutil.copytree(tmp_path / "a" / "index", tmp_path / "b" / "index")  # a's index in b
    assert any("another catalog" in n for n in check_file(tmp_path / "b" / "catalog.db").notes)
    engine = _engine(tmp_path / "b")
    assert _found(engine, NAMES[4])[0] == NAMES[4]
    assert _found(engine, NAMES[0]) == []
    engine.close()
    saved = tmp_path / "b" / "index" / "lib-1.faiss"
    saved.write_bytes(saved.read_bytes()[:200])  # torn file
    engine = _engine(tmp_path / "b")
    assert _found(engine, NAMES[3])[0] == NAMES[3]


def test_saved_index_that_disagrees_is_reported_and_rebuilt(tmp_path: Path) -> None:
    _fill(tmp_path, NAMES[:3])
    index, meta = FaissIndex.load(tmp_path / "index" / "lib-1.faiss", 512) or (None, None)
    assert index is not None and meta is not None
    index.remove(np.array([1], dtype=np.int64))
    index.save(tmp_path / "index" / "lib-1.faiss", meta.__class__(**{**_asdict(meta), "count": 2}))
    report = check_file(tmp_path / "catalog.db")
    assert any("disagrees" in p for p in report.problems)
    engine = _engine(tmp_path)
    assert _found(engine, NAMES[0])[0] == NAMES[0]  # rebuilt: the image is found again
    engine.close()
    assert check_file(tmp_path / "catalog.db").clean


def _asdict(meta: Any) -> dict[str, Any]:
    return {f: getattr(meta, f) for f in meta.__slots__}


def test_ivf_sq8_finds_what_flat_finds_with_exact_scores(tmp_path: Path) -> None:
    _fill(tmp_path, NAMES)
    flat = _engine(tmp_path, index="flat")
    ivf = _engine(tmp_path, index="ivf_sq8")
    assert ivf.vectors.kind(1) == "ivf_sq8" and flat.vectors.kind(1) == "flat"
    lib = flat.library("lib")
    for name in NAMES[::3]:
        query = Source(image=jpeg(open_photo(name), 70))
        a = [(h.record.id, h.score) for h in flat.search(lib, query).hits]
        b = [(h.record.id, h.score) for h in ivf.search(lib, query).hits]
        assert a == b and a[0][0] == NAMES.index(name) + 1


def test_local_features_setting_sets_what_is_stored(tmp_path: Path) -> None:
    from tongtu.features import LocalFeatures

    sizes = {}
    for n in (500, 1000):
        engine = _engine(tmp_path / str(n), local_features=n)
        lib = engine.library("lib", create=True)
        rec = engine.add(lib, Source(image=(PHOTOS / NAMES[3]).read_bytes()), "x").record
        sizes[n] = len(LocalFeatures.from_bytes(engine.catalog.local_features([rec.id])[rec.id]))
        engine.close()
    assert sizes == {500: 500, 1000: 1000}


def test_index_is_saved_in_the_background_every_so_many_writes(tmp_path: Path) -> None:
    """The store on its own, over a catalog written directly (as the engine writes it,
    then syncs the store); made-up descriptors, as the model is beside the point."""
    import time

    catalog = sqlite_catalog(tmp_path / "catalog.db")
    lib = catalog.create_library("lib", "sscd", 100, 2)
    store = FaissVectors(catalog, tmp_path / "index", DIM, save_every=3)
    saved = tmp_path / "index" / f"lib-{lib.id}.json"
    rng = np.random.default_rng(0)
    for n in range(1, 5):
        vec = rng.normal(size=DIM).astype(np.float32)
        item = NewImage(f"{n},{n}", str(n), (), (64, 48), vec / np.linalg.norm(vec), b"local")
        catalog.add_images(lib.id, [item], lib.capacity)
        store.sync()
    deadline = time.monotonic() + 30
    while not saved.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert saved.exists()  # written without a close
    again = FaissVectors(catalog, tmp_path / "index", DIM)
    assert again.rebuilt == set()  # the saved index is used, the journal after it replayed
    assert again.size(lib.id) == 4


def test_auto_index_kind_switches_at_the_documented_size() -> None:
    from tongtu.storage.faiss_index import IVF_FROM, choose_kind

    assert IVF_FROM == 100_000  # README, TONGTU_INDEX
    assert choose_kind("auto", IVF_FROM - 1) == "flat"
    assert choose_kind("auto", IVF_FROM) == "ivf_sq8"
    assert choose_kind("flat", 10**7) == "flat" and choose_kind("ivf_sq8", 10) == "ivf_sq8"


def test_ivf_probes_enough_lists_for_heavily_edited_queries() -> None:
    """A query far from its original (cosine 0.45, as heavy crops are) must still find it
    among the 32 candidates: the probes grow with the lists (a fixed 32 of 800 lists kept
    96 % of them here)."""
    from tongtu.storage.faiss_index import nprobe_for

    rng = np.random.default_rng(1)
    n, dim = 40_000, 512
    basis = rng.normal(size=(64, dim)).astype(np.float32)  # clustered, as descriptors are
    vecs = rng.normal(size=(n, 64)).astype(np.float32) @ basis
    vecs += 0.5 * rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1, n + 1, dtype=np.int64)
    index = FaissIndex.build(dim, "ivf_sq8", ids, vecs)
    assert nprobe_for(800) == 64 and nprobe_for(4000) == 250 and nprobe_for(40) == 40
    pick = rng.choice(n, 200, replace=False)
    noise = rng.normal(size=(200, dim)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    queries = 0.45 * vecs[pick] + np.sqrt(1 - 0.45**2) * noise
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    found = sum(ids[p] in index.search(q, 32, None)[1] for q, p in zip(queries, pick, strict=True))
    assert found >= 0.985 * len(pick)
