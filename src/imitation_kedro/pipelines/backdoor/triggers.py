"""Seeded triggers (reference section 3; rules B3, B4, B5): BadNet patch, Blended, WaNet.

Every random draw of a trigger comes from ``stable_seed(attack.seed, purpose, key)``: the same image
gets the same noise and location in every run and every evaluation (the original re-drew them), in
eager mode (baked into the stored PNG) and in streaming mode (applied per batch) alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imitation_kedro.core.seeding import stable_seed

from .data import BackdoorDataError
from .params import AttackParams


def seeded_rng(*keys: object) -> np.random.Generator:
    """A numpy generator seeded by the attack namespace and ``keys`` (one stream per use)."""
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
        noise = seeded_rng(attack.seed, "fixed-patch", p).standard_normal((p, p, 3))
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
    return seeded_rng(attack.seed, "blend-key", size).random((size, size, 3))


def wanet_grid(size: int, attack: AttackParams) -> np.ndarray:
    """The fixed WaNet sampling grid (k x k flow field upsampled, strength s), shape H x W x 2."""
    import torch
    import torch.nn.functional as F

    noise = seeded_rng(attack.seed, "wanet", attack.wanet_k).uniform(
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
                images[i], attack, seeded_rng(attack.seed, purpose, key)
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


def trigger_positions(
    keys: list[str], attack: AttackParams, size: int, purpose: str
) -> pd.DataFrame:
    """The (top, left) ``apply_trigger`` draws for these keys, without any image (manifest).

    A location never depends on the pixels, so this equals what ``apply_trigger`` returns for
    the real ``size x size`` images.
    """
    if not keys or attack.kind not in ("badnet", "label_consistent"):
        n = len(keys)
        return pd.DataFrame(
            {"key": keys, "patch_top": np.full(n, -1), "patch_left": np.full(n, -1)}
        )
    blank = np.zeros((1, size, size, 3), dtype=np.uint8)
    frames = [apply_trigger(blank, [k], attack, purpose)[1] for k in keys]
    return pd.concat(frames, ignore_index=True)
