"""The miniature world: concepts, a LAION-like corpus, ground truth and the miniature models."""

from imitation_kedro.pipelines.world.pipeline import create_pipeline

__all__ = ["create_pipeline"]
