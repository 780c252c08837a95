"""The onnxruntime session: the only module that imports onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from tongtu.errors import ConfigError

__all__ = ["OnnxRuntime"]


class OnnxRuntime:
    """Runs one ONNX graph with a uint8 NHWC input and a float output."""

    def __init__(self, model_path: Path, threads: int, device: str = "cpu") -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError(
                    "TONGTU_DEVICE=cuda needs onnxruntime's CUDA execution provider: "
                    "pip install 'tongtu[gpu]' (onnxruntime-gpu, in place of onnxruntime) on "
                    f"a machine with CUDA; this onnxruntime has {ort.get_available_providers()}"
                )
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        self._session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=providers
        )
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name

    def run(self, batch: NDArray[np.uint8]) -> NDArray[np.float32]:
        out = self._session.run([self._output], {self._input: batch})[0]
        return np.asarray(out, dtype=np.float32)
