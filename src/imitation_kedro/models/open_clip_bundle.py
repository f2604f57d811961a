"""open_clip models as bundles (model + eval preprocess + tokenizer): build, save, load.

The one place that constructs open_clip models: custom configs (the miniature CLIP, the backdoor's
RN50 layout) are registered with open_clip, weights are safetensors. Catalog IO lives in
:class:`imitation_kedro.datasets.OpenClipModelDataset`, thin over this module.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro.io.core import DatasetError

logger = logging.getLogger(__name__)

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
_REQUIRED_CFG_KEYS = ("embed_dim", "vision_cfg", "text_cfg")


@dataclass
class OpenClipBundle:
    """An open_clip model (eval mode) with its eval preprocess and tokenizer."""

    model: Any
    preprocess: Any
    tokenizer: Any
    model_name: str
    model_cfg: dict[str, Any] | None = None
    preprocess_cfg: dict[str, Any] = field(default_factory=dict)


def register_model_config(model_name: str, model_cfg: dict[str, Any]) -> None:
    """Make ``model_name`` known to open_clip (``create_model``, ``get_tokenizer``) with ``model_cfg``.

    Re-registering the same name with another config replaces it (a retrained miniature model),
    but a built-in architecture (e.g. ``RN50``) is never shadowed by a different config.
    """
    import open_clip
    from open_clip import factory

    missing = [k for k in _REQUIRED_CFG_KEYS if k not in model_cfg]
    if missing:
        raise DatasetError(f"open_clip model_cfg for {model_name!r} lacks {missing}")
    if not model_name or "/" in model_name or ":" in model_name:
        raise DatasetError(f"custom open_clip model_name {model_name!r} may not contain '/' or ':'")
    current = factory._MODEL_CONFIGS.get(model_name)
    if current is not None and current != model_cfg:
        if any(
            (Path(p) / f"{model_name}.json").is_file()
            for p in factory._MODEL_CONFIG_PATHS
            if Path(p).is_dir()
        ):
            raise DatasetError(
                f"{model_name!r} is a built-in open_clip architecture with a different config; "
                "give the custom model its own model_name"
            )
        logger.info("Replacing the registered open_clip config %r", model_name)
    factory._MODEL_CONFIGS[model_name] = copy.deepcopy(model_cfg)
    assert model_name in open_clip.list_models()


class _RandomInitNote(logging.Filter):
    """Drop open_clip's root-logger warning "No pretrained weights loaded ... initialized
    randomly" while we build a model whose weights we load right after (or initialise on purpose)."""

    def __init__(self, quiet: bool) -> None:
        super().__init__()
        self.quiet = quiet

    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()

    def __enter__(self) -> _RandomInitNote:
        if self.quiet:
            logging.getLogger().addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeFilter(self)


def _eval_preprocess(model: Any) -> tuple[Any, dict[str, Any]]:
    from open_clip import get_model_preprocess_cfg
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = dict(get_model_preprocess_cfg(model))
    return image_transform_v2(PreprocessCfg(**cfg), is_train=False), cfg


def create_bundle(  # noqa: PLR0913
    model_name: str,
    model_cfg: dict[str, Any] | None = None,
    preprocess_cfg: dict[str, Any] | None = None,
    pretrained: str | None = None,
    seed: int | None = None,
    precision: str = "fp32",
    device: str = "cpu",
) -> OpenClipBundle:
    """Build an :class:`OpenClipBundle`; ``model_cfg`` registers a custom architecture first.

    Without ``pretrained`` the weights are freshly initialised (from ``seed`` if given, without
    touching the global RNG); ``pretrained`` is an open_clip tag or a checkpoint file.
    """
    import open_clip
    import torch

    if model_cfg is not None:
        register_model_config(model_name, model_cfg)
    with torch.random.fork_rng(devices=[]), _RandomInitNote(quiet=pretrained is None):
        if seed is not None:
            torch.manual_seed(seed)
        model = open_clip.create_model(
            model_name,
            pretrained=pretrained,
            precision=precision,
            device=device,
            force_preprocess_cfg=preprocess_cfg,
            pretrained_image=False,
            pretrained_text=False,
        )
    model.eval()
    preprocess, cfg = _eval_preprocess(model)
    return OpenClipBundle(
        model=model,
        preprocess=preprocess,
        tokenizer=open_clip.get_tokenizer(model_name),
        model_name=model_name,
        model_cfg=copy.deepcopy(
            model_cfg if model_cfg is not None else open_clip.get_model_config(model_name)
        ),
        preprocess_cfg=cfg,
    )


def save_bundle_dir(bundle: OpenClipBundle, directory: Path) -> None:
    """Write ``open_clip_config.json`` + ``open_clip_model.safetensors`` into ``directory``."""
    import open_clip
    from safetensors.torch import save_model

    model_cfg = bundle.model_cfg or open_clip.get_model_config(bundle.model_name)
    if model_cfg is None:
        raise DatasetError(
            f"no open_clip config known for {bundle.model_name!r}; set bundle.model_cfg"
        )
    _, preprocess_cfg = _eval_preprocess(bundle.model)
    config = {
        "model_name": bundle.model_name,
        "model_cfg": model_cfg,
        "preprocess_cfg": preprocess_cfg,
    }
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True, default=list))
    save_model(bundle.model, str(directory / WEIGHTS_FILE))


def load_bundle_dir(
    directory: Path, device: str = "cpu", precision: str = "fp32"
) -> OpenClipBundle:
    """Load what :func:`save_bundle_dir` wrote (strict: every weight must match the config)."""
    from safetensors.torch import load_model

    config_path, weights = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not config_path.is_file():
        raise DatasetError(f"{directory} is not an open_clip model directory: no {CONFIG_FILE}")
    if not weights.is_file():
        pickles = [p.name for p in directory.iterdir() if p.suffix in {".bin", ".pt", ".pth"}]
        hint = (
            f" (found pickle weights {pickles}: re-save them with safetensors)" if pickles else ""
        )
        raise DatasetError(f"{directory} has no {WEIGHTS_FILE}{hint}")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{config_path} is not valid JSON: {exc}") from exc
    missing = [k for k in ("model_name", "model_cfg") if k not in config]
    if missing:
        raise DatasetError(f"{config_path} lacks {missing}")
    bundle = create_bundle(
        config["model_name"],
        model_cfg=config["model_cfg"],
        preprocess_cfg=config.get("preprocess_cfg") or None,
        precision=precision,
        device="cpu",
    )
    try:
        load_model(bundle.model, str(weights), strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DatasetError(
            f"{weights} does not match the config in {config_path}: {first}"
        ) from None
    bundle.model.to(device).eval()
    return bundle
