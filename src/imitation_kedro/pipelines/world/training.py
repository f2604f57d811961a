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

logger = logging.getLogger(__name__)


def _frames(partitions: Mapping[str, Any]) -> list[pd.DataFrame]:
    """Partition dict values (DataFrames, or PartitionedDataset's lazy loaders) in id order."""
    return [partitions[k]() if callable(partitions[k]) else partitions[k] for k in sorted(partitions)]


def decode_images(raw_laion_images: Mapping[str, Any]) -> dict[str, Any]:
    """Decode every image shard into one uint8 array (N, 32, 32, 3) + captions, in key order."""
    from imitation_kedro.models.miniature_t2i_training import decode_image_shards

    return decode_image_shards(_frames(raw_laion_images))


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

    The recipe is :func:`imitation_kedro.models.miniature_t2i_training.train_t2i` (shared with the
    counterfactual pipeline's retrains); the world's model is seeded from the world seed.
    """
    from imitation_kedro.models.miniature_t2i_training import train_t2i
    from imitation_kedro.pipelines.world.report import clip_model_of

    return train_t2i(
        int_training_images["pixels"], int_training_images["captions"],
        clip_model_of(mdl_miniature_clip), mdl_miniature_clip.model_cfg,
        stable_seed(world_seed, "world", "t2i"), tp,
    )
