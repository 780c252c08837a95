"""One contract, two deployments: the embedded back ends (SQLite + FAISS) and the scale-out
ones (PostgreSQL + Milvus through milvus-lite) run the same operation sequences and must
give the same results: same records, same matches in the same order, same errors.

The catalog half runs without the model; the engine half shares one extractor between
both deployments so each image's features are computed the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import PHOTOS, create_database, crop, jpeg, open_photo, photo_names
from tongtu.engine import Engine, OnDuplicate, Source
from tongtu.errors import ItemExists, ItemNotFound, LibraryFull, LibraryInUse, TongtuError
from tongtu.features import DIM, Extractor
from tongtu.fetch import Fetcher
from tongtu.settings import Settings
from tongtu.storage import open_catalog_url, open_vectors
from tongtu.storage.base import NewImage, TagFilter
from tongtu.storage.catalog import Catalog
from tongtu.storage.maintenance import check

pytestmark = pytest.mark.model

NAMES = photo_names()[:7]


def _catalog_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("new_database"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    cat = open_catalog_url(_catalog_url(request.param, tmp_path, request))
    yield cat
    cat.close()


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _item(sign: str, tags: tuple[int, ...] = (), brief: str = "") -> NewImage:
    return NewImage(
        sign,
        brief or sign,
        tags,
        (64, 48),
        _vec(int(sign.split(",")[0])),
        b"local-" + sign.encode(),
    )


# -- the catalog ---------------------------------------------------------------------


def test_catalog_contract(catalog: Catalog) -> None:
    lib = catalog.create_library("lib", "sscd", 4, 2)
    other = catalog.create_library("other", "sscd", 10, 1)
    assert catalog.library_by_name("lib") == lib and catalog.library_by_id(other.id) == other
    assert [x.name for x in catalog.libraries()] == ["lib", "other"]

    # adds: one transaction, duplicates and capacity fail alone
    out = catalog.add_images(
        lib.id,
        [_item("1,1", (1,)), _item("2,2", (1, 2)), _item("1,1"), _item("3,3", (2,), "Red Fox")],
        lib.capacity,
    )
    assert [type(o).__name__ for o in out] == [
        "ImageRecord",
        "ImageRecord",
        "ItemExists",
        "ImageRecord",
    ]
    more = catalog.add_images(lib.id, [_item("4,4"), _item("5,5")], lib.capacity)
    assert isinstance(more[1], LibraryFull) and catalog.count(lib.id) == 4
    first = out[0]
    assert not isinstance(first, TongtuError)
    assert catalog.image_by_sign(lib.id, "1,1") == first
    assert catalog.image_by_id(lib.id, first.id) == first
    assert catalog.image_by_id(other.id, first.id) is None
    assert catalog.local_features([first.id]) == {first.id: b"local-1,1"}
    assert np.allclose(catalog.embeddings([first.id])[first.id], _vec(1), atol=1e-3)

    # tags, listing, text filter, cursor
    assert sorted(catalog.ids_with_tags(lib.id, TagFilter((1, 2))).tolist()) == [out[1].id]  # type: ignore[union-attr]
    assert len(catalog.ids_with_tags(lib.id, TagFilter((1, 2), any_of=True))) == 3
    page = catalog.list_images(lib.id, None, 2)
    assert [r.cont_sign for r in page] == ["4,4", "3,3"]
    assert [r.cont_sign for r in catalog.list_images(lib.id, page[-1].id, 5)] == ["2,2", "1,1"]
    assert [r.cont_sign for r in catalog.list_images(lib.id, None, 5, text="red fox")] == ["3,3"]

    # updates and deletes are journalled; the journal gives the catalog's images
    seq = catalog.last_seq()
    catalog.update_image(first.id, "new brief", [7])
    assert catalog.image_by_id(lib.id, first.id).brief == "new brief"  # type: ignore[union-attr]
    assert catalog.delete_images(lib.id, ["2,2", "2,2", "9,9"]) == 1
    entries = catalog.journal_since(seq)
    assert [(e.image_id, e.added, e.retag) for e in entries] == [
        (first.id, True, True),
        (out[1].id, False, False),  # type: ignore[union-attr]
    ]
    alive: set[int] = set()
    for e in catalog.journal_since(0):
        if e.added:
            alive.add(e.image_id)
        else:
            alive.discard(e.image_id)
    assert alive == {r.id for r in catalog.list_images(lib.id, None, 10)}
    snap_seq, snap = catalog.snapshot([lib.id])
    assert snap_seq == catalog.last_seq() and len(snap[lib.id][0]) == 3

    # apps, grants, tokens
    app = catalog.create_app("app", "key", "hash", lib.id)
    assert catalog.app_by_key("key") == (app, "hash")
    assert catalog.is_granted(app.id, lib.id) and not catalog.is_granted(app.id, other.id)
    catalog.grant(app.id, other.id)
    catalog.grant(app.id, other.id)  # twice: no error
    assert [x.name for x in catalog.granted(app.id)] == ["lib", "other"]
    catalog.store_token("t", app.id, 1e12)
    assert catalog.token("t") == (app.id, 1e12)
    catalog.set_limits(app.id, 2.5, 100)
    limited = catalog.app_by_id(app.id)
    assert limited is not None and (limited.qps_limit, limited.daily_limit) == (2.5, 100)
    catalog.rotate_secret(app.id, "hash2")
    assert catalog.token("t") is None and catalog.app_by_key("key")[1] == "hash2"  # type: ignore[index]
    catalog.revoke_app(app.id)
    assert catalog.app_by_name("app").revoked  # type: ignore[union-attr]

    # libraries: one in use is kept; deleting one journals its images' removal
    with pytest.raises(LibraryInUse):
        catalog.delete_library(lib.id)
    catalog.add_images(other.id, [_item("8,8")], other.capacity)
    assert catalog.delete_library(other.id) == 1
    assert catalog.library_by_name("other") is None
    assert catalog.journal_since(catalog.last_seq() - 1)[0].added is False

    # meta and the cross-process lock
    catalog.set_meta("k", "1")
    catalog.set_meta("k", "2")
    assert catalog.meta("k") == "2" and catalog.meta("absent") is None
    with catalog.exclusive("x"):
        pass
    assert catalog.instance()


def test_postgres_writers_in_threads_commit_journal_in_order(new_database: str) -> None:
    """Concurrent adds: every image journalled once, positions growing, counts right."""
    from concurrent.futures import ThreadPoolExecutor

    cat = open_catalog_url(new_database)
    lib = cat.create_library("lib", "sscd", 10_000, 2)

    def add(i: int) -> None:
        cat.add_images(lib.id, [_item(f"{i},{i}")], lib.capacity)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(200)))
    entries = cat.journal_since(0)
    assert len(entries) == 200 == cat.count(lib.id)
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    assert len({e.image_id for e in entries}) == 200
    cat.close()


# -- the engine on both deployments ----------------------------------------------------


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor.from_model("sscd", 2, Settings().local_features)


def _engine(
    catalog_kind: str,
    vectors_kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    ex: Extractor,
) -> Engine:
    """An engine on one pair of back ends, each in its own place."""
    folder = tmp_path / f"{catalog_kind}-{vectors_kind}"
    folder.mkdir()
    url = (
        f"sqlite:///{folder / 'catalog.db'}"
        if catalog_kind == "sqlite"
        else create_database(str(request.getfixturevalue("postgres")))
    )
    vectors = "faiss" if vectors_kind == "faiss" else f"milvus://{folder / 'milvus.db'}"
    settings = Settings(data_dir=folder, catalog=url, vectors=vectors)
    catalog = open_catalog_url(url)
    return Engine(settings, catalog, open_vectors(settings, catalog, DIM), ex, Fetcher())


def _hits(engine: Engine, lib: Any, query: bytes, **kw: Any) -> list[tuple[str, float, str]]:
    page = engine.search(lib, Source(image=query), **kw)
    return [(h.record.brief, round(h.score, 3), h.kind.value) for h in page.hits]


def _outcome(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except TongtuError as exc:
        return type(exc).__name__


def _scenario(engine: Engine) -> list[Any]:
    """A user's day: the transcript of what each step returned."""
    log: list[Any] = []
    lib = engine.library("lib", create=True)
    ids = {}
    for i, name in enumerate(NAMES[:6]):
        rec = engine.add(lib, Source(image=(PHOTOS / name).read_bytes()), name, (i % 3 + 1,)).record
        ids[name] = rec.id
        log.append(("add", rec.id, rec.cont_sign, rec.brief, rec.tags, rec.width, rec.height))
    a, b, c = NAMES[0], NAMES[1], NAMES[2]
    raw_a = (PHOTOS / a).read_bytes()
    log.append(_outcome(lambda: engine.add(lib, Source(image=raw_a), "again")))
    again = engine.add(lib, Source(image=raw_a), "again", on_duplicate=OnDuplicate.RETURN_EXISTING)
    log.append(("existing", again.status, again.record.id))

    log.append(("exact", _hits(engine, lib, raw_a)))
    log.append(("reencoded", _hits(engine, lib, jpeg(open_photo(b), 60))))
    log.append(("crop", _hits(engine, lib, jpeg(crop(open_photo(c), 0.7)))))
    log.append(("outside", _hits(engine, lib, jpeg(open_photo(NAMES[6])))))
    log.append(("tag 2", _hits(engine, lib, jpeg(open_photo(b), 60), tags=[2])))
    log.append(("tag 1", _hits(engine, lib, jpeg(open_photo(b), 60), tags=[1])))
    log.append(("tag 1|2", _hits(engine, lib, jpeg(open_photo(b), 60), tags=[1, 2], any_tag=True)))

    # new tags are filtered on at once (a vector store filtering tags must follow)
    engine.update(engine.get(lib, str(ids[b])), "b renamed", [9])
    log.append(("retagged", _hits(engine, lib, jpeg(open_photo(b), 60), tags=[9])))
    log.append(("old tag", _hits(engine, lib, jpeg(open_photo(b), 60), tags=[2])))

    # deletes are gone at once; a second delete is an error
    sign_c = engine.get(lib, str(ids[c])).cont_sign
    log.append(("delete", engine.delete(lib, [sign_c])))
    log.append(("deleted", _hits(engine, lib, jpeg(crop(open_photo(c), 0.7)))))
    log.append(_outcome(lambda: engine.delete(lib, [sign_c])))
    log.append(_outcome(lambda: engine.get(lib, str(ids[c]))))

    # capacity
    lib = engine.set_capacity(lib, engine.catalog.count(lib.id))
    log.append(
        _outcome(lambda: engine.add(lib, Source(image=(PHOTOS / NAMES[6]).read_bytes()), "x"))
    )
    lib = engine.set_capacity(lib, 100)

    # a copy in the library: duplicates finds the pair
    engine.add(lib, Source(image=jpeg(open_photo(a), 50)), "copy of a")
    clusters, records = engine.duplicates(lib)
    log.append(("duplicates", [sorted(records[m].brief for m in cl.members) for cl in clusters]))
    log.append(("list", [r.brief for r in engine.catalog.list_images(lib.id, None, 3)]))
    # the vector store holds exactly the catalog's images, and `tongtu check` says so
    stored = {int(i) for i in engine.catalog.all_embeddings(lib.id)[0].tolist()}
    log.append(("held", engine.vectors.ids(lib.id) == stored, len(stored)))
    report = check(engine.catalog, engine.vectors)
    log.append(("check", report.problems, report.images))
    return log


@pytest.mark.postgres
def test_embedded_and_scale_out_give_the_same_results(
    tmp_path: Path, request: pytest.FixtureRequest, extractor: Extractor
) -> None:
    """Every catalog with every vector store: the embedded pair (SQLite + FAISS), the
    scale-out pair (PostgreSQL + Milvus) and the two mixed ones."""
    transcripts = {}
    for pair in (
        ("sqlite", "faiss"),
        ("postgresql", "milvus"),
        ("postgresql", "faiss"),
        ("sqlite", "milvus"),
    ):
        engine = _engine(*pair, tmp_path, request, extractor)
        try:
            transcripts[pair] = _scenario(engine)
        finally:
            engine.close()
    embedded = transcripts[("sqlite", "faiss")]
    for pair, other in transcripts.items():
        for step_a, step_b in zip(embedded, other, strict=True):
            assert step_a == step_b, pair
    # and the transcript says what a user expects
    steps = {s[0]: s[1] for s in embedded if isinstance(s, tuple) and len(s) == 2}
    assert steps["reencoded"][0][0] == NAMES[1]
    assert steps["crop"][0][0] == NAMES[2]
    assert steps["outside"] == []
    assert steps["tag 2"][0][0] == NAMES[1] and steps["tag 1"] == []
    assert steps["retagged"][0][0] == "b renamed" and steps["old tag"] == []
    assert steps["deleted"] == []
    assert ItemExists.__name__ in embedded and LibraryFull.__name__ in embedded
    assert ItemNotFound.__name__ in embedded
    assert [NAMES[0], "copy of a"] in steps["duplicates"]
    held, checked = embedded[-2], embedded[-1]
    assert held[:2] == ("held", True) and held[2] > 0
    assert checked == ("check", [], held[2])


@pytest.mark.parametrize("index", ["HNSW", "IVF_SQ8"])
def test_milvus_store_catches_up_after_a_crash_between_catalog_and_vectors(
    tmp_path: Path, new_database: str, index: str
) -> None:
    """A write committed to the catalog but never applied to Milvus (the process died
    in between) is applied by the next process that syncs: nothing is lost or kept.
    Scores are exact cosines with either index type (IVF_SQ8's are re-ranked)."""
    from tongtu.storage.milvus import MilvusVectors

    def opened(catalog: Catalog) -> MilvusVectors:
        """The store, applying pending entries in several batches, flushed between them."""
        return MilvusVectors(
            f"milvus://{tmp_path / 'm.db'}",
            catalog,
            DIM,
            index_type=index,
            index_params={"nlist": 4} if index == "IVF_SQ8" else {},
            batch=2,
            flush_every=2,
        )

    catalog = open_catalog_url(new_database)
    store = opened(catalog)
    lib = catalog.create_library("lib", "sscd", 100, 2)
    catalog.add_images(lib.id, [_item("1,1"), _item("2,2", (4,))], lib.capacity)
    store.sync()
    assert store.size(lib.id) == 2
    # writes the store has not seen: an add, a delete, a retag
    catalog.add_images(lib.id, [_item("3,3")], lib.capacity)
    catalog.delete_images(lib.id, ["1,1"])
    two = catalog.image_by_sign(lib.id, "2,2")
    assert two is not None
    catalog.update_image(two.id, None, [5])
    store.close()
    catalog.close()

    catalog = open_catalog_url(new_database)
    store = opened(catalog)  # opening syncs
    assert store.ids(lib.id) == {two.id, two.id + 1}
    cosines, found = store.search(lib.id, _vec(2), 5, TagFilter((5,)))
    assert found.tolist() == [two.id]
    assert cosines[0] == pytest.approx(
        float(_vec(2) @ catalog.embeddings([two.id])[two.id]), abs=1e-5
    )
    _, found = store.search(lib.id, _vec(2), 5, TagFilter((4,)))
    assert found.tolist() == []
    store.close()
    catalog.close()


_Write = tuple[int, Sequence[NewImage], int]


def _in_one_group(catalog: Catalog, first: _Write, rest: list[_Write]) -> list[Future[Any]]:
    """`first` committed alone while `rest` queue behind it: they meet in the next
    transaction. Returns the futures of all, first first."""
    from tongtu.storage.group import GroupCommit

    held, release = threading.Event(), threading.Event()

    def commit(writes: Sequence[_Write]) -> list[list[Any]]:
        if not held.is_set():
            held.set()
            assert release.wait(30)
        return catalog.add_to_libraries(writes)

    group: GroupCommit[_Write, list[Any]] = GroupCommit(commit)
    pool = ThreadPoolExecutor(len(rest) + 1)
    futures = [pool.submit(group, first)]
    assert held.wait(30)
    futures += [pool.submit(group, w) for w in rest]
    deadline = time.monotonic() + 30
    while group.waiting < len(rest) and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    pool.shutdown(wait=True)
    assert (group.transactions, group.writes) == (2, len(rest) + 1)
    return futures


def test_concurrent_adds_share_one_transaction_and_each_gets_its_own_outcome(
    catalog: Catalog,
) -> None:
    lib = catalog.create_library("lib", "sscd", 100, 2)
    signs = [f"{n},7" for n in range(1, 9)]
    writes = [(lib.id, [_item(s)], lib.capacity) for s in signs]
    futures = _in_one_group(catalog, writes[0], writes[1:])
    assert [[r.cont_sign for r in f.result()] for f in futures] == [[s] for s in signs]
    assert catalog.count(lib.id) == 8
    # A write that fails its transaction fails the others in it: none of them was made.
    missing_library = 10**6
    futures = _in_one_group(
        catalog,
        (lib.id, [_item("90,7")], lib.capacity),
        [(lib.id, [_item("91,7")], lib.capacity), (missing_library, [_item("92,7")], 10)],
    )
    assert futures[0].result()[0].cont_sign == "90,7"
    for f in futures[1:]:
        assert f.exception() is not None
    assert catalog.image_by_sign(lib.id, "91,7") is None and catalog.count(lib.id) == 9
