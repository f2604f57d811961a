"""Train the miniature CLIP and the miniature text-to-image model on the corpus images.

torch / open_clip / diffusers / transformers are imported inside the functions only.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.progress import progress
from imitation_kedro.core.seeding import stable_seed
from imitation_kedro.pipelines.world.params import ClipParams, T2IParams
from imitation_kedro.pipelines.world.render import from_png

logger = logging.getLogger(__name__)


def _frames(partitions: Mapping[str, Any]) -> list[pd.DataFrame]:
    """Partition dict values (DataFrames, or PartitionedDataset's lazy loaders) in id order."""
    return [partitions[k]() if callable(partitions[k]) else partitions[k] for k in sorted(partitions)]


def decode_images(raw_laion_images: Mapping[str, Any]) -> dict[str, Any]:
    """Decode every image shard into one uint8 array (N, 32, 32, 3) + captions, in key order."""
    frames = [f[["key", "caption", "png"]] for f in _frames(raw_laion_images)]
    if not frames:
        raise ValueError("raw_laion_images has no partition: nothing to train the miniature models on")
    table = pd.concat(frames, ignore_index=True)
    pngs = progress(table["png"], desc="world: decode images", total=len(table), unit="img")
    pixels = np.stack([from_png(b) for b in pngs])
    captions = [c if isinstance(c, str) else "" for c in table["caption"]]
    return {"keys": table["key"].tolist(), "pixels": pixels, "captions": captions}


def _steps(n: int, desc: str) -> Callable[[Any], Any]:
    return lambda it: progress(it, desc=desc, total=n, unit="step")


def train_clip_bundle(int_training_images: dict[str, Any], world_seed: int, cp: ClipParams) -> Any:
    """Contrastively train the miniature CLIP (open_clip custom config) on captioned images.

    Returns an ``OpenClipBundle`` (model, preprocess, tokenizer) for ``OpenClipModelDataset``.
    """
    import torch

    from imitation_kedro.models.miniature_clip import MODEL_NAME, miniature_clip_config, train_clip
    from imitation_kedro.models.open_clip_bundle import create_bundle

    keep = [i for i, c in enumerate(int_training_images["captions"]) if c.strip()]
    if not keep:
        raise ValueError("raw_laion_images has no captioned image to train the miniature CLIP on")
    pixels = int_training_images["pixels"][keep]
    texts = [int_training_images["captions"][i] for i in keep]
    config = miniature_clip_config(
        embed_dim=cp.embed_dim, vision_width=cp.vision_width, vision_layers=cp.vision_layers,
        vision_heads=cp.vision_heads, patch_size=cp.patch_size, text_width=cp.text_width,
        text_layers=cp.text_layers, text_heads=cp.text_heads, context_length=cp.context_length,
    )
    seed = stable_seed(world_seed, "world", "clip")
    bundle = create_bundle(MODEL_NAME, model_cfg=config, seed=seed)
    model = bundle.model
    # The 49,408 x width token table dominates the optimiser's work; frozen random rows still
    # tell tokens apart, and the towers learn everything else (cp.freeze_token_embedding).
    model.token_embedding.weight.requires_grad_(not cp.freeze_token_embedding)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        losses = train_clip(
            model, pixels, texts, steps=cp.steps, batch_size=cp.batch_size,
            learning_rate=cp.learning_rate, seed=seed, progress_fn=_steps(cp.steps, "world: train CLIP"),
        )
    logger.info(
        "miniature CLIP: %d steps on %d images in %.1f s, loss %.3f -> %.3f",
        cp.steps, len(pixels), time.perf_counter() - start, losses[0] if losses else math.nan,
        float(np.mean(losses[-20:])) if losses else math.nan,
    )
    model.eval()
    return bundle


def train_t2i_pipeline(
    int_training_images: dict[str, Any], mdl_miniature_clip: Any, world_seed: int, tp: T2IParams
) -> Any:
    """Fit the PCA "VAE", then train the latent denoiser on the frozen miniature-CLIP text tower.

    As in Stable Diffusion, the text encoder is a frozen CLIP text tower; captions are dropped to
    the empty prompt with probability ``t2i.caption_dropout`` so classifier-free guidance works.
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
    from imitation_kedro.pipelines.world.report import clip_model_of

    pixels: np.ndarray = int_training_images["pixels"]
    captions: list[str] = int_training_images["captions"]
    n = len(pixels)
    if n < tp.latent_dim:
        raise ValueError(f"raw_laion_images has {n} images, fewer than t2i.latent_dim={tp.latent_dim}")
    clip = clip_model_of(mdl_miniature_clip)
    cfg = mdl_miniature_clip.model_cfg
    text_encoder = ClipTextTower.from_open_clip(clip, cfg["embed_dim"], cfg["text_cfg"])
    context = int(cfg["text_cfg"]["context_length"])
    tokenizer = clip_tokenizer(model_max_length=context, pad_token="!")
    seed = stable_seed(world_seed, "world", "t2i")
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
        uniques, text_index = np.unique(np.asarray(captions, dtype=object).astype(str), return_inverse=True)
        texts = [*uniques.tolist(), ""]
        cond_table = torch.cat(
            [
                text_encoder(tokenizer(texts[i : i + 4096], padding="max_length", max_length=context,
                                       truncation=True, return_tensors="pt").input_ids)
                for i in range(0, len(texts), 4096)
            ]
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stable_seed(seed, "denoiser-init"))
        denoiser = LatentDenoiser(
            latent_dim=tp.latent_dim, cond_dim=cfg["embed_dim"], hidden=tp.hidden, blocks=tp.blocks
        )
    scheduler = DDIMScheduler(
        num_train_timesteps=tp.train_timesteps, beta_schedule="squaredcos_cap_v2",
        clip_sample=False, set_alpha_to_one=False, prediction_type="epsilon",
    )
    alphas = scheduler.alphas_cumprod.float()
    opt = torch.optim.AdamW(denoiser.parameters(), lr=tp.learning_rate, weight_decay=0.0)
    warmup = max(1, tp.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (s + 1) / warmup if s < warmup
        else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, tp.steps - warmup))),
    )
    text_index_t = torch.from_numpy(text_index)
    empty = len(texts) - 1
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        denoiser.train()
        for _ in _steps(tp.steps, "world: train t2i")(range(tp.steps)):
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
        tp.steps, n, time.perf_counter() - start, losses[0] if losses else math.nan,
        float(np.mean(losses[-20:])) if losses else math.nan,
    )
    pipe = MiniatureTextToImagePipeline(
        text_encoder=text_encoder, tokenizer=tokenizer, denoiser=denoiser, decoder=decoder,
        scheduler=DDIMScheduler.from_config(scheduler.config),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
