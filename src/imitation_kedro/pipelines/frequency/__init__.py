"""Pipeline ``frequency``: how many pre-training images of each concept (FIT §3).

``create_pipeline`` is imported on first use, so the caption engines (``local_engine``,
``scanner``) import without the pipeline's nodes and their dependencies.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_pipeline"]


def __getattr__(name: str) -> Any:
    if name == "create_pipeline":
        from imitation_kedro.pipelines.frequency.pipeline import create_pipeline

        return create_pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
