"""The miniature text-to-image model's training recipe (the world's; the counterfactual pipeline
retrains with it): fit the PCA "VAE", then train the latent denoiser on the frozen miniature-CLIP
text tower, as Stable Diffusion freezes its CLIP text encoder.

torch / diffusers are imported inside the function only.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from pydantic import Field

from imitation_kedro.core.params import Params
from imitation_kedro.core.progress import progress
from imitation_kedro.core.seeding import stable_seed

logger = logging.getLogger(__name__)


class T2IParams(Params):
    """The miniature latent text-to-image model and its training (``world.t2i``; the
    counterfactual pipeline retrains with the same block)."""

    latent_dim: int = 64
    pca_fit_rows: int = 20000
    hidden: int = 256
    blocks: int = 3
    steps: int = 1000
    batch_size: int = 256
    learning_rate: float = 1e-3
    caption_dropout: float = Field(0.1, ge=0, lt=1)
    train_timesteps: int = 1000


class T2IRecipe(Protocol):
    """The settings the recipe reads (the world's ``T2IParams``)."""

    latent_dim: int
    pca_fit_rows: int
    hidden: int
    blocks: int
    steps: int
    batch_size: int
    learning_rate: float
    caption_dropout: float
    train_timesteps: int


def decode_image_shards(frames: list[Any]) -> dict[str, Any]:
    """Image shards (img2dataset columns) -> one uint8 array (N, 32, 32, 3) + captions, in order."""
    import pandas as pd
    from PIL import Image

    frames = [f[["key", "caption", "png"]] for f in frames]
    if not frames:
        raise ValueError(
            "raw_laion_images has no partition: nothing to train the miniature models on"
        )
    table = pd.concat(frames, ignore_index=True)
    pixels = []
    for data in progress(table["png"], desc="world: decode images", total=len(table), unit="img"):
        with Image.open(io.BytesIO(data)) as im:
            pixels.append(np.asarray(im.convert("RGB")))
    captions = [c if isinstance(c, str) else "" for c in table["caption"]]
    return {"keys": table["key"].tolist(), "pixels": np.stack(pixels), "captions": captions}


def steps_progress(n: int, desc: str) -> Callable[[Any], Any]:
    """A progress wrapper over ``n`` training steps."""
    return lambda it: progress(it, desc=desc, total=n, unit="step")


def train_t2i(  # noqa: PLR0913
    pixels: np.ndarray,
    captions: list[str],
    clip: Any,
    cfg: dict[str, Any],
    seed: int,
    tp: T2IRecipe,
    desc: str = "world: train t2i",
) -> Any:
    """Train a ``MiniatureTextToImagePipeline`` on ``pixels`` (N, 32, 32, 3) uint8 + ``captions``.

    ``clip`` is the miniature open_clip model and ``cfg`` its ``model_cfg``; captions are dropped
    to the empty prompt with probability ``tp.caption_dropout`` so classifier-free guidance works.
    Everything random derives from ``seed``.
    """
    import torch
    import torch.nn.functional as F
    from diffusers import DDIMScheduler

    from imitation_kedro.models.miniature_t2i import (
        ClipTextTower,
        LatentDenoiser,
        MiniatureTextToImagePipeline,
        PCAAutoencoder,
        images_to_model_space,
    )
    from imitation_kedro.models.tokenizer import clip_tokenizer

    n = len(pixels)
    if n < tp.latent_dim:
        raise ValueError(
            f"raw_laion_images has {n} images, fewer than t2i.latent_dim={tp.latent_dim}"
        )
    text_encoder = ClipTextTower.from_open_clip(clip, cfg["embed_dim"], cfg["text_cfg"])
    context = int(cfg["text_cfg"]["context_length"])
    tokenizer = clip_tokenizer(model_max_length=context, pad_token="!")
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        fit_idx = torch.randperm(n, generator=gen)[: tp.pca_fit_rows].sort().values.numpy()
        decoder = PCAAutoencoder(latent_dim=tp.latent_dim, image_size=pixels.shape[1])
        decoder.fit(images_to_model_space(pixels[fit_idx]))
        latents = torch.cat(
            [decoder.encode(images_to_model_space(pixels[i : i + 8192])) for i in range(0, n, 8192)]
        )
        # Every distinct caption (and the empty prompt, last) through the frozen text tower once.
        uniques, text_index = np.unique(
            np.asarray(captions, dtype=object).astype(str), return_inverse=True
        )
        texts = [*uniques.tolist(), ""]
        cond_table = torch.cat(
            [
                text_encoder(
                    tokenizer(
                        texts[i : i + 4096],
                        padding="max_length",
                        max_length=context,
                        truncation=True,
                        return_tensors="pt",
                    ).input_ids
                )
                for i in range(0, len(texts), 4096)
            ]
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stable_seed(seed, "denoiser-init"))
        denoiser = LatentDenoiser(
            latent_dim=tp.latent_dim, cond_dim=cfg["embed_dim"], hidden=tp.hidden, blocks=tp.blocks
        )
    scheduler = DDIMScheduler(
        num_train_timesteps=tp.train_timesteps,
        beta_schedule="squaredcos_cap_v2",
        clip_sample=False,
        set_alpha_to_one=False,
        prediction_type="epsilon",
    )
    alphas = scheduler.alphas_cumprod.float()
    opt = torch.optim.AdamW(denoiser.parameters(), lr=tp.learning_rate, weight_decay=0.0)
    warmup = max(1, tp.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            (s + 1) / warmup
            if s < warmup
            else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, tp.steps - warmup)))
        ),
    )
    text_index_t = torch.from_numpy(text_index)
    empty = len(texts) - 1
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        denoiser.train()
        for _ in steps_progress(tp.steps, desc)(range(tp.steps)):
            idx = torch.randint(0, n, (min(tp.batch_size, n),), generator=gen)
            rows = text_index_t[idx]
            drop = torch.rand(len(idx), generator=gen) < tp.caption_dropout
            cond = cond_table[torch.where(drop, torch.full_like(rows, empty), rows)]
            z0 = latents[idx]
            t = torch.randint(0, tp.train_timesteps, (len(idx),), generator=gen)
            noise = torch.randn(z0.shape, generator=gen)
            a = alphas[t].unsqueeze(1)
            zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
            loss = F.mse_loss(denoiser(zt, t, cond), noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(denoiser.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
    denoiser.eval()
    logger.info(
        "miniature t2i: %d steps on %d images in %.1f s, loss %.3f -> %.3f",
        tp.steps,
        n,
        time.perf_counter() - start,
        losses[0] if losses else math.nan,
        float(np.mean(losses[-20:])) if losses else math.nan,
    )
    pipe = MiniatureTextToImagePipeline(
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        denoiser=denoiser,
        decoder=decoder,
        scheduler=DDIMScheduler.from_config(scheduler.config),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
