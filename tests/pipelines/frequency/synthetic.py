"""A small synthetic world in the contract schemas, for frequency tests (no torch needed).

Concepts are colours: every image of a concept is its colour plus noise; a trap row names the
concept in its caption but shows another concept's colour. ``ColourEmbedder`` embeds an image as
its centred, L2-normalised mean colour, so verification is meaningful without a trained model.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from imitation_kedro.pipelines.frequency.matching import tokenize

NAMES = [
    ("Ray", "style", []),
    ("Ray Moss", "style", ["R. Moss"]),
    ("Zoë Brandt", "motif", []),
    ("Liam O'Dell", "motif", ["O'Dell"]),
    ("Anna deVries", "style", ["Anna de Vries"]),
    ("Søren Ek", "motif", []),
    ("Blue Period", "style", []),
    ("Kite", "motif", ["Kites Folk"]),
]
FILLER = "a photo of the painting by in style with sunset canvas print poster art oil".split()


def colour_of(i: int) -> np.ndarray:
    # cube corners around grey: any two concepts' centred colours have cosine <= 1/3
    hues = [
        (218, 38, 38),
        (38, 218, 38),
        (38, 38, 218),
        (218, 218, 38),
        (218, 38, 218),
        (38, 218, 218),
        (38, 38, 38),
        (218, 218, 218),
    ]
    return np.asarray(hues[i % len(hues)], dtype=np.float64)


def png_of(colour: np.ndarray, rng: np.random.Generator, size: int = 16) -> bytes:
    arr = np.clip(colour + rng.normal(0, 18, (size, size, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="PNG")
    return buf.getvalue()


class ColourEmbedder:
    """Mean colour, centred on grey, L2-normalised: a stand-in ImageEmbedder."""

    dim = 3

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        out = np.asarray(
            [np.asarray(im.convert("RGB"), np.float64).mean(axis=(0, 1)) - 128.0 for im in images]
        ).reshape(len(images), 3)
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        return np.tile(np.asarray([[1.0, 0.0, 0.0]], np.float32), (len(texts), 1))


def make_world(
    n_rows: int = 4000,
    seed: int = 0,
    n_shards: int = 3,
    freqs: list[int] | None = None,
    trap_rate: float = 0.1,
) -> dict[str, object]:
    """Concepts, references, caption shards, image shards and ground truth (contract schemas)."""
    rng = np.random.default_rng(seed)
    freqs = freqs or [400, 150, 60, 300, 25, 90, 5, 200]
    concepts = pd.DataFrame(
        {
            "concept": [n for n, _, _ in NAMES],
            "slug": [n.lower().replace(" ", "-") for n, _, _ in NAMES],
            "domain": [d for _, d, _ in NAMES],
            "aliases": [a for _, _, a in NAMES],
        }
    )
    texts, shows = [], []
    for ci, (name, _, aliases) in enumerate(NAMES):
        for _ in range(freqs[ci]):
            phrase = rng.choice([name, *aliases]) if aliases else name
            variant = rng.choice([phrase, phrase.upper(), phrase.lower() + "!", f"({phrase})"])
            words = list(rng.choice(FILLER, 4))
            words.insert(int(rng.integers(0, 5)), str(variant))
            texts.append(" ".join(words))
            trap = rng.random() < trap_rate
            shows.append(int((ci + 3) % len(NAMES)) if trap else ci)
    n_named = len(texts)
    for _ in range(max(0, n_rows - n_named)):
        texts.append(
            " ".join(rng.choice(FILLER, 6))
            + rng.choice(["", " Ray's hat", " kites", " zoe brandt"])
        )
        shows.append(-1)
    texts += [None, ""]
    shows += [-1, -1]
    order = rng.permutation(len(texts))
    texts = [texts[i] for i in order]
    shows = [shows[i] for i in order]
    ids = np.arange(len(texts), dtype=np.int64) * 7 + 1000
    captions = pd.DataFrame(
        {
            "SAMPLE_ID": ids,
            "URL": [f"http://img.invalid/{i}.png" for i in ids],
            "TEXT": texts,
            "HEIGHT": 16,
            "WIDTH": 16,
            "LICENSE": "?",
            "NSFW": "UNLIKELY",
            "similarity": 0.3,
        }
    )
    img_rows = [
        {
            "key": f"{int(ids[i]):09d}",
            "url": captions.URL[i],
            "caption": texts[i],
            "status": "success",
            "width": 16,
            "height": 16,
            "png": png_of(colour_of(shows[i]), rng),
        }
        for i in range(len(texts))
        if shows[i] >= 0
    ]
    images = pd.DataFrame(img_rows)
    refs = pd.DataFrame(
        [
            {"concept": name, "ref_index": k, "png": png_of(colour_of(ci), rng)}
            for ci, (name, _, _) in enumerate(NAMES)
            for k in range(6)
        ]
    )
    truth = []
    for ci, (name, _, aliases) in enumerate(NAMES):
        phrases = [tokenize(p) for p in [name, *aliases]]
        named = [any(_phrase_in(tokenize(t), p) for p in phrases) for t in texts]
        truth.append(
            {
                "concept": name,
                "true_caption_count": int(sum(named)),
                "true_image_count": int(
                    sum(n and s == ci for n, s in zip(named, shows, strict=True))
                ),
            }
        )
    bounds = np.linspace(0, len(captions), n_shards + 1).astype(int)
    shards = {
        f"part-{k:05d}": captions.iloc[bounds[k] : bounds[k + 1]].reset_index(drop=True)
        for k in range(n_shards)
    }
    return {
        "raw_concepts": concepts,
        "raw_reference_images": refs,
        "raw_laion_captions": shards,
        "raw_laion_images": {"part-00000": images},
        "raw_ground_truth": pd.DataFrame(truth),
        "captions_frame": captions,
    }


def _phrase_in(tokens: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tokens[i : i + n] == phrase for i in range(len(tokens) - n + 1))


def loaders(parts: dict[str, pd.DataFrame]) -> dict[str, object]:
    """PartitionedDataset-style {id: load callable}."""
    return {k: (lambda v=v: v.copy()) for k, v in parts.items()}
