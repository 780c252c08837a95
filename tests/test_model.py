"""Which model a server runs: the one `TONGTU_MODEL` names; without one, the one its
data's libraries were built with, and the distilled SSCD for data with none yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import fake_engine
from tongtu.errors import ConfigError
from tongtu.features import data_model
from tongtu.settings import Settings
from tongtu.storage import open_catalog


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


def test_new_data_is_built_with_the_distilled_model(tmp_path: Path) -> None:
    engine = fake_engine(Settings(data_dir=tmp_path))
    try:
        assert engine.settings.model == "sscd_distilled"
        assert engine.library("shop", create=True).model == "sscd_distilled"
    finally:
        engine.close()


def test_data_built_with_the_full_model_keeps_it_across_the_default(tmp_path: Path) -> None:
    settings = _data_with(tmp_path, "sscd")
    engine = fake_engine(settings)
    try:
        assert engine.settings.model == "sscd"
        assert engine.library("lib0").model == "sscd"  # not refused
        assert engine.library("more", create=True).model == "sscd"
    finally:
        engine.close()
    # the setting names the model: the library refuses another one, and says why
    engine = fake_engine(settings.model_copy(update={"model": "sscd_distilled"}))
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
