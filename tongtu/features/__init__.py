"""Features of a picture: the global descriptor and local features.

`Extractor` is the facade the engine uses; it alone knows which runtime runs the model.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import cv2
import faiss
import numpy as np
from numpy.typing import NDArray

from tongtu.features.descriptor import DIM, Descriptor, Runtime, model_id, model_path
from tongtu.features.local import (
    QUERY_FEATURES,
    REF_FEATURES,
    LocalFeatures,
    Match,
    extract_local,
    verify,
    work_gray,
)

__all__ = [
    "DIM",
    "Extractor",
    "LocalFeatures",
    "Match",
    "QueryFeatures",
    "ReferenceFeatures",
    "model_id",
    "settle_native_threads",
    "shrink",
    "verify",
]


@dataclass(frozen=True, slots=True)
class ReferenceFeatures:
    """What is stored for a library image."""

    embedding: NDArray[np.float32]
    local: LocalFeatures


class QueryFeatures:
    """What a search computes for its query; the mirrored features only when asked."""

    def __init__(
        self, rgb: NDArray[np.uint8], embedding: NDArray[np.float32], local: LocalFeatures
    ) -> None:
        self._rgb = rgb
        self.embedding = embedding
        self.local = local

    @property
    def rgb(self) -> NDArray[np.uint8]:
        """The query's work image (its longer side at most WORK_MAX)."""
        return self._rgb

    @cached_property
    def local_flipped(self) -> LocalFeatures:
        return extract_local(self._rgb, QUERY_FEATURES, flip=True)

    def stretch_to(self, width: int, height: int) -> float:
        """How much wider or taller (≥ 1) the query is than a picture of this size."""
        h, w = self._rgb.shape[:2]
        r = float((w / h) / (width / height))
        return max(r, 1.0 / r)

    def reshaped(self, aspect: float) -> QueryFeatures:
        """The query resized to the proportions `aspect` (width / height; same area) with
        its local features found again: a copy stretched in one direction, verified
        against the proportions of the picture it may be a copy of."""
        h, w = self._rgb.shape[:2]
        r = math.sqrt((w / h) / aspect)
        size = (max(1, round(w / r)), max(1, round(h * r)))
        rgb = np.ascontiguousarray(
            cv2.resize(self._rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
        return QueryFeatures(rgb, self.embedding, extract_local(rgb, QUERY_FEATURES))

    @cached_property
    def gray(self) -> NDArray[np.uint8]:
        """The grey work image the local features were found on (unmirrored)."""
        return work_gray(self._rgb)


# Every feature works on at most this many pixels a side (descriptor 864, ORB 800,
# thumbnail 512 by default): one area-resize of a large picture serves them all.
WORK_MAX = 1024


def shrink(rgb: NDArray[np.uint8], side: int = WORK_MAX) -> NDArray[np.uint8]:
    """The picture with its longer side at most `side` (area-averaged), else itself."""
    h, w = rgb.shape[:2]
    if max(h, w) <= side:
        return rgb
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


class Extractor:
    def __init__(
        self,
        runtime: Runtime,
        ref_features: int = REF_FEATURES,
        single_thread: Callable[[], Runtime] | None = None,
        threads: int = 2,
    ) -> None:
        self._descriptor = Descriptor(runtime)
        self.ref_features = ref_features
        self._single_thread = single_thread
        self._parallel: Descriptor | None = None
        self._lock = threading.Lock()
        # Finds a query's local features while the descriptor runs (`query`).
        self._local = ThreadPoolExecutor(max(1, threads), thread_name_prefix="tongtu-local")

    @classmethod
    def from_model(
        cls, model: str, threads: int, ref_features: int = REF_FEATURES, device: str = "cpu"
    ) -> Extractor:
        """`device`: `cpu`, or `cuda` (one session on the GPU serves every caller: the
        one-thread CPU sessions of a bulk import are for sharing CPU cores)."""
        from tongtu.features.onnx import OnnxRuntime

        path = model_path(model)
        if device != "cpu":
            return cls(OnnxRuntime(path, threads, device), ref_features, threads=threads)
        single = None if threads == 1 else (lambda: OnnxRuntime(path, 1))
        return cls(OnnxRuntime(path, threads), ref_features, single, threads)

    def reference(self, rgb: NDArray[np.uint8], parallel: bool = False) -> ReferenceFeatures:
        """`parallel`: one of several extractions running at once (a bulk import), each
        with one descriptor thread — several multi-threaded runs at once oversubscribe the
        cores (on 2 cores, 2 workers: 8.4–9.0 images/s with two threads each, 10.6–13.3
        with one)."""
        descriptor = self._parallel_descriptor() if parallel else self._descriptor
        return ReferenceFeatures(descriptor.embed(rgb), extract_local(rgb, self.ref_features))

    def _parallel_descriptor(self) -> Descriptor:
        if self._single_thread is None:
            return self._descriptor
        with self._lock:  # made on first use: a second session costs memory
            if self._parallel is None:
                self._parallel = Descriptor(self._single_thread())
            return self._parallel

    def query(self, rgb: NDArray[np.uint8]) -> QueryFeatures:
        """The descriptor here while the local features are found in another thread (both
        release the GIL): a search waits for the slower of the two, not for their sum."""
        local = self._local.submit(extract_local, rgb, QUERY_FEATURES)
        embedding = self._descriptor.embed(rgb)
        return QueryFeatures(rgb, embedding, local.result())

    def close(self) -> None:
        self._local.shutdown(wait=True)


def settle_native_threads() -> None:
    """For a process that tongtu owns (the server, the CLI): OpenCV's and FAISS's own
    thread pools would fight onnxruntime's for the same cores; their work here is small
    per call and runs in the callers' threads. Process-wide, so the entry points call it,
    never a library object."""
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)
