"""Deterministic concept names and aliases, unique after phrase normalisation."""

from __future__ import annotations

import numpy as np

from imitation_kedro.core.phrase_rule import normalise_phrase, tokenize
from imitation_kedro.core.slugs import slugify
from imitation_kedro.pipelines.world import captions

_ONSETS = ["b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr",
           "gr", "kl", "st", "th", "vr", "sk"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou"]
_CODAS = ["", "n", "r", "l", "s", "th", "m", "x", "nd", "rk"]

# Words the captions use: generated names must not collide with them.
RESERVED_WORDS = frozenset(
    tok
    for text in [*captions.STYLE_TEMPLATES, *captions.MOTIF_TEMPLATES, *captions.BACKGROUND_TEMPLATES,
                 *captions.FOREIGN_CAPTIONS, *captions.NOUNS, *captions.PLACES, *captions.ADJS,
                 *captions.MEDIA, *captions.TIMES]
    for tok in tokenize(text)
)


def _syllable_word(rng: np.random.Generator, n_syllables: int) -> str:
    parts = []
    for _ in range(n_syllables):
        parts.append(_ONSETS[rng.integers(len(_ONSETS))])
        parts.append(_VOWELS[rng.integers(len(_VOWELS))])
    parts.append(_CODAS[rng.integers(len(_CODAS))])
    return "".join(parts).capitalize()


def generate_names(special: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """``special`` names first, then generated two-word names up to ``n`` (unique normalised/slug)."""
    names: list[str] = []
    norms: set[str] = set()
    slugs: set[str] = set()
    tokens_used: set[str] = set()

    def _add(name: str) -> bool:
        norm, slug = normalise_phrase(name), slugify(name)
        if norm in norms or slug in slugs:
            return False
        names.append(name)
        norms.add(norm)
        slugs.add(slug)
        tokens_used.update(tokenize(name))
        return True

    for name in special:
        if not _add(name):
            raise ValueError(f"special name {name!r} duplicates an earlier one after normalisation")
    attempts = 0
    while len(names) < n:
        attempts += 1
        if attempts > 100 * n:
            raise RuntimeError(f"could not generate {n} unique concept names")
        first = _syllable_word(rng, int(rng.integers(1, 3)))
        last = _syllable_word(rng, int(rng.integers(1, 3)))
        toks = {first.lower(), last.lower()}
        if len(first) < 3 or len(last) < 3 or toks & RESERVED_WORDS or toks & tokens_used:
            continue  # every generated token is private to one concept: no accidental matches
        _add(f"{first} {last}")
    return names


def make_alias(name: str, taken: set[str]) -> str | None:
    """An alias for ``name`` that does not contain it ("Kalo Venmir" -> "K. Venmir"), or None."""
    parts = name.split()
    if len(parts) < 2:
        return None
    alias = f"{parts[0][0]}. {' '.join(parts[1:])}"
    norm = normalise_phrase(alias)
    if not norm or norm in taken or normalise_phrase(name) in norm:
        return None
    return alias
