"""A pool of graphics rendered by the bench itself: charts, posters, slides, app windows.

Each group holds one *reference* and its *look-alikes*: the same template with other text
or data, the same data drawn another way, the same logo on another design, another
screen of the same application. A look-alike is not a copy of its reference (docs/matching.md)
and must never be served for it. Deterministic from the seed; nothing is downloaded, and
none of the Debian documentation or artwork packages the hidden check draws from is used.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

RGB = NDArray[np.uint8]

_WORDS = tuple(
    " ".join(
        (
            "spring summer autumn winter sale launch market report growth design studio river",
            "city garden coffee music festival night morning product service quality future",
            "energy data ocean mountain travel school science health family friends open week",
            "special price new annual review budget revenue team project plan update release",
            "notes weekend offer club",
        )
    ).split()
)


@dataclass
class Group:
    kind: str
    reference: RGB
    lookalikes: list[RGB] = field(default_factory=list)


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = f"{matplotlib.get_data_path()}/fonts/ttf/{name}"
    return ImageFont.truetype(path, size)


def _words(rng: np.random.Generator, n: int) -> str:
    return " ".join(str(w) for w in rng.choice(_WORDS, size=n))


def _figure_rgb(fig: object) -> RGB:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def _chart(rng: np.random.Generator) -> Group:
    """One data set: a line chart (the reference), the same data as bars (another chart
    of the same data), and the same style with other data (one template)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = int(rng.integers(6, 12))
    x = np.arange(n)
    series = [np.cumsum(rng.normal(1, 2, n)) + 10 for _ in range(int(rng.integers(1, 4)))]
    labels = [_words(rng, 1) for _ in series]
    title = _words(rng, 3).title()

    def draw(data: list[NDArray[np.float64]], bars: bool) -> RGB:
        fig, ax = plt.subplots(figsize=(8, 5))
        for i, (s, lab) in enumerate(zip(data, labels, strict=True)):
            if bars:
                ax.bar(x + i * 0.8 / len(data), s, width=0.8 / len(data), label=lab)
            else:
                ax.plot(x, s, marker="o", label=lab)
        ax.set_title(title)
        ax.set_xlabel("month")
        ax.set_ylabel("value")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left")
        return _figure_rgb(fig)

    other = [np.cumsum(rng.normal(1, 2, n)) + 10 for _ in series]
    return Group("chart", draw(series, False), [draw(series, True), draw(other, False)])


def _poster(rng: np.random.Generator, photos: Iterator[RGB]) -> Group:
    """A poster template (band, logo, title, body, a picture): the reference, and the same
    template with other text and another picture, and the same logo on another design.
    `photos`: pictures no other group of the pool uses (a poster holding another's picture
    is a partial copy of it, not a look-alike)."""
    w, h = 720, 1000
    band = tuple(int(c) for c in rng.integers(0, 200, 3))
    logo = _words(rng, 1).upper()

    def draw(title: str, body: str, picture: RGB, layout: int) -> RGB:
        img = Image.new("RGB", (w, h), (250, 248, 240) if layout == 0 else (30, 30, 40))
        d = ImageDraw.Draw(img)
        d.rectangle((0, 0, w, 140), fill=band)
        d.ellipse((30, 25, 120, 115), fill=(255, 255, 255))
        d.text((140, 45), logo, font=_font(44, True), fill=(255, 255, 255))
        pic = Image.fromarray(picture).resize((w - 120, 420))
        top = 180 if layout == 0 else 520
        img.paste(pic, (60, top))
        ty = 640 if layout == 0 else 180
        ink = (20, 20, 20) if layout == 0 else (240, 240, 240)
        d.text((60, ty), title, font=_font(52, True), fill=ink)
        for i, line in enumerate(body.split("|")):
            d.text((60, ty + 80 + 40 * i), line, font=_font(28), fill=ink)
        return np.asarray(img)

    def body() -> str:
        return "|".join(_words(rng, 5) for _ in range(4))

    ref = draw(_words(rng, 2).title(), body(), next(photos), 0)
    same_template = draw(_words(rng, 2).title(), body(), next(photos), 0)
    same_logo = draw(_words(rng, 2).title(), body(), next(photos), 1)
    return Group("poster", ref, [same_template, same_logo])


def _window(rng: np.random.Generator) -> Group:
    """An application window (title bar, toolbar, side bar, a list of items): two screens
    of one application, and the same screen in another skin."""
    w, h = 1024, 700

    def draw(items: list[str], skin: int) -> RGB:
        bg, bar, side = (
            ((245, 245, 245), (60, 90, 160), (225, 230, 240))
            if skin == 0
            else ((40, 42, 48), (120, 60, 140), (55, 58, 66))
        )
        ink = (20, 20, 20) if skin == 0 else (230, 230, 230)
        img = Image.new("RGB", (w, h), bg)
        d = ImageDraw.Draw(img)
        d.rectangle((0, 0, w, 36), fill=bar)
        d.text((14, 8), app, font=_font(18, True), fill=(255, 255, 255))
        for b in range(8):
            d.rounded_rectangle((14 + 44 * b, 46, 48 + 44 * b, 80), 6, outline=ink)
        d.rectangle((0, 90, 200, h), fill=side)
        for s, name in enumerate(menu):
            d.text((16, 110 + 34 * s), name, font=_font(18), fill=ink)
        for r, item in enumerate(items):
            y = 110 + 42 * r
            d.rectangle((220, y, w - 20, y + 34), outline=(180, 180, 180))
            d.text((232, y + 6), item, font=_font(18), fill=ink)
        return np.asarray(img)

    app = _words(rng, 2).title()
    menu = [_words(rng, 1).title() for _ in range(8)]
    items = [_words(rng, 4) for _ in range(12)]
    return Group(
        "window", draw(items, 0), [draw([_words(rng, 4) for _ in range(12)], 0), draw(items, 1)]
    )


def _slide(rng: np.random.Generator) -> Group:
    """A slide deck's template: title, bullets, footer; other slides of the same deck."""
    w, h = 1280, 720
    accent = tuple(int(c) for c in rng.integers(0, 180, 3))
    footer = _words(rng, 3).title()

    def draw() -> RGB:
        img = Image.new("RGB", (w, h), (255, 255, 255))
        d = ImageDraw.Draw(img)
        d.rectangle((0, 0, w, 18), fill=accent)
        d.text((80, 60), _words(rng, 3).title(), font=_font(56, True), fill=accent)
        for i in range(5):
            d.ellipse((90, 200 + 80 * i, 106, 216 + 80 * i), fill=accent)
            d.text((130, 190 + 80 * i), _words(rng, 6), font=_font(34), fill=(30, 30, 30))
        d.rectangle((0, h - 50, w, h), fill=(240, 240, 240))
        d.text((80, h - 40), footer, font=_font(22), fill=(90, 90, 90))
        return np.asarray(img)

    return Group("slide", draw(), [draw(), draw()])


def graphics_pool(seed: int, n_groups: int, photos: list[RGB]) -> list[Group]:
    """`n_groups` groups, the kinds in turn."""
    posters = (n_groups + 2) // 4
    if 3 * posters > len(photos):
        raise ValueError(f"{posters} posters need {3 * posters} photos, {len(photos)} given")
    rng = np.random.default_rng(seed)
    # each poster's three pictures are drawn without replacement across the pool
    unused = iter([photos[i] for i in rng.permutation(len(photos))])
    makers = (
        lambda: _chart(rng),
        lambda: _poster(rng, unused),
        lambda: _window(rng),
        lambda: _slide(rng),
    )
    return [makers[i % len(makers)]() for i in range(n_groups)]
