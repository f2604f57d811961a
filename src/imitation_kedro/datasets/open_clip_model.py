"""Kedro dataset for open_clip models: a custom-config directory (safetensors) or a paper checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io.core import DatasetError, Version

from imitation_kedro.datasets.model_dir import ModelDirDataset
from imitation_kedro.models.hub import (
    ModelSourceError,
    hub_offline,
    offline_message,
    resolve_model_source,
)
from imitation_kedro.models.open_clip_bundle import (
    CONFIG_FILE,
    OpenClipBundle,
    create_bundle,
    load_bundle_dir,
    save_bundle_dir,
)

__all__ = ["OpenClipModelDataset"]

LOAD_KEYS = {"device", "precision"}


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


class OpenClipModelDataset(ModelDirDataset):
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

    MARKER = CONFIG_FILE
    WHAT = "open_clip model"

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
        self._model_name = model_name
        self._pretrained = pretrained
        self._init_dir(path, overwrite, version, metadata)

    def _describe(self) -> dict[str, Any]:
        return self._describe_dir(
            model_name=self._model_name, pretrained=self._pretrained, load_args=self._load_args
        )

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
        self._write_dir(lambda tmp: save_bundle_dir(data, tmp))

    def _exists(self) -> bool:
        if self._path is None:
            return True
        try:
            return (Path(str(self._get_load_path())) / CONFIG_FILE).is_file()
        except DatasetError:
            return False
