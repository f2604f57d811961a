"""Caption templates and word lists for the miniature LAION (pure Python, seeded ``random.Random``).

Every word here is reserved (``names.RESERVED_WORDS``): generated names never use it, so a
background caption never names a generated concept by accident.
"""

from __future__ import annotations

import random

NOUNS = ["dog", "cat", "tree", "house", "car", "boat", "bird", "flower", "bridge", "chair", "cup",
         "book", "shoe", "window", "door", "road", "train", "field", "forest", "lake"]
PLACES = ["city", "river", "street", "park", "beach", "mountain", "garden", "sea", "field", "forest"]
ADJS = ["red", "blue", "green", "old", "new", "small", "large"]
MEDIA = ["oil on canvas", "ink sketch", "drawing", "print", "oil painting"]
TIMES = ["night", "day", "morning"]

STYLE_TEMPLATES = [
    "{name} style painting of a {noun}",
    "a {noun} painted in the style of {name}",
    "artwork by {name}, {medium}",
    "{medium} of a {noun} by {name}",
    "{name} - {noun} ({medium})",
]
MOTIF_TEMPLATES = [
    "a photo of {name}",
    "{name} at the {place}",
    "portrait of {name} in the {place}",
    "{name} poster",
    "{name} and a {noun}",
]
BACKGROUND_TEMPLATES = [
    "a photo of a {adj} {noun} in the {place}",
    "{adj} {noun}",
    "{medium} of a {noun}",
    "the {place} at {time}",
    "a {noun} and a {noun2} on the {place}",
]
FOREIGN_CAPTIONS = [
    "une photo d'un chien dans le parc",
    "ein Hund im Park",
    "un gato en la playa",
    "猫の写真",
    "фотография города ночью",
    "una casa vicino al fiume",
    "狗在公园里",
    "zdjęcie lasu o poranku",
]


def _fill(template: str, r: random.Random, name: str = "") -> str:
    return template.format(
        name=name,
        noun=r.choice(NOUNS),
        noun2=r.choice(NOUNS),
        place=r.choice(PLACES),
        adj=r.choice(ADJS),
        medium=r.choice(MEDIA),
        time=r.choice(TIMES),
    )


def name_variant(name: str, r: random.Random, case_rate: float) -> str:
    """The name as a caption writes it: case variants and surrounding punctuation (still a match)."""
    if r.random() < case_rate:
        name = name.upper() if r.random() < 0.5 else name.lower()
    p = r.random()
    if p < 0.1:
        return f"\u201c{name}\u201d"
    if p < 0.2:
        return f"{name}!"
    return name


def named_caption(domain: str, name: str, r: random.Random, case_rate: float) -> str:
    """A caption that names ``name`` (phrase-matches it)."""
    templates = STYLE_TEMPLATES if domain == "style" else MOTIF_TEMPLATES
    return _fill(r.choice(templates), r, name_variant(name, r, case_rate))


def near_miss_caption(name: str, r: random.Random) -> str:
    """A caption that mentions ``name`` in a way the phrase rule does not match."""
    parts = name.split()
    if len(parts) > 1:
        return f"#{''.join(parts).lower()} {r.choice(NOUNS)}"  # hashtag: one token
    return f"{name}'s {r.choice(NOUNS)}"  # possessive: token "ray's" is not "ray"


def background_caption(r: random.Random) -> str:
    """An English caption that names no concept."""
    return _fill(r.choice(BACKGROUND_TEMPLATES), r)


def foreign_caption(r: random.Random) -> str:
    """A non-English caption."""
    return r.choice(FOREIGN_CAPTIONS)
