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


def windows(seed: int, n: int) -> list[Group]:
    """`n` application windows of as many applications: one layout, other names and
    items (the windows of `graphics_pool`, without its other kinds)."""
    rng = np.random.default_rng(seed)
    return [_window(rng) for _ in range(n)]


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


# --- screens: themed pictures with few corners ------------------------------------------
# What graphics copies are refused on, and which look-alikes are served, where a picture is
# mostly smooth artwork or flat colour: a desktop's login and boot screens in several
# themes of one layout, one player in several skins, flat clipart of one set
# (`python -m bench.hard --pools screens`). A theme is the look-alike of another theme's
# screen: the same layout and text, other artwork and colours.


def _palette(rng: np.random.Generator) -> NDArray[np.float64]:
    """Three colours of one theme, dark to light-ish."""
    base = rng.uniform(0, 1, 3)
    hue_step = rng.uniform(-0.25, 0.25, 3)
    return np.stack([np.clip(base * k + hue_step * (k - 0.5), 0, 1) for k in (0.25, 0.6, 1.0)])


def _artwork(rng: np.random.Generator, w: int, h: int, palette: NDArray[np.float64]) -> Image.Image:
    """A wallpaper: a smooth field through the theme's colours, soft waves, a few soft
    discs of light."""
    import cv2

    field = cv2.resize(rng.normal(size=(3, 4)), (w, h), interpolation=cv2.INTER_CUBIC)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    for _ in range(int(rng.integers(2, 4))):
        y0, amp = rng.uniform(0.3, 0.8) * h, rng.uniform(0.05, 0.2) * h
        freq, phase = rng.uniform(1, 3) * 2 * np.pi / w, rng.uniform(0, 2 * np.pi)
        curve = y0 + amp * np.sin(xs * freq + phase)
        field += rng.uniform(0.6, 1.2) / (1 + np.exp(-(ys - curve) / (0.02 * h)))
    t = (field - field.min()) / max(1e-6, float(np.ptp(field)))
    lo = np.clip(t * 2, 0, 1)[..., None]
    hi = np.clip(t * 2 - 1, 0, 1)[..., None]
    rgb = palette[0] * (1 - lo) + palette[1] * lo
    rgb = rgb * (1 - hi) + palette[2] * hi
    glow = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(3, 8))):
        cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        cv2.circle(
            glow, (cx, cy), int(rng.uniform(0.03, 0.1) * w), float(rng.uniform(0.1, 0.3)), -1
        )
    glow = cv2.GaussianBlur(glow, (0, 0), 0.01 * w)[..., None]
    rgb = np.clip(rgb * (1 - glow) + glow, 0, 1)
    return Image.fromarray((rgb * 255).astype(np.uint8))


def _ink(palette: NDArray[np.float64], k: int) -> tuple[int, int, int]:
    r, g, b = (int(c * 255) for c in palette[k])
    return r, g, b


def _login(rng: np.random.Generator) -> Group:
    """A desktop's login screen: top bar, clock, a panel with avatar, name, password
    field and button over the theme's wallpaper. Look-alikes: other themes."""
    w, h = 1280, 800
    user, host = _words(rng, 1).title(), _words(rng, 1)
    clock = f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}"

    def draw(theme: np.random.Generator) -> RGB:
        palette = _palette(theme)
        img = _artwork(theme, w, h, palette)
        d = ImageDraw.Draw(img, "RGBA")
        d.rectangle((0, 0, w, 32), fill=(0, 0, 0, 150))
        d.text((w // 2 - 30, 6), clock, font=_font(18, True), fill=(255, 255, 255))
        d.text((12, 6), host, font=_font(16), fill=(230, 230, 230))
        x0, y0 = w // 2 - 210, h // 2 - 170
        d.rounded_rectangle((x0, y0, x0 + 420, y0 + 320), 18, fill=(*_ink(palette, 0), 190))
        d.ellipse((w // 2 - 50, y0 + 30, w // 2 + 50, y0 + 130), fill=_ink(palette, 2))
        d.text((w // 2 - 60, y0 + 145), user, font=_font(28, True), fill=(255, 255, 255))
        d.rounded_rectangle((x0 + 50, y0 + 200, x0 + 370, y0 + 240), 8, fill=(255, 255, 255, 220))
        d.text((x0 + 64, y0 + 208), "Password", font=_font(18), fill=(120, 120, 120))
        d.rounded_rectangle((x0 + 140, y0 + 258, x0 + 280, y0 + 298), 8, fill=_ink(palette, 1))
        d.text((x0 + 180, y0 + 266), "Log In", font=_font(18, True), fill=(255, 255, 255))
        return np.asarray(img.convert("RGB"))

    themes = [np.random.default_rng(int(rng.integers(2**32))) for _ in range(3)]
    return Group("login", draw(themes[0]), [draw(t) for t in themes[1:]])


def _boot(rng: np.random.Generator) -> Group:
    """A boot menu: a list of entries with one highlighted over the theme's artwork.
    Look-alikes: the same entries in other themes."""
    w, h = 1024, 768
    system = _words(rng, 1).title()
    entries = [
        system,
        f"Advanced options for {system}",
        f"{system} (recovery mode)",
        "Memory test",
        "System setup",
    ]

    def draw(theme: np.random.Generator) -> RGB:
        palette = _palette(theme) * 0.6
        img = _artwork(theme, w, h, palette)
        d = ImageDraw.Draw(img, "RGBA")
        top = int(theme.integers(220, 320))
        d.rectangle((160, top - 20, w - 160, top + 5 * 44 + 10), outline=(255, 255, 255, 160))
        for i, entry in enumerate(entries):
            y = top + 44 * i
            if i == 0:
                d.rectangle((170, y - 6, w - 170, y + 34), fill=(*_ink(palette * 1.6, 2), 200))
            d.text((190, y), entry, font=_font(22), fill=(255, 255, 255))
        d.text(
            (170, h - 90),
            "Use the arrow keys to choose an entry.",
            font=_font(16),
            fill=(220, 220, 220),
        )
        return np.asarray(img.convert("RGB"))

    themes = [np.random.default_rng(int(rng.integers(2**32))) for _ in range(3)]
    return Group("boot", draw(themes[0]), [draw(t) for t in themes[1:]])


def _player(rng: np.random.Generator) -> Group:
    """A music player's window: a cover placeholder, the track, a progress bar, three
    buttons. Look-alikes: the same track in the player's other skins (other artwork
    behind it, other colours, other buttons)."""
    w, h = 480, 640
    track, artist = _words(rng, 3).title(), _words(rng, 2).title()
    played = float(rng.uniform(0.1, 0.9))

    def draw(skin: np.random.Generator) -> RGB:
        palette = _palette(skin)
        # a skin is its artwork, not only its colours: one hue turned into another is
        # a colour edit of the same skin, a copy (corpus/edits.py color_jitter)
        img = _artwork(skin, w, h, palette * 0.8)
        d = ImageDraw.Draw(img, "RGBA")
        ink = (240, 240, 240)
        round_cover = 24 if skin.uniform() < 0.5 else 2
        d.rounded_rectangle((60, 50, w - 60, 410), round_cover, fill=(*_ink(palette, 1), 150))
        d.polygon(
            [(200, 280), (200, 180), (300, 160), (300, 260)], outline=_ink(palette, 2), width=10
        )
        d.text((60, 430), track, font=_font(24, True), fill=ink)
        d.text((60, 466), artist, font=_font(18), fill=ink)
        d.rectangle((60, 510, w - 60, 516), fill=(128, 128, 128))
        d.rectangle((60, 510, 60 + int((w - 120) * played), 516), fill=_ink(palette, 2))
        shape = int(skin.integers(3))
        for i, cx in enumerate((w // 2 - 110, w // 2, w // 2 + 110)):
            r = 40 if i == 1 else 26
            box = (cx - r, 580 - r, cx + r, 580 + r)
            fill = _ink(palette, 2 if i == 1 else 1)
            if shape == 0:
                d.ellipse(box, fill=fill)
            elif shape == 1:
                d.rounded_rectangle(box, 8, fill=fill)
            else:
                d.regular_polygon((cx, 580, r), 6, fill=fill)
        return np.asarray(img.convert("RGB"))

    skins = [np.random.default_rng(int(rng.integers(2**32))) for _ in range(3)]
    return Group("player", draw(skins[0]), [draw(s) for s in skins[1:]])


def _clipart(rng: np.random.Generator) -> Group:
    """Flat clipart of one set: a few large filled shapes with thick outlines on white.
    Look-alikes: other pictures of the set (the same colours and stroke, other shapes)."""
    w, h = 800, 800
    colours = [tuple(int(c) for c in rng.integers(30, 240, 3)) for _ in range(4)]
    stroke = int(rng.integers(4, 12))

    def draw(shapes: np.random.Generator) -> RGB:
        img = Image.new("RGB", (w, h), (255, 255, 255))
        d = ImageDraw.Draw(img)
        for _ in range(int(shapes.integers(3, 7))):
            cx, cy = shapes.uniform(0.2, 0.8, 2) * (w, h)
            r = shapes.uniform(0.08, 0.25) * w
            fill = colours[int(shapes.integers(len(colours)))]
            kind = int(shapes.integers(3))
            if kind == 0:
                d.ellipse(
                    (cx - r, cy - r, cx + r, cy + r), fill=fill, outline=(20, 20, 20), width=stroke
                )
            elif kind == 1:
                d.rounded_rectangle(
                    (cx - r, cy - r * 0.7, cx + r, cy + r * 0.7),
                    12,
                    fill=fill,
                    outline=(20, 20, 20),
                    width=stroke,
                )
            else:
                angles = np.sort(shapes.uniform(0, 2 * np.pi, int(shapes.integers(3, 6))))
                pts = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles]
                d.polygon(pts, fill=fill, outline=(20, 20, 20), width=stroke)
        return np.asarray(img)

    sets = [np.random.default_rng(int(rng.integers(2**32))) for _ in range(3)]
    return Group("clipart", draw(sets[0]), [draw(s) for s in sets[1:]])


def screens_pool(seed: int, n_groups: int) -> list[Group]:
    """`n_groups` groups of themed screens and clipart, the kinds in turn."""
    rng = np.random.default_rng(seed + 7)
    makers = (_login, _boot, _player, _clipart)
    return [makers[i % len(makers)](rng) for i in range(n_groups)]
