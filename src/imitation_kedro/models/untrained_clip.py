"""An untrained open_clip CLIP for pre-training from scratch (no weights are loaded, B16).

Built through :func:`imitation_kedro.models.open_clip_bundle.create_bundle`, the one place open_clip
models are constructed: an explicit config is registered under a name derived from its content,
a text-context override of a named architecture under ``<name>-ctx<n>``.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

from imitation_kedro.core.content_hash import json_sha256
from imitation_kedro.models.open_clip_bundle import OpenClipBundle, create_bundle


def _config_name(cfg: dict[str, Any]) -> str:
    digest = json_sha256(cfg, default=list)
    return f"clip-cfg-{digest[:12]}"


def untrained_clip(  # noqa: PLR0913
    name: str | None = None,
    cfg: dict[str, Any] | None = None,
    register: str | None = None,
    context_length: int | None = None,
    *,
    seed: int,
    logit_scale_init: float,
    device: str = "cpu",
) -> OpenClipBundle:
    """A randomly initialised CLIP from a registered ``name`` or an explicit open_clip ``cfg``.

    ``register`` ("module:function") is called first (it registers a custom config by name);
    ``context_length`` overrides the text context; ``seed`` seeds the initialisation (the
    global RNG is left as it was); the logit scale starts at ``logit_scale_init``.
    """
    import open_clip
    import torch

    if register:
        module, func = register.split(":")
        getattr(importlib.import_module(module), func)()
    model_cfg: dict[str, Any] | None
    if cfg is not None:
        model_cfg = copy.deepcopy(dict(cfg))
        if context_length:
            model_cfg["text_cfg"] = {
                **model_cfg.get("text_cfg", {}),
                "context_length": context_length,
            }
        model_name = _config_name(model_cfg)
    elif name is None:
        raise ValueError("untrained_clip needs a model `name` or a `cfg`")
    elif context_length:
        base = open_clip.get_model_config(name)
        if base is None:
            raise ValueError(f"unknown open_clip architecture {name!r}")
        model_cfg = copy.deepcopy(base)
        model_cfg["text_cfg"] = {**model_cfg.get("text_cfg", {}), "context_length": context_length}
        model_name = f"{name}-ctx{context_length}"
    else:
        model_cfg, model_name = None, name
    bundle = create_bundle(model_name, model_cfg=model_cfg, seed=seed, device=device)
    with torch.no_grad():
        bundle.model.logit_scale.fill_(logit_scale_init)
    return bundle
