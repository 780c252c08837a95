from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import PHOTOS
from tongtu.errors import (
    EmptyImage,
    ImageBase64Error,
    ImageFormatError,
    ImageSizeError,
)
from tongtu.imaging import decode_base64, decode_image


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def picture() -> Image.Image:
    img = Image.open(PHOTOS / "python3-skimage__data__chelsea.png").convert("RGB")
    img.load()
    return img


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "PPM"])
def test_lossless_formats_of_one_picture_share_its_cont_sign(
    picture: Image.Image, fmt: str
) -> None:
    reference = decode_image(_encode(picture, "PNG"))
    assert decode_image(_encode(picture, fmt)).cont_sign == reference.cont_sign


def test_webp_lossless_and_gif_first_frame_decode(picture: Image.Image) -> None:
    reference = decode_image(_encode(picture, "PNG"))
    assert decode_image(_encode(picture, "WEBP", lossless=True)).cont_sign == reference.cont_sign
    frames = [picture.convert("P"), picture.rotate(90).convert("P")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    gif = decode_image(buf.getvalue())
    assert (gif.width, gif.height) == picture.size


def test_cont_sign_is_two_unsigned_32_bit_decimals_and_differs_per_picture(
    picture: Image.Image,
) -> None:
    a = decode_image(_encode(picture, "PNG")).cont_sign
    b = decode_image(_encode(picture.rotate(1), "PNG")).cont_sign
    assert a != b
    for sign in (a, b):
        parts = sign.split(",")
        assert len(parts) == 2 and all(0 <= int(p) < 2**32 for p in parts)


def test_exif_orientation_is_applied(picture: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    tagged = decode_image(_encode(picture, "JPEG", exif=exif, quality=95))
    assert (tagged.width, tagged.height) == (picture.height, picture.width)


@pytest.mark.parametrize("size", [(49, 200), (200, 49), (4097, 100)])
def test_size_rules_are_enforced(size: tuple[int, int]) -> None:
    with pytest.raises(ImageSizeError):
        decode_image(_encode(Image.new("RGB", size), "PNG"))


def test_decompression_bomb_header_is_refused_before_decoding() -> None:
    # A PNG header claiming 100000 x 100000 pixels, with almost no data behind it.
    data = bytearray(_encode(Image.new("L", (64, 64)), "PNG"))
    data[16:24] = (100000).to_bytes(4, "big") + (100000).to_bytes(4, "big")
    with pytest.raises((ImageSizeError, ImageFormatError)):
        decode_image(bytes(data))


def test_truncated_and_garbage_files_are_format_errors(picture: Image.Image) -> None:
    jpeg = _encode(picture, "JPEG")
    for data in (jpeg[: len(jpeg) // 2], b"GIF89a" + b"\0" * 20, b"hello world"):
        with pytest.raises(ImageFormatError):
            decode_image(data)
    with pytest.raises(EmptyImage):
        decode_image(b"")


def test_modes_with_alpha_16_bit_cmyk_and_palette_become_rgb() -> None:
    rgba = Image.new("RGBA", (80, 60), (255, 0, 0, 0))
    assert decode_image(_encode(rgba, "PNG")).rgb[0, 0].tolist() == [255, 255, 255]
    i16 = Image.fromarray(np.full((60, 80), 65535, dtype=np.uint16))
    assert decode_image(_encode(i16, "PNG")).rgb[0, 0].tolist() == [255, 255, 255]
    cmyk = Image.new("CMYK", (80, 60), (0, 0, 0, 0))
    assert decode_image(_encode(cmyk, "JPEG")).rgb.shape == (60, 80, 3)
    pal = Image.new("P", (80, 60))
    assert decode_image(_encode(pal, "PNG")).rgb.dtype == np.uint8


def test_rejected_format_is_a_format_error() -> None:
    with pytest.raises(ImageFormatError):
        decode_image(_encode(Image.new("RGB", (80, 80)), "ICO"))


def test_base64_variants_decode_and_bad_ones_are_refused() -> None:
    raw = b"\x89PNG\r\n\x1a\n-some-bytes"
    std = base64.b64encode(raw).decode()
    assert decode_base64(std) == raw
    assert decode_base64(std.rstrip("=")) == raw
    assert decode_base64("data:image/png;base64," + std) == raw
    assert decode_base64(base64.urlsafe_b64encode(raw).decode()) == raw
    with pytest.raises(ImageBase64Error):
        decode_base64("!!!not base64!!!")
    with pytest.raises(ImageSizeError):
        decode_base64("A" * (4 * 1024 * 1024 + 4))
    with pytest.raises(EmptyImage):
        decode_base64("")


def _scan_bomb(img: Image.Image, repeats: int) -> bytes:
    """A progressive JPEG whose smallest scan is repeated `repeats` times: each repeat
    costs a pass over the whole picture and a few bytes of file (its 300 repeats of the
    last, 92 KB scan at 2048×1536 took 3.3 s to decode)."""
    data = _encode(img, "JPEG", progressive=True, quality=90)
    starts = [i for i in range(len(data) - 1) if data[i : i + 2] == b"\xff\xda"]
    end = data.rfind(b"\xff\xd9")
    scans = [data[a:b] for a, b in zip(starts, [*starts[1:], end], strict=True)]
    smallest = min(scans, key=len)
    return data[:end] + smallest * repeats + data[end:]


def test_progressive_jpeg_of_a_repeated_scan_is_refused_before_decoding(
    picture: Image.Image,
) -> None:
    import time

    from tongtu.imaging import MAX_JPEG_SCANS, jpeg_scans

    plain = _encode(picture, "JPEG", progressive=True, quality=90)
    assert 2 <= jpeg_scans(plain) <= 20
    decode_image(plain)  # an ordinary progressive JPEG
    bomb = _scan_bomb(picture.resize((2048, 1536)), 3000)
    assert jpeg_scans(bomb) > MAX_JPEG_SCANS
    t = time.perf_counter()
    with pytest.raises(ImageFormatError, match="scans"):
        decode_image(bomb)
    assert time.perf_counter() - t < 1.0  # decoded, it takes tens of seconds


def test_a_float_picture_holding_nan_and_infinities_decodes_without_a_warning() -> None:
    """Hostile float TIFFs: NaN and ±inf pixels become black, the finite ones keep their
    levels, and no NumPy warning reaches the server's log."""
    import warnings

    levels = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (64, 1))
    levels[5:10, 5:10] = np.nan
    levels[20, :] = np.inf
    levels[30, :] = -np.inf
    data = _encode(Image.fromarray(levels, mode="F"), "TIFF")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning fails the test
        rgb = decode_image(data).rgb
    assert rgb[7, 7].tolist() == [0, 0, 0] and rgb[20, 30].tolist() == [0, 0, 0]
    assert rgb[0, 0, 0] == 0 and rgb[0, 63, 0] == 255  # the finite range spans 0..255
    all_nan = np.full((64, 64), np.nan, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode_image(_encode(Image.fromarray(all_nan, mode="F"), "TIFF")).rgb.max() == 0
