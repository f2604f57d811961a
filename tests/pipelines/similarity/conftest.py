"""Small synthetic inputs that follow docs/contracts.md, and two embedders.

- ``ColourEmbedder``: a transparent, exact embedder (mean colour + a constant), so scores can
  be predicted; it implements only the plain protocol (``dim``, ``embed``).
- ``tiny_clip_bundle``: a random-weight open_clip CLIP built from a tiny config (real code path).
"""

from __future__ import annotations

import io
from functools import partial

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imitation_kedro.core.params import parse_params
from imitation_kedro.pipelines.similarity.params import SimilarityParams

# concept -> (domain, base colour, generation noise: frequent concepts are imitated well)
CONCEPTS = {
    "Ochre Dawn": ("style", (200, 140, 40), 10),
    "Blue Hour": ("style", (30, 60, 200), 60),
    "Spiral Motif": ("motif", (40, 170, 60), 120),
    "Unseen Motif": ("motif", (150, 40, 150), 30),  # gets no generations
}
PROMPTS = 2
IMAGES = 4


def png(arr: np.ndarray, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8), mode).save(buf, format="PNG")
    return buf.getvalue()


def colour_image(colour, noise: float, seed: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.broadcast_to(np.asarray(colour, float), (size, size, 3))
    return np.clip(base + rng.normal(0, noise, (size, size, 3)), 0, 255).astype(np.uint8)


class ColourEmbedder:
    """Embedding = normalise(mean RGB / 255 - 0.5, 0.1)-ish: exact and cheap."""

    dim = 4

    def __init__(self, name: str = "colour-test") -> None:
        self.name = name
        self.calls = 0
        self.images = 0

    def embed(self, images):
        self.calls += 1
        self.images += len(images)
        rows = []
        for im in images:
            mean = np.asarray(im.convert("RGB"), float).reshape(-1, 3).mean(0) / 255.0 - 0.5
            rows.append(np.append(mean, 0.05))
        out = np.asarray(rows, np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture()
def world():
    concepts = pd.DataFrame(
        [
            {"concept": c, "slug": c.lower().replace(" ", "-"), "domain": d, "aliases": []}
            for c, (d, _, _) in CONCEPTS.items()
        ]
    )
    refs, verified, manifest, images = [], [], [], {}
    for ci, (concept, (domain, colour, noise)) in enumerate(CONCEPTS.items()):
        slug = concept.lower().replace(" ", "-")
        for r in range(6):
            refs.append({"concept": concept, "ref_index": r,
                         "png": png(colour_image(colour, 15, 1000 * ci + r))})
        n_verified = 12 if concept == "Ochre Dawn" else 3
        for v in range(n_verified):
            verified.append({"concept": concept, "key": f"{ci:03d}{v:06d}",
                             "png": png(colour_image(colour, 20, 5000 * ci + v))})
        if concept == "Unseen Motif":
            continue
        for p in range(PROMPTS):
            for i in range(IMAGES):
                pid = f"mini/{slug}/{p}/{i:04d}"
                arr = colour_image(colour, noise, 100 * ci + 10 * p + i)
                images[pid] = partial(Image.fromarray, arr, "RGB")
                manifest.append({"model": "mini", "concept": concept, "slug": slug, "domain": domain,
                                 "prompt_id": p, "prompt": f"a painting in the style of {concept}",
                                 "index": i, "seed": i, "path": pid, "steps": 10,
                                 "guidance_scale": 7.5, "height": 32, "width": 32,
                                 "scheduler": "ddim", "dtype": "float32", "duration_s": 0.1})
    return {
        "raw_concepts": concepts,
        "raw_reference_images": pd.DataFrame(refs),
        "int_verified_images": pd.DataFrame(verified),
        "int_generation_manifest": pd.DataFrame(manifest),
        "int_generated_images": images,
    }


def make_params(**overrides) -> SimilarityParams:
    raw = {
        "domains": {
            "style": {"embedder": {"kind": "miniature_clip", "batch_size": 3}, "min_laion_refs": 11, "min_refs": 3},
            "motif": {"embedder": {"kind": "miniature_clip", "batch_size": 3}, "min_laion_refs": 10, "min_refs": 3},
        },
        "top_k_refs": 4,
        "decode_workers": 2,
        "prefetch_batches": 1,
        "grids": {"max_concepts": 2, "images_per_prompt": 2, "refs_per_prompt": 2, "cell_inches": 0.6},
    }
    raw.update(overrides)
    return parse_params(SimilarityParams, raw, "similarity")


@pytest.fixture()
def params() -> SimilarityParams:
    return make_params()


TINY_CLIP_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_clip_bundle():
    """A random-weight OpenClipBundle from a tiny custom config (the world's code path, no download)."""
    import torch

    from imitation_kedro.models.open_clip_bundle import create_bundle

    torch.set_num_threads(1)
    return create_bundle("similarity-test-tiny", model_cfg=TINY_CLIP_CFG, seed=0)
