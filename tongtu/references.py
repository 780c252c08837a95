"""A library picture as the matcher sees it (features/matcher.py, `Reference`): its stored
features, and what is read or found from its stored thumbnail and parts when first asked
— its grey and colour pixels, features found densely on them, or at a small work size —
then kept for the rest of the search."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from tongtu.features import LocalFeatures
from tongtu.features.agreement import thumbnail_gray
from tongtu.features.colour import thumbnail_colour
from tongtu.features.local import extract_local
from tongtu.features.matcher import MatchPolicy, Reference
from tongtu.storage.base import ImageRecord
from tongtu.storage.catalog import Catalog

__all__ = ["coarse_features", "colour_pixels", "gray_pixels", "stored_reference"]

Colour = Callable[[], NDArray[np.uint8] | None]


def stored_reference(
    catalog: Catalog, record: ImageRecord, local: bytes, policy: MatchPolicy
) -> Reference:
    """A candidate (its cosine to be set) with its stored features (`local`)."""
    colour = functools.cache(colour_pixels(catalog, record))
    return Reference(
        record.id,
        0.0,
        LocalFeatures.from_bytes(local),
        record.width,
        record.height,
        functools.cache(gray_pixels(catalog, record)),
        functools.cache(functools.partial(_dense_features, colour, policy)),
        colour,
        functools.cache(functools.partial(coarse_features, colour, policy)),
        functools.cache(functools.partial(_parts, catalog, record)),
    )


def gray_pixels(catalog: Catalog, record: ImageRecord) -> Callable[[], NDArray[np.uint8] | None]:
    """The picture's grey pixels, from its stored thumbnail, when asked."""

    def gray() -> NDArray[np.uint8] | None:
        jpeg = catalog.thumbnail(record.id)
        return None if jpeg is None else thumbnail_gray(jpeg)

    return gray


def coarse_features(colour: Colour, policy: MatchPolicy, side: int) -> LocalFeatures | None:
    """Local features found on a picture's pixels (`colour`: its stored thumbnail, or the
    picture compared) at a small work size (None without them)."""
    rgb = colour()
    if rgb is None:
        return None
    return extract_local(rgb, policy.second_look_features, side=side)


def colour_pixels(catalog: Catalog, record: ImageRecord) -> Colour:
    """The picture's colour pixels, from its stored thumbnail, when asked."""
    return functools.partial(_colour, catalog, record)


def _colour(catalog: Catalog, record: ImageRecord) -> NDArray[np.uint8] | None:
    """The stored thumbnail in colour (None without one)."""
    jpeg = catalog.thumbnail(record.id)
    return None if jpeg is None else thumbnail_colour(jpeg)


def _parts(catalog: Catalog, record: ImageRecord) -> LocalFeatures | None:
    """The local features of the picture's parts, where it keeps them."""
    parts = catalog.parts(record.id)
    return None if parts is None else LocalFeatures.from_bytes(parts)


def _dense_features(colour: Colour, policy: MatchPolicy) -> LocalFeatures | None:
    """Local features found densely on the stored thumbnail (None without one)."""
    rgb = colour()
    if rgb is None or max(rgb.shape[:2]) < policy.second_look_min_side:
        return None  # a tiny thumbnail holds no more detail than the stored features
    return extract_local(rgb, policy.second_look_features)
