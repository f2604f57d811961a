"""Project pipelines and the typed parameter class of each pipeline's block."""

from __future__ import annotations

import importlib
from typing import Any

from kedro.pipeline import Pipeline
from kedro.utils import get_close_matches

from imitation_kedro.core.config_loader import session_env
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
    "counterfactual": ("counterfactual.pipeline:create_pipeline", "fit.counterfactual"),
}
FIT_CHAIN = ("world", "frequency", "generation", "similarity", "threshold")

# Envs at paper scale (or paper shape): `world` is no part of their FIT chain (it writes raw data),
# and generation/similarity run once per paper model, each in its own namespace
# (`fit.generation.sd15`), so the lineage view shows the three models side by side.
PAPER_ENVS = frozenset({"paper", "rehearsal"})
PAPER_MODELS = ("sd11", "sd15", "sd21")
PER_MODEL = ("generation", "similarity")
# Similarity inputs every model shares; the rest of its datasets are the model's own.
SHARED_SIMILARITY_INPUTS = frozenset({
    "raw_concepts", "raw_reference_images", "int_verified_images", "mdl_miniature_clip",
    "int_similarity_embedding_cache_prior",
})


def current_env() -> str | None:
    """The run's env, as the session's config loader recorded it (core/config_loader.py): also
    under ``kedro viz``, which runs no hooks (its env comes from ``KEDRO_ENV``)."""
    return session_env()


def per_model_params(parameters: dict[str, Any], models: tuple[str, ...] = PAPER_MODELS) -> dict[str, Any]:
    """``generation_<model>``: the ``generation`` block with ``model`` set, one per paper model."""
    block = parameters.get("generation") or {}
    return {f"generation_{m}": {**block, "model": m} for m in models}


def _per_model(name: str, model: str) -> Pipeline:
    """Generation or similarity for one model, in namespace ``fit.<name>.<model>``."""
    module = importlib.import_module(f"imitation_kedro.pipelines.{name}.pipeline")
    pipe = module.create_pipeline()
    namespace = f"fit.{name}.{model}"
    if name == "generation":
        params = {p: p.replace("params:generation", f"params:generation_{model}", 1)
                  for p in pipe.inputs() if p.startswith("params:generation")}
        return Pipeline(pipe, namespace=namespace, inputs={"raw_concepts"}, parameters=params)
    made = {"int_generation_manifest", "int_generated_images"}
    inputs = {d: d for d in pipe.inputs() & SHARED_SIMILARITY_INPUTS}
    inputs |= {d: f"fit.generation.{model}.{d}" for d in made}
    params = {p for p in pipe.inputs() if p.startswith("params:")}
    return Pipeline(pipe, namespace=namespace, inputs=inputs, parameters=params)


def _paper_pipelines(pipelines: dict[str, Pipeline]) -> None:
    """Replace generation and similarity by their per-model instances; ``fit`` without world."""
    for name in PER_MODEL:
        pipelines[name] = sum((_per_model(name, m) for m in PAPER_MODELS), start=Pipeline([]))
    union = importlib.import_module("imitation_kedro.pipelines.model_scores.pipeline")
    pipelines["similarity"] += union.create_pipeline(PAPER_MODELS)
    pipelines["fit"] = sum(
        (pipelines[name] for name in FIT_CHAIN if name != "world"), start=Pipeline([])
    )


def _create(name: str) -> Pipeline:
    """The registered pipeline ``name``: its factory's nodes in its namespace (light imports)."""
    target, namespace = PIPELINES[name]
    module, factory = target.split(":")
    pipe = getattr(importlib.import_module(f"imitation_kedro.pipelines.{module}"), factory)()
    return Pipeline(pipe, namespace=namespace, prefix_datasets_with_namespace=False)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines: each of ``PIPELINES``, plus ``fit`` and ``__default__``.

    ``fit`` is the FIT chain on the miniature world, ending in the thresholds report, and is
    ``__default__`` there; in the paper envs (``PAPER_ENVS``) ``fit`` starts at frequency and runs
    generation and similarity per paper model, and ``__default__`` runs both papers (``fit`` and
    ``backdoor``; ``--pipelines fit`` or ``--pipelines backdoor`` runs one). Elsewhere ``backdoor``
    runs by name; ``threshold_user_table`` thresholds a user's own table.
    Every name is built from this one table rather than by ``find_pipelines``, whose selective
    loading imports one package per requested name: ``fit`` is no package, and a typo would end
    in an ImportError. The pipeline modules import no torch: building them all costs ~0.2 s.
    """
    pipelines = {name: _create(name) for name in PIPELINES}
    pipelines["fit"] = sum((pipelines[name] for name in FIT_CHAIN), start=Pipeline([]))
    if current_env() in PAPER_ENVS:
        _paper_pipelines(pipelines)
        pipelines["__default__"] = pipelines["fit"] + pipelines["backdoor"]
    else:
        pipelines["__default__"] = pipelines["fit"]
    return pipelines


# Top-level parameter key -> its model, imported lazily (params modules are light).
PARAM_SCHEMAS: dict[str, str] = {
    "world": "imitation_kedro.pipelines.world.params:WorldParams",
    "frequency": "imitation_kedro.pipelines.frequency.params:FrequencyParams",
    "generation": "imitation_kedro.core.generation_params:GenerationParams",
    "similarity": "imitation_kedro.pipelines.similarity.params:SimilarityParams",
    "threshold": "imitation_kedro.core.threshold_params:ThresholdParams",
    "backdoor": "imitation_kedro.pipelines.backdoor.params:BackdoorParams",
    "counterfactual": "imitation_kedro.pipelines.counterfactual.params:CounterfactualParams",
}


def schema_for(key: str) -> type[Params] | None:
    """The model of top-level parameter block ``key``; ``None`` when there is no such block."""
    block, _, model = key.rpartition("_")
    if block == "generation" and model in PAPER_MODELS:  # per_model_params' blocks
        key = block
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
