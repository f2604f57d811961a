"""A tiny random-weight ``StableDiffusionPipeline``: SD's components (UNet, VAE, CLIP text
encoder, CLIP tokenizer, scheduler) at toy width, built from configs offline.

Used by the rehearsal's stand-ins of the paper models (``rehearsal/standins.py``) and by the
generation tests and benchmarks. The same ``seed`` gives the same weights, byte for byte: the
tokenizer is built first, then the seed is set and the UNet, VAE and text encoder are created
in that order. The VAE halves the image side once (``vae_scale_factor`` 2).

Torch, diffusers and transformers are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCHEDULERS = ("PNDMScheduler", "DDIMScheduler")


def tiny_scheduler(name: str = "DDIMScheduler", prediction_type: str = "epsilon") -> Any:
    """SD's noise schedule (scaled linear, 0.00085-0.012, ``steps_offset`` 1) in ``name``'s
    sampler as SD ships it: PNDM skipping PRK steps, or DDIM without sample clipping."""
    import diffusers

    if name not in SCHEDULERS:
        raise ValueError(f"tiny SD scheduler {name!r}: expected one of {list(SCHEDULERS)}")
    extra = (
        {"skip_prk_steps": True}
        if name == "PNDMScheduler"
        else {"clip_sample": False, "set_alpha_to_one": False}
    )
    return getattr(diffusers, name)(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        steps_offset=1,
        prediction_type=prediction_type,
        **extra,
    )


def tiny_stable_diffusion_pipeline(
    image_size: int,
    scheduler: Any,
    max_length: int = 77,
    seed: int = 0,
) -> Any:
    """A random-weight ``StableDiffusionPipeline`` for ``image_size`` px images (latent side
    ``image_size // 2``) whose prompts hold up to ``max_length`` tokens."""
    import diffusers
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    from imitation_kedro.models.tokenizer import clip_tokenizer

    tokenizer = clip_tokenizer(model_max_length=max_length)
    torch.manual_seed(seed)
    unet = diffusers.UNet2DConditionModel(
        sample_size=image_size // 2,
        layers_per_block=1,
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=image_size,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=max_length,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            projection_dim=16,
        )
    )
    return diffusers.StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_tiny_stable_diffusion(out: Path, image_size: int, **kwargs: Any) -> Path:
    """Build :func:`tiny_stable_diffusion_pipeline` (same arguments) and save it to ``out`` as
    safetensors, loadable with ``StableDiffusionPipeline.from_pretrained(out)``."""
    kwargs.setdefault("scheduler", tiny_scheduler())
    pipe = tiny_stable_diffusion_pipeline(image_size, **kwargs)
    pipe.save_pretrained(str(out), safe_serialization=True)
    return Path(out)
