"""Pipeline ``threshold``: find the imitation threshold (FIT reference sections 6, 7, 11)."""

from imitation_kedro.pipelines.threshold.pipeline import create_pipeline

__all__ = ["create_pipeline"]
