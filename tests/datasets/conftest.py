"""Tiny real models built from configs (offline) for the model-dataset tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_sd_pipeline():
    """A real StableDiffusionPipeline with ~100k parameters: 32x32 images, 8x8x4 latents."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    from imitation_kedro.models.tokenizer import clip_tokenizer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=32,
    )
    tokenizer = clip_tokenizer(model_max_length=16)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=16,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, seed: int = 7, steps: int = 2):
    """Two 32x32 images as a float array, deterministic for ``seed``."""
    import numpy as np
    import torch

    out = pipe(
        prompt=["a painting of a cat", "Gérard's café"],
        generator=[torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)],
        num_inference_steps=steps,
        guidance_scale=2.0,
        height=32,
        width=32,
        output_type="np",
    )
    return np.asarray(out.images)


TINY_CLIP_CFG = {
    "embed_dim": 16,
    "vision_cfg": {
        "image_size": 32,
        "patch_size": 8,
        "width": 32,
        "layers": 1,
        "head_width": 16,
        "mlp_ratio": 2.0,
    },
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}
TINY_RN_CFG = {
    "embed_dim": 16,
    "vision_cfg": {
        "image_size": 32,
        "layers": [1, 1, 1, 1],
        "width": 8,
        "patch_size": None,
        "head_width": 8,
    },
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_clip_bundle():
    """A tiny ViT open_clip model from a custom config (32x32 images), seeded."""
    import torch

    from imitation_kedro.models.open_clip_bundle import create_bundle

    torch.set_num_threads(1)
    return create_bundle("tiny-vit-test", TINY_CLIP_CFG, seed=0)
