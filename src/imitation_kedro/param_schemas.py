"""Top-level parameter key -> its typed class, imported lazily (params modules are light)."""

from __future__ import annotations

import importlib
from typing import Any

from imitation_kedro.params_base import ParameterError, Params, parse_params

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
