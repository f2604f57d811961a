"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

FIT_CHAIN = ("world", "frequency", "generation", "similarity", "threshold")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``__default__`` is the FIT chain on the miniature world, ending in the thresholds report;
    ``backdoor`` runs by name.
    """
    pipelines = find_pipelines(raise_errors=True)
    fit = [pipelines[name] for name in FIT_CHAIN if name in pipelines]
    pipelines["fit"] = sum(fit, start=Pipeline([]))
    pipelines["__default__"] = pipelines["fit"]
    return pipelines
