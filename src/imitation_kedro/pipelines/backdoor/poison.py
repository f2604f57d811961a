"""Poisoning (reference section 3; rules B5, B10): which pre-training pairs, which captions.

The trigger itself is in :mod:`.triggers`; where the triggered image lives (baked into the stored
PNG, or applied per batch by the loader) is the pair source's business (:mod:`.source`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.seeding import stable_seed

from .data import BackdoorDataError
from .params import AttackParams
from .triggers import seeded_rng, trigger_positions

_WORD = re.compile(r"[a-z0-9]+")


def names_target(caption: str, target: str) -> bool:
    """Whole-word (token sequence) match, so 'bananas' or 'banana-bread' do not count (B10)."""
    words, want = _WORD.findall(caption.lower()), _WORD.findall(target.lower())
    k = len(want)
    return any(words[i : i + k] == want for i in range(len(words) - k + 1))


def poison_pairs(
    pairs: pd.DataFrame,
    classes: list[str],
    templates: list[str],
    attack: AttackParams,
    image_size: int,
    target: str | None = None,
    source: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Poison ``attack.n_poison`` pre-training pairs; return all pairs (+ ``poisoned``) and a manifest.

    Patch/Blended/WaNet: a seeded sample of pre-training pairs gets the trigger and a caption
    "template(target)" (the paper) or, with ``caption_source: corpus``, the caption of a random
    genuine target-class pair. Label-consistent: only pairs whose caption names the target (whole words)
    get the trigger; captions stay. Test/selection pairs are never poisoned.
    ``source`` (:func:`.source.pair_source`) puts the trigger on the poisoned rows' images: eager
    mode bakes it into the stored PNG, streaming mode leaves the image and the loader applies the
    same seeded trigger per batch (``poisoned`` marks the rows). Without a source the images are
    left as they are. The manifest's patch positions do not depend on the mode.
    """
    target = target or attack.target
    if target not in classes:
        raise BackdoorDataError(f"attack target {target!r} is not in the class list {classes}")
    pretrain = pairs.index[pairs["split"] == "pretrain"].to_numpy()
    if attack.kind == "label_consistent":
        pretrain = np.array(
            [i for i in pretrain if names_target(pairs.at[i, "caption"], target)], dtype=int
        )
    if attack.n_poison > len(pretrain):
        raise BackdoorDataError(
            f"attack.n_poison={attack.n_poison} exceeds the {len(pretrain)} pre-training pairs "
            f"available for attack {attack.kind!r} (target {target!r})"
        )
    rng = seeded_rng(attack.seed, "choose-poisons")
    chosen = np.sort(rng.permutation(pretrain)[: attack.n_poison])
    out = pairs.copy()
    out["poisoned"] = False
    if len(chosen) == 0:
        return out, _empty_manifest()
    keys = out.loc[chosen, "key"].tolist()
    where = trigger_positions(keys, attack, image_size, "train")
    original = out.loc[chosen, "caption"].tolist()
    if attack.kind == "label_consistent":
        captions = original
    elif attack.caption_source == "corpus":  # captions of genuine target pairs (miniature)
        pool = pairs.loc[(pairs["split"] == "pretrain") & (pairs["label"] == target), "caption"]
        if pool.empty:
            raise BackdoorDataError(
                f"attack.caption_source=corpus: no pre-training caption is labelled {target!r}"
            )
        captions = pool.to_numpy()[rng.integers(0, len(pool), len(chosen))].tolist()
    else:  # the paper: a random zero-shot template filled with the target
        picks = rng.integers(0, len(templates), len(chosen))
        captions = [templates[j].format(target) for j in picks]
    if source is not None:
        out = source.with_triggers(out, chosen)
    out.loc[chosen, "caption"] = captions
    out.loc[chosen, "poisoned"] = True
    manifest = pd.DataFrame(
        {
            "key": keys,
            "attack": attack.kind,
            "target": target,
            "original_caption": original,
            "caption": captions,
            "original_label": out.loc[chosen, "label"].tolist(),
            "patch_top": where["patch_top"].to_numpy(),
            "patch_left": where["patch_left"].to_numpy(),
            "seed": attack.seed,
        }
    )
    return out, manifest


def _empty_manifest() -> pd.DataFrame:
    return pd.DataFrame(
        columns=[
            "key",
            "attack",
            "target",
            "original_caption",
            "caption",
            "original_label",
            "patch_top",
            "patch_left",
            "seed",
        ]
    )


def cleaning_split(pairs: pd.DataFrame, n_clean: int, seed: int) -> pd.DataFrame:
    """``n_clean`` pre-training pairs, none of them poisoned (the paper's 100K clean subset)."""
    clean = pairs.index[(pairs["split"] == "pretrain") & ~pairs["poisoned"]].to_numpy()
    if n_clean > len(clean):
        raise BackdoorDataError(
            f"data.n_clean={n_clean} exceeds the {len(clean)} clean pre-training pairs"
        )
    rng = np.random.default_rng(stable_seed("backdoor-cleaning", seed))
    take = np.sort(rng.permutation(clean)[:n_clean])
    return pairs.loc[take].reset_index(drop=True)
