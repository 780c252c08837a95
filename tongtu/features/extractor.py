"""The extractor: a picture's descriptor and local features, found the fastest way this
machine allows (`Extractor`), and what is kept of them for a query and a reference.
`Extractor` alone knows which runtime runs the model."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import cv2
import faiss
import numpy as np
from numpy.typing import NDArray

from tongtu.features.descriptor import (
    BatchingDescriptor,
    Descriptor,
    Embeds,
    Runtime,
    cosine_scale,
    model_path,
    unscaled,
)
from tongtu.features.local import (
    QUERY_FEATURES,
    REF_FEATURES,
    WORK_SIDE,
    LocalFeatures,
    extract_local,
    sized_gray,
    stretch_gain,
)


@dataclass(frozen=True, slots=True)
class ReferenceFeatures:
    """What is stored for a library image."""

    embedding: NDArray[np.float32]
    local: LocalFeatures


class QueryFeatures:
    """What a search computes for its query; the mirrored features only when asked."""

    def __init__(
        self,
        rgb: NDArray[np.uint8],
        embedding: NDArray[np.float32],
        local: LocalFeatures,
        side: int = WORK_SIDE,
    ) -> None:
        self._rgb = rgb
        self.embedding = embedding
        self.local = local
        self._side = side  # the longer side of the work image its features are found on
        self._small: dict[int, QueryFeatures] = {}

    @property
    def rgb(self) -> NDArray[np.uint8]:
        """The query's work image (its longer side at most WORK_MAX)."""
        return self._rgb

    @cached_property
    def local_flipped(self) -> LocalFeatures:
        return extract_local(self._rgb, QUERY_FEATURES, flip=True, side=self._side)

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

    def seen_small(self, side: int) -> QueryFeatures:
        """The query with its local features found on a work image of longer side
        `side`: a crop of a picture, seen at the scale of the picture's own features."""
        if side not in self._small:
            local = extract_local(self._rgb, QUERY_FEATURES, side=side)
            self._small[side] = QueryFeatures(self._rgb, self.embedding, local, side)
        return self._small[side]

    @cached_property
    def _grey(self) -> NDArray[np.uint8]:
        """The query's grey picture at the size it was given: `gray` and `stretched`."""
        return np.asarray(cv2.cvtColor(self._rgb, cv2.COLOR_RGB2GRAY), np.uint8)

    @cached_property
    def gray(self) -> NDArray[np.uint8]:
        """The grey work image the local features were found on (unmirrored)."""
        return sized_gray(self._grey, self._side)

    @cached_property
    def stretched(self) -> float:
        """How many times `stretch` raises the query's contrast (a crop of a dark part of
        a picture far more than the picture), read on its grey picture at the size it
        was given: the work image `gray` was stretched by the histogram of its resized
        copy, which differs from it by the resampling only."""
        return stretch_gain(self._grey)

    def guide(self, flipped: bool) -> LocalFeatures:
        """The features the guided check carries a reference's to: the query's own."""
        return self.local_flipped if flipped else self.local


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


class _Plans:
    """Which way to run an extraction that has the cores to itself is fastest here,
    measured on the extractions themselves: the descriptor on all its threads, then the
    local features ("in turn"); the descriptor on one thread while another thread finds
    the local features ("beside"); or on all its threads while another finds them
    ("beside, all threads"). It depends on the model, the number of features and the
    machine — on two cores, adding with sscd_distilled 22 ms beside against 33 in turn,
    with sscd 88 in turn against 133 beside — so each is timed `FIRST` times, by turns,
    then kept up to date by one run in `EXPLORE` of another."""

    PLANS = ("in turn", "beside", "beside, all threads")
    FIRST = 4
    EXPLORE = 32

    def __init__(self) -> None:
        self._cost: dict[str, float | None] = dict.fromkeys(self.PLANS)
        self._runs = 0
        self._lock = threading.Lock()

    def pick(self) -> str:
        with self._lock:
            self._runs += 1
            n = len(self.PLANS)
            if self._runs <= n * self.FIRST:
                return self.PLANS[self._runs % n]
            ranked = sorted(self.PLANS, key=lambda plan: self._cost[plan] or 0.0)
            if self._runs % self.EXPLORE == 0:  # the others, by turns
                return ranked[1 + (self._runs // self.EXPLORE) % (n - 1)]
            return ranked[0]

    def record(self, plan: str, seconds: float) -> None:
        """One run's time into the plan's moving average. Not per pixel: the descriptor
        sees every picture at 288 px on its shorter side and the local features at most
        1024 px, so a run costs about the same whatever the picture's size."""
        with self._lock:
            old = self._cost[plan]
            self._cost[plan] = seconds if old is None else 0.9 * old + 0.1 * seconds

    def chosen(self) -> str | None:
        """The plan an extraction alone takes now; None before all are timed."""
        with self._lock:
            if any(cost is None for cost in self._cost.values()):
                return None
            return min(self.PLANS, key=lambda plan: self._cost[plan] or 0.0)


class Extractor:
    def __init__(
        self,
        runtime: Runtime,
        ref_features: int = REF_FEATURES,
        single_thread: Callable[[], Runtime] | None = None,
        threads: int = 2,
        batch: int = 1,
        scale: Callable[[float], float] = unscaled,
    ) -> None:
        """`batch` > 1: pictures from concurrent callers run in batches
        (`BatchingDescriptor`, the GPU path). `scale`: the model's cosines on the
        score's scale (`cosine_scale`)."""
        self.scale = scale
        self._batching = BatchingDescriptor(runtime, batch) if batch > 1 else None
        self._descriptor: Embeds = self._batching or Descriptor(runtime)
        self.ref_features = ref_features
        self._single_thread = single_thread
        self._parallel: Embeds | None = None
        self._lock = threading.Lock()
        self._in_progress = 0
        # one choice for adds, one for queries (they find different numbers of features)
        self._plans: defaultdict[int, _Plans] = defaultdict(_Plans)
        # Finds a query's local features while the descriptor runs (`query`).
        self._local = ThreadPoolExecutor(max(1, threads), thread_name_prefix="tongtu-local")

    @classmethod
    def from_model(
        cls,
        model: str,
        threads: int,
        ref_features: int = REF_FEATURES,
        device: str = "cpu",
        batch: int = 32,
    ) -> Extractor:
        """`device`: `cpu`, or `cuda` (one session on the GPU serves every caller, in
        batches of up to `batch` pictures: the one-thread CPU sessions of a bulk import
        are for sharing CPU cores)."""
        from tongtu.features.onnx import OnnxRuntime

        path = model_path(model)
        scale = cosine_scale(model)
        if device != "cpu":
            runtime = OnnxRuntime(path, threads, device)
            return cls(runtime, ref_features, threads=threads, batch=batch, scale=scale)
        single = None if threads == 1 else (lambda: OnnxRuntime(path, 1))
        return cls(OnnxRuntime(path, threads), ref_features, single, threads, scale=scale)

    def reference(self, rgb: NDArray[np.uint8], parallel: bool = False) -> ReferenceFeatures:
        """`parallel`: one of several extractions running at once (a bulk import), each
        with one descriptor thread — several multi-threaded runs at once oversubscribe the
        cores (on 2 cores, 2 workers: 8.4–9.0 images/s with two threads each, 10.6–13.3
        with one). An extraction that finds others running (concurrent adds to a server)
        does the same; one that runs alone takes the faster of two `_Plans`."""
        embedding, local = self._extract(rgb, self.ref_features, parallel)
        return ReferenceFeatures(embedding, local)

    def describe(self, rgb: NDArray[np.uint8], short_side: int) -> NDArray[np.float32]:
        """The descriptor alone, of a picture seen at `short_side` px (a part of a query,
        whose local features are found only if its candidates call for them)."""
        return self._descriptor.embed(rgb, short_side)

    def query(self, rgb: NDArray[np.uint8]) -> QueryFeatures:
        embedding, local = self._extract(rgb, QUERY_FEATURES, parallel=False)
        return QueryFeatures(rgb, embedding, local)

    def _extract(
        self, rgb: NDArray[np.uint8], features: int, parallel: bool
    ) -> tuple[NDArray[np.float32], LocalFeatures]:
        with self._running() as alone:
            if parallel or not alone:
                return self._parallel_descriptor().embed(rgb), extract_local(rgb, features)
            plans = self._plans[features]
            plan = plans.pick()
            one_thread = self._parallel_descriptor()  # made before the clock starts
            start = time.perf_counter()
            if plan == "in turn":
                embedding = self._descriptor.embed(rgb)
                local = extract_local(rgb, features)
            else:  # the descriptor here, the local features in another thread
                found = self._local.submit(extract_local, rgb, features)
                descriptor = one_thread if plan == "beside" else self._descriptor
                embedding = descriptor.embed(rgb)
                local = found.result()
            plans.record(plan, time.perf_counter() - start)
            return embedding, local

    @contextlib.contextmanager
    def _running(self) -> Iterator[bool]:
        """Counts the extractions in progress; yields whether this one started alone."""
        with self._lock:
            self._in_progress += 1
            alone = self._in_progress == 1
        try:
            yield alone
        finally:
            with self._lock:
                self._in_progress -= 1

    def _parallel_descriptor(self) -> Embeds:
        if self._single_thread is None:
            return self._descriptor
        with self._lock:  # made on first use: a second session costs memory
            if self._parallel is None:
                self._parallel = Descriptor(self._single_thread())
            return self._parallel

    def close(self) -> None:
        self._local.shutdown(wait=True)
        if self._batching is not None:
            self._batching.close()


def settle_native_threads() -> None:
    """For a process that tongtu owns (the server, the CLI): OpenCV's and FAISS's own
    thread pools would fight onnxruntime's for the same cores; their work here is small
    per call and runs in the callers' threads. Process-wide, so the entry points call it,
    never a library object."""
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)
