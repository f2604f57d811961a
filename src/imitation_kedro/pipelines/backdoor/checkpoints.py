"""A versioned folder of safetensors CLIP checkpoints: ``{name: {"state_dict", "meta"}}``.

Each model is one ``<name>.safetensors`` file whose header metadata holds the JSON ``meta``
(objective, seed, epoch, attack, architecture spec). Weights only; no pickle.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset
from kedro.io.core import Version

from imitation_kedro.core.slugs import slugify


class ClipCheckpointsDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Any]]):
    """Save/load a mapping of named CLIP checkpoints as safetensors files in one folder."""

    def __init__(
        self, filepath: str, version: Version | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        super().__init__(PurePosixPath(filepath), version)
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        from safetensors import safe_open
        from safetensors.torch import load_file

        folder = Path(str(self._get_load_path()))
        out = {}
        for path in sorted(folder.glob("*.safetensors")):
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get("meta", "{}"))
            out[meta.get("name", path.stem)] = {"state_dict": load_file(str(path)), "meta": meta}
        if not out:
            raise FileNotFoundError(f"no .safetensors checkpoints in {folder}")
        return out

    def save(self, data: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        folder = Path(str(self._get_save_path()))
        folder.mkdir(parents=True, exist_ok=True)
        for name, ckpt in data.items():
            state = {k: v.detach().cpu().contiguous() for k, v in ckpt["state_dict"].items()}
            meta = json.dumps(ckpt.get("meta", {}) | {"name": name})
            save_file(state, str(folder / f"{slugify(name)}.safetensors"), metadata={"meta": meta})

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except Exception:  # noqa: BLE001 - no version saved yet
            return False
        return Path(str(path)).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
