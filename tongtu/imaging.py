"""Decode and validate image bytes; compute the content signature.

Pure: bytes in, pixels out. The size rules are Baidu's (docs/baidu-api.md): shorter side
≥ 50 px, longer side ≤ 4096 px, checked on the header *before* any pixel is decoded,
which is also the decompression-bomb guard (at most 4096² pixels are ever allocated).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from tongtu.errors import (
    EmptyImage,
    ImageBase64Error,
    ImageFormatError,
    ImageSizeError,
)

__all__ = [
    "ACCEPTED_FORMATS",
    "MAX_BASE64_BYTES",
    "MAX_SIDE",
    "MIN_SIDE",
    "SIGNATURE",
    "Picture",
    "cont_sign_of",
    "decode_base64",
    "decode_for",
    "decode_image",
    "thumbnail_jpeg",
]

MIN_SIDE = 50
MAX_SIDE = 4096
MAX_BASE64_BYTES = 4 * 1024 * 1024
# Pillow format names. MPO is the multi-picture JPEG that phones write; PPM is accepted
# because it is lossless and common in image tooling.
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "BMP", "DIB", "WEBP", "GIF", "TIFF", "PPM"})

# How a library's cont_signs are made, kept with each library so that the signature of an
# image never changes under an existing one:
#   1  every image decoded at full size;
#   2  a JPEG larger than 2 × REDUCED_SIDE decoded at 1/2, 1/4 or 1/8 scale (libjpeg's
#      DCT scaling, several times faster than a full decode), its longer side staying
#      ≥ REDUCED_SIDE (what every feature works on at most); other images at full size.
SIGNATURE = 2
REDUCED_SIDE = 1024

# Truncated files are errors, never silently padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True, slots=True)
class Picture:
    """A decoded image: RGB pixels after EXIF orientation, and its signature."""

    rgb: NDArray[np.uint8]
    format: str
    cont_sign: str
    # The file's own width and height (after EXIF orientation) when the pixels were
    # decoded reduced; None when `rgb` is full size.
    source_size: tuple[int, int] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """The file's own width and height, whatever size it was decoded at."""
        return self.source_size or (self.width, self.height)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def decode_base64(text: str | bytes) -> bytes:
    """Decode a base64 image parameter (standard or URL-safe alphabet, padding optional)."""
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError as exc:
            raise ImageBase64Error("image is not valid base64") from exc
    else:
        raw = text
    if len(raw) > MAX_BASE64_BYTES:
        raise ImageSizeError(f"base64 image is {len(raw)} bytes; the limit is 4 MB")
    raw = raw.strip()
    # Some clients send data URLs ("data:image/png;base64,....").
    if raw.startswith(b"data:") and b"," in raw[:100]:
        raw = raw.split(b",", 1)[1]
    raw = raw.replace(b"\n", b"").replace(b"\r", b"").replace(b" ", b"+")
    if not raw:
        raise EmptyImage("image is empty")
    raw = raw.replace(b"-", b"+").replace(b"_", b"/")
    raw += b"=" * (-len(raw) % 4)
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageBase64Error("image is not valid base64") from exc
    if not data:
        raise EmptyImage("image is empty")
    return data


def cont_sign_of(rgb: NDArray[np.uint8]) -> str:
    """Two unsigned 32-bit decimals from the decoded pixels (not the file bytes)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(np.asarray(rgb.shape, dtype=np.uint32).tobytes())
    h.update(np.ascontiguousarray(rgb).data)
    d = h.digest()
    return f"{int.from_bytes(d[:4], 'big')},{int.from_bytes(d[4:], 'big')}"


def decode_image(data: bytes, max_side: int = MAX_SIDE, reduce_to: int | None = None) -> Picture:
    """Decode image bytes into RGB pixels, enforcing formats and size rules.

    `reduce_to`: a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (DCT scaling, several
    times faster) as long as its longer side stays at least this many pixels; the
    signature is then that of the reduced pixels.
    """
    if not data:
        raise EmptyImage("image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            fmt = (img.format or "").upper()
            if fmt not in ACCEPTED_FORMATS:
                raise ImageFormatError(f"format {fmt or 'unknown'} is not accepted")
            _check_size(*img.size, max_side)
            if fmt in ("JPEG", "MPO"):
                _check_scans(data)
            full = img.size
            if reduce_to is not None and fmt in ("JPEG", "MPO"):
                w, h = img.size
                s = reduce_to / max(w, h)
                if s < 1:
                    img.draft("RGB", (math.ceil(w * s), math.ceil(h * s)))
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)  # animated GIF / multi-page TIFF: the first frame
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # no copy when upright
            rgb = _to_rgb(img)
    except (ImageFormatError, ImageSizeError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageSizeError("image has too many pixels") from exc
    except UnidentifiedImageError as exc:
        raise ImageFormatError(
            "the data is not an image of an accepted format (jpg, png, bmp, webp, gif, tiff)"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageFormatError(f"image could not be decoded: {exc}") from exc
    except (MemoryError, Exception) as exc:  # a decoder bug must not become a 500
        raise ImageFormatError(f"image could not be decoded: {type(exc).__name__}") from exc
    if reduce_to is None:
        _check_size(rgb.shape[1], rgb.shape[0], max_side)
        return Picture(rgb=rgb, format=fmt, cont_sign=cont_sign_of(rgb))
    h, w = rgb.shape[:2]
    if (w >= h) != (full[0] >= full[1]):  # EXIF turned it by 90°
        full = (full[1], full[0])
    return Picture(rgb=rgb, format=fmt, cont_sign=cont_sign_of(rgb), source_size=full)


def decode_for(data: bytes, signature: int) -> Picture:
    """Decode as a library with this signature version does (see SIGNATURE)."""
    return decode_image(data, reduce_to=REDUCED_SIDE if signature >= 2 else None)


# A progressive JPEG is decoded scan by scan over the whole picture: libjpeg's own
# progressive scripts use 10 (and mozjpeg's up to ~64), while one AC scan repeated 10,000
# times in 396 KB took 29 s of CPU to decode at 4096² px. More scans than this is no photo.
MAX_JPEG_SCANS = 100


def jpeg_scans(data: bytes, stop: int = 1 << 30) -> int:
    """The number of scans (SOS segments) of a JPEG's first image, found by walking its
    marker segments and skipping entropy-coded data (where 0xFF is always followed by a
    stuffed 0x00 or a restart marker until the next segment); counting ends at `stop`."""
    pos, scans, n = 2, 0, len(data)
    while pos + 4 <= n and scans < stop:
        if data[pos] != 0xFF:
            return scans
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            return scans
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 2 + length
        if marker != 0xDA:
            continue
        scans += 1
        while True:  # the scan's entropy-coded data, up to the next true marker
            pos = data.find(b"\xff", pos)
            if pos < 0 or pos + 1 >= n:
                return scans
            following = data[pos + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                pos += 1 if following == 0xFF else 2
                continue
            break
    return scans


def _check_scans(data: bytes) -> None:
    # Every SOS is the bytes FF DA, which entropy-coded data never holds: their count
    # bounds the scans from above at C speed, and the walk is needed only beyond it.
    if data.count(b"\xff\xda") <= MAX_JPEG_SCANS:
        return
    if jpeg_scans(data, stop=MAX_JPEG_SCANS + 1) > MAX_JPEG_SCANS:
        raise ImageFormatError(f"JPEG has over {MAX_JPEG_SCANS} scans; no more are decoded")


def _check_size(width: int, height: int, max_side: int = MAX_SIDE) -> None:
    if min(width, height) < MIN_SIDE or max(width, height) > max_side:
        raise ImageSizeError(
            f"image is {width}x{height}; the shorter side must be ≥ {MIN_SIDE} px "
            f"and the longer side ≤ {max_side} px"
        )


def _to_rgb(img: Image.Image) -> NDArray[np.uint8]:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr16 = np.asarray(img, dtype=np.uint16)
        gray = (arr16 >> 8).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        finite = np.isfinite(arr)  # a float picture may hold NaN and infinities: black
        values = arr[finite]
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        levels = np.where(finite, (np.where(finite, arr, lo) - lo) * scale, 0.0)
        gray = np.clip(levels, 0.0, 255.0).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        # Transparent pixels become white, as browsers and viewers usually show them.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    elif mode == "RGB":
        return np.asarray(img, dtype=np.uint8)  # one copy, not convert's and then this
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def thumbnail_jpeg(rgb: NDArray[np.uint8], side: int) -> bytes:
    """A JPEG whose longer side is at most `side` px (never enlarged)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82]
    )
    if not ok:
        raise ImageFormatError("thumbnail could not be encoded")
    return bytes(buf)
