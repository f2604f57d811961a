"""Seeded triggers and poisoning (reference section 3; rules B3, B4, B5, B10).

Every random draw of a trigger comes from ``stable_seed(attack.seed, purpose, key)``: the same image
gets the same noise and location in every run and every evaluation (the original re-drew them).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from imitation_kedro.core.seeding import stable_seed

from .data import BackdoorDataError, decode_images, encode_png
from .params import AttackParams

_WORD = re.compile(r"[a-z0-9]+")


def _rng(*keys: object) -> np.random.Generator:
    return np.random.default_rng(stable_seed("backdoor-trigger", *keys))


def _to_uint8(x: np.ndarray, clamp: bool) -> np.ndarray:
    scaled = np.floor(x * 255.0)
    if clamp:
        return np.clip(scaled, 0, 255).astype(np.uint8)
    return np.mod(scaled, 256).astype(np.uint8)  # fidelity: uint8 wrap-around of the original


def patch_trigger(
    image: np.ndarray, attack: AttackParams, rng: np.random.Generator
) -> tuple[np.ndarray, int, int]:
    """BadNet noise patch: per-channel image mean + N(0, 1), at a random (or corner) location.

    ``attack.patch_noise: fixed`` takes the N(0, 1) draw from ``attack.seed`` alone, so every image
    (train and test) gets the same noise pattern; the location still comes from ``rng``.
    """
    h, w, _ = image.shape
    p = min(attack.patch_size, h, w)
    x = image.astype(np.float64) / 255.0
    mean = x.reshape(-1, 3).mean(axis=0)
    if attack.patch_noise == "fixed":
        noise = _rng(attack.seed, "fixed-patch", p).standard_normal((p, p, 3))
    else:
        noise = rng.standard_normal((p, p, 3))
    patch = mean[None, None, :] + noise
    if attack.patch_location == "random":
        top, left = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
    else:
        top, left = h - p, w - p
    out = image.copy()
    out[top : top + p, left : left + p] = _to_uint8(patch, attack.clamp)
    return out, top, left


def blend_key(size: int, attack: AttackParams) -> np.ndarray:
    """The fixed Blended key U ~ U[0, 1]^{H x W x 3} (B4: one key, not one per image)."""
    return _rng(attack.seed, "blend-key", size).random((size, size, 3))


def wanet_grid(size: int, attack: AttackParams) -> np.ndarray:
    """The fixed WaNet sampling grid (k x k flow field upsampled, strength s), shape H x W x 2."""
    import torch
    import torch.nn.functional as F

    noise = _rng(attack.seed, "wanet", attack.wanet_k).uniform(
        -1, 1, (1, 2, attack.wanet_k, attack.wanet_k)
    )
    noise = noise / np.mean(np.abs(noise))
    flow = F.interpolate(
        torch.tensor(noise, dtype=torch.float32),
        size=(size, size),
        mode="bicubic",
        align_corners=True,
    ).permute(0, 2, 3, 1)[0]
    lin = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    identity = torch.stack((xx, yy), dim=-1)
    grid = torch.clamp(identity + attack.wanet_s * flow / size, -1, 1)
    return grid.numpy()


def apply_trigger(
    images: np.ndarray, keys: list[str], attack: AttackParams, purpose: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """Trigger a ``N x H x W x 3`` uint8 batch; returns images and per-image (top, left)."""
    n = len(images)
    out = images.copy()
    tops, lefts = np.full(n, -1), np.full(n, -1)
    if n == 0:
        return out, pd.DataFrame({"key": keys, "patch_top": tops, "patch_left": lefts})
    size = images.shape[1]
    if attack.kind in ("badnet", "label_consistent"):
        for i, key in enumerate(keys):
            out[i], tops[i], lefts[i] = patch_trigger(
                images[i], attack, _rng(attack.seed, purpose, key)
            )
    elif attack.kind == "blended":
        mixed = (1 - attack.blend_alpha) * images / 255.0 + attack.blend_alpha * blend_key(
            size, attack
        )
        out = _to_uint8(mixed, clamp=True)
    elif attack.kind == "wanet":
        import torch
        import torch.nn.functional as F

        grid = torch.tensor(wanet_grid(size, attack))[None].expand(n, -1, -1, -1)
        x = torch.tensor(images, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
        warped = F.grid_sample(x, grid, align_corners=True).permute(0, 2, 3, 1).numpy()
        out = _to_uint8(warped, clamp=True)
    else:  # pragma: no cover - Literal-checked in params
        raise BackdoorDataError(f"unknown attack {attack.kind!r}")
    return out, pd.DataFrame({"key": keys, "patch_top": tops, "patch_left": lefts})


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
    streaming: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Poison ``attack.n_poison`` pre-training pairs; return all pairs (+ ``poisoned``) and a manifest.

    Patch/Blended/WaNet: a seeded sample of pre-training pairs gets the trigger and a caption
    "template(target)" (the paper) or, with ``caption_source: corpus``, the caption of a random
    genuine target-class pair. Label-consistent: only pairs whose caption names the target (whole words)
    get the trigger; captions stay. Test/selection pairs are never poisoned.
    ``streaming``: no image is decoded; the row keeps its image and ``poisoned`` tells the loader
    to apply the same seeded trigger (``streaming.PairImages``); the manifest is the same.
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
    rng = _rng(attack.seed, "choose-poisons")
    chosen = np.sort(rng.permutation(pretrain)[: attack.n_poison])
    out = pairs.copy()
    out["poisoned"] = False
    if len(chosen) == 0:
        return out, _empty_manifest()
    keys = out.loc[chosen, "key"].tolist()
    if streaming:
        from .streaming import trigger_positions

        triggered, where = None, trigger_positions(keys, attack, image_size, "train")
    else:
        triggered, where = apply_trigger(
            decode_images(out.loc[chosen, "png"], image_size), keys, attack, "train"
        )
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
    if triggered is not None:
        out.loc[chosen, "png"] = pd.Series([encode_png(a) for a in triggered], index=chosen)
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
