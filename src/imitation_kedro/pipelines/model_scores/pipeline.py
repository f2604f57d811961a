"""The ``model_scores`` pipeline: the per-model score tables -> ``prm_imitation_scores``."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from .nodes import collect_model_scores

PAPER_MODELS = ("sd11", "sd15", "sd21")


def create_pipeline(models: tuple[str, ...] = PAPER_MODELS, **kwargs) -> Pipeline:
    """One node reading ``fit.similarity.<model>.prm_imitation_scores`` for each of ``models``."""
    return Pipeline(
        [
            Node(
                collect_model_scores,
                inputs={m: f"fit.similarity.{m}.prm_imitation_scores" for m in models},
                outputs="prm_imitation_scores",
                name="collect_model_scores",
                namespace="fit.similarity",  # beside the per-model similarity namespaces
            )
        ]
    )
