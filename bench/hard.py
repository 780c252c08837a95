"""bench/hard: copies at the difficulty users send, made with AugLy, on photos and graphics.

    python -m bench.hard --draw heldout       # the draw to report
    python -m bench.hard --draw dev           # the draw to tune on

Three pools: the shared photos, graphics the bench renders itself (bench/graphics.py:
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
way, another screen of the same application — none of which may be served.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.distractors import pictures as distractor_pictures
from bench.graphics import graphics_pool, screens_pool
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
from tongtu.engine import Engine, Source
from tongtu.errors import TongtuError
from tongtu.features import settle_native_threads, shrink
from tongtu.features.descriptor import DEFAULT_MODEL, SHORT_SIDE
from tongtu.features.matcher import MatchPolicy
from tongtu.imaging import decode_image
from tongtu.settings import Settings

Edit = Callable[[RGB, np.random.Generator, list[RGB]], RGB]


def _augly() -> object:
    """AugLy's image functions. AugLy 1.0 measures meme captions with
    `FreeTypeFont.getsize_multiline`, which Pillow 10 removed, and computes perspective
    coefficients with `np.float`, which NumPy 1.24 removed: both are given back here (from
    `multiline_textbbox` and `float`, what replaced them)."""
    from PIL import ImageDraw, ImageFont

    if not hasattr(np, "float"):
        np.float = float  # type: ignore[attr-defined]

    if not hasattr(ImageFont.FreeTypeFont, "getsize_multiline"):

        def getsize_multiline(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int]:
            box = ImageDraw.Draw(Image.new("L", (1, 1))).multiline_textbbox((0, 0), text, font)
            return int(box[2] - box[0]), int(box[3] - box[1])

        ImageFont.FreeTypeFont.getsize_multiline = getsize_multiline  # type: ignore[attr-defined]
    import augly.image.functional as F

    return F


def _pil(rgb: RGB) -> Image.Image:
    return Image.fromarray(rgb)


def _rgb(img: Image.Image) -> RGB:
    return np.ascontiguousarray(np.asarray(img.convert("RGB")), dtype=np.uint8)


def _screenshot(template: str) -> Edit:
    def edit(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
        F = _augly()
        import augly.utils as utils

        path = os.path.join(utils.SCREENSHOT_TEMPLATES_DIR, f"{template}.png")
        return _rgb(F.overlay_onto_screenshot(_pil(im), template_filepath=path))  # type: ignore[attr-defined]

    return edit


def _meme(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    F = _augly()
    text = str(r.choice(["LOL", "WHEN YOU SEE IT", "monday again", "so true", "ME IRL"]))
    h = im.shape[0]
    return _rgb(F.meme_format(_pil(im), text=text, caption_height=max(40, h // 5)))  # type: ignore[attr-defined]


def _text(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    F = _augly()
    # AugLy writes characters of its font's charset by index
    text = [[int(c) for c in r.integers(0, 90, size=int(r.integers(6, 14)))] for _ in range(2)]
    return _rgb(
        F.overlay_text(  # type: ignore[attr-defined]
            _pil(im),
            text=text,
            font_size=float(r.uniform(0.08, 0.15)),
            x_pos=float(r.uniform(0, 0.3)),
            y_pos=float(r.uniform(0, 0.7)),
            color=tuple(int(c) for c in r.integers(0, 256, 3)),
        )
    )


def _emoji(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    F = _augly()
    return _rgb(
        F.overlay_emoji(  # type: ignore[attr-defined]
            _pil(im),
            emoji_size=float(r.uniform(0.2, 0.35)),
            x_pos=float(r.uniform(0, 0.6)),
            y_pos=float(r.uniform(0, 0.6)),
        )
    )


def _paste(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    """The picture pasted at 5-20 % of the area into another picture of the pool."""
    F = _augly()
    bg = pool[int(r.integers(len(pool)))]
    area = float(r.uniform(0.05, 0.20))
    # AugLy sizes the overlay by its height against the background's
    ratio = (im.shape[1] / im.shape[0]) / (bg.shape[1] / bg.shape[0])
    size = float(np.clip(np.sqrt(area / ratio), 0.1, 0.9))
    return _rgb(
        F.overlay_onto_background_image(  # type: ignore[attr-defined]
            _pil(im),
            background_image=_pil(bg),
            overlay_size=size,
            x_pos=float(r.uniform(0, max(0.0, 1 - size * ratio))),
            y_pos=float(r.uniform(0, 1 - size)),
            scale_bg=False,
        )
    )


def _crop(area: float) -> Edit:
    def edit(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
        F = _augly()
        side = float(np.sqrt(area))
        x1 = float(r.uniform(0, 1 - side))
        y1 = float(r.uniform(0, 1 - side))
        out = F.crop(_pil(im), x1=x1, y1=y1, x2=x1 + side, y2=y1 + side)  # type: ignore[attr-defined]
        return _rgb(out)

    return edit


def _phone_photo(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    """A print photographed with a phone: perspective, a little blur, light, JPEG."""
    F = _augly()
    img = F.perspective_transform(
        _pil(im), sigma=float(r.uniform(30, 60)), seed=int(r.integers(1 << 30))
    )  # type: ignore[attr-defined]
    img = F.blur(img, radius=float(r.uniform(0.8, 2.0)))  # type: ignore[attr-defined]
    img = F.brightness(img, factor=float(r.uniform(0.7, 1.3)))  # type: ignore[attr-defined]
    return _rgb(F.encoding_quality(img, quality=int(r.integers(40, 75))))  # type: ignore[attr-defined]


def _reencode(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    F = _augly()
    img = F.scale(_pil(im), factor=float(r.uniform(0.3, 0.6)))  # type: ignore[attr-defined]
    return _rgb(F.encoding_quality(img, quality=int(r.integers(10, 30))))  # type: ignore[attr-defined]


FAMILIES: dict[str, Edit] = {
    "screenshot_web": _screenshot("web"),
    "screenshot_mobile": _screenshot("mobile"),
    "meme": _meme,
    "text_overlay": _text,
    "emoji": _emoji,
    "paste_5_20": _paste,
    "crop_10": _crop(0.10),
    "crop_15": _crop(0.15),
    "crop_30": _crop(0.30),
    "phone_photo": _phone_photo,
    "reencode_small": _reencode,
}


def _blur(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    """Gaussian blur of 2-4 px per 1000 px of the picture's diagonal."""
    F = _augly()
    diagonal = float(np.hypot(*im.shape[:2]))
    radius = float(r.uniform(2, 4)) * diagonal / 1000
    return _rgb(F.blur(_pil(im), radius=radius))  # type: ignore[attr-defined]


def _mirror(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    F = _augly()
    img = F.hflip(_pil(im))  # type: ignore[attr-defined]
    return _rgb(F.encoding_quality(img, quality=int(r.integers(70, 90))))  # type: ignore[attr-defined]


def _border(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    """A solid border of 5-25 % of the picture's size on each side, in one colour."""
    F = _augly()
    factor = float(r.uniform(0.05, 0.25))
    colour = tuple(int(c) for c in r.integers(0, 256, 3))
    return _rgb(F.pad(_pil(im), w_factor=factor, h_factor=factor, color=colour))  # type: ignore[attr-defined]


def _half_text_jpeg(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    """A crop keeping 50 %, a caption over it, JPEG quality 40."""
    F = _augly()
    cropped = _crop(0.5)(im, r, pool)
    captioned = _text(cropped, r, pool)
    return _rgb(F.encoding_quality(_pil(captioned), quality=40))  # type: ignore[attr-defined]


# Copies that keep the whole picture, or most of it (the graphics issue's families):
# drawn after the others from a generator of their own, so those keep their draws.
WHOLE_FAMILIES: dict[str, Edit] = {
    "blur": _blur,
    "mirror": _mirror,
    "border": _border,
    "crop_50_text_q40": _half_text_jpeg,
}


def _collage(pictures: list[RGB], bg: RGB, r: np.random.Generator) -> RGB | None:
    """`pictures` pasted side by side onto `bg` (AugLy), each at 8-25 % of the frame
    (less when four must fit), none overlapping another; None when they do not fit."""
    F = _augly()
    out = _pil(bg)
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
            _pil(im),
            background_image=out,
            overlay_size=ph / H,  # AugLy sizes the overlay by its height against the frame's
            x_pos=x / W,
            y_pos=y / H,
            scale_bg=False,
        )
    return _rgb(out)


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


def _fit(rgb: RGB) -> RGB:
    h, w = rgb.shape[:2]
    if min(h, w) < 50:
        s = 50 / min(h, w)
        rgb = np.asarray(_pil(rgb).resize((max(50, round(w * s)), max(50, round(h * s)))))
    if max(h, w) > 4096:
        s = 4096 / max(h, w)
        rgb = np.asarray(_pil(rgb).resize((round(w * s), round(h * s))))
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
            groups, tag = graphics_pool(seed, 48, [photos[n] for n in sorted(photos)][:40]), "group"
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
    # the photos), or any photo of the draw (for graphics, where no photo is indexed).
    if pool == "photos":
        backdrop = {n: photos[n] for n in outside}
    else:
        backdrop = {n: p for n, p in photos.items() if _draw_of(n) == draw}
    drawn = _Draw(library, outside, pictures, backdrop)
    queries = _edited(FAMILIES, drawn, rng, per_family)
    for name in library:  # a look-alike of an indexed picture, lightly re-encoded
        for look in lookalikes.get(name, []):
            queries.append(Query("lookalike", _fit(_reencode_light(look, rng)), None, name))
    # last, from generators of their own: the families above keep their draws
    queries += _collages(drawn, np.random.default_rng(seed + 1000), per_family)
    queries += _edited(WHOLE_FAMILIES, drawn, np.random.default_rng(seed + 2000), per_family)
    return {n: pictures[n] for n in library}, queries


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
    F = _augly()
    return _rgb(F.encoding_quality(_pil(im), quality=int(r.integers(60, 90))))  # type: ignore[attr-defined]


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
