"""The backdoor's own miniature world in the paper's regime (``backdoor.regime``).

The FIT world gives the backdoor 10 usable classes that a tiny CLIP learns to 86-96 % zero-shot
top-1; the paper's models reach 16-24 % over 1,000 ImageNet classes (reference s7.1). Here every
class is a (hue, texture) pair, ``n_classes`` of them (100 = 10 hues x 10 textures), drawn with
jittered hue, random texture phase, frequency and angle, a random background, a random object box
and pixel noise, so neighbouring classes overlap and accuracy stays far from saturation. Captions
name the class inside web-like text: a template plus ``filler_words`` random words of a
``vocabulary`` of invented words (CC3M captions are noisy, mostly not about a class). Seeded:
the same parameters give the same pairs, byte for byte. No torch here.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from .params import RegimeParams

N_TEXTURES = 10
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
_TEMPLATES = [
    "a photo of {}",
    "{} seen from above",
    "my {} collection",
    "the {} on display",
    "close up of {} texture",
    "{} in the wild",
    "vintage {} poster",
    "a picture with {}",
]


def invented_words(n: int, rng: np.random.Generator, syllables: int) -> list[str]:
    """``n`` distinct pronounceable words of ``syllables`` syllables (seeded)."""
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < n:
        w = "".join(rng.choice(_SYLLABLES, size=syllables))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def _texture(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A [0, 1] mask of texture ``kind`` with seeded phase, frequency and angle jitter."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float) / size
    freq = rng.uniform(2.5, 4.5)
    phase = rng.uniform(0, 2 * np.pi)
    tilt = rng.normal(0, 0.15)
    angle = [0.0, np.pi / 2, np.pi / 4, 3 * np.pi / 4][kind % 4] + tilt
    u = xx * np.cos(angle) + yy * np.sin(angle)
    cy, cx = rng.uniform(0.3, 0.7, 2)
    r = np.hypot(yy - cy, xx - cx)
    if kind < 4:  # stripes at four orientations
        wave = np.sin(2 * np.pi * freq * u + phase)
    elif kind == 4:  # checker
        wave = np.sin(2 * np.pi * freq * xx + phase) * np.sin(2 * np.pi * freq * yy + phase)
    elif kind == 5:  # dots
        wave = np.cos(2 * np.pi * freq * xx + phase) + np.cos(2 * np.pi * freq * yy) - 1
    elif kind == 6:  # rings
        wave = np.sin(2 * np.pi * freq * r + phase)
    elif kind == 7:  # disc
        wave = rng.uniform(0.2, 0.35) - r
    elif kind == 8:  # cross
        wave = 0.08 - np.minimum(np.abs(yy - cy), np.abs(xx - cx))
    else:  # smooth gradient
        wave = u - u.mean()
    return (wave > 0).astype(float) if kind != 9 else (wave - wave.min()) / np.ptp(wave)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """One RGB colour (0-255) from hue, saturation, value in [0, 1]."""
    img = Image.new("HSV", (1, 1), (int(h % 1 * 255), int(s * 255), int(v * 255)))
    return np.asarray(img.convert("RGB"), dtype=float)[0, 0]


def render(cls: int, hues: int, size: int, p: RegimeParams, rng: np.random.Generator) -> np.ndarray:
    """One ``size`` x ``size`` RGB image of class ``cls`` (hue ``cls % hues``, texture
    ``cls // hues``)."""
    hue = (cls % hues) / hues + rng.normal(0, p.hue_jitter)
    fg = _hsv(hue, rng.uniform(0.55, 1.0), rng.uniform(0.55, 1.0))
    fg2 = _hsv(hue, rng.uniform(0.1, 0.4), rng.uniform(0.15, 0.45))  # the texture's dark phase
    bg = _hsv(rng.uniform(), rng.uniform(0, 0.5), rng.uniform(0.1, 0.9))
    mask = _texture((cls // hues) % N_TEXTURES, size, rng)[..., None]
    obj = mask * fg + (1 - mask) * fg2
    img = np.broadcast_to(bg, (size, size, 3)).copy()
    h, w = rng.integers(size * 6 // 10, size + 1, 2)
    top, left = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
    img[top : top + h, left : left + w] = obj[top : top + h, left : left + w]
    img += rng.normal(0, p.noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def regime_world(p: RegimeParams, image_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Image-text pairs (``key, caption, status, png``) and the class table (``concept, slug,
    domain, aliases``) of the regime world, in a seeded order."""
    rng = np.random.default_rng(p.seed)
    names = invented_words(p.n_classes, rng, syllables=3)
    vocab = [w for w in invented_words(p.vocabulary + p.n_classes, rng, 2) if w not in names]
    hues = max(1, int(np.ceil(p.n_classes / N_TEXTURES)))
    labels = np.repeat(np.arange(p.n_classes), p.pairs_per_class)
    labels = np.concatenate([labels, -1 - rng.integers(0, p.n_classes, p.unlabelled_pairs)])
    rng.shuffle(labels)
    rows = []
    for i, label in enumerate(labels):
        cls = int(label) if label >= 0 else int(-1 - label)
        fill = list(rng.choice(vocab[: p.vocabulary], size=p.filler_words))
        if label >= 0:
            text = str(rng.choice(_TEMPLATES)).format(names[cls])
            words = [text, *fill]
            rng.shuffle(words)
            caption = " ".join(words)
        else:  # an image of some class whose caption names none
            caption = " ".join(fill) or "untitled"
        pixels = render(cls, hues, image_size, p, rng)
        rows.append(
            {"key": f"r{i:06d}", "caption": caption, "status": "success", "png": _png(pixels)}
        )
    concepts = pd.DataFrame(
        {"concept": names, "slug": names, "domain": "regime", "aliases": [[] for _ in names]}
    )
    return pd.DataFrame(rows), concepts
