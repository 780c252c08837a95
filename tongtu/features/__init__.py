"""Features of a picture: the global descriptor and local features.

`Extractor` (features/extractor.py) is the facade the engine uses.
"""

from __future__ import annotations

from tongtu.features.descriptor import DIM, data_model, model_id
from tongtu.features.extractor import (
    Extractor,
    QueryFeatures,
    ReferenceFeatures,
    settle_native_threads,
    shrink,
)
from tongtu.features.local import LocalFeatures, Match, verify

__all__ = [
    "DIM",
    "Extractor",
    "LocalFeatures",
    "Match",
    "QueryFeatures",
    "ReferenceFeatures",
    "data_model",
    "model_id",
    "settle_native_threads",
    "shrink",
    "verify",
]
