"""Where the real photos are: ../shared/photos beside the clone, else the copies
scripts/photos.py fetched from the packages that ship them (.cache/photos)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["PHOTOS"]

_ROOT = Path(__file__).resolve().parents[1]
_SHARED = _ROOT.parent / "shared" / "photos"
PHOTOS = _SHARED if _SHARED.is_dir() else _ROOT / ".cache" / "photos"
