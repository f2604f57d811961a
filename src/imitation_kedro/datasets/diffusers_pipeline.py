"""Kedro dataset for diffusers pipelines: ``from_pretrained`` / ``save_pretrained``, safetensors only."""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
from pathlib import Path
from typing import Any

from kedro.io.core import DatasetError, Version

from imitation_kedro.core.progress import progress_enabled
from imitation_kedro.datasets.model_dir import ModelDirDataset
from imitation_kedro.models.hub import (
    ModelSourceError,
    check_no_pickle_only,
    resolve_model_source,
)
from imitation_kedro.models.schedulers import SchedulerSpecError, make_scheduler

FORBIDDEN_KEYS = ("trust_remote_code", "custom_pipeline", "custom_revision")
DTYPES = {
    "float16": "float16", "fp16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float32": "float32", "fp32": "float32", "float": "float32",
}  # fmt: skip
SAFE_LIBRARIES = ("diffusers", "transformers")
MODELS_PACKAGE = "imitation_kedro.models"
logger = logging.getLogger(__name__)


def refuse_remote_code(where: str, args: Any) -> None:
    """Raise if ``args`` (nested dicts/lists) sets ``trust_remote_code`` or ``custom_pipeline``."""
    if isinstance(args, dict):
        for key, value in args.items():
            if key in FORBIDDEN_KEYS:
                raise DatasetError(
                    f"{where}.{key} is refused: this project never runs code shipped with model "
                    "weights; put the pipeline class in imitation_kedro.models and name it in "
                    "`pipeline_class`"
                )
            refuse_remote_code(f"{where}.{key}", value)
    elif isinstance(args, list | tuple):
        for i, value in enumerate(args):
            refuse_remote_code(f"{where}[{i}]", value)


def torch_dtype(name: str | None) -> Any:
    """``"float16"``/``"bfloat16"``/``"float32"`` (or fp16/bf16/fp32) -> ``torch.dtype``."""
    if name is None:
        return None
    import torch

    if isinstance(name, torch.dtype):
        return name
    key = DTYPES.get(str(name).lower().removeprefix("torch."))
    if key is None:
        raise DatasetError(
            f"load_args.torch_dtype {name!r} is not one of {sorted(set(DTYPES.values()))}"
        )
    return getattr(torch, key)


def _class_in_models_package(name: str) -> type | None:
    package = importlib.import_module(MODELS_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__, prefix=f"{MODELS_PACKAGE}."):
        try:
            module = importlib.import_module(info.name)
        except Exception as exc:  # noqa: BLE001 - an optional back-end that cannot import here
            logger.debug("skipping %s while looking for %s: %s", info.name, name, exc)
            continue
        found = getattr(module, name, None)
        if isinstance(found, type):
            return found
    return None


def resolve_pipeline_class(name: str) -> type:
    """A ``DiffusionPipeline`` subclass from a dotted path, or a bare class name looked up in
    ``diffusers`` and then the ``imitation_kedro.models`` modules (nowhere else)."""
    import diffusers

    if "." in name:
        module_name, _, attr = name.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise DatasetError(f"pipeline_class {name!r} cannot be imported: {exc}") from exc
    else:
        cls = getattr(diffusers, name, None) or _class_in_models_package(name)
        if cls is None:
            raise DatasetError(
                f"pipeline class {name!r} is neither in diffusers nor in {MODELS_PACKAGE}.*; "
                "give `pipeline_class` as a dotted path"
            )
    if not (isinstance(cls, type) and issubclass(cls, diffusers.DiffusionPipeline)):
        raise DatasetError(f"pipeline_class {name!r} is not a diffusers.DiffusionPipeline subclass")
    return cls


def _safe_library(library: str) -> bool:
    """diffusers/transformers, a diffusers pipeline folder (e.g. SD's ``stable_diffusion`` safety
    checker) or one of our own modules; never a module shipped next to the weights."""
    import diffusers

    if library in SAFE_LIBRARIES or library == MODELS_PACKAGE:
        return True
    if library.startswith(f"{MODELS_PACKAGE}."):
        return True
    return "." not in library and hasattr(diffusers.pipelines, library)


def _check_model_index(index: dict[str, Any], where: str) -> str:
    """Return ``_class_name``; refuse custom-code entries (a list ``_class_name``, unknown libraries)."""
    class_name = index.get("_class_name")
    if not isinstance(class_name, str):
        raise DatasetError(
            f"{where}: _class_name {class_name!r} asks for custom pipeline code, which is refused; "
            "name an importable class in `pipeline_class`"
        )
    for component, spec in index.items():
        if component.startswith("_") or not isinstance(spec, list | tuple) or len(spec) != 2:
            continue
        library = spec[0]
        if library is not None and not _safe_library(library):
            raise DatasetError(
                f"{where}: component {component!r} comes from library {library!r}; only diffusers, "
                f"transformers and {MODELS_PACKAGE}.* components are loaded (no remote code)"
            )
    return class_name


class DiffusersPipelineDataset(ModelDirDataset):
    """A diffusers ``DiffusionPipeline`` on disk (``save_pretrained`` layout) or on the hub.

    Loads with ``cls.from_pretrained(..., use_safetensors=True)``; saves with
    ``save_pretrained(path, safe_serialization=True)`` into a temporary sibling directory that
    replaces ``path`` only when complete. ``trust_remote_code``/``custom_pipeline`` and
    pickle-only weights are refused.

    Example catalog entries::

        mdl_t2i:            # re-saved by the world pipeline on every run
          type: imitation_kedro.datasets.DiffusersPipelineDataset
          path: data/06_models/miniature_t2i
          overwrite: true             # without it a second run fails: the directory is not empty
          metadata: {kedro-viz: {layer: models}}

        mdl_sd15:                     # paper: FIT, Stable Diffusion 1.5, fp32
          type: imitation_kedro.datasets.DiffusersPipelineDataset
          model_id: stable-diffusion-v1-5/stable-diffusion-v1-5
          load_args: {torch_dtype: float32, safety_checker: false, device: cuda}

        mdl_sd21:                     # paper: SD 2.1, fp16 weights, DPM-Solver++ scheduler
          type: imitation_kedro.datasets.DiffusersPipelineDataset
          model_id: stabilityai/stable-diffusion-2-1
          load_args:
            torch_dtype: float16
            variant: fp16
            scheduler: {class: DPMSolverMultistepScheduler, config: {algorithm_type: dpmsolver++}}

    ``load_args``: ``torch_dtype`` (string), ``variant``, ``revision``, ``scheduler`` (class name
    in diffusers, or ``{class, config}`` with config overrides), ``safety_checker`` (``false``
    drops it; ``null``/absent keeps what was saved), ``device``; other keys go to
    ``from_pretrained``. ``save_args`` go to ``save_pretrained`` (e.g. ``variant``,
    ``max_shard_size``). ``overwrite`` (default false) lets a save replace an existing saved
    pipeline; ``versioned: true`` instead writes ``path/<version>/<name>`` each run.
    """

    MARKER = "model_index.json"
    WHAT = "diffusers pipeline"

    def __init__(  # noqa: PLR0913
        self,
        path: str | None = None,
        model_id: str | None = None,
        pipeline_class: str | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        overwrite: bool = False,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if (path is None) == (model_id is None):
            raise DatasetError("DiffusersPipelineDataset needs exactly one of `path` or `model_id`")
        if model_id is not None and version is not None:
            raise DatasetError(f"versioned: true needs a local `path`, not the hub id {model_id!r}")
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})
        refuse_remote_code("load_args", self._load_args)
        refuse_remote_code("save_args", self._save_args)
        if self._load_args.get("use_safetensors", True) is not True:
            raise DatasetError(
                "load_args.use_safetensors must stay true: pickle weights are refused"
            )
        if self._save_args.get("safe_serialization", True) is not True:
            raise DatasetError(
                "save_args.safe_serialization must stay true: weights are saved as safetensors"
            )
        dtype = self._load_args.get("torch_dtype", self._load_args.get("dtype"))
        if dtype is not None and str(dtype).lower().removeprefix("torch.") not in DTYPES:
            raise DatasetError(
                f"load_args.torch_dtype {dtype!r} is not one of {sorted(set(DTYPES.values()))}"
            )
        self._model_id = model_id
        self._pipeline_class = pipeline_class
        self._init_dir(path, overwrite, version, metadata)

    def _describe(self) -> dict[str, Any]:
        return self._describe_dir(
            model_id=self._model_id,
            pipeline_class=self._pipeline_class,
            load_args=self._load_args,
            save_args=self._save_args,
        )

    def _source(self):
        if self._model_id is not None:
            return resolve_model_source(
                model_id=self._model_id,
                revision=self._load_args.get("revision"),
                what="diffusers pipeline",
            )
        return resolve_model_source(path=str(self._get_load_path()), what="diffusers pipeline")

    def _model_index(self, source) -> dict[str, Any]:
        if source.is_local:
            index_path = Path(source.location) / "model_index.json"
            if not index_path.is_file():
                raise DatasetError(
                    f"{source.location} is not a diffusers pipeline directory: no model_index.json"
                )
        else:
            from huggingface_hub import hf_hub_download

            index_path = Path(
                hf_hub_download(source.location, "model_index.json", revision=source.revision)
            )
        try:
            return json.loads(index_path.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{index_path} is not valid JSON: {exc}") from exc

    def load(self) -> Any:
        try:
            source = self._source()
        except ModelSourceError as exc:
            raise DatasetError(str(exc)) from None
        index = self._model_index(source)
        class_name = _check_model_index(index, str(source))
        cls = resolve_pipeline_class(self._pipeline_class or class_name)
        if source.is_local:
            try:
                check_no_pickle_only(source.location, what="diffusers pipeline")
            except ModelSourceError as exc:
                raise DatasetError(str(exc)) from None
        kwargs = dict(self._load_args)
        scheduler = kwargs.pop("scheduler", None)
        device = kwargs.pop("device", None)
        safety = kwargs.pop("safety_checker", None)
        kwargs.pop("use_safetensors", None)
        dtype = kwargs.pop("torch_dtype", None) or kwargs.pop("dtype", None)
        if dtype is not None:
            kwargs["dtype"] = torch_dtype(dtype)  # diffusers 0.42 name; `torch_dtype` is deprecated
        if source.is_local:
            kwargs.pop("revision", None)  # a cached snapshot is already the asked revision
        if safety is False:
            kwargs["safety_checker"] = None
            if "requires_safety_checker" in index or "requires_safety_checker" in _init_params(cls):
                kwargs["requires_safety_checker"] = False
        pipe = cls.from_pretrained(source.location, use_safetensors=True, **kwargs)
        if safety is True and getattr(pipe, "safety_checker", None) is None:
            raise DatasetError(
                f"load_args.safety_checker is true but {source} has no safety checker"
            )
        if scheduler is not None:
            try:
                pipe.scheduler = make_scheduler(
                    scheduler, pipe.scheduler.config, "load_args.scheduler"
                )
            except SchedulerSpecError as exc:
                raise DatasetError(str(exc)) from None
        if device is not None:
            pipe = pipe.to(device)
        if not progress_enabled():
            pipe.set_progress_bar_config(disable=True)
        return pipe

    def save(self, data: Any) -> None:
        if self._model_id is not None:
            raise DatasetError(f"cannot save to the hub id {self._model_id!r}; give a local `path`")
        if not hasattr(data, "save_pretrained") or not hasattr(data, "components"):
            raise DatasetError(
                f"DiffusersPipelineDataset saves a diffusers DiffusionPipeline, got {type(data).__name__}"
            )
        save_args = {**self._save_args, "safe_serialization": True}
        self._write_dir(lambda tmp: data.save_pretrained(str(tmp), **save_args))

    def _exists(self) -> bool:
        try:
            source = self._source()
        except (ModelSourceError, DatasetError):
            return False
        return not source.is_local or (Path(source.location) / "model_index.json").is_file()


def _init_params(cls: type) -> set[str]:
    import inspect

    return set(inspect.signature(cls.__init__).parameters)
