"""Kedro dataset for open_clip models: a custom-config directory (safetensors) or a paper checkpoint."""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from imitation_kedro.models.hub import (
    ModelSourceError,
    hub_offline,
    offline_message,
    resolve_model_source,
    write_model_dir,
)

logger = logging.getLogger(__name__)

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
LOAD_KEYS = {"device", "precision"}
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


def _resolve_pretrained(model_name: str, pretrained: str) -> str:
    """A tag (downloaded or taken from the cache) or an existing checkpoint file."""
    import open_clip

    tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if tag_cfg:
        if hub_offline():
            hub = tag_cfg.get("hf_hub", "")
            if not hub:
                raise DatasetError(
                    offline_message(f"{model_name}/{pretrained}", None, "open_clip weights")
                )
            try:
                open_clip.download_pretrained(tag_cfg)  # resolves from the local cache only
            except Exception:
                raise DatasetError(
                    offline_message(hub.rstrip("/"), None, "open_clip weights")
                ) from None
        return pretrained
    path = Path(pretrained).expanduser()
    if not path.is_file():
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise DatasetError(
            f"open_clip pretrained {pretrained!r} is neither a checkpoint file that exists nor a tag "
            f"of {model_name!r} (tags: {tags})"
        )
    return str(path)


class OpenClipModelDataset(AbstractVersionedDataset[Any, Any]):
    """An open_clip model as an :class:`OpenClipBundle`.

    Two forms. A directory ``path`` holding ``open_clip_config.json`` (``{"model_name",
    "model_cfg", "preprocess_cfg"}``) and ``open_clip_model.safetensors``: the custom config is
    registered with open_clip at load, and ``save`` writes both files (atomically; an existing
    model is replaced only with ``overwrite: true``). Or a paper checkpoint: ``model_name`` (a
    built-in architecture, or ``hf-hub:org/repo``) + ``pretrained`` (a tag or a local checkpoint
    file; tags need the hub, or its local cache when ``HF_HUB_OFFLINE=1``). Read-only.

    Example catalog entries::

        mdl_miniature_clip:           # written by the world pipeline every run
          type: imitation_kedro.datasets.OpenClipModelDataset
          path: data/06_models/miniature_clip
          overwrite: true
          metadata: {kedro-viz: {layer: models}}

        mdl_artwork_gate:             # paper (FIT): ViT-H-14 LAION-2B "artwork" gate
          type: imitation_kedro.datasets.OpenClipModelDataset
          model_name: ViT-H-14
          pretrained: laion2b_s32b_b79k
          load_args: {device: cuda, precision: fp16}

    ``load_args``: ``device`` (default cpu) and ``precision`` (``fp32``, ``fp16``, ``bf16`` ...).
    """

    def __init__(  # noqa: PLR0913
        self,
        path: str | None = None,
        model_name: str | None = None,
        pretrained: str | None = None,
        load_args: dict[str, Any] | None = None,
        overwrite: bool = False,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if (path is None) == (model_name is None):
            raise DatasetError(
                "OpenClipModelDataset needs exactly one of `path` or `model_name` (+ `pretrained`)"
            )
        if model_name is not None and not model_name.startswith("hf-hub:") and not pretrained:
            raise DatasetError(
                f"OpenClipModelDataset: `pretrained` (tag or checkpoint file) is required with "
                f"model_name {model_name!r}; a random model is not a paper model"
            )
        if path is None and version is not None:
            raise DatasetError("versioned: true needs a local `path`")
        self._load_args = dict(load_args or {})
        unknown = set(self._load_args) - LOAD_KEYS
        if unknown:
            raise DatasetError(
                f"OpenClipModelDataset load_args {sorted(unknown)} unknown; allowed: {sorted(LOAD_KEYS)}"
            )
        self._path = path
        self._model_name = model_name
        self._pretrained = pretrained
        self._overwrite = bool(overwrite)
        self.metadata = metadata
        filepath = PurePosixPath(Path(path).as_posix()) if path is not None else PurePosixPath(".")
        super().__init__(filepath=filepath, version=version)

    def _describe(self) -> dict[str, Any]:
        return {
            "path": self._path,
            "model_name": self._model_name,
            "pretrained": self._pretrained,
            "load_args": self._load_args,
            "overwrite": self._overwrite,
            "version": self._version,
        }

    def load(self) -> OpenClipBundle:
        device = self._load_args.get("device", "cpu")
        precision = self._load_args.get("precision", "fp32")
        try:
            if self._path is None:
                return self._load_paper(device, precision)
            source = resolve_model_source(path=str(self._get_load_path()), what="open_clip model")
        except ModelSourceError as exc:
            raise DatasetError(str(exc)) from None
        return load_bundle_dir(Path(source.location), device=device, precision=precision)

    def _load_paper(self, device: str, precision: str) -> OpenClipBundle:
        assert self._model_name is not None
        name = self._model_name
        if name.startswith("hf-hub:"):
            source = resolve_model_source(
                model_id=name.removeprefix("hf-hub:"), what="open_clip model"
            )
            name = f"local-dir:{source.location}" if source.is_local else name
            pretrained = None
        else:
            pretrained = _resolve_pretrained(name, self._pretrained or "")
        return create_bundle(name, pretrained=pretrained, precision=precision, device=device)

    def save(self, data: OpenClipBundle) -> None:
        if self._path is None:
            raise DatasetError(
                f"cannot save to model_name {self._model_name!r}; give a local `path`"
            )
        if not isinstance(data, OpenClipBundle):
            raise DatasetError(
                f"OpenClipModelDataset saves an OpenClipBundle, got {type(data).__name__}"
            )
        target = Path(str(self._get_save_path()))
        try:
            write_model_dir(
                target,
                lambda tmp: save_bundle_dir(data, tmp),
                overwrite=self._overwrite,
                marker=CONFIG_FILE,
                what="open_clip model",
            )
        except ModelSourceError as exc:
            raise DatasetError(str(exc)) from None

    def _exists(self) -> bool:
        if self._path is None:
            return True
        try:
            return (Path(str(self._get_load_path())) / CONFIG_FILE).is_file()
        except DatasetError:
            return False


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
