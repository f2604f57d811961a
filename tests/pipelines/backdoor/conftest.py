"""Tiny synthetic image-caption pairs (coloured patterns with class captions) and a tiny CLIP cfg."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imitation_kedro.pipelines.backdoor.params import AttackParams
from imitation_kedro.pipelines.backdoor.source import pair_source

CLASSES = ["banana", "cherry", "lime", "plum", "orange", "grape"]
_COLOURS = [
    (230, 210, 40),
    (200, 20, 40),
    (60, 200, 60),
    (110, 40, 140),
    (240, 140, 20),
    (70, 90, 200),
]
_PATTERNS = ["hstripes", "vstripes", "checker", "dots", "hstripes", "checker"]
_TEMPLATES = ["a photo of a {}", "my {} on a table", "{} close up", "the {} in the garden at noon"]


def _image(cls: int, rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    period = max(2, size // 8)
    kind = _PATTERNS[cls]
    if kind == "hstripes":
        mask = (yy // period) % 2 == 0
    elif kind == "vstripes":
        mask = (xx // period) % 2 == 0
    elif kind == "checker":
        mask = ((yy // period) + (xx // period)) % 2 == 0
    else:
        mask = ((yy % (2 * period)) < period // 2 + 1) & ((xx % (2 * period)) < period // 2 + 1)
    colour = np.array(_COLOURS[cls], dtype=float) + rng.normal(0, 15, 3)
    img = np.where(mask[..., None], colour, 255 - colour * 0.5) + rng.normal(0, 12, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def make_pairs(n: int, size: int = 16, seed: int = 0) -> pd.DataFrame:
    """img2dataset-like table: key, caption, status, png (labels come from the captions)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        cls = int(rng.integers(0, len(CLASSES)))
        caption = _TEMPLATES[int(rng.integers(0, len(_TEMPLATES)))].format(CLASSES[cls])
        rows.append(
            {
                "key": f"{i:09d}",
                "caption": caption,
                "status": "success",
                "png": png_bytes(_image(cls, rng, size)),
            }
        )
    return pd.DataFrame(rows)


def concepts_table() -> pd.DataFrame:
    return pd.DataFrame(
        {"concept": CLASSES, "slug": CLASSES, "domain": "motif", "aliases": [[] for _ in CLASSES]}
    )


TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {
        "image_size": 16,
        "patch_size": 4,
        "width": 32,
        "layers": 1,
        "head_width": 16,
        "mlp_ratio": 2.0,
    },
    "text_cfg": {
        "context_length": 12,
        "vocab_size": 49408,
        "width": 32,
        "heads": 2,
        "layers": 1,
        "mlp_ratio": 2.0,
    },
}


def tiny_params_dict(**over) -> dict:
    """A test-size parameter block (mirrors conf/test/parameters_backdoor.yml)."""
    raw = {
        "data": {
            "image_size": 16,
            "n_classes": 6,
            "min_class_pairs": 5,
            "n_selection": 36,
            "n_test": 36,
            "n_clean": 60,
            "seed": 0,
        },
        "attack": {
            "kind": "badnet",
            "target": "banana",
            "n_poison": 24,
            "patch_size": 4,
            "seed": 0,
        },
        "model": {"cfg": TINY_CFG},
        "pretrain": {
            "objectives": ["mmcl", "mmcl_ssl"],
            "seeds": [0],
            "optim": {"epochs": 2, "batch_size": 32, "lr": 2e-3, "warmup_steps": 2},
        },
        "clean": {
            "objectives": ["mmcl", "ssl", "mmcl_ssl"],
            "lrs": [1e-3],
            "lambda_ssl": [1.0],
            "optim": {"epochs": 1, "batch_size": 32, "lr": 1e-3, "warmup_steps": 1},
        },
        "eval": {"templates": ["a photo of a {}.", "{} close up"], "topk": [1, 5]},
        "select": {"asr_caps": [0.1, 0.5]},
        "num_threads": 1,
    }
    for key, value in over.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


def build_pairs(
    raw: pd.DataFrame, concepts: pd.DataFrame, params
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pair table and rejects of the mode ``params.streaming`` chooses (eager or streaming)."""
    return pair_source(params, AttackParams()).build_pairs(raw, concepts, params.image_root)


def add_params(catalog, params) -> None:
    """``params:backdoor`` and each ``params:backdoor.<block>`` as Kedro 1.7 builds them."""
    catalog["params:backdoor"] = params
    for name in params.to_dict():
        catalog[f"params:backdoor.{name}"] = getattr(params, name)


@pytest.fixture(scope="session")
def tiny_pairs() -> pd.DataFrame:
    return make_pairs(300, size=16, seed=0)
