"""Which model a server runs: the one `TONGTU_MODEL` names; without one, the one its
data's libraries were built with, and the default one for data with none yet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.fakes import fake_engine
from tongtu.errors import ConfigError
from tongtu.features import data_model
from tongtu.features.descriptor import DEFAULT_MODEL, cosine_scale
from tongtu.features.score import inliers_needed
from tongtu.settings import Settings
from tongtu.storage import open_catalog

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"


def _data_with(folder: Path, *models: str) -> Settings:
    """A data directory whose libraries were built with these models."""
    settings = Settings(data_dir=folder)
    catalog = open_catalog(settings)
    try:
        for i, model in enumerate(models):
            catalog.create_library(f"lib{i}", model, 100, 2)
    finally:
        catalog.close()
    return settings


def test_new_data_is_built_with_the_default_model(tmp_path: Path) -> None:
    engine = fake_engine(Settings(data_dir=tmp_path))
    try:
        assert engine.settings.model == DEFAULT_MODEL
        assert engine.library("shop", create=True).model == DEFAULT_MODEL
    finally:
        engine.close()


def test_data_built_with_another_model_keeps_it_across_the_default(tmp_path: Path) -> None:
    other = "sscd_distilled" if DEFAULT_MODEL == "sscd" else "sscd"
    settings = _data_with(tmp_path, other)
    engine = fake_engine(settings)
    try:
        assert engine.settings.model == other
        assert engine.library("lib0").model == other  # not refused
        assert engine.library("more", create=True).model == other
    finally:
        engine.close()
    # the setting names the model: the library refuses another one, and says why
    engine = fake_engine(settings.model_copy(update={"model": DEFAULT_MODEL}))
    try:
        with pytest.raises(ConfigError, match="TONGTU_MODEL"):
            engine.library("lib0")
    finally:
        engine.close()


def test_libraries_of_several_models_run_the_most_libraries_one() -> None:
    assert data_model("", ["sscd", "sscd_distilled", "sscd"]) == "sscd"
    assert data_model("", ["sscd_distilled", "sscd"]) == "sscd"  # a tie: by name, always
    assert data_model("sscd_distilled", ["sscd"]) == "sscd_distilled"


def test_libraries_of_a_model_of_their_own_ask_for_its_file(tmp_path: Path) -> None:
    settings = _data_with(tmp_path, "onnx:0123456789abcdef")
    with pytest.raises(ConfigError, match="TONGTU_MODEL to its ONNX file"):
        fake_engine(settings)


def test_the_distilled_models_cosines_are_read_on_the_scale_the_score_was_fitted_on() -> None:
    """Its knots are the ones bench/calibrate measured (bench/results): a look-alike's
    cosine under `sscd_distilled` asks for the inliers its `sscd` cosine would."""
    recorded = json.loads((RESULTS / "calibrate-sscd_distilled.json").read_text())
    xs, ys = recorded["results"]["knots"]
    scale = cosine_scale("sscd_distilled")
    assert [round(scale(x), 3) for x in xs] == ys
    grid = np.linspace(-1.0, 1.0, 401)
    assert np.all(np.diff([scale(float(c)) for c in grid]) > 0)  # the order of candidates kept
    assert scale(1.0) == 1.0 and scale(-1.0) == -1.0
    # a tenth of another chart of one style (tests/test_lookalikes): cosine 0.186 under
    # sscd_distilled (0.137 under sscd), 35 inliers: served as it was, refused on the scale
    assert inliers_needed(0.186, 0.5) <= 35 < inliers_needed(scale(0.186), 0.5)
    assert cosine_scale("sscd")(0.3) == 0.3
    assert cosine_scale("/models/own.onnx")(0.3) == 0.3
