"""Kedro dataset: ``dict[str, tensor]`` <-> one ``.safetensors`` file (torch or numpy), via fsspec."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

BACKENDS = ("torch", "numpy")


class SafetensorsDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Any]]):
    """A flat mapping of names to tensors in the safetensors format (no pickle, zero-copy reads).

    Example catalog entry::

        feat_image_embeddings:
          type: imitation_kedro.datasets.SafetensorsDataset
          filepath: data/04_feature/image_embeddings.safetensors
          backend: numpy               # or torch (default)
          save_args: {metadata: {model: miniature-clip}}
          versioned: true
          metadata: {kedro-viz: {layer: feature}}

    ``load_args``: ``device`` (torch backend only). ``save_args``: ``metadata`` (str -> str,
    stored in the file header; read back with :meth:`header_metadata`).
    """

    def __init__(  # noqa: PLR0913
        self,
        filepath: str,
        backend: str = "torch",
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise DatasetError(f"SafetensorsDataset backend {backend!r} is not one of {BACKENDS}")
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})
        for where, args, allowed in (
            ("load_args", self._load_args, {"device"}),
            ("save_args", self._save_args, {"metadata"}),
        ):
            unknown = set(args) - allowed
            if unknown:
                raise DatasetError(
                    f"SafetensorsDataset {where} {sorted(unknown)} unknown; allowed: {sorted(allowed)}"
                )
        if backend == "numpy" and "device" in self._load_args:
            raise DatasetError("SafetensorsDataset load_args.device needs backend: torch")
        header = self._save_args.get("metadata") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in header.items()):
            raise DatasetError("SafetensorsDataset save_args.metadata must map strings to strings")
        self._backend = backend
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "protocol": self._protocol,
            "backend": self._backend,
            "load_args": self._load_args,
            "save_args": self._save_args,
            "version": self._version,
        }

    def _path(self, path: PurePosixPath) -> str:
        return get_filepath_str(path, self._protocol)

    def load(self) -> dict[str, Any]:
        path = self._path(self._get_load_path())
        with self._fs.open(path, "rb") as f:
            blob = f.read()
        try:
            if self._backend == "numpy":
                from safetensors.numpy import load

                return load(blob)
            from safetensors.torch import load

            tensors = load(blob)
        except Exception as exc:  # safetensors raises its own SafetensorError on corrupt headers
            raise DatasetError(f"{path} is not a valid safetensors file: {exc}") from exc
        device = self._load_args.get("device")
        return {k: v.to(device) for k, v in tensors.items()} if device else tensors

    def save(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict) or not data:
            raise DatasetError(
                f"SafetensorsDataset saves a non-empty dict of tensors, got {type(data).__name__}"
            )
        bad_keys = [k for k in data if not isinstance(k, str)]
        if bad_keys:
            raise DatasetError(f"SafetensorsDataset keys must be strings, got {bad_keys[:3]}")
        header = self._save_args.get("metadata")
        if self._backend == "numpy":
            import numpy as np
            from safetensors.numpy import save

            for key, value in data.items():
                if not isinstance(value, np.ndarray):
                    raise DatasetError(
                        f"SafetensorsDataset (numpy): {key!r} is a {type(value).__name__}, not an ndarray"
                    )
            blob = save({k: np.ascontiguousarray(v) for k, v in data.items()}, metadata=header)
        else:
            import torch
            from safetensors.torch import save

            for key, value in data.items():
                if not isinstance(value, torch.Tensor):
                    raise DatasetError(
                        f"SafetensorsDataset (torch): {key!r} is a {type(value).__name__}, not a tensor"
                    )
            tensors = {k: v.detach().cpu().contiguous() for k, v in data.items()}
            try:
                blob = save(tensors, metadata=header)
            except RuntimeError as exc:  # tensors sharing memory
                raise DatasetError(
                    f"SafetensorsDataset cannot save shared tensors; clone them first: {exc}"
                ) from exc
        path = self._path(self._get_save_path())
        self._fs.mkdirs(str(PurePosixPath(path).parent), exist_ok=True)
        with self._fs.open(path, "wb") as f:
            f.write(blob)
        self._invalidate_cache()

    def header_metadata(self) -> dict[str, str]:
        """The ``__metadata__`` of the file header (what ``save_args.metadata`` wrote)."""
        import json
        import struct

        with self._fs.open(self._path(self._get_load_path()), "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            return dict(json.loads(f.read(size)).get("__metadata__") or {})

    def _exists(self) -> bool:
        try:
            path = self._path(self._get_load_path())
        except DatasetError:
            return False
        return self._fs.exists(path)

    def _invalidate_cache(self) -> None:
        self._fs.invalidate_cache(self._path(self._filepath))
