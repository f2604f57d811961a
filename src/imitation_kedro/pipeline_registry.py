"""Project pipelines and the typed parameter class of each pipeline's block."""

from __future__ import annotations

import importlib
from typing import Any

from kedro.pipeline import Pipeline
from kedro.utils import get_close_matches

from imitation_kedro.core.params import ParameterError, Params, parse_params

# Registered name -> ("<module under imitation_kedro.pipelines>:<factory>", namespace). The
# namespace groups the nodes in kedro-viz (one collapsible group per paper, then per step) and
# prefixes node names (`fit.threshold.detect_thresholds`); dataset and parameter names are kept.
PIPELINES = {
    "world": ("world.pipeline:create_pipeline", "world"),
    "frequency": ("frequency.pipeline:create_pipeline", "fit.frequency"),
    "generation": ("generation.pipeline:create_pipeline", "fit.generation"),
    "similarity": ("similarity.pipeline:create_pipeline", "fit.similarity"),
    "threshold": ("threshold.pipeline:create_pipeline", "fit.threshold"),
    "threshold_user_table": ("threshold.pipeline:create_user_table_pipeline", "fit.threshold"),
    "backdoor": ("backdoor.pipeline:create_pipeline", "backdoor"),
}
FIT_CHAIN = ("world", "frequency", "generation", "similarity", "threshold")


def _create(name: str) -> Pipeline:
    """The registered pipeline ``name``: its factory's nodes in its namespace (light imports)."""
    target, namespace = PIPELINES[name]
    module, factory = target.split(":")
    pipe = getattr(importlib.import_module(f"imitation_kedro.pipelines.{module}"), factory)()
    return Pipeline(pipe, namespace=namespace, prefix_datasets_with_namespace=False)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines: each of ``PIPELINES``, plus ``fit`` and ``__default__``.

    ``fit`` (= ``__default__``) is the FIT chain on the miniature world, ending in the thresholds
    report; ``threshold_user_table`` thresholds a user's own table; ``backdoor`` runs by name.
    Every name is built from this one table rather than by ``find_pipelines``, whose selective
    loading imports one package per requested name: ``fit`` is no package, and a typo would end
    in an ImportError. The pipeline modules import no torch: building them all costs ~0.2 s.
    """
    pipelines = {name: _create(name) for name in PIPELINES}
    pipelines["fit"] = sum((pipelines[name] for name in FIT_CHAIN), start=Pipeline([]))
    pipelines["__default__"] = pipelines["fit"]
    return pipelines


# Top-level parameter key -> its model, imported lazily (params modules are light).
PARAM_SCHEMAS: dict[str, str] = {
    "world": "imitation_kedro.pipelines.world.params:WorldParams",
    "frequency": "imitation_kedro.pipelines.frequency.params:FrequencyParams",
    "generation": "imitation_kedro.pipelines.generation.params:GenerationParams",
    "similarity": "imitation_kedro.pipelines.similarity.params:SimilarityParams",
    "threshold": "imitation_kedro.pipelines.threshold.params:ThresholdParams",
    "backdoor": "imitation_kedro.pipelines.backdoor.params:BackdoorParams",
}


def schema_for(key: str) -> type[Params] | None:
    """The model of top-level parameter block ``key``; ``None`` when there is no such block."""
    target = PARAM_SCHEMAS.get(key)
    if target is None:
        return None
    module_name, cls_name = target.split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def validate_parameters(parameters: dict[str, Any]) -> dict[str, Params]:
    """Validate every top-level block; raise one :class:`ParameterError` listing every problem.

    An unknown top-level key is an error too, with Kedro's closest-match suggestion.
    """
    problems: list[str] = []
    out: dict[str, Params] = {}
    for key, raw in parameters.items():
        cls = schema_for(key)
        if cls is None:
            close = get_close_matches(key, PARAM_SCHEMAS)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                f"unknown top-level parameter key {key!r}{hint}; expected one of "
                f"{sorted(PARAM_SCHEMAS)} (one block per pipeline, conf/<env>/parameters_<pipeline>.yml)"
            )
            continue
        try:
            out[key] = parse_params(cls, raw, key)
        except ParameterError as exc:
            problems.append(str(exc))
    if problems:
        raise ParameterError("\n".join(problems))
    return out
