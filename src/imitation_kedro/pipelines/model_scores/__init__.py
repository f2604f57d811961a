"""Pipeline ``model_scores``: one imitation-score table from the per-model similarity runs."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
