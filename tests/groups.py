"""A library of rendered groups' pictures (corpus/graphics.py), for the tests that ask
whether a group's look-alikes are refused and its copies found."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from corpus.graphics import Group
from tests.conftest import png
from tongtu.engine import Engine, Source
from tongtu.settings import Settings


def index_groups(data_dir: Path, library: str, groups: Sequence[Group]) -> Engine:
    """An engine whose library `library` holds each group's picture, named
    "{kind} {position}"."""
    engine = Engine.open(Settings(data_dir=data_dir))
    lib = engine.library(library, create=True)
    for k, group in enumerate(groups):
        engine.add(lib, Source(image=png(Image.fromarray(group.reference))), f"{group.kind} {k}")
    return engine


def served(engine: Engine, library: str, data: bytes) -> list[str]:
    """The names of the results a search of `library` for `data` serves."""
    return [h.record.brief for h in engine.search(engine.library(library), Source(image=data)).hits]


def served_under(
    engine: Engine, library: str, queries: Sequence[bytes], **fields: Any
) -> list[list[str]]:
    """`served` for each of `queries`, under the engine's policy with `fields` set."""
    before = engine.policy
    engine.policy = dataclasses.replace(before, **fields)
    try:
        return [served(engine, library, q) for q in queries]
    finally:
        engine.policy = before
