"""Generate and score every probe with every retrained model, with the FIT chain's own code.

Prompts, image seeds and the diffusers call are the generation pipeline's
(:mod:`imitation_kedro.core.prompting`, :func:`imitation_kedro.models.t2i_render.render_batch`,
its ``params:generation`` settings); the score is the similarity pipeline's
(:func:`imitation_kedro.core.imitation_score.prompt_score` over the miniature CLIP's embeddings,
``params:similarity.top_k_refs``): per prompt, the mean over its images of the similarity to the
``k`` references closest to the prompt's generated set. References are the world's held-out
reference images (the same for every level, so only the model changes along a curve).
"""

from __future__ import annotations

import io
import logging
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.imitation_score import prompt_score
from imitation_kedro.core.progress import progress
from imitation_kedro.core.prompting import fill_template, image_seed

logger = logging.getLogger(__name__)

DOSE_COLUMNS = [
    "domain", "concept", "level", "train_seed", "prompt_id", "score", "n_images", "n_refs", "model_key",
]


def _reference_vectors(references: pd.DataFrame, concept: str, embedder: Any) -> tuple[np.ndarray, list[str]]:
    from PIL import Image

    rows = references[references["concept"] == concept].sort_values("ref_index")
    if rows.empty:
        raise ValueError(
            f"raw_reference_images has no reference for probe {concept!r}; re-run the world pipeline"
        )
    images = [Image.open(io.BytesIO(b)).convert("RGB") for b in rows["png"]]
    return embedder.embed(images), [str(i) for i in rows["ref_index"]]


def prepare(pipe: Any, settings: SimpleNamespace) -> Any:
    """The generation pipeline's settings on a loaded model: scheduler, dtype, quiet."""
    import torch

    from imitation_kedro.models.schedulers import make_scheduler

    if settings.scheduler:
        pipe.scheduler = make_scheduler(settings.scheduler, pipe.scheduler.config, "generation scheduler")
    pipe.to(device="cpu", dtype=getattr(torch, settings.dtype))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def score_ladder(  # noqa: PLR0913
    index: pd.DataFrame,
    store: Any,
    probes: pd.DataFrame,
    references: pd.DataFrame,
    clip_bundle: Any,
    generation: dict[str, Any],
    similarity: dict[str, Any],
) -> pd.DataFrame:
    """One row per (probe, level, training seed, prompt): the FIT imitation score."""
    from imitation_kedro.models.embedder_factory import clip_embedder
    from imitation_kedro.models.t2i_render import render_batch

    model = generation["model"]
    settings = SimpleNamespace(**generation["models"][model])
    n_images = int(generation["images_per_prompt"])
    embedder = clip_embedder(clip_bundle, 256)
    refs = {c: _reference_vectors(references, c, embedder) for c in probes["concept"]}
    rows = []
    for run in progress(index.itertuples(index=False), desc="counterfactual: score", total=len(index),
                        unit="model"):
        pipe = prepare(store.load(run.model_key), settings)
        for probe in probes.itertuples(index=False):
            ref_vecs, ref_ids = refs[probe.concept]
            for prompt_id, template in enumerate(generation["templates"][probe.domain]):
                seeds = [image_seed(generation["seed_mode"], model, probe.concept, prompt_id, i)
                         for i in range(n_images)]
                images = render_batch(pipe, [fill_template(template, probe.concept)] * n_images,
                                      seeds, settings)
                _, _, per_image = prompt_score(
                    ref_vecs, embedder.embed(images), ref_ids, int(similarity["top_k_refs"])
                )
                rows.append({"domain": probe.domain, "concept": probe.concept, "level": int(run.level),
                             "train_seed": int(run.train_seed), "prompt_id": prompt_id,
                             "score": float(per_image.mean()), "n_images": n_images,
                             "n_refs": min(len(ref_ids), int(similarity["top_k_refs"])),
                             "model_key": run.model_key})
    return pd.DataFrame(rows, columns=DOSE_COLUMNS)


def probe_curves(dose: pd.DataFrame) -> pd.DataFrame:
    """Per (domain, probe, level, seed): the concept score (mean over prompts), as FIT aggregates."""
    keys = ["domain", "concept", "level", "train_seed"]
    return dose.groupby(keys, sort=True, as_index=False)["score"].mean()
