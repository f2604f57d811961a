"""Custom Kedro datasets for models and tensors.

Exports are resolved lazily (PEP 562 ``__getattr__``) so that ``import imitation_kedro.datasets``
and catalog parsing stay free of torch/diffusers/open_clip; those load inside ``load``/``save``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DiffusersPipelineDataset": "imitation_kedro.datasets.diffusers_pipeline",
    "OpenClipModelDataset": "imitation_kedro.datasets.open_clip_model",
    "OptionalPartitionedDataset": "imitation_kedro.datasets.optional_partitioned",
    "SafetensorsDataset": "imitation_kedro.datasets.safetensors_dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
