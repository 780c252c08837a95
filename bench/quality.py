"""bench/quality: does search find copies and refuse look-alikes? `make bench-quality`.

Deterministic from --seed. About two thirds of the photos in ../shared/photos form the
library; the rest are "outside" photos, never indexed. Every family of edits is applied
to a sample of library photos (positives) and of outside photos (negatives, which must
match nothing); disjoint halves of outside photos (one half indexed, the other queried)
are negatives too. tongtu is compared, on the same queries, with pHash (Hamming ≤ 10)
and plain SSCD cosine kNN (≥ 0.75).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bench.record import Table, conditions, save
from corpus.edits import FAMILIES, STRESS
from corpus.photos import PHOTOS
from tongtu.engine import Engine, Source
from tongtu.features import settle_native_threads
from tongtu.features.descriptor import DEFAULT_MODEL
from tongtu.settings import Settings

RGB = NDArray[np.uint8]


@dataclass
class Query:
    family: str
    rgb: RGB
    truth: str | None  # the library photo it is a copy of; None for a negative
    source: str = ""  # the photo it was made from
    others: tuple[str, ...] = ()  # more library pictures it holds (a collage)

    @property
    def truths(self) -> set[str]:
        """Every library picture it holds: serving any of them is right."""
        return {self.truth, *self.others} if self.truth is not None else set(self.others)


@dataclass
class Outcome:
    """What one system served for one query: (reference, score) best first."""

    served: list[tuple[str, float]]
    seconds: float


@dataclass
class Report:
    system: str
    per_family: dict[str, dict[str, float]] = field(default_factory=dict)
    overall: dict[str, float] = field(default_factory=dict)
    # score threshold -> (served right, served wrong, recall as served)
    calibration: dict[float, tuple[int, int, float]] = field(default_factory=dict)


CALIBRATION = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def load_photos() -> dict[str, RGB]:
    out = {}
    for p in sorted(PHOTOS.iterdir()):
        if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".ppm"}:
            rgb = decode_image_any(p.read_bytes())
            if rgb is not None:
                out[p.name] = rgb
    return out


def decode_image_any(data: bytes) -> RGB | None:
    """Decode; photos over 4096 px are scaled down to fit the service's size rules."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    if max(img.size) > 4096:
        s = 4096 / max(img.size)
        img = img.resize((int(img.width * s), int(img.height * s)))
    return np.asarray(img)


def _png(rgb: RGB) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def build_queries(
    photos: dict[str, RGB], seed: int, per_family: int, families: list[str]
) -> tuple[list[str], list[str], list[Query], dict[str, RGB]]:
    rng = np.random.default_rng(seed)
    names = sorted(photos)
    order = rng.permutation(len(names))
    n_lib = round(len(names) * 2 / 3)
    library = [names[i] for i in order[:n_lib]]
    outside = [names[i] for i in order[n_lib:]]
    # Disjoint parts: the left 45 % of a photo is indexed, the right 45 % queried. Those
    # photos are kept out of every other negative (their full picture *contains* an
    # indexed part, so matching it would be right).
    halves = [
        str(n) for n in rng.choice(outside, size=min(per_family, len(outside) // 4), replace=False)
    ]
    outside = [n for n in outside if n not in halves]
    extra: dict[str, RGB] = {}
    queries: list[Query] = []
    for name in halves:
        rgb = photos[name]
        w = rgb.shape[1]
        extra[f"left-half:{name}"] = np.ascontiguousarray(rgb[:, : int(w * 0.45)])
        right = np.ascontiguousarray(rgb[:, int(w * 0.55) :])
        queries.append(Query("disjoint_part", right, None, name))
    pool = [photos[n] for n in outside]
    for fam in families:
        edit = (FAMILIES | STRESS)[fam]
        for name in rng.choice(library, size=min(per_family, len(library)), replace=False):
            queries.append(Query(fam, _fit(edit(photos[name], rng, pool)), str(name)))
        n_neg = max(1, per_family // 3)
        for name in rng.choice(outside, size=min(n_neg, len(outside)), replace=False):
            others = [photos[n] for n in outside if n != name]
            queries.append(Query(fam, _fit(edit(photos[name], rng, others)), None, str(name)))
    return library, outside, queries, extra


def _fit(rgb: RGB) -> RGB:
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) > 4096:
        s = 4096 / max(h, w)
        rgb = cv2.resize(rgb, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


# --- systems -----------------------------------------------------------------------


def run_tongtu(
    engine: Engine,
    items: dict[str, RGB],
    queries: list[Query],
    beside: dict[str, str] | None = None,
) -> tuple[list[Outcome], dict[str, str]]:
    """Index `items` in library "bench", search every query: the outcomes, and the
    names of the indexed pictures by cont_sign (for `search_all` again), with those of
    pictures indexed there `beside` them."""
    lib = engine.library("bench", create=True)
    by_sign: dict[str, str] = dict(beside or {})
    for name, rgb in items.items():
        rec = engine.add(lib, Source(image=_png(rgb)), name[:200]).record
        by_sign[rec.cont_sign] = name
    return search_all(engine, by_sign, queries), by_sign


def search_all(engine: Engine, names: dict[str, str], queries: list[Query]) -> list[Outcome]:
    lib = engine.library("bench")
    out = []
    for q in queries:
        data = _png(q.rgb)
        t = time.perf_counter()
        page = engine.search(lib, Source(image=data), rn=10)
        dt = time.perf_counter() - t
        out.append(Outcome([(names[h.record.cont_sign], h.score) for h in page.hits], dt))
    return out


def run_sscd(
    engine: Engine, items: dict[str, RGB], queries: list[Query], threshold: float = 0.75
) -> list[Outcome]:
    ex = engine._extractor._descriptor  # the same descriptor tongtu uses
    names = list(items)
    mat = np.stack([ex.embed(items[n]) for n in names])
    out = []
    for q in queries:
        t = time.perf_counter()
        sims = mat @ ex.embed(q.rgb)
        top = np.argsort(-sims)[:10]
        dt = time.perf_counter() - t
        out.append(Outcome([(names[i], float(sims[i])) for i in top if sims[i] >= threshold], dt))
    return out


def run_phash(items: dict[str, RGB], queries: list[Query], max_dist: int = 10) -> list[Outcome]:
    import imagehash
    from PIL import Image

    names = list(items)
    hashes = [imagehash.phash(Image.fromarray(items[n])) for n in names]
    out = []
    for q in queries:
        t = time.perf_counter()
        h = imagehash.phash(Image.fromarray(q.rgb))
        dists = np.array([h - x for x in hashes])
        top = np.argsort(dists)[:10]
        dt = time.perf_counter() - t
        out.append(
            Outcome([(names[i], 1 - dists[i] / 64) for i in top if dists[i] <= max_dist], dt)
        )
    return out


# --- metrics --------------------------------------------------------------------------


def micro_ap(queries: list[Query], outcomes: list[Outcome]) -> tuple[float, float]:
    """µAP over all (query, result, score) triples, and recall at 99 % precision."""
    triples = [
        (score, ref in q.truths)
        for q, o in zip(queries, outcomes, strict=True)
        for ref, score in o.served
    ]
    n_pos = sum(len(q.truths) for q in queries)
    if not triples or n_pos == 0:
        return 0.0, 0.0
    triples.sort(key=lambda t: -t[0])
    tp = np.cumsum([t[1] for t in triples])
    precision = tp / np.arange(1, len(triples) + 1)
    recall = tp / n_pos
    ap = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))
    ok = recall[precision >= 0.99]
    return ap, float(ok.max()) if len(ok) else 0.0


def report(system: str, queries: list[Query], outcomes: list[Outcome]) -> Report:
    rep = Report(system)
    fams = list(dict.fromkeys(q.family for q in queries))
    for fam in [*fams, "ALL"]:
        pairs = [(q, o) for q, o in zip(queries, outcomes, strict=True) if fam in ("ALL", q.family)]
        pos = [(q, o) for q, o in pairs if q.truth is not None]
        neg = [(q, o) for q, o in pairs if q.truth is None]
        served = [(q, r) for q, o in pairs for r, _ in o.served]
        wrong = sum(1 for q, r in served if r not in q.truths)
        rep.per_family[fam] = {
            "n_pos": len(pos),
            "recall": sum(1 for q, o in pos if o.served and o.served[0][0] in q.truths) / len(pos)
            if pos
            else float("nan"),
            "n_neg": len(neg),
            "fp_rate": sum(1 for _, o in neg if o.served) / len(neg) if neg else float("nan"),
            "served": len(served),
            "wrong": wrong,
            "median_ms": 1000 * statistics.median(o.seconds for _, o in pairs),
        }
    rep.overall = dict(rep.per_family["ALL"])
    ap, r99 = micro_ap(queries, outcomes)
    rep.overall["uap"] = ap
    rep.overall["r_at_p99"] = r99
    served = rep.overall["served"]
    rep.overall["precision_served"] = (served - rep.overall["wrong"]) / served if served else 1.0
    pos = [(q, o) for q, o in zip(queries, outcomes, strict=True) if q.truth is not None]
    for t in CALIBRATION:
        kept = [
            (q, r) for q, o in zip(queries, outcomes, strict=True) for r, s in o.served if s >= t
        ]
        right = sum(1 for q, r in kept if r in q.truths)
        first = sum(
            1 for q, o in pos if o.served and o.served[0][0] in q.truths and o.served[0][1] >= t
        )
        rep.calibration[t] = (right, len(kept) - right, first / len(pos) if pos else 0.0)
    return rep


def calibration_table(rep: Report, title: str = "") -> Table:
    """What a score means: precision and recall of what scores at least t."""
    out = Table(
        title or f"{rep.system}: what a score means",
        ["score ≥", "served right", "served wrong", "precision", "recall as served"],
    )
    for t, (right, wrong, recall) in rep.calibration.items():
        precision = right / (right + wrong) if right + wrong else 1.0
        out.add(f"{t:g}", right, wrong, f"{100 * precision:.2f}%", f"{100 * recall:.1f}%")
    return out


def table(reports: list[Report], title: str = "") -> list[Table]:
    """Recall and wrong results per family, then the whole draw, system by system."""
    fams = [f for f in reports[0].per_family if f != "ALL"]

    def pct(x: float) -> str:
        return "—" if x != x else f"{100 * x:.1f}%"

    families = Table(
        title or "per family",
        ["family", "n+", "n-"] + [f"{r.system} {c}" for r in reports for c in ("recall", "FP")],
    )
    for fam in [*fams, "ALL"]:
        first = reports[0].per_family[fam]
        cells = [fam if fam != "ALL" else "**all**", int(first["n_pos"]), int(first["n_neg"])]
        for r in reports:
            m = r.per_family[fam]
            cells += [pct(m["recall"]), pct(m["fp_rate"])]
        families.add(*cells)
    summary = Table(
        "overall",
        [
            "system",
            "µAP",
            "recall @ 99 % precision",
            "served",
            "wrong served",
            "precision of served",
            "median search ms",
        ],
    )
    for r in reports:
        o = r.overall
        summary.add(
            r.system,
            f"{o['uap']:.3f}",
            f"{100 * o['r_at_p99']:.1f}%",
            int(o["served"]),
            int(o["wrong"]),
            f"{100 * o['precision_served']:.2f}%",
            f"{o['median_ms']:.0f}",
        )
    return [families, summary]


def run(
    seed: int,
    per_family: int,
    families: list[str],
    model: str = "sscd",
    log: Callable[[str], None] = print,
    local_features: int = 500,
) -> list[Report]:
    photos = load_photos()
    library, _outside, queries, extra = build_queries(photos, seed, per_family, families)
    items = {n: photos[n] for n in library} | extra
    log(
        f"library {len(items)} images ({len(library)} photos + {len(extra)} half photos), "
        f"{len(queries)} queries"
    )
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.open(
            Settings(data_dir=Path(tmp), model=model, local_features=local_features)
        )
        t = time.perf_counter()
        ours, _ = run_tongtu(engine, items, queries)
        log(f"tongtu done in {time.perf_counter() - t:.0f} s")
        sscd = run_sscd(engine, items, queries)
        engine.close()
    phash = run_phash(items, queries)
    return [
        report("tongtu", queries, ours),
        report("sscd-0.75", queries, sscd),
        report("phash-10", queries, phash),
    ]


def main() -> None:
    settle_native_threads()  # as the server and the CLI run
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-family", type=int, default=10)
    ap.add_argument(
        "--families",
        default=",".join(FAMILIES),
        help="comma-separated families, or 'stress' for the edits beyond them (corpus/edits.py)",
    )
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--local-features", type=int, default=500)
    args = ap.parse_args()
    start = time.perf_counter()
    families = list(STRESS) if args.families == "stress" else args.families.split(",")
    reports = run(
        args.seed,
        args.per_family,
        families,
        args.model,
        log=lambda s: print(s, file=sys.stderr),
        local_features=args.local_features,
    )
    cond = conditions(
        seed=args.seed,
        positives_per_family=args.per_family,
        model=args.model,
        local_features=args.local_features,
        seconds=round(time.perf_counter() - start),
    )
    name = "quality-stress" if args.families == "stress" else "quality"
    tables = [*table(reports), calibration_table(reports[0])]
    save(
        name,
        cond,
        tables,
        {r.system: {"per_family": r.per_family, "overall": r.overall} for r in reports},
    )


if __name__ == "__main__":
    main()
