"""Seed inputs for the image-decoder fuzzers: every kind of file a client may send.

Small valid images of each accepted format and pixel layout (CMYK, 16-bit, palette with
transparency, alpha, animated, multi-page), and hostile ones: headers claiming
100k × 100k pixels, truncated files, a polyglot.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

__all__ = ["hostile", "seeds"]


def _save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _picture(w: int = 96, h: int = 72) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // w, y * 255 // h, (x ^ y) & 255], axis=2).astype(np.uint8)
    return Image.fromarray(rgb)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def seeds() -> dict[str, bytes]:
    pic = _picture()
    frames = [pic.convert("P"), pic.rotate(90).convert("P")]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=50)
    tiff = io.BytesIO()
    pic.save(tiff, "TIFF", save_all=True, append_images=[pic.rotate(180)])
    palette_alpha = pic.convert("P")
    palette_alpha.info["transparency"] = 0
    sixteen = Image.fromarray((np.asarray(pic.convert("L"), np.uint16) * 257).astype(np.uint16))
    return {
        "jpeg": _save(pic, "JPEG", quality=80),
        "jpeg_cmyk": _save(pic.convert("CMYK"), "JPEG"),
        "jpeg_progressive": _save(pic, "JPEG", progressive=True),
        "png": _save(pic, "PNG"),
        "png_rgba": _save(pic.convert("RGBA"), "PNG"),
        "png_la": _save(pic.convert("LA"), "PNG"),
        "png_16bit": _save(sixteen, "PNG"),
        "png_palette_alpha": _save(palette_alpha, "PNG"),
        "bmp": _save(pic, "BMP"),
        "webp": _save(pic, "WEBP", quality=70),
        "webp_lossless": _save(pic.convert("RGBA"), "WEBP", lossless=True),
        "gif_animated": gif.getvalue(),
        "tiff_multipage": tiff.getvalue(),
        "ppm": _save(pic, "PPM"),
    }


def hostile() -> dict[str, bytes]:
    png = seeds()["png"]
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 65536))
        + _png_chunk(b"IEND", b"")
    )
    gif_bomb = b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00" + b";"
    jpeg = seeds()["jpeg"]
    sof = jpeg.find(b"\xff\xc0")
    jpeg_bomb = bytearray(jpeg)
    if sof > 0:
        jpeg_bomb[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    return {
        "png_bomb_100k": bomb,
        "gif_bomb": gif_bomb,
        "jpeg_bomb_65k": bytes(jpeg_bomb),
        "png_truncated": png[: len(png) // 2],
        "jpeg_truncated": jpeg[: len(jpeg) * 2 // 3],
        "polyglot_gif_zip": b"GIF89a" + b"\x01\x00\x01\x00\x00\x00\x00;" + b"PK\x03\x04" * 8,
        "empty": b"",
        "text": b"<html>not an image</html>",
    }
