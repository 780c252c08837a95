"""A stand-in for the descriptor model where the model is beside the point (auth,
parameters, security, storage, persistence): deterministic and instant, behind the same
`Runtime` protocol as onnxruntime's session. Local features, verification and every
other step stay real."""

from __future__ import annotations

import cv2
import numpy as np
from fastapi import FastAPI
from numpy.typing import NDArray

from tongtu.api import create_app
from tongtu.engine import Engine
from tongtu.features import DIM, Extractor
from tongtu.settings import Settings

_GRID = (32, 16)  # width, height: 512 values


class FakeRuntime:
    """The picture's grey levels on a 32 × 16 grid, as a 512-d vector: the same
    picture gives the same vector, a resized copy a close one."""

    def run(self, batch: NDArray[np.uint8]) -> NDArray[np.float32]:
        out = np.empty((len(batch), DIM), np.float32)
        for i, rgb in enumerate(batch):
            grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
            small = cv2.resize(grey, _GRID, interpolation=cv2.INTER_AREA)
            out[i] = small.reshape(-1).astype(np.float32) / 255.0 + 0.01  # never all zero
        return out


def fake_engine(settings: Settings) -> Engine:
    """An engine of these settings with the fake descriptor (its extractor's one idle
    thread ends when the extractor is collected)."""
    return Engine.open(settings, Extractor(FakeRuntime(), settings.local_features, threads=1))


def fake_app(settings: Settings) -> FastAPI:
    """The server's app on the fake descriptor."""
    return create_app(settings, fake_engine(settings))
