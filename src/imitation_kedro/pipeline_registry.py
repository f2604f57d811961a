"""Project pipelines and the typed parameter class of each pipeline's block."""

from __future__ import annotations

import importlib
from typing import Any

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from imitation_kedro.core.params import ParameterError, Params, parse_params

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


# Top-level parameter key -> its typed class, imported lazily (params modules are light).
PARAM_SCHEMAS: dict[str, str] = {
    "world": "imitation_kedro.pipelines.world.params:WorldParams",
    "frequency": "imitation_kedro.pipelines.frequency.params:FrequencyParams",
    "generation": "imitation_kedro.pipelines.generation.params:GenerationParams",
    "similarity": "imitation_kedro.pipelines.similarity.params:SimilarityParams",
    "threshold": "imitation_kedro.pipelines.threshold.params:ThresholdParams",
    "backdoor": "imitation_kedro.pipelines.backdoor.params:BackdoorParams",
}


def schema_for(key: str) -> type[Params] | None:
    target = PARAM_SCHEMAS.get(key)
    if target is None:
        return None
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None  # pipeline not built yet
    return getattr(module, cls_name, None)


def validate_parameters(parameters: dict[str, Any]) -> dict[str, Params]:
    """Validate every top-level parameter block; unknown top-level keys are errors too."""
    unknown = sorted(k for k in parameters if k not in PARAM_SCHEMAS)
    if unknown:
        raise ParameterError(
            f"unknown top-level parameter key(s) {unknown}; expected one of {sorted(PARAM_SCHEMAS)}"
            " (one block per pipeline, in conf/<env>/parameters_<pipeline>.yml)"
        )
    out: dict[str, Params] = {}
    for key, raw in parameters.items():
        cls = schema_for(key)
        if cls is not None:
            out[key] = parse_params(cls, raw, key)
    return out
