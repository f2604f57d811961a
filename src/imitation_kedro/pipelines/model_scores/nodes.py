"""Node of the ``model_scores`` pipeline: the union of the per-model imitation scores."""

from __future__ import annotations

import pandas as pd


def collect_model_scores(**per_model: pd.DataFrame) -> pd.DataFrame:
    """Concatenate each model's ``prm_imitation_scores`` (keyword = model id) into one table.

    Each table must hold its own model only: a row of another model means two namespaces read
    the same generations, and the threshold stage would count it twice.
    """
    frames = []
    for model, scores in sorted(per_model.items()):
        others = sorted(set(scores["model"].astype(str)) - {model})
        if others:
            raise ValueError(
                f"prm_imitation_scores of model {model!r} holds rows of model(s) {others}: each "
                f"per-model namespace (fit.similarity.{model}) must score its own generations only; "
                "check that fit.generation.<model>.int_generation_manifest points at that model's folder"
            )
        frames.append(scores)
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["concept", "model", "prompt_id"], kind="stable").reset_index(drop=True)
