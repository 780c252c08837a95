"""bench/hard: copies at the difficulty users send, made with AugLy, on photos and graphics.

    python -m bench.hard --draw heldout       # the draw to report
    python -m bench.hard --draw dev           # the draw to tune on

Three pools: the shared photos, graphics the bench renders itself (corpus/graphics.py:
charts, posters, slides, application windows, each with look-alikes), and `screens`,
rendered too, where corners are scarce: login and boot screens of one layout in several
themes, one player in several skins, flat clipart of one set (`--pools screens`; not in
the default run). Every picture of a pool belongs to one draw only, by a hash of its name
(photos) or of its group number (graphics, screens): a constant chosen on `dev` is
reported on `heldout`, whose pictures it never saw. Each draw indexes two thirds of its
pictures; edits of the rest are negatives.

Families (AugLy's own functions where it has the transform): the picture inside a web and
a mobile screenshot template; meme captions; text and emoji over it; pasted at 5-20 % of
the area into another picture; crops keeping 10, 15 and 30 % of the area off-centre; a
phone photo of a print (perspective, blur, brightness, JPEG); heavy re-encoding. Graphics
add look-alikes: the same template with other text or data, the same data drawn another
way, another screen of the same application — none of which may be served, as they are
nor pasted into another picture.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.distractors import pictures as distractor_pictures
from bench.quality import (
    RGB,
    Outcome,
    Query,
    calibration_table,
    load_photos,
    report,
    run_tongtu,
    search_all,
    table,
)
from bench.record import Table, conditions, save
from corpus.families import FAMILIES, WHOLE_FAMILIES, Edit, augly, to_pil, to_rgb
from corpus.graphics import graphics_pool, screens_pool
from tongtu.engine import Engine, Source
from tongtu.errors import TongtuError
from tongtu.features import settle_native_threads, shrink
from tongtu.features.descriptor import DEFAULT_MODEL, SHORT_SIDE
from tongtu.features.matcher import MatchPolicy
from tongtu.imaging import decode_image
from tongtu.settings import Settings


def _collage(pictures: list[RGB], bg: RGB, r: np.random.Generator) -> RGB | None:
    """`pictures` pasted side by side onto `bg` (AugLy), each at 8-25 % of the frame
    (less when four must fit), none overlapping another; None when they do not fit."""
    F = augly()
    out = to_pil(bg)
    W, H = out.size
    placed: list[tuple[float, float, float, float]] = []
    for im in pictures:
        h, w = im.shape[:2]
        for _ in range(200):
            area = float(r.uniform(0.08, min(0.25, 0.75 / len(pictures))))
            s = float(np.sqrt(area * W * H / (w * h)))
            pw, ph = s * w, s * h
            if pw > W * 0.95 or ph > H * 0.95:
                continue
            x, y = float(r.uniform(0, W - pw)), float(r.uniform(0, H - ph))
            gap = 0.02 * min(W, H)
            if all(
                x + pw + gap <= a or a + c + gap <= x or y + ph + gap <= b or b + d + gap <= y
                for a, b, c, d in placed
            ):
                break
        else:
            return None
        placed.append((x, y, pw, ph))
        out = F.overlay_onto_background_image(  # type: ignore[attr-defined]
            to_pil(im),
            background_image=out,
            overlay_size=ph / H,  # AugLy sizes the overlay by its height against the frame's
            x_pos=x / W,
            y_pos=y / H,
            scale_bg=False,
        )
    return to_rgb(out)


@dataclasses.dataclass(frozen=True, slots=True)
class _Draw:
    """The pictures of one pool and draw: those indexed, those left outside the
    library (the negatives), their pixels, and what pictures are pasted into."""

    library: list[str]
    outside: list[str]
    pictures: dict[str, RGB]
    backdrop: dict[str, RGB]


def _collages(draw: _Draw, rng: np.random.Generator, per_family: int) -> list[Query]:
    """Queries holding k = 2, 3, 4 library pictures at once on another picture (a
    catalogue page, a mood board); negatives hold k pictures outside the library."""
    library, outside, pictures = draw.library, draw.outside, draw.pictures
    out: list[Query] = []
    backs = list(draw.backdrop.values())
    n_neg = max(1, per_family // 3)
    for i in range(per_family + n_neg):
        k = 2 + i % 3
        names = [str(n) for n in rng.choice(library if i < per_family else outside, k, False)]
        for _ in range(10):
            made = _collage([pictures[n] for n in names], backs[int(rng.integers(len(backs)))], rng)
            if made is not None:
                break
        if made is None:
            continue
        if i < per_family:
            out.append(Query("collage_k", _fit(made), names[0], "+".join(names), tuple(names[1:])))
        else:
            out.append(Query("collage_k", _fit(made), None, "+".join(names)))
    return out


def collage_table(queries: list[Query], outcomes: list[Outcome], title: str) -> Table:
    """Pictures of the collages found, queries with all k found, wrong served."""
    out = Table(title, ["k", "queries", "pictures found", "all k found", "wrong served"])
    rows: dict[str, list[int]] = {}
    for q, o in zip(queries, outcomes, strict=True):
        if q.family != "collage_k" or not q.truths:
            continue
        served = {ref for ref, _ in o.served}
        found = len(served & q.truths)
        for key in (str(len(q.truths)), "all"):
            row = rows.setdefault(key, [0, 0, 0, 0, 0])
            row[0] += 1
            row[1] += found
            row[2] += len(q.truths)
            row[3] += found == len(q.truths)
            row[4] += len(served - q.truths)
    for key in sorted(rows, key=lambda k: (k == "all", k)):
        n, found, total, all_k, wrong = rows[key]
        out.add(
            key if key != "all" else "**all**",
            n,
            f"{found}/{total} ({100 * found / total:.0f}%)",
            f"{all_k}/{n} ({100 * all_k / n:.0f}%)",
            wrong,
        )
    return out


def _draw_of(key: str) -> str:
    return "dev" if hashlib.sha1(key.encode()).digest()[0] % 2 == 0 else "heldout"


def _poster_photos(photos: dict[str, RGB]) -> list[str]:
    """The photos the graphics pool's posters draw their pictures from."""
    return sorted(photos)[:40]


def _fit(rgb: RGB) -> RGB:
    h, w = rgb.shape[:2]
    if min(h, w) < 50:
        s = 50 / min(h, w)
        rgb = np.asarray(to_pil(rgb).resize((max(50, round(w * s)), max(50, round(h * s)))))
    if max(h, w) > 4096:
        s = 4096 / max(h, w)
        rgb = np.asarray(to_pil(rgb).resize((round(w * s), round(h * s))))
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def build(pool: str, draw: str, seed: int, per_family: int) -> tuple[dict[str, RGB], list[Query]]:
    """The library (name → pixels) and the queries of one pool and draw."""
    rng = np.random.default_rng(seed)
    photos = load_photos()
    lookalikes: dict[str, list[RGB]] = {}
    if pool == "photos":
        pictures = {n: p for n, p in photos.items() if _draw_of(n) == draw}
    else:
        if pool == "screens":
            groups, tag = screens_pool(seed, 48), "screens"
        else:
            groups, tag = (
                graphics_pool(seed, 48, [photos[n] for n in _poster_photos(photos)]),
                "group",
            )
        pictures = {}
        for i, g in enumerate(groups):
            if _draw_of(f"{tag}-{i}") != draw:
                continue
            name = f"{g.kind}-{i}"
            pictures[name] = g.reference
            lookalikes[name] = g.lookalikes
    names = sorted(pictures)
    order = rng.permutation(len(names))
    n_lib = round(len(names) * 2 / 3)
    library = [names[i] for i in order[:n_lib]]
    outside = [names[i] for i in order[n_lib:]]
    # What a picture is pasted into is never indexed: photos outside the library (for
    # the photos), or a photo of the draw that no poster holds (for graphics: a query
    # pasted into a poster's photo is a part of that poster).
    if pool == "photos":
        backdrop = {n: photos[n] for n in outside}
    else:
        held = set(_poster_photos(photos)) if pool == "graphics" else set()
        backdrop = {n: p for n, p in photos.items() if _draw_of(n) == draw and n not in held}
    drawn = _Draw(library, outside, pictures, backdrop)
    queries = _edited(FAMILIES, drawn, rng, per_family)
    for name in library:  # a look-alike of an indexed picture, lightly re-encoded
        for look in lookalikes.get(name, []):
            queries.append(Query("lookalike", _fit(_reencode_light(look, rng)), None, name))
    # last, from generators of their own: the families above keep their draws
    queries += _collages(drawn, np.random.default_rng(seed + 1000), per_family)
    queries += _edited(WHOLE_FAMILIES, drawn, np.random.default_rng(seed + 2000), per_family)
    queries += _pasted_lookalikes(drawn, lookalikes, np.random.default_rng(seed + 3000))
    return {n: pictures[n] for n in library}, queries


def _pasted_lookalikes(
    draw: _Draw, lookalikes: dict[str, list[RGB]], rng: np.random.Generator
) -> list[Query]:
    """One look-alike of each indexed picture that has them, pasted into another picture
    as `paste_5_20` pastes a copy (negatives): a part of the query is then the
    look-alike alone, searched as a whole query would be, and more (its cells, the
    boxes its rectangles and followed cells draw) that a whole query is not."""
    paste = FAMILIES["paste_5_20"]
    backgrounds = list(draw.backdrop.values())
    out: list[Query] = []
    for name in draw.library:
        looks = lookalikes.get(name, [])
        if looks:
            look = looks[int(rng.integers(len(looks)))]
            out.append(Query("lookalike_paste", _fit(paste(look, rng, backgrounds)), None, name))
    return out


def _edited(
    families: dict[str, Edit], draw: _Draw, rng: np.random.Generator, per_family: int
) -> list[Query]:
    """For each family, `per_family` edits of indexed pictures and a third as many of
    pictures outside the library (negatives)."""
    library, outside = draw.library, draw.outside
    queries: list[Query] = []
    for fam, edit in families.items():
        n_neg = max(1, per_family // 3)
        picks = [
            *((str(n), True) for n in rng.choice(library, min(per_family, len(library)), False)),
            *((str(n), False) for n in rng.choice(outside, min(n_neg, len(outside)), False)),
        ]
        for name, indexed in picks:
            backgrounds = [p for n, p in draw.backdrop.items() if n != name]
            rgb = _fit(edit(draw.pictures[name], rng, backgrounds))
            queries.append(Query(fam, rgb, name if indexed else None, name))
    return queries


def _reencode_light(im: RGB, r: np.random.Generator) -> RGB:
    F = augly()
    return to_rgb(F.encoding_quality(to_pil(im), quality=int(r.integers(60, 90))))  # type: ignore[attr-defined]


def add_distractors(
    engine: Engine, items: dict[str, RGB], queries: list[Query], n: int, seed: int
) -> dict[str, str]:
    """Index `n` unrelated pictures (bench/distractors.py) in the library "bench", less
    those within cosine 0.5 of a library picture, a query or any of the shared photos
    (a copy of one is no distractor: the photos are pasted into queries, and are the
    pictures of the graphics' posters): the names of those indexed, by cont_sign."""
    lib = engine.library("bench", create=True)
    extractor = engine._extractor

    def describe(rgb: RGB) -> np.ndarray:
        return extractor.describe(shrink(rgb), SHORT_SIDE)

    pictures = [*items.values(), *(q.rgb for q in queries), *load_photos().values()]
    ours = np.stack([describe(rgb) for rgb in pictures])
    indexed: dict[str, str] = {}
    for name, data in distractor_pictures(n, seed):
        try:
            rgb = decode_image(data).rgb
        except TongtuError:
            continue
        if float(np.max(ours @ describe(rgb))) >= 0.5:
            continue
        try:
            added = engine.add(lib, Source(image=data), f"distractor {name}"[:200])
        except TongtuError:  # the same pixels under another name
            continue
        indexed[added.record.cont_sign] = f"distractor {name}"
    return indexed


def _policy_fields(text: str) -> dict[str, Any]:
    """`small_look=256;352,grid_side=224`: MatchPolicy fields, each parsed as its
    default's type (a tuple from `2;3`, an empty one from nothing)."""
    fields: dict[str, Any] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        default = getattr(MatchPolicy(), key)  # AttributeError names a field that is not
        if isinstance(default, tuple):
            kind = type(default[0]) if default else int
            fields[key] = tuple(kind(v) for v in value.split(";") if v)  # empty: ()
        else:
            fields[key] = type(default)(value)
    return fields


def main() -> None:
    settle_native_threads()  # as the server and the CLI run
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--draw", choices=["dev", "heldout"], default="heldout")
    ap.add_argument("--pools", default="photos,graphics")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--per-family", type=int, default=9)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--name", help="bench/results/NAME.json (default hard-DRAW)")
    ap.add_argument(
        "--baseline",
        action="store_true",
        help="also search the same library with features alone and no query regions",
    )
    ap.add_argument(
        "--families",
        help="only these families, comma-separated (the queries are drawn as in a full run)",
    )
    ap.add_argument(
        "--grid",
        help="search without the query's grid, then again with these grid cells, e.g. 2,3 "
        "(MatchPolicy.query_grid; the default's are 2,3)",
    )
    ap.add_argument(
        "--with",
        dest="also",
        action="append",
        default=[],
        metavar="FIELD=VALUE,...",
        help="also search with these MatchPolicy fields changed, e.g. small_look=320 "
        "(may be given again: one more search each)",
    )
    ap.add_argument(
        "--distractors",
        type=int,
        default=0,
        help="index this many unrelated real pictures beside each pool's library "
        "(bench/distractors.py; those within cosine 0.5 of a bench picture left out)",
    )
    ap.add_argument(
        "--parts",
        type=int,
        default=Settings.model_fields["reference_parts"].default,
        help="features kept per part of a library picture (TONGTU_REFERENCE_PARTS; "
        "default: its default)",
    )
    args = ap.parse_args()
    # the same library searched again under each of these (label, changed policy fields)
    variants: list[tuple[str, dict[str, Any]]] = []
    if args.grid:
        variants.append(
            (f"grid {args.grid}", _policy_fields(f"query_grid={args.grid.replace(',', ';')}"))
        )
    for also in args.also:
        variants.append((f"with {also}", _policy_fields(also)))
    cond = conditions(
        draw=args.draw,
        seed=args.seed,
        positives_per_family=args.per_family,
        model=args.model,
        pools=args.pools,
        reference_parts=args.parts,
        **({"distractors": args.distractors} if args.distractors else {}),
    )
    tables: list[Table] = []
    results: dict[str, object] = {}
    for pool in args.pools.split(","):
        start = time.perf_counter()
        items, queries = build(pool, args.draw, args.seed, args.per_family)
        if args.families:
            queries = [q for q in queries if q.family in args.families.split(",")]
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=Path(tmp),
                model=args.model,
                reference_parts=args.parts,
                **({"query_grid": []} if args.grid else {}),
            )
            engine = Engine.open(settings)
            policy = engine.policy  # each variant is this one with its fields changed
            beside: dict[str, str] = {}
            if args.distractors:
                beside = add_distractors(engine, items, queries, args.distractors, args.seed)
                print(f"pool {pool}: {len(beside)} distractors indexed", file=sys.stderr)
            outcomes, names = run_tongtu(engine, items, queries, beside)
            if args.baseline:  # the same library, searched the way it was before the rule
                engine.policy = MatchPolicy(check_pixels=False, query_regions=0)
                base = search_all(engine, names, queries)
            runs = [("tongtu", outcomes)]
            for label, fields in variants:
                engine.policy = dataclasses.replace(policy, **fields)
                runs.append((label, search_all(engine, names, queries)))
            engine.close()
        reports = [report("tongtu", queries, outcomes)]
        if args.baseline:
            reports.append(report("features-alone", queries, base))
        reports += [report(label, queries, got) for label, got in runs[1:]]
        print(
            f"pool {pool}: library {len(items)}, {len(queries)} queries, "
            f"{time.perf_counter() - start:.0f} s",
            file=sys.stderr,
        )
        where = f"{pool} (library {len(items)}, {len(queries)} queries)"
        families, overall = table(reports, f"{where}: per family")
        overall.title = f"{where}: overall"
        tables += [families, overall, calibration_table(reports[0], f"{pool}: what a score means")]
        for system, got in runs:
            if any(q.family == "collage_k" for q in queries):
                tables.append(collage_table(queries, got, f"{where}: collage of k, {system}"))
        for rep in reports:
            key = pool if rep.system == "tongtu" else f"{pool}-{rep.system.replace(' ', '-')}"
            results[key] = {"per_family": rep.per_family, "overall": rep.overall}
    save(args.name or f"hard-{args.draw}", cond, tables, results)


if __name__ == "__main__":
    main()
