"""One batch through a diffusers text-to-image pipeline, one seeded generator per image.

Shared by the generation pipeline (FIT's generations) and the counterfactual pipeline (each
retrained model's probe generations), so both render with the same call.
"""

from __future__ import annotations

from typing import Any


def render_batch(pipe: Any, prompts: list[str], seeds: list[int], settings: Any) -> list[Any]:
    """Render one batch: one CPU ``torch.Generator`` per image, seeded with its own seed."""
    import torch

    kwargs: dict[str, Any] = {
        "prompt": list(prompts),
        "generator": [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds],
        "num_inference_steps": settings.steps,
        "guidance_scale": settings.guidance_scale,
        "output_type": "pil",
    }
    if settings.height is not None:
        kwargs["height"], kwargs["width"] = settings.height, settings.width
    if settings.negative_prompt is not None:
        kwargs["negative_prompt"] = [settings.negative_prompt] * len(prompts)
    with torch.inference_mode():
        images = list(pipe(**kwargs).images)
    if len(images) != len(prompts):
        raise RuntimeError(f"the pipeline returned {len(images)} images for {len(prompts)} prompts")
    return images
