"""One place that turns "a local directory or a Hugging Face hub id" into something loadable.

Both model datasets (diffusers pipelines, open_clip models) call :func:`resolve_model_source` /
:func:`resolve_hub_file` so that a missing path, a malformed id, or a hub id asked for while
offline fails with one line that names the thing and says how to fix it, instead of a long
traceback from inside ``huggingface_hub``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?$")
_TRUE = {"1", "true", "yes", "on"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


class ModelSourceError(ValueError):
    """A model location is missing, malformed, unreachable offline, or holds unsafe weights."""


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set to a true value."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in _TRUE


@dataclass(frozen=True)
class ModelSource:
    """Where to load from: ``location`` is a local directory, or a hub id when ``is_local`` is False.

    ``hub_id`` records the id a cached snapshot came from (``None`` for plain local directories).
    """

    location: str
    is_local: bool
    hub_id: str | None = None
    revision: str | None = None

    def __str__(self) -> str:
        if self.is_local and self.hub_id:
            return f"{self.hub_id} (cached at {self.location})"
        return self.location


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith(("/", "./", "../", "~", "\\"))
        or text.count("/") > 1
        or (os.sep != "/" and os.sep in text)
        or (len(text) > 1 and text[1] == ":")
    )


def _shown(given: str | os.PathLike, path: Path) -> str:
    """The path as the user wrote it, plus where a relative one points."""
    return str(given) if path.is_absolute() else f"{given} (relative to {Path.cwd()})"


def check_hub_id(model_id: str) -> str:
    """Return ``model_id`` if it is a well-formed ``owner/name`` (or ``name``) hub id, else raise."""
    if not isinstance(model_id, str) or not _HUB_ID.match(model_id) or ".." in model_id:
        raise ModelSourceError(
            f"{model_id!r} is neither an existing local directory nor a hub id of the form "
            "'owner/name'"
        )
    return model_id


def resolve_model_source(
    path: str | os.PathLike | None = None,
    model_id: str | None = None,
    revision: str | None = None,
    what: str = "model",
) -> ModelSource:
    """Resolve exactly one of ``path`` (local directory) or ``model_id`` (hub id or local directory).

    Offline (``HF_HUB_OFFLINE=1``) a hub id resolves to its snapshot in the local cache, or fails
    with "set HF_HUB_OFFLINE=0 or give a local directory".
    """
    if (path is None) == (model_id is None):
        raise ModelSourceError(
            f"give exactly one of `path` (local directory) or `model_id` (hub id) for the {what}"
        )
    if path is not None:
        local = Path(path).expanduser()
        if not local.exists():
            raise ModelSourceError(f"{what} path does not exist: {_shown(path, local)}")
        if not local.is_dir():
            raise ModelSourceError(f"{what} path is not a directory: {_shown(path, local)}")
        return ModelSource(str(local), is_local=True, revision=revision)
    assert model_id is not None
    candidate = Path(model_id).expanduser()
    if candidate.is_dir():
        return ModelSource(str(candidate), is_local=True, revision=revision)
    if _looks_like_path(model_id):
        raise ModelSourceError(f"{what} path does not exist: {_shown(model_id, candidate)}")
    check_hub_id(model_id)
    if not hub_offline():
        return ModelSource(model_id, is_local=False, hub_id=model_id, revision=revision)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot = snapshot_download(model_id, revision=revision, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, OSError) as exc:
        raise ModelSourceError(offline_message(model_id, revision, what)) from exc
    return ModelSource(str(snapshot), is_local=True, hub_id=model_id, revision=revision)


def resolve_hub_file(
    repo_id: str, filename: str, revision: str | None = None, what: str = "model"
) -> str | None:
    """Cached path of one hub file when offline (or raise the offline message); ``None`` online."""
    check_hub_id(repo_id)
    if not hub_offline():
        return None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, filename, revision=revision)
    if not isinstance(cached, str):
        raise ModelSourceError(offline_message(f"{repo_id}/{filename}", revision, what))
    return cached


def offline_message(model_id: str, revision: str | None, what: str) -> str:
    from huggingface_hub import constants

    rev = f" (revision {revision})" if revision else ""
    return (
        f"{what} {model_id!r}{rev} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) "
        "and HF_HUB_OFFLINE=1: set HF_HUB_OFFLINE=0 or give a local directory"
    )


def check_no_pickle_only(directory: str | os.PathLike, what: str = "model") -> None:
    """Raise if a folder under ``directory`` holds pickle weights (``*.bin``, ``*.pt``, ``*.ckpt``
    ...) and no ``*.safetensors`` beside them (a component we would have to unpickle)."""
    root = Path(directory)
    pickles = sorted(
        p
        for p in root.rglob("*")
        if p.suffix in PICKLE_SUFFIXES and p.is_file() and not any(p.parent.glob("*.safetensors"))
    )
    if not pickles:
        return
    names = ", ".join(str(p.relative_to(root)) for p in pickles[:3])
    raise ModelSourceError(
        f"{what} directory {root} holds only pickle weights ({names}); they can run arbitrary code "
        "when loaded. Convert them once in a trusted environment to safetensors, e.g. load with "
        "`from_pretrained(dir)` and re-save with `save_pretrained(new_dir, safe_serialization=True)` "
        "(or diffusers' scripts/convert_original_stable_diffusion_to_diffusers.py for .ckpt files)"
    )


def write_model_dir(
    target: str | os.PathLike,
    write: Callable[[Path], None],
    *,
    overwrite: bool,
    marker: str,
    what: str = "model",
) -> None:
    """Call ``write(tmp_dir)`` and move the finished directory to ``target`` atomically.

    An existing non-empty ``target`` is an error unless ``overwrite`` is true, and even then it is
    replaced only if it holds ``marker`` (e.g. ``model_index.json``), so a mistyped path never
    deletes an unrelated folder. A crash mid-save leaves the previous model in place.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise ModelSourceError(f"cannot save the {what} to {target}: a file with that name exists")
    occupied = target.is_dir() and any(target.iterdir())
    if occupied and not overwrite:
        raise ModelSourceError(
            f"refusing to overwrite the non-empty directory {target} with the {what}; set "
            "`overwrite: true` on the catalog entry (models re-saved every run), use "
            "`versioned: true`, or delete the directory"
        )
    if occupied and not (target / marker).exists():
        raise ModelSourceError(
            f"refusing to replace {target}: it is not a saved {what} (no {marker} inside); "
            "point `path` at a dedicated model directory"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f".{target.name}.saving-*"):
        logger.warning("removing %s, left by an interrupted save of the %s", leftover, what)
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
    try:
        write(tmp)
        if not (tmp / marker).exists():
            raise ModelSourceError(f"saving the {what} wrote no {marker} into {tmp}")
        apply_umask(tmp)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(root: str | os.PathLike) -> None:
    """Give ``root`` and everything below it the modes a plain ``open``/``mkdir`` would have.

    ``tempfile.mkdtemp``/``mkstemp`` create 0700/0600 whatever the umask; a model moved into
    place from there would stay unreadable to the group of a shared data folder.
    """
    mask = current_umask()
    root = Path(root)
    paths = [root, *root.rglob("*")] if root.is_dir() else [root]
    for path in paths:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)
