"""A model's cosines on the scale the score was fitted on (full SSCD's).

The score (tongtu/features/score.py) turns a descriptor cosine and a count of inliers into
one number, fitted on `sscd`'s cosines. Another model's run elsewhere: `sscd_distilled`'s
are higher on pictures that are not copies of each other (a look-alike's), so the same
constants would ask it for fewer inliers exactly where look-alikes are. This bench embeds
the same (query, library picture) pairs of bench/hard's draw with both models and matches
their cosines' quantiles over the pairs that are *not* copies: the knots it prints are
the model's map onto `sscd`'s scale (`features/descriptor.py`, `cosine_scale`), so a
look-alike asks for as many inliers under either model.

    python -m bench.calibrate --draw dev --seed 3
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.hard import build
from bench.record import Table, conditions, save
from tongtu.features import Extractor, settle_native_threads, shrink
from tongtu.features.descriptor import SHORT_SIDE

# Where the knots sit: quantiles of the non-copy pairs' cosines (the tail is where the
# score's decisions are made; half of all pairs lie below 0.03 under both models).
QUANTILES = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def cosines(model: str, draw: str, seed: int, per_family: int) -> dict[str, np.ndarray]:
    """Per pool: (is a copy, cosine) of every query against every library picture."""
    out = {}
    extractor = Extractor.from_model(model, 0)
    try:
        for pool in ("photos", "graphics"):
            items, queries = build(pool, draw, seed, per_family)
            names = list(items)
            lib = np.stack([extractor.describe(shrink(items[n]), SHORT_SIDE) for n in names])
            qs = np.stack([extractor.describe(shrink(q.rgb), SHORT_SIDE) for q in queries])
            copy = np.array([[n in q.truths for n in names] for q in queries], dtype=bool)
            out[pool] = np.stack([copy.ravel(), (qs @ lib.T).ravel()], axis=1)
    finally:
        extractor.close()
    return out


def main() -> None:
    settle_native_threads()  # as the server and the CLI run
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="sscd_distilled")
    ap.add_argument("--draw", default="dev", choices=("dev", "heldout"))
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--per-family", type=int, default=9)
    args = ap.parse_args()

    base = cosines("sscd", args.draw, args.seed, args.per_family)
    other = cosines(args.model, args.draw, args.seed, args.per_family)
    is_copy = np.concatenate([base[p][:, 0] for p in base]).astype(bool)
    b = np.concatenate([base[p][:, 1] for p in base])
    o = np.concatenate([other[p][:, 1] for p in base])

    knots_x = [round(float(v), 3) for v in np.quantile(o[~is_copy], QUANTILES)]
    knots_y = [round(float(v), 3) for v in np.quantile(b[~is_copy], QUANTILES)]
    mapped = np.interp(o, [-1.0, *knots_x, 1.0], [-1.0, *knots_y, 1.0])

    knots = Table(
        f"{args.model}'s cosine → sscd's, at quantiles of the pairs that are not copies",
        ["quantile", f"{args.model}", "sscd"],
        align=["---:"] * 3,
    )
    for q, x, y in zip(QUANTILES, knots_x, knots_y, strict=True):
        knots.add(q, f"{x:.3f}", f"{y:.3f}")

    spread = Table(
        "the copies' cosines (quantiles), each model and the other mapped",
        ["copies", "q10", "q50", "q90", "mean − sscd"],
        align=["---", "---:", "---:", "---:", "---:"],
    )
    for label, values in (("sscd", b), (args.model, o), (f"{args.model}, mapped", mapped)):
        q10, q50, q90 = np.quantile(values[is_copy], (0.1, 0.5, 0.9))
        diff = float(np.mean(values[is_copy] - b[is_copy]))
        spread.add(label, f"{q10:.3f}", f"{q50:.3f}", f"{q90:.3f}", f"{diff:+.3f}")

    cond = conditions(
        model=args.model,
        draw=args.draw,
        seed=args.seed,
        pairs=f"{len(b)} ({int(is_copy.sum())} copies)",
    )
    save(
        f"calibrate-{args.model}",
        cond,
        [knots, spread],
        raw={"quantiles": list(QUANTILES), "knots": [knots_x, knots_y]},
    )


if __name__ == "__main__":
    main()
