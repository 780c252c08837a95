"""`tongtu dedup DIR` on a folder with known copies: the clusters, exactly."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PHOTOS, crop, jpeg, open_photo, photo_names, png

pytestmark = [pytest.mark.slow, pytest.mark.model]

LOOKALIKES = ("kphotoalbum__demo__grand_canyon_1.jpg", "kphotoalbum__demo__grand_canyon_2.jpg")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dedup")
    a_name, b_name, c_name = photo_names()[3], photo_names()[6], photo_names()[9]
    a, b = open_photo(a_name), open_photo(b_name)
    (root / "sub").mkdir()
    files = {
        "a.jpg": (PHOTOS / a_name).read_bytes(),
        "sub/a_small.jpg": jpeg(a.resize((a.width // 3, a.height // 3)), 70),
        "a_crop.png": png(crop(a, 0.75)),
        "a_same.png": png(a),
        "b.webp": (PHOTOS / b_name).read_bytes(),
        "sub/b_q30.jpg": jpeg(b, 30),
        "c.webp": (PHOTOS / c_name).read_bytes(),
        "broken.jpg": (PHOTOS / a_name).read_bytes()[:5000],
        "notes.txt": b"not an image",
    }
    for i, name in enumerate(LOOKALIKES):
        shutil.copy(PHOTOS / name, root / f"canyon{i}.jpg")
    for n, (rel, data) in enumerate(files.items()):
        (root / rel).write_bytes(data)
        os.utime(root / rel, (1_700_000_000 + n, 1_700_000_000 + n))  # a.jpg is the oldest
    return root


def _dedup(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tongtu.cli", "dedup", str(folder), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TONGTU_DATA_DIR": str(folder / ".unused")},
    )


def test_clusters_are_exactly_the_copies(folder: Path) -> None:
    out = _dedup(folder)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    clusters = {
        frozenset(m["path"] for m in c["members"]): c["canonical"] for c in report["clusters"]
    }
    assert clusters == {
        frozenset({"a.jpg", "sub/a_small.jpg", "a_crop.png", "a_same.png"}): "a.jpg",
        frozenset({"b.webp", "sub/b_q30.jpg"}): "b.webp",
    }
    assert report["files"] == 9  # six copies, c, two canyons; broken.jpg is unreadable
    assert [f["path"] for f in report["failed"]] == ["broken.jpg"]
    assert "unreadable: broken.jpg" in out.stderr
    for cluster in report["clusters"]:
        assert cluster["members"][0]["path"] == cluster["canonical"]
        paths = {m["path"] for m in cluster["members"]}
        assert all({p["a"], p["b"]} <= paths and p["score"] >= 0.5 for p in cluster["pairs"])
    assert not (folder / ".unused").exists()  # no library was made


def test_csv_and_html_reports(folder: Path, tmp_path: Path) -> None:
    out = _dedup(folder, "--format", "csv", "--out", str(tmp_path / "d.csv"))
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "d.csv").read_text())))
    assert {r["path"] for r in rows if r["canonical"] == "1"} == {"a.jpg", "b.webp"}
    assert len(rows) == 6
    out = _dedup(folder, "--format", "html", "--out", str(tmp_path / "d.html"))
    page = (tmp_path / "d.html").read_text()
    assert page.count("<section>") == 2 and page.count("data:image/jpeg;base64,") == 6
    assert "sub/a_small.jpg" in page and "canonical" in page
