"""Typed parameters of the `generation` pipeline (``conf/<env>/parameters_generation.yml``).

No torch here: this module is imported at start-up to validate the parameter files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from imitation_kedro.core.params import ParameterError, Params
from imitation_kedro.pipelines.generation.prompts import check_template

_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class ModelSettings(Params):
    """How one text-to-image model is called (FIT §4: diffusers defaults, recorded per image)."""

    checkpoint: str | None = None
    """Hub id or local directory the catalog entry must have loaded (checked when set)."""
    steps: int = 50
    guidance_scale: float = 7.5
    height: int | None = None
    """Pixels; ``None`` keeps the pipeline's own default (``unet.sample_size * vae_scale_factor``)."""
    width: int | None = None
    scheduler: str | None = None
    """A diffusers scheduler class name (e.g. ``DPMSolverMultistepScheduler``); ``None`` keeps the
    pipeline's scheduler."""
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    negative_prompt: str | None = None
    safety_checker: bool = False

    def validate(self) -> None:
        if self.steps < 1:
            raise ParameterError(f"steps must be >= 1, got {self.steps}")
        for name in ("height", "width"):
            value = getattr(self, name)
            if value is not None and (value < 8 or value % 8):
                raise ParameterError(f"{name} must be a positive multiple of 8, got {value}")
        if (self.height is None) != (self.width is None):
            raise ParameterError("set both height and width, or neither (pipeline default)")


@dataclass(frozen=True)
class SpeedSettings(Params):
    """Throughput options; none of them changes which image a (prompt, seed) gets except
    ``batch_invariant: false``, which lets batch size change float rounding (see README)."""

    device: str = "auto"
    """``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda``, ``cuda:1``, ``mps``."""
    attention: Literal["default", "sdpa", "eager"] = "default"
    channels_last: bool = False
    compile: bool = False
    batch_invariant: bool = True
    """Run every model component (text encoder, denoiser, VAE) one sample at a time so that an
    image's bytes do not depend on its batch mates (batch size, shard count). Costs batching
    speed-up (large on GPUs, small on CPU)."""

    def validate(self) -> None:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device):
            raise ParameterError(f"device {self.device!r} is not auto, cpu, mps, cuda or cuda:N")
        if self.compile and self.batch_invariant:
            raise ParameterError(
                "compile and batch_invariant cannot both be true (per-sample layers break graphs)"
            )


@dataclass(frozen=True)
class GridSettings(Params):
    """The image grids shown in kedro-viz."""

    max_concepts: int = 16
    images_per_prompt: int = 2

    def validate(self) -> None:
        if self.max_concepts < 1 or self.images_per_prompt < 1:
            raise ParameterError("grid.max_concepts and grid.images_per_prompt must be >= 1")


@dataclass(frozen=True)
class GenerationParams(Params):
    """Everything the `generation` pipeline reads from ``params:generation``."""

    _where = "generation"

    model: str
    """Id of the model this run generates with; a key of ``models`` and the first path part."""
    models: dict[str, ModelSettings]
    templates: dict[str, list[str]]
    """Domain -> prompt templates; each holds ``{concept}`` once or more, nothing else in braces.
    The template's position in the list is its ``prompt_id``."""
    images_per_prompt: int
    seed_mode: Literal["paper", "hashed"] = "paper"
    """``paper``: seed = image index (FIT: seeds 0..199 for every concept and prompt);
    ``hashed``: stable_seed(model, concept, prompt_id, index)."""
    batch_size: int = 8
    shard_index: int = 0
    num_shards: int = 1
    speed: SpeedSettings = field(default_factory=SpeedSettings)
    grid: GridSettings = field(default_factory=GridSettings)

    def validate(self) -> None:
        if not _MODEL_ID.match(self.model):
            raise ParameterError(
                f"model id {self.model!r} must be lower-case letters, digits, '-' or '_' "
                "(it becomes a path component)"
            )
        if self.model not in self.models:
            raise ParameterError(
                f"model {self.model!r} has no settings under models; known: {sorted(self.models)}"
            )
        for model_id in self.models:
            if not _MODEL_ID.match(model_id):
                raise ParameterError(f"models key {model_id!r} is not a valid model id")
        if self.images_per_prompt < 1:
            raise ParameterError(
                f"images_per_prompt must be >= 1, got {self.images_per_prompt}: zero images requested"
            )
        if self.batch_size < 1:
            raise ParameterError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise ParameterError(
                f"shard_index {self.shard_index} must be in 0..num_shards-1 (num_shards "
                f"{self.num_shards})"
            )
        if not self.templates:
            raise ParameterError("templates is empty: give at least one domain's templates")
        for domain, templates in self.templates.items():
            if not templates:
                raise ParameterError(f"templates.{domain} is an empty list")
            for i, template in enumerate(templates):
                try:
                    check_template(template)
                except ValueError as exc:
                    raise ParameterError(f"templates.{domain}[{i}]: {exc}") from None

    @property
    def settings(self) -> ModelSettings:
        """The settings of the model this run uses."""
        return self.models[self.model]
