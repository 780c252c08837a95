"""Query families for bench/quality: deterministic edits of a picture (numpy RGB → RGB).

Each edit takes the picture, a random generator and a pool of other photos (for walls,
collages and screenshots' backgrounds), and returns the edited picture.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

RGB = NDArray[np.uint8]
Edit = Callable[[RGB, np.random.Generator, list[RGB]], RGB]


def _jpeg(img: RGB, q: int) -> RGB:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(buf).convert("RGB"))


def _codec(img: RGB, fmt: str) -> RGB:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, fmt, quality=80)
    return np.asarray(Image.open(buf).convert("RGB"))


def _resize(img: RGB, f: float) -> RGB:
    h, w = img.shape[:2]
    size = (max(50, round(w * f)), max(50, round(h * f)))
    return np.asarray(
        cv2.resize(img, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    )


def _crop(area: float) -> Edit:
    def edit(img: RGB, rng: np.random.Generator, _: list[RGB]) -> RGB:
        h, w = img.shape[:2]
        aspect = rng.uniform(0.75, 1.33)
        cw = min(w, round(w * math.sqrt(area) * math.sqrt(aspect)))
        ch = min(h, round(h * area * w / cw))
        x = int(rng.integers(0, w - cw + 1))
        y = int(rng.integers(0, h - ch + 1))
        return np.ascontiguousarray(img[y : y + ch, x : x + cw])

    return edit


def _rotate(img: RGB, deg: float) -> RGB:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    return np.asarray(cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_CONSTANT))


def _text(img: RGB, rng: np.random.Generator, lines: int = 2) -> RGB:
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    h, w = img.shape[:2]
    size = max(12, h // 12)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:
        font = ImageFont.load_default()
    for _ in range(lines):
        y = int(rng.uniform(0.05, 0.85) * h)
        draw.text(
            (w // 20, y),
            f"SAMPLE {int(rng.integers(1000, 9999))} 同图",
            fill=(255, 255, 0),
            font=font,
            stroke_width=2,
            stroke_fill=(0, 0, 0),
        )
    return np.asarray(pil)


def _emoji(img: RGB, rng: np.random.Generator) -> RGB:
    out = img.copy()
    h, w = img.shape[:2]
    for _ in range(3):
        r = int(min(h, w) * rng.uniform(0.06, 0.12))
        cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
        cv2.circle(out, (cx, cy), r, (255, 215, 0), -1)
        cv2.circle(out, (cx - r // 3, cy - r // 4), max(1, r // 8), (0, 0, 0), -1)
        cv2.circle(out, (cx + r // 3, cy - r // 4), max(1, r // 8), (0, 0, 0), -1)
        cv2.ellipse(out, (cx, cy + r // 6), (r // 2, r // 3), 0, 0, 180, (0, 0, 0), max(1, r // 10))
    return out


def _logo(img: RGB, rng: np.random.Generator, pool: list[RGB]) -> RGB:
    out = img.copy()
    h, w = img.shape[:2]
    lw = max(20, w // 5)
    logo = cv2.resize(pool[int(rng.integers(len(pool)))], (lw, max(10, lw // 2)))
    y, x = int(rng.integers(0, h - logo.shape[0])), int(rng.integers(0, w - logo.shape[1]))
    region = out[y : y + logo.shape[0], x : x + logo.shape[1]]
    out[y : y + logo.shape[0], x : x + logo.shape[1]] = (0.3 * region + 0.7 * logo).astype(np.uint8)
    return out


def _meme(img: RGB, rng: np.random.Generator, _: list[RGB]) -> RGB:
    h, w = img.shape[:2]
    pad = max(20, h // 5)
    canvas = np.full((h + 2 * pad, w + pad, 3), 255, np.uint8)
    canvas[pad : pad + h, pad // 2 : pad // 2 + w] = img
    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    try:
        font = ImageFont.load_default(size=max(12, pad // 2))
    except TypeError:
        font = ImageFont.load_default()
    draw.text((pad, pad // 4), "WHEN THE CODE COMPILES", fill=(0, 0, 0), font=font)
    draw.text((pad, h + pad + pad // 4), "ON THE FIRST TRY", fill=(0, 0, 0), font=font)
    return np.asarray(pil)


def _screenshot(img: RGB, rng: np.random.Generator, _: list[RGB]) -> RGB:
    sw, sh = 1280, 800
    screen = np.full((sh, sw, 3), 245, np.uint8)
    screen[:60] = (40, 40, 48)
    screen[60:, :220] = (230, 232, 236)
    for y in range(100, sh, 40):
        cv2.line(screen, (240, y), (sw - 40, y), (200, 200, 200), 1)
    h, w = img.shape[:2]
    scale = min(900 / w, 640 / h) * rng.uniform(0.6, 1.0)
    pic = cv2.resize(
        img, (max(20, round(w * scale)), max(20, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    x, y = (
        260 + int(rng.integers(0, sw - 280 - pic.shape[1] + 1)),
        80 + int(rng.integers(0, sh - 90 - pic.shape[0] + 1)),
    )
    screen[y : y + pic.shape[0], x : x + pic.shape[1]] = pic
    return _codec(screen, "PNG")


def _collage(img: RGB, rng: np.random.Generator, pool: list[RGB]) -> RGB:
    bg = pool[int(rng.integers(len(pool)))]
    bg = cv2.resize(bg, (1024, round(1024 * bg.shape[0] / bg.shape[1])))
    bh, bw = bg.shape[:2]
    h, w = img.shape[:2]
    scale = min(bw * 0.5 / w, bh * 0.5 / h)
    pic = cv2.resize(
        img, (max(20, round(w * scale)), max(20, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    out = bg.copy()
    y, x = int(rng.integers(0, bh - pic.shape[0] + 1)), int(rng.integers(0, bw - pic.shape[1] + 1))
    out[y : y + pic.shape[0], x : x + pic.shape[1]] = pic
    return _jpeg(out, 85)


def _poster(img: RGB, rng: np.random.Generator, pool: list[RGB]) -> RGB:
    """A phone photo of the picture as a poster on a wall."""
    wall = pool[int(rng.integers(len(pool)))]
    wall = cv2.resize(wall, (1280, 960))
    cover = rng.uniform(0.35, 0.9)
    h, w = img.shape[:2]
    pw = math.sqrt(cover * 1280 * 960 * w / h)
    ph = pw * h / w
    if pw > 1240 or ph > 920:
        s = min(1240 / pw, 920 / ph)
        pw, ph = pw * s, ph * s
    cx = rng.uniform(pw / 2 + 10, 1280 - pw / 2 - 10)
    cy = rng.uniform(ph / 2 + 10, 960 - ph / 2 - 10)
    jitter = 0.08
    corners = np.float32(
        [
            [cx - pw / 2, cy - ph / 2],
            [cx + pw / 2, cy - ph / 2],
            [cx + pw / 2, cy + ph / 2],
            [cx - pw / 2, cy + ph / 2],
        ]
    )
    corners += rng.uniform(-jitter, jitter, (4, 2)).astype(np.float32) * np.float32([pw, ph])
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(src, corners)
    warped = cv2.warpPerspective(img, m, (1280, 960))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (1280, 960))
    out = np.where(mask[:, :, None] > 127, warped, wall).astype(np.float32)
    grad = np.linspace(rng.uniform(0.6, 0.9), rng.uniform(1.0, 1.2), 1280, dtype=np.float32)[
        None, :, None
    ]
    out = cv2.GaussianBlur(out * grad, (0, 0), 1.0)
    out += rng.normal(0, 4, out.shape).astype(np.float32)
    return _jpeg(np.clip(out, 0, 255).astype(np.uint8), 80)


def _jitter(img: RGB, rng: np.random.Generator) -> RGB:
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-10, 10)) % 180
    hsv[..., 1] *= rng.uniform(0.6, 1.4)
    hsv[..., 2] *= rng.uniform(0.7, 1.3)
    return np.asarray(cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB))


def _pixelate(img: RGB, f: float) -> RGB:
    h, w = img.shape[:2]
    small = cv2.resize(
        img, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA
    )
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST))


FAMILIES: dict[str, Edit] = {
    "exact": lambda im, r, p: im,
    "reencode_jpeg": lambda im, r, p: _jpeg(im, int(r.integers(20, 91))),
    "reencode_png": lambda im, r, p: _codec(im, "PNG"),
    "reencode_webp": lambda im, r, p: _codec(im, "WEBP"),
    "resize_0.3": lambda im, r, p: _resize(im, 0.3),
    "resize_1.7": lambda im, r, p: (
        _resize(im, 1.7)
        if max(im.shape[:2]) * 1.7 <= 4096
        else _resize(im, 4096 / max(im.shape[:2]))
    ),
    "crop_70": _crop(0.70),
    "crop_50": _crop(0.50),
    "crop_30": _crop(0.30),
    "crop_15": _crop(0.15),
    "pad_border": lambda im, r, p: np.asarray(
        cv2.copyMakeBorder(
            im,
            *([max(4, im.shape[0] // 10)] * 4),
            cv2.BORDER_CONSTANT,
            value=(int(r.integers(256)),) * 3,
        )
    ),
    "stretch": lambda im, r, p: np.asarray(
        cv2.resize(im, (round(im.shape[1] * r.uniform(1.2, 1.5)), im.shape[0]))
    ),
    "rotate_small": lambda im, r, p: _rotate(im, float(r.choice([-1, 1]) * r.uniform(5, 15))),
    "rotate_90": lambda im, r, p: np.ascontiguousarray(np.rot90(im, int(r.choice([1, 3])))),
    "rotate_180": lambda im, r, p: np.ascontiguousarray(im[::-1, ::-1]),
    "flip": lambda im, r, p: np.ascontiguousarray(im[:, ::-1]),
    "grayscale": lambda im, r, p: np.repeat(
        cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2
    ),
    "color_jitter": lambda im, r, p: _jitter(im, r),
    "blur": lambda im, r, p: np.asarray(
        cv2.GaussianBlur(im, (0, 0), r.uniform(1.5, 3.0) * max(im.shape[:2]) / 1000)
    ),
    "noise": lambda im, r, p: np.clip(im + r.normal(0, 12, im.shape), 0, 255).astype(np.uint8),
    "pixelate": lambda im, r, p: _pixelate(im, 0.12),
    "overlay_text": lambda im, r, p: _text(im, r),
    "overlay_emoji": lambda im, r, p: _emoji(im, r),
    "overlay_logo": _logo,
    "meme": _meme,
    "screenshot": _screenshot,
    "collage": _collage,
    "combo": lambda im, r, p: _jpeg(_text(_crop(0.6)(_jitter(im, r), r, p), r, 1), 50),
    "phone_poster": _poster,
}


# --- stress: edits beyond the families the targets name, or stronger than them --------
# (`python -m bench.quality --families stress`). They show how far the matching carries
# past what it was measured on; none of them has a target.


def _stripes(img: RGB, rng: np.random.Generator, cover: float) -> RGB:
    """Opaque horizontal stripes over `cover` of the picture, six to the height."""
    out = img.copy()
    h = img.shape[0]
    period = max(2, h // 6)
    offset = int(rng.integers(period))
    for y in range(-period + offset, h, period):
        out[max(0, y) : max(0, y + round(period * cover))] = 255
    return out


def _watermark(img: RGB, rng: np.random.Generator) -> RGB:
    """A translucent word tiled over the whole picture."""
    base = Image.fromarray(img).convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    w, h = base.size
    font = ImageFont.load_default(size=max(12, h // 16))
    word = str(rng.choice(["SAMPLE", "PREVIEW", "© tongtu"]))
    for y in range(0, h, max(1, h // 6)):
        for x in range(0, w, max(1, w // 3)):
            draw.text((x, y), word, fill=(255, 255, 255, 110), font=font)
    return np.asarray(Image.alpha_composite(base, layer).convert("RGB"))


def _perspective(img: RGB, rng: np.random.Generator) -> RGB:
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(0, 0.15, (4, 2)) * [w, h]
    dst = np.float32(src + jitter * [[1, 1], [-1, 1], [-1, -1], [1, -1]])
    m = cv2.getPerspectiveTransform(src, dst)
    return np.asarray(cv2.warpPerspective(img, m, (w, h)))


def _on_background(img: RGB, rng: np.random.Generator, pool: list[RGB]) -> RGB:
    """The picture at half the size of another photo, pasted on it."""
    bg = pool[int(rng.integers(len(pool)))]
    bg = np.asarray(cv2.resize(bg, (1000, 750), interpolation=cv2.INTER_AREA))
    h, w = img.shape[:2]
    s = min(500 / w, 375 / h)
    small = np.asarray(cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s)))))
    out = bg.copy()
    y = int(rng.integers(0, 750 - small.shape[0] + 1))
    x = int(rng.integers(0, 1000 - small.shape[1] + 1))
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def _rotate_expand(img: RGB, deg: float) -> RGB:
    """Rotated by `deg` with the canvas grown to hold all of it."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return np.asarray(cv2.warpAffine(img, m, (nw, nh)))


def _within(img: RGB, fx: float, fy: float) -> RGB:
    """Resized by (fx, fy), brought back within 4096 px a side."""
    h, w = img.shape[:2]
    k = min(1.0, 4096 / max(w * fx, h * fy))
    return np.asarray(cv2.resize(img, (round(w * fx * k), round(h * fy * k))))


STRESS: dict[str, Edit] = {
    "stripes_25": lambda im, r, p: _stripes(im, r, 0.25),
    "stripes_45": lambda im, r, p: _stripes(im, r, 0.45),
    "watermark": lambda im, r, p: _watermark(im, r),
    "jpeg_q5": lambda im, r, p: _jpeg(im, 5),
    "sharpen": lambda im, r, p: np.asarray(
        cv2.addWeighted(im, 2.5, cv2.GaussianBlur(im, (0, 0), 3), -1.5, 0)
    ),
    "dark": lambda im, r, p: (im * 0.35).astype(np.uint8),
    "opacity": lambda im, r, p: (im * 0.45 + 255 * 0.55).astype(np.uint8),
    "perspective": lambda im, r, p: _perspective(im, r),
    "vflip": lambda im, r, p: np.ascontiguousarray(im[::-1]),
    "rotate_30": lambda im, r, p: _rotate_expand(im, float(r.choice([-30, 30]))),
    "rotate_45": lambda im, r, p: _rotate_expand(im, float(r.choice([-45, 45]))),
    "stretch_2": lambda im, r, p: _within(im, 2.0, 1.0),
    "stretch_2.5": lambda im, r, p: _within(im, 2.5, 1.0),
    "squash_2": lambda im, r, p: _within(im, 1.0, 2.0),
    "on_background": _on_background,
    "blur_strong": lambda im, r, p: np.asarray(
        cv2.GaussianBlur(im, (0, 0), 6 * max(im.shape[:2]) / 1000)
    ),
    "pixelate_16": lambda im, r, p: _pixelate(im, 1 / 16),
}
