"""The miniature CLIP: an open_clip custom config (tiny ViT for 32x32 images + tiny text tower).

The model is a plain ``open_clip.CLIP`` built from a config registered under the name
``miniature-clip``, so ``open_clip.create_model("miniature-clip")`` and
``open_clip.get_tokenizer("miniature-clip")`` work once the config is registered (the open_clip
model dataset does it at load; :func:`register_miniature_clip` does it by hand). A fresh model:
``imitation_kedro.models.open_clip_bundle.create_bundle(MODEL_NAME, model_cfg=miniature_clip_config(), seed=0)``.
Same BPE vocabulary as every CLIP; context length 32.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

MODEL_NAME = "miniature-clip"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def miniature_clip_config(  # noqa: PLR0913
    embed_dim: int = 64,
    vision_width: int = 64,
    vision_layers: int = 2,
    vision_heads: int = 4,
    patch_size: int = 8,
    text_width: int = 64,
    text_layers: int = 2,
    text_heads: int = 4,
    context_length: int = 32,
    image_size: int = 32,
) -> dict[str, Any]:
    """An open_clip model config (the JSON layout of ``open_clip/model_configs/*.json``)."""
    if vision_width % vision_heads:
        raise ValueError(f"vision_width={vision_width} is not divisible by vision_heads={vision_heads}")
    if image_size % patch_size:
        raise ValueError(f"image_size={image_size} is not divisible by patch_size={patch_size}")
    return {
        "embed_dim": embed_dim,
        "vision_cfg": {
            "image_size": image_size,
            "layers": vision_layers,
            "width": vision_width,
            "head_width": vision_width // vision_heads,
            "patch_size": patch_size,
        },
        "text_cfg": {
            "context_length": context_length,
            "vocab_size": 49408,
            "width": text_width,
            "heads": text_heads,
            "layers": text_layers,
        },
    }


def register_miniature_clip(config: dict[str, Any] | None = None, name: str = MODEL_NAME) -> None:
    """Make ``name`` known to ``open_clip.create_model`` / ``get_tokenizer`` (in this process)."""
    from open_clip import factory

    factory._MODEL_CONFIGS[name] = copy.deepcopy(config or miniature_clip_config())


def pixels_to_tensor(pixels: np.ndarray) -> Any:
    """(N, H, W, 3) uint8 -> normalised float tensor (N, 3, H, W), like open_clip's preprocess."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def tokenize_unique(texts: Sequence[str], context_length: int) -> tuple[Any, np.ndarray]:
    """Tokenise the distinct texts once: returns (tokens of the unique texts, index per text)."""
    import open_clip

    uniques, index = np.unique(np.asarray(texts, dtype=object).astype(str), return_inverse=True)
    tokens = open_clip.tokenize(list(uniques), context_length=context_length)
    return tokens, index


def train_clip(  # noqa: PLR0913
    model: Any,
    pixels: np.ndarray,
    texts: Sequence[str],
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress_fn: Any = None,
) -> list[float]:
    """Contrastive (InfoNCE, both directions) training in place; returns the loss per step."""
    import torch
    import torch.nn.functional as F

    context_length = model.context_length
    tokens, text_index = tokenize_unique(texts, context_length)
    n = len(pixels)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=learning_rate, weight_decay=0.05
    )
    warmup = max(1, steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    losses: list[float] = []
    model.train()
    steps_iter = range(steps) if progress_fn is None else progress_fn(range(steps))
    for _ in steps_iter:
        idx = torch.randint(0, n, (min(batch_size, n),), generator=gen).numpy()
        images = pixels_to_tensor(pixels[idx])
        text = tokens[torch.from_numpy(text_index[idx])]
        img_f, txt_f, scale = model(images, text)
        logits = scale * img_f @ txt_f.T
        # Rows with identical captions are true positives of each other: soft targets.
        same = torch.from_numpy(text_index[idx][:, None] == text_index[idx][None, :]).float()
        target = same / same.sum(1, keepdim=True)
        loss = 0.5 * (
            F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def encode_images(model: Any, pixels: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """L2-normalised image embeddings (float32) of uint8 pixels (N, H, W, 3)."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(pixels), batch_size):
            out.append(model.encode_image(pixels_to_tensor(pixels[i : i + batch_size]), normalize=True))
    if not out:
        return np.zeros((0, model.text_projection.shape[1]), dtype=np.float32)
    return torch.cat(out).numpy().astype(np.float32)


def encode_texts(model: Any, texts: Sequence[str]) -> np.ndarray:
    """L2-normalised text embeddings (float32)."""
    import open_clip
    import torch

    with torch.no_grad():
        tokens = open_clip.tokenize(list(texts), context_length=model.context_length)
        return model.encode_text(tokens, normalize=True).numpy().astype(np.float32)
