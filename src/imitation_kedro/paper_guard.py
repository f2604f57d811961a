"""Hooks of the paper-scale envs (``--env paper``, ``--env rehearsal``).

* :class:`PaperEnvHook`: gives each paper model its ``generation_<model>`` parameter block. (The
  registry learns the env, and the rehearsal its data folder, from the config loader:
  ``core/config_loader.py``.)
* :class:`RawDataGuardHook`: the paper envs never write raw data (the user's LAION files, concept
  tables and references): a run whose pipeline outputs a ``raw_`` dataset stops before its first
  node, and a save to one is refused.
* :class:`PaperPreflightHook`: before any node runs, checks every input the selected pipelines need
  (concept tables that are not the miniature world's, LAION files, references, weights, CUDA where
  a step asks for it) and lists everything missing at once, with the doc section to read.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from kedro.framework.hooks import hook_impl

from imitation_kedro import pipeline_registry

logger = logging.getLogger(__name__)

DOC = "docs/reproduce_fit.md"
# Parameter keys naming a local weight file or a hub id, and the doc section about them.
WEIGHT_KEYS = frozenset({"checkpoint", "path", "face_model", "style_model", "clip_model"})
# Domains of the miniature world's concept table (conf/base): never paper input.
MINIATURE_DOMAINS = frozenset({"motif", "style"})


class PaperInputsError(click.ClickException):
    """The paper run lacks inputs: one line per missing thing, then where to read about them."""


class RawDataWriteError(click.ClickException):
    """A paper-env run tried to write a raw-layer dataset (the user's own data)."""


def is_paper_env(env: str | None) -> bool:
    return env in pipeline_registry.PAPER_ENVS


def _is_raw(name: str) -> bool:
    return name.split(".")[-1].startswith("raw_")


class PaperEnvHook:
    """Each paper model's ``generation_<model>`` parameter block (the registry's per-model
    generation namespaces read them)."""

    @hook_impl(tryfirst=True)  # before anything reads the parameters
    def after_context_created(self, context: Any) -> None:
        if not is_paper_env(context.env):
            return
        loader = context.config_loader
        raw = loader["parameters"]
        loader["parameters"] = {**raw, **pipeline_registry.per_model_params(raw)}


class RawDataGuardHook:
    """In the paper envs raw data is read-only: refuse a pipeline writing it, and any such save."""

    def __init__(self) -> None:
        self._env: str | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._env = context.env

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any) -> None:
        self._env = run_params.get("env") or self._env
        if not is_paper_env(self._env):
            return
        raw = sorted(d for d in pipeline.all_outputs() if _is_raw(d))
        if raw:
            writers = sorted({n.name for n in pipeline.nodes if set(n.outputs) & set(raw)})
            raise RawDataWriteError(
                f"--env {self._env} never writes raw data, but this run would write {raw} "
                f"(nodes {writers[:5]}{' ...' if len(writers) > 5 else ''}). The `world` pipeline "
                "builds the miniature world: run it without --env. Paper inputs are yours: "
                f"see {DOC} section 2."
            )

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, node: Any) -> None:
        if is_paper_env(self._env) and _is_raw(dataset_name):
            raise RawDataWriteError(
                f"refusing to save {dataset_name!r} (node {node.name}): --env {self._env} never "
                f"writes raw-layer datasets (see {DOC} section 2)"
            )


def _exists(catalog: Any, name: str) -> bool:
    try:
        return bool(catalog.exists(name))
    except Exception:  # a dataset that cannot check itself is reported missing
        return False


def _describe(catalog: Any, name: str) -> dict[str, Any]:
    try:
        return dict(catalog.get(name)._describe())
    except Exception:
        return {}


def _where(desc: dict[str, Any]) -> str | None:
    where = desc.get("path") or desc.get("filepath")
    return str(Path(str(where)).resolve()) if where else None


def _hub_cached(repo_id: str, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, filename), str)


def _weight_missing(value: str, project: Path) -> bool:
    """True when a weight reference (local path, ``hf-hub:<id>`` or hub id) is not available."""
    if value.startswith("hf-hub:"):
        return not _hub_cached(value.removeprefix("hf-hub:"), "open_clip_config.json")
    local = Path(value) if Path(value).is_absolute() else project / value
    if local.exists() or value.startswith(("data/", "./", "/")) or Path(value).suffix:
        return not local.exists()
    return not _hub_cached(value, "model_index.json") and not _hub_cached(value, "config.json")


def _leaves(tree: Any, prefix: str) -> list[tuple[str, Any]]:
    if hasattr(tree, "model_dump"):  # typed parameter blocks hold pydantic models
        tree = tree.model_dump()
    if isinstance(tree, dict):
        return [kv for k, v in tree.items() for kv in _leaves(v, f"{prefix}.{k}")]
    return [(prefix, tree)]


def _param_blocks(pipeline: Any, catalog: Any) -> dict[str, Any]:
    """The top-level parameter blocks the pipeline's nodes read, by key."""
    keys = {
        d.removeprefix("params:").split(".")[0]
        for d in pipeline.inputs()
        if d.startswith("params:")
    }
    blocks = {}
    for key in sorted(keys):
        try:
            value = catalog.load(f"params:{key}")
        except Exception:
            continue
        blocks[key] = value
    return blocks


def preflight_problems(
    pipeline: Any, catalog: Any, project: Path, cuda: bool | None = None
) -> list[str]:
    """One line per missing paper input of ``pipeline`` (empty when everything is there)."""
    problems: list[str] = []
    # A folder this run fills before reading it under another name is no missing input:
    # raw_laion_images is the shard folder download_images writes through the writer handle
    # int_downloaded_image_shards (an intermediate input).
    fills = set(pipeline.all_outputs()) | {
        d for d in pipeline.inputs() if d.split(".")[-1].startswith("int_")
    }
    written = {_where(_describe(catalog, d)) for d in fills} - {None}
    for name in sorted(pipeline.inputs()):
        if name.startswith("params:") or name == "parameters":
            continue
        bare = name.split(".")[-1]
        desc = _describe(catalog, name)
        if _where(desc) in written:
            continue
        kind = type(catalog.get(name)).__name__ if name in catalog else ""
        if not bare.startswith(("raw_", "mdl_")) or kind.startswith(("Optional", "Memory")):
            continue
        where = desc.get("path") or desc.get("filepath") or desc.get("model_id")
        if where and Path(str(where)).is_absolute() and Path(str(where)).is_relative_to(project):
            where = Path(str(where)).relative_to(project)
        if bare.startswith("mdl_") and desc.get("model_id") and not desc.get("path"):
            if _weight_missing(str(desc["model_id"]), project):
                problems.append(
                    f"weights {name}: {desc['model_id']} is neither a local folder nor in "
                    f"the Hugging Face cache (`hf download {desc['model_id']}`; {DOC} section 3)"
                )
            continue
        if not _exists(catalog, name):
            section = "3" if bare.startswith("mdl_") else "2"
            problems.append(
                f"input {name}: nothing at {where or 'its catalog entry'} ({DOC} section {section})"
            )
        elif bare == "raw_concepts":
            problems += _miniature_concepts(catalog, name)
    blocks = _param_blocks(pipeline, catalog)
    wants_cuda, seen = [], set()
    for key, block in blocks.items():
        for dotted, value in _leaves(block, key):
            leaf = dotted.rsplit(".", 1)[-1]
            # generation.models.*.checkpoint: the catalog's mdl_t2i entries above load them
            if (
                leaf in WEIGHT_KEYS
                and isinstance(value, str)
                and value
                and value not in seen
                and ".models." not in dotted
            ):
                seen.add(value)
                if _weight_missing(value, project):
                    problems.append(f"weights {dotted}: {value} not found ({DOC} section 3)")
            if leaf == "device" and value == "cuda":
                wants_cuda.append(dotted)
    if wants_cuda:
        if cuda is None:
            import torch

            cuda = torch.cuda.is_available()
        if not cuda:
            problems.append(
                f"CUDA: {', '.join(sorted(wants_cuda)[:4])}{' ...' if len(wants_cuda) > 4 else ''} ask for "
                "a GPU and none is visible; run on a GPU host or set those device keys to cpu "
                f"(--params; {DOC} section 0)"
            )
    return problems


def _miniature_concepts(catalog: Any, name: str) -> list[str]:
    try:
        table = catalog.load(name)
    except Exception as exc:
        return [f"input {name}: cannot be read ({type(exc).__name__}: {str(exc)[:120]})"]
    domains = (
        set(map(str, table["domain"].unique()))
        if "domain" in getattr(table, "columns", ())
        else set()
    )
    if domains & MINIATURE_DOMAINS:
        return [
            f"input {name}: holds the miniature world's concepts (domains {sorted(domains)}); "
            f"point it at the paper's concept tables ({DOC} section 2)"
        ]
    return []


class PaperPreflightHook:
    """Before any node runs in a paper env, list every missing input at once."""

    def __init__(self) -> None:
        self._env: str | None = None
        self._project: Path = Path.cwd()

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._env, self._project = context.env, Path(context.project_path)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        env = run_params.get("env") or self._env
        if not is_paper_env(env):
            return
        problems = preflight_problems(pipeline, catalog, self._project)
        if problems:
            lines = "\n".join(f"  - {p}" for p in problems)
            raise PaperInputsError(
                f"--env {env}: {len(problems)} input(s) missing before the first node:\n{lines}\n"
                f"Read {DOC} (sections 0-3) for what to download and where it goes."
            )
        logger.info("paper preflight: every input of this run is present")
