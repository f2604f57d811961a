"""Pipeline ``frequency``: how many pre-training images of each concept (FIT §3)."""

from imitation_kedro.pipelines.frequency.pipeline import create_pipeline

__all__ = ["create_pipeline"]
