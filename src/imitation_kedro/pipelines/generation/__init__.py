"""Pipeline `generation`: images of every concept from a diffusers text-to-image model."""

from imitation_kedro.pipelines.generation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
