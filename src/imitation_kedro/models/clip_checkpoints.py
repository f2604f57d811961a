"""CLIP checkpoints as safetensors: strict loading, a folder of named models, per-epoch resume.

- :func:`load_state`: a state dict into a model, every name and shape checked first.
- :func:`save_named` / :func:`load_named`: ``{name: {"state_dict", "meta"}}`` as one
  ``<name>.safetensors`` per model, ``meta`` as JSON in the header (catalog IO:
  :class:`imitation_kedro.datasets.clip_checkpoints.ClipCheckpointsDataset`).
- :class:`EpochCheckpoints`: the store a training loop saves each epoch into and resumes from
  (catalog IO: :class:`imitation_kedro.datasets.clip_checkpoints.EpochCheckpointsDataset`).

Weights and optimiser tensors only, no pickle; every file is written atomically (temporary
file, then rename). torch / safetensors are imported inside functions.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imitation_kedro.core.slugs import slugify

logger = logging.getLogger(__name__)

LATEST = "latest.json"


class ArchitectureMismatchError(ValueError):
    """A checkpoint does not fit the configured architecture."""


def load_state(model: Any, state: dict[str, Any], where: str) -> None:
    """Load a state dict after checking every name and shape; the error lists the differences."""
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if own != got:
        missing = sorted(set(own) - set(got))[:5]
        extra = sorted(set(got) - set(own))[:5]
        shapes = [
            f"{k}: {got[k]} vs {own[k]}" for k in sorted(set(own) & set(got)) if own[k] != got[k]
        ][:5]
        raise ArchitectureMismatchError(
            f"checkpoint {where!r} does not match the configured architecture: missing {missing}, "
            f"unexpected {extra}, shape differences {shapes}"
        )
    model.load_state_dict(state)


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` a temporary sibling of ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _save_tensors(path: Path, tensors: dict[str, Any], metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    _atomic(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))


def save_named(folder: Path, models: dict[str, Any]) -> None:
    """Each ``{"state_dict", "meta"}`` of ``models`` as ``<slug(name)>.safetensors``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, ckpt in models.items():
        meta = json.dumps(ckpt.get("meta", {}) | {"name": name})
        _save_tensors(folder / f"{slugify(name)}.safetensors", ckpt["state_dict"], {"meta": meta})


def load_named(folder: Path) -> dict[str, Any]:
    """What :func:`save_named` wrote: ``{name: {"state_dict", "meta"}}``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    out = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("meta", "{}"))
        out[meta.get("name", path.stem)] = {"state_dict": load_file(str(path)), "meta": meta}
    if not out:
        raise FileNotFoundError(f"no .safetensors checkpoints in {folder}")
    return out


def _flatten(value: Any, tensors: dict[str, Any]) -> Any:
    """A JSON skeleton of nested dicts/lists/tuples; tensors moved to ``tensors`` by key."""
    import torch

    if isinstance(value, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = value
        return {"tensor": key}
    if isinstance(value, dict):  # keys keep their type (optimiser state is keyed by int)
        return {"dict": [[k, _flatten(v, tensors)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {kind: [_flatten(v, tensors) for v in value]}
    return {"value": value}


def _unflatten(node: dict[str, Any], tensors: dict[str, Any]) -> Any:
    ((kind, value),) = node.items()
    if kind == "tensor":
        return tensors[value]
    if kind == "dict":
        return {k: _unflatten(v, tensors) for k, v in value}
    if kind in ("list", "tuple"):
        items = [_unflatten(v, tensors) for v in value]
        return tuple(items) if kind == "tuple" else items
    return value


class EpochCheckpoints:
    """Per-epoch resume points of training runs in ``folder`` (``None``: resuming is off).

    One run's epoch ``e`` is ``epoch_<e>.safetensors`` (weights) and
    ``epoch_<e>.optim.safetensors`` (optimiser and scheduler state: tensors, and the rest as
    JSON in the header); ``latest.json`` names the last complete epoch and is written last, so
    an interrupted save is never resumed from. :meth:`run` gives each run its own sub-folder.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None

    def __repr__(self) -> str:
        return f"EpochCheckpoints({str(self.folder) if self.folder else None!r})"

    def run(self, name: str) -> EpochCheckpoints:
        """The store of one named run (its own sub-folder)."""
        if self.folder is None:
            return self
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise ValueError(f"checkpoint run name {name!r} is not a plain folder name")
        return EpochCheckpoints(self.folder / name)

    def latest(self) -> int:
        """The last complete epoch saved (0: none, or resuming is off)."""
        if self.folder is None or not (self.folder / LATEST).is_file():
            return 0
        return int(json.loads((self.folder / LATEST).read_text())["epoch"])

    def save(self, epoch: int, weights: dict[str, Any], state: dict[str, Any]) -> None:
        """Weights and training state (e.g. optimiser, scheduler) of a finished epoch."""
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"epoch_{epoch:04d}"
        _save_tensors(self.folder / f"{stem}.safetensors", weights, {})
        tensors: dict[str, Any] = {}
        skeleton = json.dumps(_flatten(state, tensors))
        _save_tensors(self.folder / f"{stem}.optim.safetensors", tensors, {"state": skeleton})
        latest = json.dumps({"epoch": epoch})
        _atomic(self.folder / LATEST, lambda tmp: tmp.write_text(latest))

    def load(self, epoch: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(weights, state)`` saved for ``epoch``."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        if self.folder is None:
            raise FileNotFoundError("resuming is off: no checkpoint folder")
        stem = self.folder / f"epoch_{epoch:04d}"
        weights = load_file(f"{stem}.safetensors")
        with safe_open(f"{stem}.optim.safetensors", framework="pt") as f:
            skeleton = json.loads((f.metadata() or {})["state"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
        return weights, _unflatten(skeleton, tensors)
