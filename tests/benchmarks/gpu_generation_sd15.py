"""GPU benchmark: SD1.5-architecture text-to-image, naive loop vs the generation pipeline's path.

Random weights with Stable Diffusion 1.5's real architecture configs (UNet 860M, VAE, CLIP
ViT-L/14 text tower): no download. 512x512, 50 steps, guidance 7.5, PNDM (SD1.5 default scheduler).

  naive     : fp32, eager attention (AttnProcessor), batch 1, one pipe() call per image
  optimised : imitation_kedro.pipelines.generation.render.prepare_pipeline + render_batch with
              fp16, SDPA, channels_last, batch 16 (what conf/paper runs), optionally torch.compile
  invariant : the same fp16 path with batch_invariant: true (bytes independent of batch size)

Prints images/s and the card; writes $OUT/gpu_generation_sd15.json when OUT is set. Designed to
finish in < 8 minutes on one H100 (phases shrink or are skipped as a deadline approaches).

    python tests/benchmarks/gpu_generation_sd15.py [--no-compile] [--batch 16]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("IMITATION_KEDRO_PROGRESS", "0")
T0 = time.perf_counter()
DEADLINE_S = 450.0  # leave margin under 8 minutes


def left() -> float:
    return DEADLINE_S - (time.perf_counter() - T0)


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", flush=True)


def build_sd15(device: str):
    """StableDiffusionPipeline with SD1.5's configs and random weights, built on ``device``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    from imitation_kedro.models.tokenizer import clip_tokenizer

    tokenizer = clip_tokenizer(model_max_length=77)  # SD1.5's tokenizer, from open_clip's BPE
    with torch.device(device):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(  # runwayml/stable-diffusion-v1-5 unet/config.json
            sample_size=64,
            in_channels=4,
            out_channels=4,
            layers_per_block=2,
            block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            cross_attention_dim=768,
            attention_head_dim=8,
            norm_num_groups=32,
        )
        vae = AutoencoderKL(  # vae/config.json
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            layers_per_block=2,
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            sample_size=512,
            norm_num_groups=32,
        )
        text_encoder = CLIPTextModel(  # text_encoder/config.json (ViT-L/14 text tower)
            CLIPTextConfig(
                vocab_size=49408,
                hidden_size=768,
                intermediate_size=3072,
                num_hidden_layers=12,
                num_attention_heads=12,
                max_position_embeddings=77,
                hidden_act="quick_gelu",
                projection_dim=768,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
    scheduler = PNDMScheduler(  # scheduler/scheduler_config.json
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        steps_offset=1,
        set_alpha_to_one=False,
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def timed(fn, sync) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--naive-images", type=int, default=4)
    parser.add_argument("--batches", type=int, default=2, help="timed batches on the fast path")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--no-invariant", action="store_true")
    parser.add_argument(
        "--smoke", action="store_true", help="CPU check of the code paths: 128 px, 2 steps, bf16"
    )
    args = parser.parse_args()
    size, dtype = 512, "float16"
    if args.smoke:
        size, dtype = 128, "bfloat16"
        args.steps, args.naive_images, args.batch, args.batches = 2, 1, 2, 1
        args.no_compile = True

    import diffusers
    import torch
    from diffusers.models.attention_processor import AttnProcessor

    from imitation_kedro.core.generation_params import ModelSettings, SpeedSettings
    from imitation_kedro.pipelines.generation import render

    device = "cuda" if torch.cuda.is_available() else "cpu"
    card = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    result: dict = {
        "card": card,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "steps": args.steps,
        "size": size,
        "dtype": dtype,
        "guidance_scale": 7.5,
        "batch": args.batch,
    }
    log(f"device {device} ({card}), torch {torch.__version__}, diffusers {diffusers.__version__}")
    pipe = build_sd15(device)
    log("built SD1.5-architecture pipeline (random weights)")
    settings = ModelSettings(
        steps=args.steps, guidance_scale=7.5, height=size, width=size, dtype=dtype
    )
    prompts = [f"a painting in the style of painter {i}" for i in range(10_000)]

    # --- naive: fp32, eager attention, batch 1 -----------------------------------------------
    fp32 = ModelSettings(steps=args.steps, guidance_scale=7.5, height=size, width=size)
    pipe.unet.set_attn_processor(AttnProcessor())
    pipe.vae.set_attn_processor(AttnProcessor())
    render.render_batch(pipe, prompts[:1], [0], ModelSettings(steps=2, height=size, width=size))
    n = args.naive_images
    t = timed(
        lambda: [render.render_batch(pipe, prompts[i : i + 1], [i], fp32) for i in range(n)], sync
    )
    result["naive_fp32_batch1"] = {"images": n, "seconds": t, "images_per_s": n / t}
    log(f"naive fp32 batch 1 eager: {n / t:.3f} images/s ({t:.1f} s for {n})")

    def fast_path(speed: SpeedSettings, key: str, batches: int) -> None:
        info = render.prepare_pipeline(pipe, settings, speed, device)
        b = args.batch
        warm = timed(lambda: render.render_batch(pipe, prompts[:b], list(range(b)), settings), sync)
        log(f"{key}: warm-up batch {warm:.1f} s ({info})")
        k = max(1, min(batches, int(left() / max(warm, 1e-3)) - 1))
        t = timed(
            lambda: [
                render.render_batch(
                    pipe, prompts[i * b : (i + 1) * b], list(range(i * b, (i + 1) * b)), settings
                )
                for i in range(k)
            ],
            sync,
        )
        result[key] = {
            "images": k * b,
            "seconds": t,
            "images_per_s": k * b / t,
            "warmup_s": warm,
            "speed": speed.to_dict(),
        }
        log(
            f"{key}: {k * b / t:.3f} images/s ({t:.1f} s for {k * b}); "
            f"{(k * b / t) / result['naive_fp32_batch1']['images_per_s']:.2f}x naive"
        )

    opt = SpeedSettings(device=device, attention="sdpa", channels_last=True, batch_invariant=False)
    fast_path(opt, "optimised_fp16_sdpa_channels_last", args.batches)
    result["speedup"] = (
        result["optimised_fp16_sdpa_channels_last"]["images_per_s"]
        / result["naive_fp32_batch1"]["images_per_s"]
    )
    if not args.no_compile and device == "cuda" and left() > 200:
        compiled = SpeedSettings(
            device=device, attention="sdpa", channels_last=True, compile=True, batch_invariant=False
        )
        try:
            fast_path(compiled, "optimised_fp16_sdpa_channels_last_compile", args.batches)
        except Exception as exc:  # noqa: BLE001 - report, keep the other numbers
            result["optimised_fp16_sdpa_channels_last_compile"] = {"error": repr(exc)[:500]}
            log(f"compile failed: {exc!r}")
        pipe.unet = getattr(pipe.unet, "_orig_mod", pipe.unet)
    else:
        log("compile run skipped (flag, device or time)")
    if not args.no_invariant and left() > 90:
        inv = SpeedSettings(
            device=device, attention="sdpa", channels_last=True, batch_invariant=True
        )
        fast_path(inv, "fp16_batch_invariant", 1)
    result["wall_s"] = time.perf_counter() - T0
    print(json.dumps(result, indent=2))
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "gpu_generation_sd15.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
