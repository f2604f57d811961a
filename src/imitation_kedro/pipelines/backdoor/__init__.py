"""Pipeline ``backdoor``: poison CLIP pre-training, clean with CleanCLIP, measure accuracy and ASR."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
