"""Batched diffusers calls behind lazy, bounded-memory partition callables.

torch and diffusers are imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from imitation_kedro.core.progress import progress
from imitation_kedro.models.schedulers import make_scheduler
from imitation_kedro.models.t2i_render import render_batch  # noqa: F401
from imitation_kedro.pipelines.generation.fingerprint import (
    PIXELS_KEY,
    RECORD_KEY,
    dump_record,
    pixels_sha256,
)

logger = logging.getLogger(__name__)


def _batch_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    import torch

    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return int(value.shape[0])
    return None


def _take(value: Any, i: int, n: int) -> Any:
    """Sample ``i`` of a batch-first tensor of batch ``n``; anything else unchanged."""
    import torch

    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == n:
        return value[i : i + 1].contiguous()
    return value


def _concat(parts: list[Any]) -> Any:
    """Join per-sample outputs: tensors, tuples/lists, mappings (diffusers/transformers outputs)."""
    import torch

    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts) if first.dim() > 0 else first
    if isinstance(first, (tuple, list)):
        return type(first)(_concat([p[k] for p in parts]) for k in range(len(first)))
    if isinstance(first, dict):
        return type(first)(**{k: _concat([p[k] for p in parts]) for k in first})
    if first is None:
        return None
    raise TypeError(f"cannot join per-sample outputs of type {type(first).__name__}")


def _per_sample(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a model call to run each sample of its batch alone (a batch-1 call) and join."""

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        n = _batch_of(args, kwargs)
        if n is None or n <= 1:
            return method(*args, **kwargs)
        parts = [
            method(
                *(_take(a, i, n) for a in args), **{k: _take(v, i, n) for k, v in kwargs.items()}
            )
            for i in range(n)
        ]
        return _concat(parts)

    run._imitation_per_sample = True  # type: ignore[attr-defined]
    return run


def make_batch_invariant(pipe: Any) -> int:
    """Make every model component of the pipeline (text encoder, denoiser, VAE) run one sample
    at a time, whatever the batch it is called with.

    BLAS and oneDNN pick kernels (and so float summation orders) by batch size, so a batch of 4
    differs from 4 batches of 1 in the last bits. Each component call is split into batch-1
    calls (every batch-first tensor argument sliced, outputs joined), so an image's bytes never
    depend on its batch mates. The scheduler and guidance arithmetic between the calls are
    element-wise and already exact. Returns the number of methods wrapped.
    """
    import torch

    wrapped = 0
    for component in getattr(pipe, "components", {}).values():
        if not isinstance(component, torch.nn.Module):
            continue
        for name in ("forward", "encode", "decode"):
            method = getattr(component, name, None)
            if callable(method) and not getattr(method, "_imitation_per_sample", False):
                setattr(component, name, _per_sample(method))
                wrapped += 1
    return wrapped


def prepare_pipeline(pipe: Any, settings: Any, speed: Any, device: str) -> dict[str, Any]:
    """Apply settings and speed options to ``pipe`` in place; return what was actually used."""
    import torch

    if not callable(pipe):
        raise TypeError(
            f"mdl_t2i loaded a {type(pipe).__name__}, not a diffusers pipeline"
        )
    if settings.scheduler:
        pipe.scheduler = make_scheduler(
            settings.scheduler, pipe.scheduler.config, "generation scheduler"
        )
    if hasattr(pipe, "safety_checker"):
        if not settings.safety_checker:
            pipe.safety_checker = None
        elif pipe.safety_checker is None:
            raise ValueError("safety_checker is true but the loaded pipeline has no safety checker")
    elif settings.safety_checker:
        raise ValueError(f"safety_checker is true but {type(pipe).__name__} has none")
    dtype = getattr(torch, settings.dtype)
    if device == "cpu" and dtype == torch.float16:
        raise ValueError("dtype float16 is not supported on cpu; use float32 or bfloat16")
    if hasattr(pipe, "to"):
        pipe.to(device=device, dtype=dtype)
    if speed.attention != "default":
        from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

        processor = AttnProcessor2_0 if speed.attention == "sdpa" else AttnProcessor
        for component in getattr(pipe, "components", {}).values():
            if hasattr(component, "set_attn_processor"):
                component.set_attn_processor(processor())
    if speed.channels_last:
        for name in ("unet", "transformer", "vae"):
            module = getattr(pipe, name, None)
            if isinstance(module, torch.nn.Module):
                module.to(memory_format=torch.channels_last)
    if speed.compile:
        for name in ("unet", "transformer"):
            module = getattr(pipe, name, None)
            if isinstance(module, torch.nn.Module):
                setattr(pipe, name, torch.compile(module))
    wrapped = make_batch_invariant(pipe) if speed.batch_invariant else 0
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    return {
        "scheduler": type(pipe.scheduler).__name__ if hasattr(pipe, "scheduler") else "",
        "device": device,
        "batch_invariant_layers": wrapped,
    }


def default_size(pipe: Any) -> tuple[int, int] | None:
    """``(width, height)`` the pipeline renders when none is given, if it can tell."""
    unet = getattr(pipe, "unet", None)
    factor = getattr(pipe, "vae_scale_factor", None)
    sample = getattr(getattr(unet, "config", None), "sample_size", None)
    if isinstance(sample, int) and isinstance(factor, int):
        return sample * factor, sample * factor
    return None


@dataclass
class RenderLog:
    """What rendering did (settings used, per-image durations), filled while
    ``int_generated_images`` is saved (lazily, batch by batch).

    The generation node hands it on as the lazy partition of ``int_generation_render_logs``:
    calling it gives a JSON-ready record. The node lists that output after the images, and Kedro
    saves a node's outputs in order, so the record saved is the complete one; the manifest node
    reads it back from the catalog.
    """

    settings: dict[str, Any] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per planned image: its render record (reused: the one stored in the file), status,
    reason and ``pixels_sha256``; rendered images are added as they are handed out."""
    batches: int = 0
    peak_cached_images: int = 0
    started: float | None = None
    finished: float | None = None

    @property
    def images_per_s(self) -> float:
        if not self.durations or self.started is None or self.finished is None:
            return float("nan")
        return len(self.durations) / max(self.finished - self.started, 1e-9)

    def __call__(self) -> dict[str, Any]:
        """The record saved to ``int_generation_render_logs`` (what rendering did so far)."""
        rate = self.images_per_s
        return {
            "settings": dict(self.settings),
            "durations": dict(self.durations),
            "images": {p: dict(v) for p, v in self.images.items()},
            "batches": self.batches,
            "peak_cached_images": self.peak_cached_images,
            "images_per_s": None if rate != rate else rate,
        }


class BatchRenderer:
    """Renders a whole batch when the first of its images is asked for; hands each image out
    once and forgets it, so at most one batch is held when partitions are saved in order."""

    def __init__(
        self,
        pipe: Any,
        todo: pd.DataFrame,
        batch_size: int,
        prepare: Callable[[Any], dict[str, Any]],
        settings: Any,
        log: RenderLog,
        desc: str = "generate",
        records: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        rows = todo.sort_values("path", kind="stable")
        items = list(zip(rows["path"], rows["prompt"], rows["seed"], strict=True))
        self._batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
        self._batch_of = {p: b for b, batch in enumerate(self._batches) for p, _, _ in batch}
        self._cache: dict[int, dict[str, Any]] = {}
        self._pipe = pipe
        self._prepare = prepare
        self._prepared = False
        self._settings = settings
        self._log = log
        self._records = records or {}
        self._bar = progress(range(len(items)), desc=desc, total=len(items), unit="img")

    def paths(self) -> list[str]:
        return list(self._batch_of)

    def image(self, path: str) -> Any:
        """The rendered image of ``path`` (renders its batch if needed)."""
        b = self._batch_of[path]
        if b not in self._cache or path not in self._cache[b]:
            self._cache[b] = self._render(b)
            held = sum(len(v) for v in self._cache.values())
            self._log.peak_cached_images = max(self._log.peak_cached_images, held)
        batch = self._cache[b]
        image = batch.pop(path)
        if not batch:
            del self._cache[b]
        record = self._records.get(path)
        if record is not None:
            if record.get("width") is None:  # the pipeline's own size: record what it made
                record = {**record, "width": image.size[0], "height": image.size[1]}
            image.info[RECORD_KEY] = dump_record(record)
            image.info[PIXELS_KEY] = pixels_sha256(image)
            self._log.images.setdefault(path, {}).update(
                record=record, pixels_sha256=image.info[PIXELS_KEY]
            )
        return image

    def _render(self, b: int) -> dict[str, Any]:
        if not self._prepared:
            self._log.settings.update(self._prepare(self._pipe))
            self._prepared = True
            self._log.started = time.perf_counter()
        batch = self._batches[b]
        start = time.perf_counter()
        images = render_batch(
            self._pipe, [p for _, p, _ in batch], [s for _, _, s in batch], self._settings
        )
        elapsed = time.perf_counter() - start
        self._log.batches += 1
        self._log.finished = time.perf_counter()
        for (path, _, _), _image in zip(batch, images, strict=True):
            self._log.durations[path] = elapsed / len(batch)
            next(self._bar, None)
        return {path: image for (path, _, _), image in zip(batch, images, strict=True)}
