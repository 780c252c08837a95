"""Embedded vs scale-out back ends, side by side on the same library and queries.

    python -m bench.scaleout [--images 10000] [--queries 20]

Both deployments hold the same library: real photos with their real features, then
synthetic distractors (bench/perf's descriptors fitted to real SSCD crops, local
features of realistic size) written through the storage layer. The scale-out one runs on
a throw-away PostgreSQL cluster (scripts/postgres.sh) and `milvus-lite server` (the
gRPC protocol of a Milvus server, but a Python re-implementation on FAISS: its latency
is not a Milvus cluster's). Prints one table with the machine and the conditions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.perf import (
    QUERY_FAMILIES,
    DistractorModel,
    _photo_files,
    _png,
    distractor_model,
    fill,
    searches,
    workload,
)
from bench.quality import load_photos
from bench.record import Table, conditions, save
from bench.server import free_port, wait_port
from tongtu.engine import Engine, Source
from tongtu.features import Extractor, settle_native_threads
from tongtu.settings import Settings
from tongtu.storage.base import TagFilter

ROOT = Path(__file__).resolve().parents[1]


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q)) if xs else float("nan")


def run(
    name: str,
    settings: Settings,
    library: dict[str, np.ndarray],
    queries: list[tuple[str, bytes]],
    size: int,
    model: DistractorModel,
    catalog_bytes: Callable[[Engine], float],
) -> dict[str, float | str]:
    engine = Engine.open(settings)
    lib = engine.library("bench", create=True)
    signs = {}
    for photo, rgb in library.items():
        signs[photo] = engine.add(lib, Source(image=_png(rgb)), photo, (1,)).record.cont_sign
    write = fill(engine.catalog, lib, size - len(library), model, 1000)
    t = time.perf_counter()
    engine.sync()
    apply = time.perf_counter() - t
    n = engine.catalog.count(lib.id)

    lat, right = searches(engine, lib, queries)
    # the vector store alone, without and with a tag filter inside the search
    _, vecs = engine.catalog.all_embeddings(lib.id)
    probe = [
        vecs[i] / np.linalg.norm(vecs[i]) for i in range(0, len(vecs), max(1, len(vecs) // 20))
    ]
    plain, tagged = [], []
    for v in probe:
        t = time.perf_counter()
        engine.vectors.search(lib.id, v, 32, None)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        engine.vectors.search(lib.id, v, 32, TagFilter((1,)))
        tagged.append(time.perf_counter() - t)
    # an acknowledged write, then visible to a second engine (another worker)
    other = Engine.open(settings)
    adds, deletes = [], []
    for photo, rgb in list(library.items())[:5]:
        t = time.perf_counter()
        engine.delete(lib, [signs[photo]])
        deletes.append(time.perf_counter() - t)
        t = time.perf_counter()
        engine.add(lib, Source(image=_png(rgb)), photo, (1,))
        adds.append(time.perf_counter() - t)
        seen = other.search(lib, Source(image=_png(rgb)), rn=1).hits
        assert seen and seen[0].record.brief == photo, "a write was not visible to another worker"
    other.close()
    out: dict[str, float | str] = {
        "name": name,
        "images": n,
        "write": (size - len(library)) / write,
        "apply": (size - len(library)) / apply if apply > 0 else float("inf"),
        "p50": _pct(lat, 50),
        "p95": _pct(lat, 95),
        "recall": right / len(queries),
        "vec": _pct(plain, 50),
        "vec_tag": _pct(tagged, 50),
        "add": _pct(adds, 50),
        "delete": _pct(deletes, 50),
        "bytes": catalog_bytes(engine) / n,
    }
    engine.close()
    return out


def timed_import(env: dict[str, str], folder: Path, library: str, shares: int) -> float:
    """Images/s of `tongtu import` of `folder` run as `shares` processes at once, each
    with `--shard K/N` (wall clock from the first start to the last exit: model loads
    included)."""
    cli = [sys.executable, "-m", "tongtu.cli", "import", str(folder), "--library", library]
    t = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*cli, "--shard", f"{k}/{shares}"] if shares > 1 else cli,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for k in range(1, shares + 1)
    ]
    outs = [p.communicate(timeout=3600)[0] for p in procs]
    elapsed = time.perf_counter() - t
    if any(p.returncode for p in procs) or any("failed 0" not in o for o in outs):
        raise RuntimeError(f"an import failed: {outs}")
    return len(list(folder.iterdir())) / elapsed


def main() -> None:
    settle_native_threads()  # as the server and the CLI run
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--import-photos", type=int, default=96)
    args = ap.parse_args()
    threads = args.threads or (os.cpu_count() or 1)

    photos = load_photos()
    library, queries = workload(photos, 40, args.queries)
    model = distractor_model(Extractor.from_model("sscd", threads), photos, library)

    root = Path(tempfile.mkdtemp(prefix="tongtu-scaleout-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="tongtu-pg-"))
    script = str(ROOT / "scripts" / "postgres.sh")
    pg_url = subprocess.run(
        [script, "start", str(pg_dir), str(free_port())],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    milvus = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "milvus_lite",
            "server",
            "--data-dir",
            str(root / "milvus"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        import psycopg

        def sqlite_bytes(engine: Engine) -> float:
            engine.catalog._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return float((root / "embedded" / "catalog.db").stat().st_size)

        def pg_bytes(engine: Engine) -> float:
            with psycopg.connect(pg_url) as c:
                return float(c.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]

        embedded = Settings(data_dir=root / "embedded", threads=threads, thumbnail_side=0)
        scale = Settings(
            data_dir=root / "scale",
            threads=threads,
            thumbnail_side=0,
            catalog=pg_url,
            vectors=f"milvus://127.0.0.1:{port}",
        )
        rows = [
            run(
                "embedded: SQLite + FAISS",
                embedded,
                library,
                queries,
                args.images,
                model,
                sqlite_bytes,
            ),
            run(
                "scale-out: PostgreSQL + Milvus (milvus-lite server)",
                scale,
                library,
                queries,
                args.images,
                model,
                pg_bytes,
            ),
        ]
        folder = root / "import"
        folder.mkdir()
        for f in _photo_files()[: args.import_photos]:
            (folder / f.name).write_bytes(f.read_bytes())
        base = {**os.environ, "TONGTU_THREADS": str(threads)}
        stores = {"TONGTU_CATALOG": pg_url, "TONGTU_VECTORS": f"milvus://127.0.0.1:{port}"}
        shared = {**base, **stores, "TONGTU_DATA_DIR": str(root / "shards")}
        one_thread = {**shared, "TONGTU_THREADS": "1"}
        local = {**base, "TONGTU_DATA_DIR": str(root / "i")}
        pg = "PostgreSQL + Milvus"
        imports = [
            ("SQLite + FAISS", "1 process", "import", local, 1),
            (pg, "1 process", "one", shared, 1),
            (pg, f"{threads} shares, 1 thread each", "shares", one_thread, threads),
        ]
        import_rows = [
            (stores_name, how, timed_import(env, folder, lib_name, n))
            for stores_name, how, lib_name, env, n in imports
        ]
    finally:
        milvus.terminate()
        milvus.wait(timeout=30)
        subprocess.run([script, "stop", str(pg_dir)], check=False, capture_output=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)

    out = Table(
        f"library {args.images:,} images ({len(library)} real photos + synthetic distractors); "
        f"{len(queries)} real edited queries ({', '.join(QUERY_FAMILIES)})",
        [
            "back ends", "catalog writes img/s", "vectors applied img/s", "search p50 ms",
            "p95 ms", "recall as served", "vector search ms", "with tag filter ms", "add ms",
            "delete ms", "catalog KB / image",
        ],
        align=["---"] + ["---:"] * 10,
    )  # fmt: skip
    for r in rows:
        out.add(
            r["name"], f"{r['write']:.0f}", f"{r['apply']:.0f}", f"{float(r['p50']) * 1e3:.0f}",
            f"{float(r['p95']) * 1e3:.0f}", f"{float(r['recall']):.0%}",
            f"{float(r['vec']) * 1e3:.1f}", f"{float(r['vec_tag']) * 1e3:.1f}",
            f"{float(r['add']) * 1e3:.0f}", f"{float(r['delete']) * 1e3:.0f}",
            f"{float(r['bytes']) / 1024:.1f}",
        )  # fmt: skip
    sharded = Table(
        f"`tongtu import` of {args.import_photos} real photos (images/s, wall clock with "
        "the model loads)",
        ["stores", "processes", "images/s"],
        align=["---", "---", "---:"],
    )
    for stores_name, how, rate in import_rows:
        sharded.add(stores_name, how, f"{rate:.1f}")
    cond = conditions(threads=threads, images=args.images, process="one, loopback")
    save("scaleout", cond, [out, sharded])


if __name__ == "__main__":
    main()
