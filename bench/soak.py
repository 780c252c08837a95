"""Sustained ingest through two workers on one PostgreSQL + Milvus.

    python -m bench.soak [--adds 10000] [--clients 4] [--every 1000]

A throw-away PostgreSQL cluster at its default `max_connections` (100), `milvus-lite
server`, and two `tongtu serve` processes on the same stores; `--clients` threads add
distinct pictures one by one over the native API, alternating between the workers.
Every `--every` adds it records the rate, PostgreSQL's sessions and each worker's
memory; at the end every acknowledged add must be listed once and `tongtu check` must
find nothing wrong. Prints a summary and the series (bench/results/soak.json).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.perf import _photo_files
from bench.record import Table, conditions, save
from bench.server import free_port, wait_port
from tongtu.client import ApiError, Client

ROOT = Path(__file__).resolve().parents[1]
SIDE = 384  # pictures of a phone upload's thumbnail size: the adds' fixed costs dominate


def pictures(n: int, seed: int = 34) -> list[tuple[int, int, int, int, int]]:
    """Where each added picture comes from: (photo, x, y, w, h) of a crop, all distinct."""
    rng = np.random.default_rng(seed)
    out = []
    seen = set()
    while len(out) < n:
        item = (int(rng.integers(1 << 30)), *(int(v) for v in rng.integers(0, 1000, 4)))
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def render(photos: list[Image.Image], spec: tuple[int, int, int, int, int]) -> bytes:
    photo = photos[spec[0] % len(photos)]
    w, h = photo.size
    cw, ch = int(w * (0.5 + spec[3] / 2000)), int(h * (0.5 + spec[4] / 2000))
    x, y = int((w - cw) * spec[1] / 1000), int((h - ch) * spec[2] / 1000)
    img = photo.crop((x, y, x + cw, y + ch))
    img.thumbnail((SIDE, SIDE))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--adds", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1, help="TONGTU_THREADS of each worker")
    args = ap.parse_args()

    photos = []
    for f in _photo_files()[:64]:
        img = Image.open(f)
        img.thumbnail((1024, 1024))
        photos.append(img.convert("RGB"))
    specs = pictures(args.adds)

    root = Path(tempfile.mkdtemp(prefix="tongtu-soak-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="tongtu-pg-"))
    script = str(ROOT / "scripts" / "postgres.sh")
    pg_url = subprocess.run(
        [script, "start", str(pg_dir), str(free_port())], check=True, capture_output=True, text=True
    ).stdout.strip()
    milvus_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    milvus = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(root / "milvus"),
         "--host", "127.0.0.1", "--port", str(milvus_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    procs.append(milvus)
    import psycopg

    def sessions() -> int:
        with psycopg.connect(pg_url, autocommit=True) as c:
            row = c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
            return int(row[0]) if row else -1

    try:
        wait_port(milvus_port, milvus)
        env = {
            **os.environ,
            "TONGTU_CATALOG": pg_url,
            "TONGTU_VECTORS": f"milvus://127.0.0.1:{milvus_port}",
            "TONGTU_THREADS": str(args.threads),
            "TONGTU_QPS_LIMIT": "0",
        }
        cli = [sys.executable, "-m", "tongtu.cli"]
        creds = json.loads(
            subprocess.run(
                [*cli, "apps", "create", "soak", "--json"],
                env={**env, "TONGTU_DATA_DIR": str(root / "cli")},
                check=True,
                capture_output=True,
            ).stdout
        )
        workers = []
        for k in range(2):
            port = free_port()
            data = root / f"w{k}"
            data.mkdir()
            log = (data / "server.log").open("wb")
            proc = subprocess.Popen(
                [*cli, "serve", "--port", str(port)],
                env={**env, "TONGTU_DATA_DIR": str(data)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            procs.append(proc)
            wait_port(port, proc)
            workers.append((f"http://127.0.0.1:{port}", proc.pid))
        clients = [Client(base, creds["api_key"], creds["secret_key"]) for base, _ in workers]

        start_sessions = sessions()
        start_rss = [rss_mb(pid) for _, pid in workers]
        lock = threading.Lock()
        cursor = iter(range(args.adds))
        acknowledged: list[int] = []
        errors: dict[str, int] = {}
        latencies: list[float] = []
        series: list[tuple[int, float, float, int, float, float, int]] = []
        t0 = time.perf_counter()
        last = [t0, 0]

        def record(done: int) -> None:
            now = time.perf_counter()
            rate = (done - last[1]) / (now - last[0]) if now > last[0] else float("nan")
            last[:] = [now, done]
            rss = [rss_mb(pid) for _, pid in workers]
            series.append((done, now - t0, rate, sessions(), rss[0], rss[1], sum(errors.values())))
            print(f"{done} adds, {rate:.1f}/s, sessions {series[-1][3]}, rss {rss}", flush=True)

        def client_loop() -> None:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                data = render(photos, specs[i])
                t = time.perf_counter()
                try:
                    clients[i % 2].add("soak", data, brief=str(i))
                except ApiError as exc:
                    with lock:
                        key = f"{exc.status} {exc.code}"
                        errors[key] = errors.get(key, 0) + 1
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t)
                    acknowledged.append(i)
                    done = len(acknowledged) + sum(errors.values())
                    if done % args.every == 0:
                        record(done)

        threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        listed = [img.brief for img in clients[1].images("soak", page_size=200)]
        check = subprocess.run(
            [*cli, "check"],
            env={**env, "TONGTU_DATA_DIR": str(root / "cli")},
            capture_output=True,
            text=True,
        )
        summary_row = (
            f"{args.adds:,}",
            f"{len(acknowledged):,}",
            ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0",
            f"{len(acknowledged) / elapsed:.1f}",
            f"{np.percentile(latencies, 50) * 1e3:.0f} / {np.percentile(latencies, 99) * 1e3:.0f}",
            f"{start_sessions} → {min(s[3] for s in series)}-{max(s[3] for s in series)} "
            f"→ {sessions()}",
            " / ".join(
                f"{a:.0f} → {rss_mb(pid):.0f}"
                for a, (_, pid) in zip(start_rss, workers, strict=True)
            ),
            "yes" if sorted(map(int, listed)) == sorted(acknowledged) else f"no ({len(listed)})",
            "clean" if check.returncode == 0 else f"exit {check.returncode}",
        )
        for c in clients:
            c.close()
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run([script, "stop", str(pg_dir)], check=False, capture_output=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    if check.returncode:
        print(check.stdout, check.stderr)

    summary = Table(
        f"{args.adds:,} adds one by one from {args.clients} clients through two `tongtu serve` "
        f"workers (TONGTU_THREADS={args.threads}, TONGTU_CATALOG_POOL default) on one "
        "PostgreSQL (max_connections 100) + milvus-lite server; pictures ≤ "
        f"{SIDE} px, real photos' crops",
        ["adds sent", "acknowledged", "errors", "adds/s", "p50 / p99 ms",
         "PostgreSQL sessions: start → during → end", "worker RSS MB: start → end",
         "every acknowledged add listed", "tongtu check"],
        align=["---:"] * 5 + ["---"] * 4,
    )  # fmt: skip
    summary.add(*summary_row)
    over_time = Table(
        "over time",
        ["adds", "s", "adds/s (last stretch)", "PostgreSQL sessions", "worker 1 RSS MB",
         "worker 2 RSS MB", "errors"],
        align=["---:"] * 7,
    )  # fmt: skip
    for done, at, rate, conns, r1, r2, errs in series:
        over_time.add(done, f"{at:.0f}", f"{rate:.1f}", conns, f"{r1:.0f}", f"{r2:.0f}", errs)
    cond = conditions(threads=args.threads, images=args.adds, process="two workers, loopback")
    save("soak", cond, [summary, over_time])


if __name__ == "__main__":
    main()
