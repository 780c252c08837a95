"""Bounded loopback load test: concurrent clients mixing add, search, update and delete.

    python -m bench.load [--clients 16] [--seconds 60]        # or: make bench-load

Starts a real server process on a fresh data directory, runs the clients through the
native API (tongtu.client) for the given time, then checks every write: each image
acknowledged as added and not deleted is there with the brief last acknowledged, each
acknowledged delete is gone. Prints one table: operations, throughput, p50 / p95 by
operation, errors, lost writes.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from bench.record import Table, conditions, save
from bench.server import Served, serve
from corpus.photos import PHOTOS
from tongtu.client import Client

MIX = (("search", 0.5), ("add", 0.2), ("update", 0.15), ("delete", 0.15))


@dataclass
class Outcome:
    clients: int
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    checked: int = 0
    # the server's resident memory (MB): started, after the load, after IDLE s of rest
    rss: dict[str, float] = field(default_factory=dict)

    @property
    def operations(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def tables(self) -> list[Table]:
        ops = Table(
            "operations", ["operation", "count", "per second", "p50 ms", "p95 ms"],
            align=["---"] + ["---:"] * 4,
        )  # fmt: skip
        for op, _ in MIX:
            lat = np.array(self.latencies.get(op, [0.0])) * 1000
            n = len(self.latencies.get(op, []))
            ops.add(
                op, n, f"{n / self.seconds:.1f}",
                f"{np.percentile(lat, 50):.0f}", f"{np.percentile(lat, 95):.0f}",
            )  # fmt: skip
        every = np.array([x for v in self.latencies.values() for x in v] or [0.0]) * 1000
        ops.add(
            "**all**", self.operations, f"{self.operations / self.seconds:.1f}",
            f"{np.percentile(every, 50):.0f}", f"{np.percentile(every, 95):.0f}",
        )  # fmt: skip
        health = Table(
            "writes and memory",
            ["errors", "writes checked", "lost writes", "server RSS MB"],
        )
        health.add(
            len(self.errors), self.checked, len(self.lost),
            " → ".join(f"{k} {v:.0f}" for k, v in self.rss.items()),
        )  # fmt: skip
        return [ops, health]


IDLE = 20.0  # s the server rests after the load before its memory is read again


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _bases(count: int) -> list[Image.Image]:
    names = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".webp", ".png"))
    out = []
    for path in names[:count]:
        img = Image.open(path)
        img.draft("RGB", (640, 640))
        img = img.convert("RGB")
        img.thumbnail((640, 640))
        out.append(img)
    return out


def _unique(base: Image.Image, rnd: random.Random) -> bytes:
    """The base picture with a random patch: new pixels, so a new cont_sign."""
    img = base.copy()
    w, h = img.size
    patch = Image.new("RGB", (24, 24), tuple(rnd.randrange(256) for _ in range(3)))
    img.paste(patch, (rnd.randrange(w - 24), rnd.randrange(h - 24)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def run(clients: int = 16, seconds: float = 60.0, seed: int = 5) -> Outcome:
    with serve("load") as server:
        return _drive(server, clients, seconds, seed)


def _drive(server: Served, clients: int, seconds: float, seed: int) -> Outcome:
    base, creds = server.base, server.creds
    bases = _bases(24)
    outcome = Outcome(clients, seconds)
    expected: dict[int, str | None] = {}  # image id -> last brief, None = deleted
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    outcome.rss["started"] = _rss_mb(server.pid)

    def client(n: int) -> None:
        rnd = random.Random(seed * 1000 + n)
        mine: list[int] = []
        with Client(base, creds["api_key"], creds["secret_key"], timeout=300) as tt:
            while time.monotonic() < stop:
                op = rnd.choices([m for m, _ in MIX], [w for _, w in MIX])[0]
                if op in ("update", "delete") and not mine:
                    op = "add"
                t = time.perf_counter()
                try:
                    if op == "add":
                        brief = f"c{n}-{rnd.randrange(10**9)}"
                        img = tt.add("load", _unique(rnd.choice(bases), rnd), brief=brief)
                        with lock:
                            expected[img.image.id] = brief
                        mine.append(img.image.id)
                    elif op == "search":
                        tt.search("load", _unique(rnd.choice(bases), rnd), rn=10)
                    elif op == "update":
                        target = rnd.choice(mine)
                        brief = f"u{n}-{rnd.randrange(10**9)}"
                        tt.update("load", target, brief=brief)
                        with lock:
                            expected[target] = brief
                    else:
                        target = mine.pop(rnd.randrange(len(mine)))
                        tt.delete("load", target)
                        with lock:
                            expected[target] = None
                except Exception as exc:
                    with lock:
                        outcome.errors.append(f"{op}: {type(exc).__name__}: {exc}")
                    continue
                with lock:
                    outcome.latencies[op].append(time.perf_counter() - t)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    outcome.seconds = time.monotonic() - started
    outcome.rss["after the load"] = _rss_mb(server.pid)
    time.sleep(IDLE)
    outcome.rss[f"after {IDLE:.0f} s idle"] = _rss_mb(server.pid)

    with Client(base, creds["api_key"], creds["secret_key"], timeout=300) as tt:
        stored = {img.id: img.brief for img in tt.images("load", page_size=200)}
    for image_id, brief in expected.items():
        outcome.checked += 1
        if brief is None and image_id in stored:
            outcome.lost.append(f"image {image_id}: deleted but still there")
        elif brief is not None and stored.get(image_id) != brief:
            outcome.lost.append(f"image {image_id}: {stored.get(image_id)!r} != {brief!r}")
    return outcome


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    outcome = run(args.clients, args.seconds)
    cond = conditions(
        server="one process, default settings, loopback",
        clients=args.clients,
        seconds=round(outcome.seconds),
    )
    save("load", cond, outcome.tables())
    for line in (outcome.errors + outcome.lost)[:20]:
        print("  ", line)
    sys.exit(1 if outcome.errors or outcome.lost else 0)


if __name__ == "__main__":
    main()
