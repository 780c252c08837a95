"""Features of a picture: the global descriptor and local features.

`Extractor` is the facade the engine uses; it alone knows which runtime runs the model.
"""

from __future__ import annotations

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
)

__all__ = [
    "DIM",
    "Extractor",
    "LocalFeatures",
    "Match",
    "QueryFeatures",
    "ReferenceFeatures",
    "model_id",
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

    @cached_property
    def local_flipped(self) -> LocalFeatures:
        return extract_local(self._rgb, QUERY_FEATURES, flip=True)


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


_LOCAL_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tongtu-local")


class Extractor:
    def __init__(self, runtime: Runtime, ref_features: int = REF_FEATURES) -> None:
        self._descriptor = Descriptor(runtime)
        self.ref_features = ref_features

    @classmethod
    def from_model(cls, model: str, threads: int, ref_features: int = REF_FEATURES) -> Extractor:
        from tongtu.features.onnx import OnnxRuntime

        # OpenCV's and FAISS's own thread pools would fight onnxruntime's for the same
        # cores; their work here is small per call and runs in the callers' threads.
        cv2.setNumThreads(1)
        faiss.omp_set_num_threads(1)
        return cls(OnnxRuntime(model_path(model), threads), ref_features)

    def reference(self, rgb: NDArray[np.uint8]) -> ReferenceFeatures:
        return ReferenceFeatures(self._descriptor.embed(rgb), extract_local(rgb, self.ref_features))

    def query(self, rgb: NDArray[np.uint8]) -> QueryFeatures:
        """The descriptor here while the local features are found in another thread (both
        release the GIL): a search waits for the slower of the two, not for their sum."""
        local = _LOCAL_POOL.submit(extract_local, rgb, QUERY_FEATURES)
        embedding = self._descriptor.embed(rgb)
        return QueryFeatures(rgb, embedding, local.result())
