"""Pipeline ``similarity``: imitation scores of generated images against concept references."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
