"""The descriptor session of a bulk import: one thread an extraction, the same vectors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import open_photo, photo_names
from tongtu.features import Extractor, shrink

pytestmark = pytest.mark.model


def test_parallel_extractions_share_one_single_threaded_session() -> None:
    extractor = Extractor.from_model("sscd", threads=2)
    pictures = [shrink(np.asarray(open_photo(n))) for n in photo_names(2000)[:4]]
    with ThreadPoolExecutor(2) as pool:
        parallel = list(pool.map(lambda rgb: extractor.reference(rgb, parallel=True), pictures))
    session = extractor._parallel
    assert session is not None and session is not extractor._descriptor
    assert session._runtime._session.get_session_options().intra_op_num_threads == 1  # type: ignore[attr-defined]
    for rgb, feats in zip(pictures, parallel, strict=True):
        alone = extractor.reference(rgb)
        assert float(np.dot(alone.embedding, feats.embedding)) > 0.9999
        assert (alone.local.descriptors == feats.local.descriptors).all()
    extractor.reference(pictures[0], parallel=True)
    assert extractor._parallel is session  # made once


def test_one_thread_needs_no_second_session() -> None:
    extractor = Extractor.from_model("sscd", threads=1)
    rgb = shrink(np.asarray(open_photo(photo_names(2000)[0])))
    extractor.reference(rgb, parallel=True)
    assert extractor._parallel is None


def test_the_cuda_device_without_its_execution_provider_is_a_clear_error(tmp_path: Path) -> None:
    import onnxruntime as ort

    from tongtu.engine import Engine
    from tongtu.errors import ConfigError
    from tongtu.settings import Settings

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: the GPU path runs instead")
    with pytest.raises(ConfigError, match=r"tongtu\[gpu\]"):
        Engine.open(Settings(data_dir=tmp_path, device="cuda"))


def test_an_extractor_leaves_process_settings_alone_and_closes_its_threads() -> None:
    """OpenCV's and FAISS's thread settings are the process owner's (the server, the
    CLI: settle_native_threads); the extractor's own pool follows its threads and ends
    with it."""
    import cv2
    import faiss

    from tongtu.features import settle_native_threads

    cv2_before, faiss_before = cv2.getNumThreads(), faiss.omp_get_max_threads()
    cv2.setNumThreads(3)
    faiss.omp_set_num_threads(3)
    try:
        extractor = Extractor.from_model("sscd", threads=3)
        rgb = shrink(np.asarray(open_photo(photo_names(2000)[0])))
        extractor.query(rgb)
        assert (cv2.getNumThreads(), faiss.omp_get_max_threads()) == (3, 3)
        assert extractor._local._max_workers == 3
        threads = list(extractor._local._threads)
        assert threads and all(t.is_alive() for t in threads)
        extractor.close()
        assert not any(t.is_alive() for t in threads)
        settle_native_threads()
        assert (cv2.getNumThreads(), faiss.omp_get_max_threads()) == (1, 1)
    finally:
        cv2.setNumThreads(cv2_before)
        faiss.omp_set_num_threads(faiss_before)


def test_an_extraction_alone_takes_the_plan_measured_fastest_and_keeps_timing_the_others() -> None:
    from tongtu.features.extractor import _Plans

    plans = _Plans()
    first = [plans.pick() for _ in range(len(plans.PLANS) * plans.FIRST)]
    assert all(first.count(plan) == plans.FIRST for plan in plans.PLANS)
    cost = {"in turn": 0.030, "beside": 0.020, "beside, all threads": 0.025}
    for plan in first:
        plans.record(plan, cost[plan])
    assert plans.chosen() == "beside"
    later = [plans.pick() for _ in range(plans.EXPLORE * 2)]
    # each of the others is timed again now and then, in case it got faster
    assert later.count("beside") == len(later) - 2
    assert {"in turn", "beside, all threads"} == set(later) - {"beside"}
    for _ in range(40):  # one became faster (another load on the machine)
        plans.record("in turn", 0.010)
    assert plans.chosen() == "in turn"


def test_an_extraction_records_the_plan_it_ran_and_all_give_the_same_features() -> None:
    extractor = Extractor.from_model("sscd_distilled", threads=2)
    rgb = shrink(np.asarray(open_photo(photo_names(2000)[0])))
    plans = extractor._plans[extractor.ref_features]
    runs = [extractor.reference(rgb) for _ in range(len(plans.PLANS) * plans.FIRST)]
    assert plans.chosen() in plans.PLANS
    for feats in runs[1:]:
        assert float(np.dot(feats.embedding, runs[0].embedding)) > 0.9999
        assert (feats.local.descriptors == runs[0].local.descriptors).all()


def _runtime(model: str = "sscd_distilled") -> object:
    from tongtu.features.descriptor import model_path
    from tongtu.features.onnx import OnnxRuntime

    return OnnxRuntime(model_path(model), 1)


def test_concurrent_pictures_of_one_shape_run_in_one_batch_with_the_vectors_of_one_by_one() -> None:
    from tongtu.features.descriptor import BatchingDescriptor, Descriptor

    runtime = _runtime()
    alone = Descriptor(runtime)  # type: ignore[arg-type]
    batching = BatchingDescriptor(runtime, max_batch=16, linger=0.5)  # type: ignore[arg-type]
    pictures = [shrink(np.asarray(open_photo(n))) for n in photo_names(2000)[:6]]
    same_shape = [cv2.resize(p, (400, 300)) for p in pictures]  # all 300 × 400
    other = cv2.resize(pictures[0], (300, 400))
    try:
        with ThreadPoolExecutor(7) as pool:
            vectors = list(pool.map(batching.embed, [*same_shape, other]))
        assert batching.pictures == 7
        assert batching.runs == 2  # one run for each shape
        for rgb, vec in zip([*same_shape, other], vectors, strict=True):
            assert float(np.dot(vec, alone.embed(rgb))) > 0.9999
    finally:
        batching.close()
    with pytest.raises(Exception, match="closed"):
        batching.embed(other)


def test_a_picture_the_runtime_refuses_fails_alone_in_its_batch() -> None:
    from tongtu.errors import ExtractionError
    from tongtu.features.descriptor import BatchingDescriptor

    real = _runtime()

    class RefusesBlack:
        """The real session, refusing a batch that holds an all-black picture."""

        def run(self, batch: np.ndarray) -> np.ndarray:
            if any(int(x.max()) == 0 for x in batch):
                raise RuntimeError("refused")
            return real.run(batch)  # type: ignore[attr-defined, no-any-return]

    batching = BatchingDescriptor(RefusesBlack(), max_batch=8, linger=0.5)
    rgb = cv2.resize(np.asarray(open_photo(photo_names(2000)[0])), (400, 300))
    pictures = [rgb, np.zeros_like(rgb), np.ascontiguousarray(rgb[::-1])]
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(batching.embed, p) for p in pictures]
            assert futures[0].result().shape == (512,) and futures[2].result().shape == (512,)
            with pytest.raises(ExtractionError, match="refused"):
                futures[1].result()
    finally:
        batching.close()
