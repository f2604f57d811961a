"""Content hashes of loaded models: what a cache or a resumed run must key its items on.

torch is never imported here; the functions only call methods of the objects they are given.
"""

from __future__ import annotations

import hashlib
from typing import Any

from imitation_kedro.core.content_hash import json_sha256


def module_state_sha256(modules: dict[str, Any]) -> str:
    """SHA-256 over every tensor (name, dtype, shape, bytes) of ``{name: torch module}``.

    Independent of where the weights came from (file, hub cache, a training run in memory):
    the same numbers give the same hash.
    """
    import torch

    digest = hashlib.sha256()
    for prefix, module in sorted(modules.items()):
        for name, tensor in sorted(module.state_dict().items()):
            t = tensor.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{prefix}.{name}|{t.dtype}|{tuple(tensor.shape)}|".encode())
            digest.update(t.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def pipeline_weights_sha256(pipe: Any) -> str:
    """SHA-256 of the weights of every module component of a diffusers pipeline."""
    modules = {
        name: component
        for name, component in (getattr(pipe, "components", None) or {}).items()
        if hasattr(component, "state_dict") and callable(component.state_dict)
    }
    if not modules:
        raise ValueError(
            f"{type(pipe).__name__} has no module components to hash; mdl_t2i must load a "
            "diffusers pipeline"
        )
    return module_state_sha256(modules)


def config_sha256(config: Any) -> str:
    """SHA-256 of a (diffusers) config mapping, private ``_`` keys left out, keys sorted."""
    items = {k: v for k, v in dict(config or {}).items() if not str(k).startswith("_")}
    return json_sha256(items)
