"""SSL views: offline EDA text augmentation and per-image AutoAugment (reference section 2).

EDA (Wei & Zou) needs WordNet for synonym replacement and for random insertion of synonyms;
WordNet cannot be downloaded here, so this is the documented offline variant:
- synonym replacement is left out;
- random insertion inserts a copy of a random word of the caption itself;
- random swap and random deletion are EDA's.
As in CleanCLIP (num_aug = 1) one of the operations is chosen per caption, computed once and kept
fixed for all epochs. A caption that EDA cannot augment keeps its (normalised) original text at the
same row, and the row is flagged: never a shifted batch (B8).
"""

from __future__ import annotations

import random
import re

import pandas as pd

from imitation_kedro.core.seeding import stable_seed

from .params import AugmentParams

_NON_LETTERS = re.compile(r"[^a-z ]+")


def normalise_caption(caption: str) -> str:
    """EDA's ``get_only_chars``: lower-case, letters and single spaces only."""
    text = _NON_LETTERS.sub(" ", str(caption).lower().replace("-", " ").replace("\t", " "))
    return " ".join(text.split())


def _random_insertion(words: list[str], n: int, rng: random.Random) -> list[str]:
    out = list(words)
    for _ in range(n):
        out.insert(rng.randint(0, len(out)), rng.choice(words))
    return out


def _random_swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(n):
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    return out


def _random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    if len(words) == 1:
        return list(words)
    kept = [w for w in words if rng.random() > p]
    return kept or [rng.choice(words)]


def eda(caption: str, params: AugmentParams, rng: random.Random) -> str:
    """One augmented sentence (empty string when the caption has no letters)."""
    words = normalise_caption(caption).split()
    if not words:
        return ""
    ops = [
        lambda: _random_insertion(words, max(1, int(params.eda_alpha_ri * len(words))), rng),
        lambda: _random_swap(words, max(1, int(params.eda_alpha_rs * len(words))), rng),
        lambda: _random_deletion(words, params.eda_p_rd, rng),
    ]
    return " ".join(rng.choice(ops)())


def augment_captions(keys: list[str], captions: list[str], params: AugmentParams) -> pd.DataFrame:
    """Static augmented captions, one per row and aligned by ``key``; ``fallback`` flags failures."""
    if len(keys) != len(captions):
        raise ValueError(f"{len(keys)} keys but {len(captions)} captions")
    augmented, fallback = [], []
    for key, caption in zip(keys, captions, strict=True):
        text = eda(caption, params, random.Random(stable_seed("backdoor-eda", params.seed, key)))
        failed = not text.strip()
        augmented.append(str(caption) if failed else text)
        fallback.append(failed)
    return pd.DataFrame({"key": keys, "caption_aug": augmented, "fallback": fallback})


def make_image_augmenter(kind: str, group: int = 1):
    """A callable ``uint8 B x 3 x H x W -> uint8`` applying AutoAugment (ImageNet policy).

    ``group`` consecutive images share one random draw (sub-policy and magnitudes): 1 is the
    paper's per-image augmentation; larger groups trade per-image variety for CPU speed (one
    torchvision call per group instead of per image). Batches are shuffled, so groups differ.
    """
    if kind == "none":
        return lambda batch: batch
    import torch
    from torchvision.transforms import v2

    policy = v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)
    group = max(1, group)

    def apply(batch: torch.Tensor) -> torch.Tensor:
        if group == 1:
            return torch.stack([policy(img) for img in batch])
        return torch.cat([policy(batch[i : i + group]) for i in range(0, len(batch), group)])

    return apply
