"""Typed parameters of the `generation` block (``conf/<env>/parameters_generation.yml``), read by
the generation pipeline and by the counterfactual pipeline (same models, prompts and sampling).

No torch here: this module is imported at start-up to validate the parameter files.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from imitation_kedro.core.params import Params
from imitation_kedro.core.prompting import check_template

_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class ModelSettings(Params):
    """How one text-to-image model is called (FIT §4: diffusers defaults, recorded per image)."""

    checkpoint: str | None = None
    """Hub id or local directory the catalog entry must have loaded (checked when set)."""
    steps: int = Field(50, ge=1)
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

    @field_validator("height", "width")
    @classmethod
    def _multiple_of_8(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and (value < 8 or value % 8):
            raise ValueError(f"{info.field_name} must be a positive multiple of 8, got {value}")
        return value

    @model_validator(mode="after")
    def _both_sizes(self) -> ModelSettings:
        if (self.height is None) != (self.width is None):
            raise ValueError("set both height and width, or neither (pipeline default)")
        return self


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

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", device):
            raise ValueError(f"device {device!r} is not auto, cpu, mps, cuda or cuda:N")
        return device

    @model_validator(mode="after")
    def _compile_alone(self) -> SpeedSettings:
        if self.compile and self.batch_invariant:
            raise ValueError(
                "compile and batch_invariant cannot both be true (per-sample layers break graphs)"
            )
        return self


class GridSettings(Params):
    """The image grids shown in kedro-viz."""

    max_concepts: int = Field(16, ge=1)
    images_per_prompt: int = Field(2, ge=1)


class GenerationParams(Params):
    """Everything the `generation` pipeline reads from ``params:generation``."""

    model: str
    """Id of the model this run generates with; a key of ``models`` and the first path part."""
    models: dict[str, ModelSettings]
    templates: dict[str, list[str]] = Field(min_length=1)
    """Domain -> prompt templates; each holds ``{concept}`` once or more, nothing else in braces.
    The template's position in the list is its ``prompt_id``."""
    images_per_prompt: int
    seed_mode: Literal["paper", "hashed"] = "paper"
    """``paper``: seed = image index (FIT: seeds 0..199 for every concept and prompt);
    ``hashed``: stable_seed(model, concept, prompt_id, index)."""
    batch_size: int = Field(8, ge=1)
    shard_index: int = 0
    num_shards: int = 1
    speed: SpeedSettings = Field(default_factory=SpeedSettings)
    grid: GridSettings = Field(default_factory=GridSettings)

    @field_validator("model")
    @classmethod
    def _model_id(cls, model: str) -> str:
        if not _MODEL_ID.match(model):
            raise ValueError(
                f"model id {model!r} must be lower-case letters, digits, '-' or '_' "
                "(it becomes a path component)"
            )
        return model

    @field_validator("models")
    @classmethod
    def _model_ids(cls, models: dict[str, ModelSettings]) -> dict[str, ModelSettings]:
        for model_id in models:
            if not _MODEL_ID.match(model_id):
                raise ValueError(f"models key {model_id!r} is not a valid model id")
        return models

    @field_validator("images_per_prompt")
    @classmethod
    def _some_images(cls, n: int) -> int:
        if n < 1:
            raise ValueError(f"images_per_prompt must be >= 1, got {n}: zero images requested")
        return n

    @field_validator("templates")
    @classmethod
    def _usable_templates(cls, templates: dict[str, list[str]]) -> dict[str, list[str]]:
        for domain, listed in templates.items():
            if not listed:
                raise ValueError(f"templates.{domain} is an empty list")
            for i, template in enumerate(listed):
                try:
                    check_template(template)
                except ValueError as exc:
                    raise ValueError(f"templates.{domain}[{i}]: {exc}") from None
        return templates

    @model_validator(mode="after")
    def _consistent(self) -> GenerationParams:
        if self.model not in self.models:
            raise ValueError(
                f"model {self.model!r} has no settings under models; known: {sorted(self.models)}"
            )
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise ValueError(
                f"shard_index {self.shard_index} must be in 0..num_shards-1 (num_shards "
                f"{self.num_shards})"
            )
        return self

    @property
    def settings(self) -> ModelSettings:
        """The settings of the model this run uses."""
        return self.models[self.model]
