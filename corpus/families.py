"""The edits a copy goes through on its way to a user's query, made with AugLy where it
has the transform (the benches' families, and the tests that ask a family is found):
the picture inside a web and a mobile screenshot template; meme captions; text and
emoji over it; pasted at 5-20 % of the area into another picture; crops keeping 10, 15
and 30 % of the area off-centre; a phone photo of a print; heavy re-encoding; and the
whole-picture edits (blur, mirror, border, a half crop with text and JPEG q40)."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["FAMILIES", "RGB", "WHOLE_FAMILIES", "Edit", "augly", "to_pil", "to_rgb"]

RGB = NDArray[np.uint8]

Edit = Callable[[RGB, np.random.Generator, list[RGB]], RGB]


def augly() -> object:
    """AugLy's image functions. AugLy 1.0 measures meme captions with
    `FreeTypeFont.getsize_multiline`, which Pillow 10 removed, and computes perspective
    coefficients with `np.float`, which NumPy 1.24 removed: both are given back here (from
    `multiline_textbbox` and `float`, what replaced them)."""
    from PIL import ImageDraw, ImageFont

    if not hasattr(np, "float"):
        np.float = float  # type: ignore[attr-defined]

    if not hasattr(ImageFont.FreeTypeFont, "getsize_multiline"):

        def getsize_multiline(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int]:
            box = ImageDraw.Draw(Image.new("L", (1, 1))).multiline_textbbox((0, 0), text, font)
            return int(box[2] - box[0]), int(box[3] - box[1])

        ImageFont.FreeTypeFont.getsize_multiline = getsize_multiline  # type: ignore[attr-defined]
    import augly.image.functional as F

    return F


def to_pil(rgb: RGB) -> Image.Image:
    return Image.fromarray(rgb)


def to_rgb(img: Image.Image) -> RGB:
    return np.ascontiguousarray(np.asarray(img.convert("RGB")), dtype=np.uint8)


def _screenshot(template: str) -> Edit:
    def edit(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
        F = augly()
        import augly.utils as utils

        path = os.path.join(utils.SCREENSHOT_TEMPLATES_DIR, f"{template}.png")
        return to_rgb(F.overlay_onto_screenshot(to_pil(im), template_filepath=path))  # type: ignore[attr-defined]

    return edit


def _meme(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    F = augly()
    text = str(r.choice(["LOL", "WHEN YOU SEE IT", "monday again", "so true", "ME IRL"]))
    h = im.shape[0]
    return to_rgb(F.meme_format(to_pil(im), text=text, caption_height=max(40, h // 5)))  # type: ignore[attr-defined]


def _text(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    F = augly()
    # AugLy writes characters of its font's charset by index
    text = [[int(c) for c in r.integers(0, 90, size=int(r.integers(6, 14)))] for _ in range(2)]
    return to_rgb(
        F.overlay_text(  # type: ignore[attr-defined]
            to_pil(im),
            text=text,
            font_size=float(r.uniform(0.08, 0.15)),
            x_pos=float(r.uniform(0, 0.3)),
            y_pos=float(r.uniform(0, 0.7)),
            color=tuple(int(c) for c in r.integers(0, 256, 3)),
        )
    )


def _emoji(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    F = augly()
    return to_rgb(
        F.overlay_emoji(  # type: ignore[attr-defined]
            to_pil(im),
            emoji_size=float(r.uniform(0.2, 0.35)),
            x_pos=float(r.uniform(0, 0.6)),
            y_pos=float(r.uniform(0, 0.6)),
        )
    )


def _paste(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    """The picture pasted at 5-20 % of the area into another picture of the pool."""
    F = augly()
    bg = pool[int(r.integers(len(pool)))]
    area = float(r.uniform(0.05, 0.20))
    # AugLy sizes the overlay by its height against the background's
    ratio = (im.shape[1] / im.shape[0]) / (bg.shape[1] / bg.shape[0])
    size = float(np.clip(np.sqrt(area / ratio), 0.1, 0.9))
    return to_rgb(
        F.overlay_onto_background_image(  # type: ignore[attr-defined]
            to_pil(im),
            background_image=to_pil(bg),
            overlay_size=size,
            x_pos=float(r.uniform(0, max(0.0, 1 - size * ratio))),
            y_pos=float(r.uniform(0, 1 - size)),
            scale_bg=False,
        )
    )


def _crop(area: float) -> Edit:
    def edit(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
        F = augly()
        side = float(np.sqrt(area))
        x1 = float(r.uniform(0, 1 - side))
        y1 = float(r.uniform(0, 1 - side))
        out = F.crop(to_pil(im), x1=x1, y1=y1, x2=x1 + side, y2=y1 + side)  # type: ignore[attr-defined]
        return to_rgb(out)

    return edit


def _phone_photo(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    """A print photographed with a phone: perspective, a little blur, light, JPEG."""
    F = augly()
    img = F.perspective_transform(
        to_pil(im), sigma=float(r.uniform(30, 60)), seed=int(r.integers(1 << 30))
    )  # type: ignore[attr-defined]
    img = F.blur(img, radius=float(r.uniform(0.8, 2.0)))  # type: ignore[attr-defined]
    img = F.brightness(img, factor=float(r.uniform(0.7, 1.3)))  # type: ignore[attr-defined]
    return to_rgb(F.encoding_quality(img, quality=int(r.integers(40, 75))))  # type: ignore[attr-defined]


def _reencode(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    F = augly()
    img = F.scale(to_pil(im), factor=float(r.uniform(0.3, 0.6)))  # type: ignore[attr-defined]
    return to_rgb(F.encoding_quality(img, quality=int(r.integers(10, 30))))  # type: ignore[attr-defined]


FAMILIES: dict[str, Edit] = {
    "screenshot_web": _screenshot("web"),
    "screenshot_mobile": _screenshot("mobile"),
    "meme": _meme,
    "text_overlay": _text,
    "emoji": _emoji,
    "paste_5_20": _paste,
    "crop_10": _crop(0.10),
    "crop_15": _crop(0.15),
    "crop_30": _crop(0.30),
    "phone_photo": _phone_photo,
    "reencode_small": _reencode,
}


def _blur(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    """Gaussian blur of 2-4 px per 1000 px of the picture's diagonal."""
    F = augly()
    diagonal = float(np.hypot(*im.shape[:2]))
    radius = float(r.uniform(2, 4)) * diagonal / 1000
    return to_rgb(F.blur(to_pil(im), radius=radius))  # type: ignore[attr-defined]


def _mirror(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    F = augly()
    img = F.hflip(to_pil(im))  # type: ignore[attr-defined]
    return to_rgb(F.encoding_quality(img, quality=int(r.integers(70, 90))))  # type: ignore[attr-defined]


def _border(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    """A solid border of 5-25 % of the picture's size on each side, in one colour."""
    F = augly()
    factor = float(r.uniform(0.05, 0.25))
    colour = tuple(int(c) for c in r.integers(0, 256, 3))
    return to_rgb(F.pad(to_pil(im), w_factor=factor, h_factor=factor, color=colour))  # type: ignore[attr-defined]


def _half_text_jpeg(im: RGB, r: np.random.Generator, pool: list[RGB]) -> RGB:
    """A crop keeping 50 %, a caption over it, JPEG quality 40."""
    F = augly()
    cropped = _crop(0.5)(im, r, pool)
    captioned = _text(cropped, r, pool)
    return to_rgb(F.encoding_quality(to_pil(captioned), quality=40))  # type: ignore[attr-defined]


# Copies that keep the whole picture, or most of it (the graphics issue's families):
# drawn after the others from a generator of their own, so those keep their draws.
WHOLE_FAMILIES: dict[str, Edit] = {
    "blur": _blur,
    "mirror": _mirror,
    "border": _border,
    "crop_50_text_q40": _half_text_jpeg,
}
