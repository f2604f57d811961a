"""One retrain of the world's text-to-image model per (ladder level, training seed), cached.

Each model is saved in the content-keyed store under a key hashing everything that determines
it: the corpus (image bytes and plan), the frozen miniature CLIP's weights, the world's recipe,
the probes, the level and the training seed. A finished key is loaded, never retrained, so an
interrupted run resumes after its last saved model and re-running the readout costs no training.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import pandas as pd

from imitation_kedro.core.content_hash import json_sha256
from imitation_kedro.core.seeding import stable_seed
from imitation_kedro.pipelines.counterfactual.probes import training_rows

logger = logging.getLogger(__name__)

RECIPE_VERSION = 1  # bump when the meaning of a key changes
INDEX_COLUMNS = [
    "level", "train_seed", "model_key", "trained_this_run", "n_train_images",
    "min_distinct_probe_images", "seconds",
]


def as_dict(block: Any) -> dict[str, Any]:
    """A parameter block as a plain dict (Kedro passes a model or a mapping)."""
    if hasattr(block, "to_dict"):
        return block.to_dict()
    if hasattr(block, "model_dump"):
        return block.model_dump()
    return dict(block)


def frames(partitions: Mapping[str, Any]) -> list[pd.DataFrame]:
    """Partition values (frames or lazy loaders) in partition-id order."""
    return [partitions[k]() if callable(partitions[k]) else partitions[k] for k in sorted(partitions)]


def corpus_fingerprint(images: list[pd.DataFrame], plan: pd.DataFrame) -> str:
    """sha256 of every image's key and PNG bytes and of the plan's image rows."""
    h = hashlib.sha256()
    for frame in images:
        for key, png in zip(frame["key"], frame["png"], strict=True):
            h.update(str(key).encode())
            h.update(hashlib.sha256(png).digest())
    cols = ["SAMPLE_ID", "TEXT", "shows", "role", "has_image"]
    h.update(pd.util.hash_pandas_object(plan[cols].astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()


def model_key(parts: dict[str, Any]) -> str:
    """``l<level>-s<seed>-<hash>``: readable and keyed on content."""
    digest = json_sha256(parts)[:16]
    return f"l{parts['level']}-s{parts['train_seed']}-{digest}"


def retrain_ladder(  # noqa: PLR0913
    raw_laion_images: Mapping[str, Any],
    plan: pd.DataFrame,
    probes: pd.DataFrame,
    clip_bundle: Any,
    store: Any,
    world_seed: int,
    recipe: dict[str, Any],
    levels: list[int],
    train_seeds: list[int],
    train: Callable[..., Any] | None = None,
) -> pd.DataFrame:
    """Retrain (or find in ``store``) one model per (level, seed); return the index table.

    ``train`` defaults to the world's recipe, ``models.miniature_t2i_training.train_t2i``.
    """
    from imitation_kedro.models.embedder_factory import module_fingerprint
    from imitation_kedro.models.miniature_t2i_training import decode_image_shards, train_t2i

    train = train or train_t2i
    shards = frames(raw_laion_images)
    if not shards:
        raise ValueError("raw_laion_images has no partition; run `kedro run --pipelines world` first")
    base = {
        "recipe_version": RECIPE_VERSION, "corpus": corpus_fingerprint(shards, plan),
        "clip": module_fingerprint(clip_bundle.model), "recipe": recipe, "world_seed": world_seed,
        "probes": sorted(probes["concept"]),
    }
    keys = [str(k) for frame in shards for k in frame["key"]]  # decode_image_shards' order
    decoded: dict[str, Any] | None = None  # decoded only if some model must be trained
    rows = []
    for level in levels:
        for seed in train_seeds:
            key = model_key({**base, "level": int(level), "train_seed": int(seed)})
            idx, distinct = training_rows(plan, keys, probes, int(level), int(seed))
            row = {"level": int(level), "train_seed": int(seed), "model_key": key,
                   "trained_this_run": False, "n_train_images": int(len(idx)),
                   "min_distinct_probe_images": int(min(distinct.values())), "seconds": 0.0}
            if not store.has(key):
                start = time.perf_counter()
                if decoded is None:
                    decoded = decode_image_shards(shards)
                pipe = train(
                    decoded["pixels"][idx], [decoded["captions"][i] for i in idx], clip_bundle.model,
                    clip_bundle.model_cfg, stable_seed(world_seed, "counterfactual", "t2i", int(seed)),
                    SimpleNamespace(**recipe), desc=f"counterfactual: train level {level} seed {seed}",
                )
                store.save(key, pipe)
                row.update(trained_this_run=True, seconds=round(time.perf_counter() - start, 2))
                logger.info("counterfactual: trained level %s seed %s in %.1f s (%s)", level, seed,
                            row["seconds"], key)
            else:
                logger.info("counterfactual: level %s seed %s found in the store (%s)", level, seed, key)
            rows.append(row)
    return pd.DataFrame(rows, columns=INDEX_COLUMNS)
