"""Performance and scale on this machine: ingest, search latency and throughput, recall,
memory, disk and cold start, at several library sizes.

    python -m bench.perf [--sizes 10000,100000] [--ingest 48] [--queries 40]

Ingest: photos from ../shared/photos at their own sizes through the engine (one by one,
and through the threaded pipeline of `tongtu import`), for `sscd` and `sscd_distilled`,
beside the floor measured in the same run: decode + descriptor alone, same images, same
threads.

Library sizes beyond what can be ingested here are filled through the storage layer: the
real photos (two thirds of ../shared/photos, with their real features) plus synthetic
distractors whose descriptors are drawn from a Gaussian fitted to real SSCD descriptors
(mean and covariance of crops of the photos), L2-normalised, each with 500 local features
whose binary descriptors are real ORB descriptors of one photo outside the library (so
that matching them costs what matching another real picture costs) at random positions
(so that they never verify), the stored size of real ones (~18 KB). The queries are real
edits of real library photos (corpus/edits.py), fixed by the seed.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import cv2
import numpy as np
import requests
from PIL import Image

from bench.quality import load_photos
from bench.record import Table, conditions, save
from bench.server import baidu_client, serve
from corpus.edits import FAMILIES
from corpus.photos import PHOTOS
from tongtu.engine import Engine, Source
from tongtu.features import Extractor, settle_native_threads, shrink
from tongtu.features.descriptor import Descriptor
from tongtu.features.local import QUERY_FEATURES, REF_FEATURES, extract_local
from tongtu.features.parts import FRAME, PART_BOXES
from tongtu.imaging import SIGNATURE, decode_for, decode_image
from tongtu.settings import Settings
from tongtu.storage.base import LibraryRecord, NewImage
from tongtu.storage.catalog import Catalog

CACHE = Path(__file__).resolve().parent / ".cache"
QUERY_FAMILIES = ("reencode_jpeg", "resize_0.3", "crop_50", "rotate_small", "overlay_text")


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _photo_files() -> list[Path]:
    files = []
    for p in sorted(PHOTOS.iterdir()):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp", ".bmp"):
            data = p.read_bytes()
            if len(data) * 4 / 3 > 4 * 1024 * 1024:
                continue  # over what the same_hq routes take, base64 ≤ 4 MB
            try:
                decode_image(data)
            except Exception:
                continue
            files.append(p)
    return files


# --- ingest --------------------------------------------------------------------------------


def ingest(model: str, files: list[Path], threads: int, parts: int = 0) -> dict[str, float]:
    datas = [f.read_bytes() for f in files]
    extractor = Extractor.from_model(model, threads)
    extractor.reference(decode_for(datas[0], SIGNATURE).rgb)  # warm up
    t = time.perf_counter()
    for d in datas:
        extractor._descriptor.embed(decode_for(d, SIGNATURE).rgb)
    out = {"floor": len(datas) / (time.perf_counter() - t)}
    # The same work threaded as the pipeline threads it: two workers, a one-thread
    # descriptor session each.
    single = extractor._parallel_descriptor()
    single.embed(decode_for(datas[0], SIGNATURE).rgb)
    with ThreadPoolExecutor(max_workers=2) as pool:
        t = time.perf_counter()
        for _ in pool.map(lambda d: single.embed(decode_for(d, SIGNATURE).rgb), datas):
            pass
        out["floor, 2 workers"] = len(datas) / (time.perf_counter() - t)
    for mode in ("one by one", "pipeline"):
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=Path(tmp), model=model, threads=threads, reference_parts=parts
            )
            engine = Engine.open(settings)
            lib = engine.library("ingest", create=True)
            t = time.perf_counter()
            if mode == "one by one":
                for n, d in enumerate(datas):
                    engine.add(lib, Source(image=d), str(n))
            else:
                for _ in engine.add_many(
                    lib, ((Source(image=d), str(n), ()) for n, d in enumerate(datas))
                ):
                    pass
            out[mode] = len(datas) / (time.perf_counter() - t)
            engine.close()
    # Does batching pay on this machine? Eight pictures of one shape, alone and as one run.
    same = [cv2.resize(decode_for(d, SIGNATURE).rgb, (384, 288)) for d in datas[:8]]
    descriptor = Descriptor(extractor._descriptor._runtime)  # type: ignore[attr-defined]
    t = time.perf_counter()
    for rgb in same:
        descriptor.embed_resized([rgb])
    out["ms alone"] = (time.perf_counter() - t) / len(same) * 1000
    t = time.perf_counter()
    descriptor.embed_resized(same)
    out["ms batched"] = (time.perf_counter() - t) / len(same) * 1000
    for clients in (1, 4):
        out[f"form, {clients}"], out[f"per transaction, {clients}"] = _baidu_adds(
            model, threads, datas, clients, sdk=False, parts=parts
        )
    out["sdk, 1"], _ = _baidu_adds(model, threads, datas, 1, sdk=True, parts=parts)
    return out


def _baidu_adds(
    model: str, threads: int, datas: list[bytes], clients: int, sdk: bool, parts: int = 0
) -> tuple[float, float]:
    """Images/s of one-by-one adds through the same_hq add route from `clients` threads at
    once to a `tongtu serve` on loopback: sent by Baidu's own Python SDK (`sdk`: its
    encoding of each image, ~20 ms of Python, runs on the same cores as the server), or
    as the form bodies it sends, encoded before the clock starts (the server's share).
    Also: the adds committed per catalog transaction (group commit), warm-ups included."""
    with serve(model=model, threads=str(threads), reference_parts=str(parts)) as server:
        sdks = [baidu_client(server) for _ in range(clients)]
        rng = np.random.default_rng(0)
        for n, client in enumerate(sdks):  # each fetches its token; the models load
            warm = _jpeg(rng.integers(0, 256, (320, 480, 3), dtype=np.uint8))
            _acknowledged(client.sameHqAdd(warm, f"warm-up {n}", {}))  # type: ignore[attr-defined]
        url = f"{server.base}/rest/2.0/realtime_search/same_hq/add"
        token = {"access_token": sdks[0]._authObj["access_token"]}  # type: ignore[attr-defined]
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        bodies = [
            urlencode({"image": base64.b64encode(d), "brief": str(n)}) for n, d in enumerate(datas)
        ]

        def send(k: int) -> None:
            with requests.Session() as http:
                for n in range(k, len(datas), clients):
                    if sdk:
                        answer = sdks[k].sameHqAdd(datas[n], str(n), {})  # type: ignore[attr-defined]
                    else:
                        answer = http.post(url, params=token, data=bodies[n], headers=form).json()
                    _acknowledged(answer)

        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(send, range(clients)))
        rate = len(datas) / (time.perf_counter() - t)
        metrics = requests.get(f"{server.base}/metrics", timeout=30).text
        return rate, _counter(metrics, "tongtu_add_writes") / _counter(
            metrics, "tongtu_add_transactions"
        )


def _counter(text: str, name: str) -> float:
    """A counter's value in a Prometheus text page."""
    for line in text.splitlines():
        if line.startswith(f"{name}_total "):
            return float(line.split()[1])
    raise KeyError(name)


def _acknowledged(answer: dict[str, object]) -> None:
    if answer.get("error_code") is not None:
        raise RuntimeError(f"add refused: {answer}")


# --- libraries at scale ----------------------------------------------------------------------


@dataclass(frozen=True)
class DistractorModel:
    """What synthetic distractors are drawn from."""

    mean: np.ndarray  # of real SSCD descriptors of crops
    cov: np.ndarray
    orb: list[np.ndarray]  # real ORB descriptors, one array per photo outside the library


def distractor_model(
    extractor: Extractor, photos: dict[str, np.ndarray], library: dict[str, np.ndarray]
) -> DistractorModel:
    mean, cov = _fitted(extractor, photos, 12)
    orb = [
        extract_local(shrink(rgb), QUERY_FEATURES).descriptors
        for name, rgb in sorted(photos.items())
        if name not in library
    ]
    return DistractorModel(mean, cov, [d for d in orb if len(d) >= REF_FEATURES])


def _fitted(
    extractor: Extractor, photos: dict[str, np.ndarray], per_photo: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of SSCD descriptors of random crops of the photos (cached)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"sscd-crops-{len(photos)}-{per_photo}.npy"
    if path.exists():
        vecs = np.load(path)
    else:
        rng = np.random.default_rng(3)
        out = []
        for rgb in photos.values():
            h, w = rgb.shape[:2]
            for _ in range(per_photo):
                f = rng.uniform(0.3, 1.0)
                ch, cw = max(60, int(h * f)), max(60, int(w * f))
                y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
                out.append(
                    extractor._descriptor.embed(np.ascontiguousarray(rgb[y : y + ch, x : x + cw]))
                )
        vecs = np.stack(out).astype(np.float32)
        np.save(path, vecs)
    return vecs.mean(axis=0), np.cov(vecs, rowvar=False)


def _distractors(
    n: int, model: DistractorModel, rng: np.random.Generator, parts: int = 0
) -> list[NewImage]:
    """`parts`: features a part kept too (TONGTU_REFERENCE_PARTS), as random real ones."""
    vecs = rng.multivariate_normal(model.mean, model.cov, size=n, method="cholesky")
    vecs = vecs.astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    header = np.array([REF_FEATURES, 800, 600], dtype="<u2").tobytes()
    n_parts = len(PART_BOXES) * parts
    parts_header = np.array([n_parts, FRAME, FRAME * 3 // 4], dtype="<u2").tobytes()
    out = []
    for v in vecs:
        pos = rng.integers(0, 6400, size=(REF_FEATURES, 2), dtype=np.uint16).astype("<u2").tobytes()
        orb = model.orb[int(rng.integers(len(model.orb)))]
        desc = orb[rng.choice(len(orb), size=REF_FEATURES, replace=False)].tobytes()
        sign = f"{rng.integers(0, 2**32)},{rng.integers(0, 2**32)}"
        kept = None
        if parts:
            where = rng.integers(0, FRAME * 6, size=(n_parts, 2), dtype=np.uint16).astype("<u2")
            kept = parts_header + where.tobytes() + orb[rng.choice(len(orb), n_parts)].tobytes()
        out.append(NewImage(sign, "distractor", (), (800, 600), v, header + pos + desc, None, kept))
    return out


def workload(
    photos: dict[str, np.ndarray], n_library: int, n_queries: int
) -> tuple[dict[str, np.ndarray], list[tuple[str, bytes]]]:
    """The library's real photos and real edited queries of them (seed 7)."""
    names = sorted(photos)
    rng = np.random.default_rng(7)
    order = rng.permutation(len(names))
    lib_names = [names[i] for i in order[:n_library]]
    library = {n: photos[n] for n in lib_names}
    pool = [photos[names[i]] for i in order[len(names) * 2 // 3 :]]
    queries = []
    for i in range(n_queries):
        name = lib_names[int(rng.integers(len(lib_names)))]
        fam = QUERY_FAMILIES[i % len(QUERY_FAMILIES)]
        queries.append((name, _jpeg(FAMILIES[fam](photos[name], rng, pool))))
    return library, queries


def fill(
    catalog: Catalog,
    lib: LibraryRecord,
    n: int,
    model: DistractorModel,
    chunk: int,
    parts: int = 0,
) -> float:
    """Write n synthetic distractors through the storage layer; the seconds it took."""
    rng = np.random.default_rng(n)
    t = time.perf_counter()
    while n > 0:
        batch = _distractors(min(chunk, n), model, rng, parts)
        failed = [
            r for r in catalog.add_images(lib.id, batch, lib.capacity) if isinstance(r, Exception)
        ]
        if failed:
            raise RuntimeError(f"the fill stopped: {failed[0]}")
        n -= len(batch)
    return time.perf_counter() - t


def searches(
    engine: Engine, lib: LibraryRecord, queries: list[tuple[str, bytes]]
) -> tuple[list[float], int]:
    """Each query's latency, and how many served the right image first."""
    lat, right = [], 0
    for name, q in queries:
        t = time.perf_counter()
        page = engine.search(lib, Source(image=q), rn=10)
        lat.append(time.perf_counter() - t)
        right += bool(page.hits) and page.hits[0].record.brief == name
    return lat, right


def scale(
    size: int,
    threads: int,
    queries: list[tuple[str, bytes]],
    library: dict[str, np.ndarray],
    model: DistractorModel,
    parts: int = 0,
) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix=f"tongtu-perf-{size}-"))
    settings = Settings(
        data_dir=root,
        threads=threads,
        thumbnail_side=0,
        default_capacity=max(size, 500_000),
        reference_parts=parts,
    )
    try:
        engine = Engine.open(settings)
        lib = engine.library("perf", create=True)
        for name, rgb in library.items():
            engine.add(lib, Source(image=_png(rgb)), name)
        filled = fill(engine.catalog, lib, size - len(library), model, 5000, parts)
        engine.close()  # builds nothing new: the index is rebuilt at the next open

        shutil.rmtree(root / "index", ignore_errors=True)
        t = time.perf_counter()
        engine = Engine.open(settings)
        rebuild = time.perf_counter() - t
        engine.close()  # saves the index
        rss_before = _rss_mb()
        t = time.perf_counter()
        engine = Engine.open(settings)
        cold = time.perf_counter() - t
        lib = engine.library("perf")
        kind = engine.vectors.kind(lib.id)
        index_mb = (root / "index" / f"lib-{lib.id}.faiss").stat().st_size / 1e6

        # Floor: decode (as the library decodes) + one descriptor, each query; its median.
        floors = []
        for _, q in queries:
            t = time.perf_counter()
            engine._extractor._descriptor.embed(decode_for(q, lib.signature).rgb)
            floors.append(time.perf_counter() - t)
        floor = float(np.median(floors))
        # What a search computes before any candidate: the floor plus the query's local
        # features (found while the descriptor runs, as a search finds them).
        features = []
        for _, q in queries:
            t = time.perf_counter()
            engine._extractor.query(shrink(decode_for(q, lib.signature).rgb))
            features.append(time.perf_counter() - t)

        lat, right = searches(engine, lib, queries)
        lat_a = np.array(lat)

        done = [0]
        stop = time.monotonic() + max(10.0, 4 * float(lat_a.mean()) * 4)
        lock = threading.Lock()

        def client(i: int) -> None:
            j = i
            while time.monotonic() < stop:
                engine.search(lib, Source(image=queries[j % len(queries)][1]), rn=10)
                j += 4
                with lock:
                    done[0] += 1

        workers = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        t = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        qps4 = done[0] / (time.perf_counter() - t)
        rss = _rss_mb()
        count = engine.catalog.count(lib.id)
        # The clients' threads hold connections of their own: fold the WAL in first, so
        # that the size on disk is the catalog's.
        engine.catalog._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.close()
        disk = sum(f.stat().st_size for f in root.glob("catalog.db*"))
        return {
            "size": count,
            "kind": kind,  # type: ignore[dict-item]
            "fill_s": filled,
            "p50": float(np.percentile(lat_a, 50)),
            "p95": float(np.percentile(lat_a, 95)),
            "floor": floor,
            "features": float(np.median(features)),
            "qps1": 1 / float(lat_a.mean()),
            "qps4": qps4,
            "recall": right / len(queries),
            "rss_mb": rss,
            "rss_delta_mb": rss - rss_before,
            "index_mb": index_mb,
            "disk_per_image_kb": disk / count / 1024,
            "cold_s": cold,
            "rebuild_s": rebuild,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    settle_native_threads()  # as the server and the CLI run
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--ingest", type=int, default=48, help="photos for the ingest runs")
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--ingest-only", action="store_true", help="skip the search sizes")
    ap.add_argument(
        "--parts",
        default=str(Settings.model_fields["reference_parts"].default),
        help="features kept per part of a library picture (TONGTU_REFERENCE_PARTS), "
        "comma-separated: one row each, side by side (e.g. 0,150)",
    )
    ap.add_argument("--models", default="sscd,sscd_distilled", help="models for the ingest runs")
    ap.add_argument("--name", default="perf", help="bench/results/NAME.json")
    args = ap.parse_args()
    threads = args.threads or (os.cpu_count() or 1)
    kept = [int(p) for p in args.parts.split(",")]

    def label(name: str, parts: int) -> str:
        return name if parts == 0 else f"{name}, parts {parts}"

    files = _photo_files()[: args.ingest]
    ingest_table = Table(
        f"Ingest: {len(files)} photos of the shared photos at their own sizes (images/s)",
        [
            "model",
            "floor: decode + descriptor",
            "the same in 2 workers",
            "engine, one by one",
            "engine, pipeline (import)",
            "same_hq add, 1 client",
            "same_hq add, 4 clients (adds a transaction)",
            "same_hq add, Baidu's Python SDK, 1 client",
            "descriptor ms / picture: alone, in a batch of 8",
        ],
        align=["---"] + ["---:"] * 8,
    )
    for model, parts in ((m, p) for m in args.models.split(",") for p in kept):
        r = ingest(model, files, threads, parts)
        ingest_table.add(
            label(model, parts),
            f"{r['floor']:.1f}",
            f"{r['floor, 2 workers']:.1f}",
            f"{r['one by one']:.1f}",
            f"{r['pipeline']:.1f}",
            f"{r['form, 1']:.1f}",
            f"{r['form, 4']:.1f} ({r['per transaction, 4']:.2f})",
            f"{r['sdk, 1']:.1f}",
            f"{r['ms alone']:.0f}, {r['ms batched']:.0f}",
        )
        print(ingest_table.markdown(), file=sys.stderr, flush=True)

    if args.ingest_only:  # a look while working; bench/results/perf.json is the full run
        return
    photos = load_photos()
    library, queries = workload(photos, len(photos) * 2 // 3, args.queries)
    model = distractor_model(Extractor.from_model("sscd", threads), photos, library)
    search_table = Table(
        f"Search (model sscd): {len(library)} real photos + synthetic distractors; "
        f"{len(queries)} real edited queries ({', '.join(QUERY_FAMILIES)}); in-process engine",
        [
            "images", "index", "p50 ms", "p95 ms", "floor p50 ms", "p50 / floor",
            "floor + local features p50 ms", "searches/s, 1 client", "searches/s, 4 clients",
            "recall as served", "RSS MB", "index file MB", "disk KB / image", "cold start s",
            "rebuild s",
        ],
        align=["---:", "---"] + ["---:"] * 13,
    )  # fmt: skip
    for size, parts in ((int(s), p) for s in args.sizes.split(",") for p in kept):
        r = scale(size, threads, queries, library, model, parts)
        search_table.add(
            label(f"{r['size']:,}", parts), r["kind"],
            f"{r['p50'] * 1000:.0f}", f"{r['p95'] * 1000:.0f}",
            f"{r['floor'] * 1000:.0f}", f"{r['p50'] / r['floor']:.2f}",
            f"{r['features'] * 1000:.0f}", f"{r['qps1']:.1f}", f"{r['qps4']:.1f}",
            f"{r['recall']:.1%}", f"{r['rss_mb']:.0f}", f"{r['index_mb']:.0f}",
            f"{r['disk_per_image_kb']:.1f}", f"{r['cold_s']:.2f}", f"{r['rebuild_s']:.1f}",
        )  # fmt: skip
        print(search_table.markdown(), file=sys.stderr, flush=True)
    cond = conditions(
        threads=threads, sizes=args.sizes, queries=len(queries), reference_parts=args.parts
    )
    save(args.name, cond, [ingest_table, search_table])


if __name__ == "__main__":
    main()
