"""Unrelated real pictures to index beside a bench's library: a library is not only the
pictures a bench searches for, and every one beside them is a candidate that a query's
whole or any of its parts can be taken for.

They come from Debian packages of pictures made by people — the photographs and
drawings of an educational suite (`gcompris-qt-data`, packed in Qt resource bundles),
the stamps of a children's paint program (`tuxpaint-stamps-default`) and a clip-art
collection (`openclipart-png`) — fetched by package name into .cache/distractors on
first use (`apt-get download`, no root needed). A bench draws `n` of them, the same `n`
for a seed, and leaves out any that is a copy of one of its own pictures
(`related`: the bench decides; the shared photos come partly from the same suite).

    python -m bench.distractors   # fetch, and say how many there are
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["PACKAGES", "pictures"]

ROOT = Path(__file__).resolve().parent.parent / ".cache" / "distractors"
PACKAGES = ("gcompris-qt-data", "tuxpaint-stamps-default", "openclipart-png")
_RASTER = (".png", ".jpg", ".jpeg", ".webp")
_MIN_BYTES = 6000  # icons and sprites below this are not pictures a user would keep


def pictures(n: int, seed: int) -> list[tuple[str, bytes]]:
    """`n` of the pictures (name, encoded bytes), drawn at random by `seed`."""
    files = _files()
    if n > len(files):
        raise SystemExit(f"asked for {n} distractors; {len(files)} are to be had")
    picks = np.random.default_rng(seed).choice(len(files), n, replace=False)
    return [(files[i].name, files[i].read_bytes()) for i in sorted(picks.tolist())]


def _files() -> list[Path]:
    folder = ROOT / "pictures"
    if not (ROOT / "done").exists():
        _fetch(folder)
    return sorted(folder.iterdir())


def _fetch(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()

    def keep(name: str, blob: bytes) -> None:
        digest = hashlib.sha256(blob).hexdigest()
        if len(blob) >= _MIN_BYTES and digest not in seen:
            seen.add(digest)
            (folder / f"{digest[:12]}-{Path(name).name}").write_bytes(blob)

    with tempfile.TemporaryDirectory() as tmp:
        for package in PACKAGES:
            subprocess.run(["apt-get", "download", package], cwd=tmp, check=True)
        for deb in sorted(Path(tmp).glob("*.deb")):
            tree = Path(tmp) / deb.stem
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
            for path in sorted(tree.rglob("*")):
                if path.suffix.lower() in _RASTER:
                    keep(path.name, path.read_bytes())
                elif path.suffix == ".rcc":
                    for name, blob in _rcc_files(path.read_bytes()):
                        if Path(name).suffix.lower() in _RASTER:
                            keep(name, blob)
    (ROOT / "done").write_text(f"{len(seen)}\n")


def _rcc_files(b: bytes) -> list[tuple[str, bytes]]:
    """The files of a Qt resource bundle (`rcc` format 1-3: a tree of 14- or 22-byte
    entries, names in UTF-16, data zlib-compressed where flagged; zstd ones skipped)."""
    if b[:4] != b"qres":
        return []
    version, tree, data, names = struct.unpack(">IIII", b[4:20])
    entry = 22 if version >= 2 else 14
    out: list[tuple[str, bytes]] = []

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", b[names + offset : names + offset + 2])
        start = names + offset + 6
        return b[start : start + 2 * length].decode("utf-16-be")

    def walk(index: int, depth: int) -> None:
        base = tree + index * entry
        name_at, flags = struct.unpack(">IH", b[base : base + 6])
        if flags & 0x02:  # a directory: its children's count and first index
            count, first = struct.unpack(">II", b[base + 6 : base + 14])
            if depth < 32:
                for child in range(first, first + count):
                    walk(child, depth + 1)
            return
        (at,) = struct.unpack(">I", b[base + 10 : base + 14])
        (size,) = struct.unpack(">I", b[data + at : data + at + 4])
        blob = b[data + at + 4 : data + at + 4 + size]
        if flags & 0x04:
            return
        if flags & 0x01:
            blob = zlib.decompress(blob[4:])
        out.append((name(name_at), blob))

    # a bundle this reader does not know: its files are left out
    with contextlib.suppress(struct.error, zlib.error, UnicodeDecodeError):
        walk(0, 0)
    return out


if __name__ == "__main__":
    print(f"{len(_files())} pictures in {ROOT / 'pictures'}")
