"""Which model a server runs: the one `TONGTU_MODEL` names; without one, the one its
data's libraries were built with, and the default one for data with none yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import fake_engine
from tongtu.errors import ConfigError
from tongtu.features import data_model
from tongtu.features.descriptor import DEFAULT_MODEL
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
