"""Provenance: every versioned output records what it was computed from, next to itself.

``ProvenanceHooks`` writes ``<filepath>/<version>/<name>.provenance.json`` beside each versioned
save: the node, the output's own SHA-256, and per input either its version (versioned
datasets), its content hash (files, model folders, parameters) or, for in-memory
intermediates and unversioned outputs of the same run (generated images, shard manifests), the
inputs they came from (so a manifest names the ``mdl_t2i`` version that rendered its images). So any version can be walked back
from the data folder alone:

    python -m imitation_kedro.provenance 2026-12-06T19.10.00.000Z            # thresholds
    python -m imitation_kedro.provenance VERSION --dataset prm_imitation_scores --data data

prints the chain of versions (with the other versioned outputs of each node, e.g. the per-image
scores saved with the imitation scores) and, where it meets a generation manifest, the model
weights hash(es) and the image set (count and one SHA-256 over every image's pixel hash).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from imitation_kedro.core.content_hash import json_sha256

logger = logging.getLogger(__name__)
SUFFIX = ".provenance.json"
MANIFEST = "int_generation_manifest"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(root: Path) -> str:
    """SHA-256 over the relative paths and contents of every file under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}|{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def listing_sha256(root: Path) -> str:
    """SHA-256 over the relative paths and sizes of the files under ``root`` (cheap at scale)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}|{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def _params_sha256(value: Any) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return json_sha256(value)


def _versioned_path(dataset: Any, version: str) -> Path | None:
    try:
        return Path(str(dataset._get_versioned_path(version)))
    except Exception:  # noqa: BLE001 - not a local versioned dataset
        return None


def describe_input(name: str, dataset: Any, value: Any) -> dict[str, Any]:
    """How one node input is identified in a provenance record."""
    if name.startswith("params:") or name == "parameters":
        return {"kind": "params", "sha256": _params_sha256(value)}
    kind = type(dataset).__name__
    version = getattr(dataset, "_version", None)
    if version is not None and hasattr(dataset, "resolve_load_version"):
        loaded = dataset.resolve_load_version()
        return {
            "kind": "versioned",
            "type": kind,
            "version": loaded,
            "path": str(getattr(dataset, "_filepath", "")),
        }
    if kind == "MemoryDataset" or dataset is None:
        return {"kind": "memory"}
    path = getattr(dataset, "_filepath", None) or getattr(dataset, "_path", None)
    if path is not None and Path(str(path)).is_file():
        return {
            "kind": "file",
            "type": kind,
            "path": str(path),
            "sha256": file_sha256(Path(str(path))),
        }
    if path is not None and Path(str(path)).is_dir():
        if isinstance(value, dict):  # a partitioned folder: its listing, not its bytes (TBs)
            return {
                "kind": "partitions",
                "type": kind,
                "path": str(path),
                "count": len(value),
                "listing_sha256": listing_sha256(Path(str(path))),
            }
        return {
            "kind": "folder",
            "type": kind,
            "path": str(path),
            "sha256": tree_sha256(Path(str(path))),
        }
    return {"kind": "other", "type": kind}


class ProvenanceHooks:
    """Writes a provenance record beside every versioned dataset a run saves."""

    def __init__(self) -> None:
        self._memory: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, tuple[Any, str, dict[str, Any]]] = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._memory, self._pending = {}, {}

    @hook_impl
    def after_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any]) -> None:
        sources: dict[str, Any] = {}
        for name in node.inputs:
            ref = describe_input(name, catalog.get(name), inputs.get(name))
            if name in self._memory:  # made earlier in this run and not versioned: its inputs
                sources.update(self._memory[name])
            if ref["kind"] != "memory" or name not in self._memory:
                sources[name] = ref
        versioned = {
            out: catalog.get(out)
            for out in node.outputs
            if getattr(catalog.get(out), "_version", None) is not None
        }
        for out in node.outputs:
            if out in versioned:
                siblings = {
                    name: ds.resolve_save_version() for name, ds in versioned.items() if name != out
                }
                self._pending[out] = (versioned[out], node.name, sources, siblings)
            else:
                self._memory[out] = sources

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        pending = self._pending.pop(dataset_name, None)
        if pending is not None:
            write_record(dataset_name, *pending)


def write_record(
    name: str,
    dataset: Any,
    node: str,
    sources: dict[str, Any],
    siblings: dict[str, str] | None = None,
) -> Path | None:
    """Write ``<saved file>.provenance.json``; returns its path (None: not a local version).

    ``siblings``: the node's other versioned outputs and their versions (e.g. the per-image
    scores saved beside ``prm_imitation_scores``), so a walk names them too."""
    version = dataset.resolve_save_version()
    saved = _versioned_path(dataset, version)
    if saved is None or not saved.exists():
        return None
    own = file_sha256(saved) if saved.is_file() else tree_sha256(saved)
    record = {
        "dataset": name,
        "version": version,
        "node": node,
        "sha256": own,
        "inputs": dict(sorted(sources.items())),
        "siblings": dict(sorted((siblings or {}).items())),
    }
    target = saved.with_name(saved.name + SUFFIX)
    target.write_text(json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    return target


def find_record(data: Path, dataset: str, version: str) -> dict[str, Any] | None:
    for path in sorted(data.rglob(f"{version}/*{SUFFIX}")):
        record = json.loads(path.read_text())
        if record.get("dataset") == dataset:
            record["_file"] = str(path)
            return record
    return None


def manifest_summary(path: Path) -> dict[str, Any]:
    """Model weights hash(es) and the image set of one generation manifest file."""
    import pandas as pd

    manifest = pd.read_parquet(path).sort_values("path")
    images = hashlib.sha256(
        "".join(
            f"{p}|{h}\n" for p, h in zip(manifest["path"], manifest["pixels_sha256"], strict=True)
        ).encode()
    ).hexdigest()
    return {
        "weights_sha256": sorted(manifest["weights_sha256"].unique()),
        "models": sorted(manifest["model"].unique()),
        "n_images": len(manifest),
        "image_set_sha256": images,
    }


def trace(
    data: Path, dataset: str, version: str, depth: int = 0, seen: set | None = None
) -> list[str]:
    """Lines walking ``dataset@version`` back through the provenance records under ``data``."""
    seen = seen if seen is not None else set()
    pad = "  " * depth
    record = find_record(data, dataset, version)
    if record is None:
        return [f"{pad}{dataset} @ {version}: no provenance record under {data}"]
    lines = [f"{pad}{dataset} @ {version} (node {record['node']}, sha256 {record['sha256'][:16]})"]
    for name, sibling in record.get("siblings", {}).items():
        lines.append(f"{pad}  saved with {name} @ {sibling}")
    if dataset == MANIFEST or dataset.endswith(f".{MANIFEST}"):
        saved = Path(record["_file"][: -len(SUFFIX)])
        s = manifest_summary(saved)
        lines.append(f"{pad}  model weights sha256: {', '.join(s['weights_sha256'])}")
        lines.append(
            f"{pad}  image set: {s['n_images']} images of {', '.join(s['models'])}, "
            f"sha256 {s['image_set_sha256']}"
        )
    for name, ref in record["inputs"].items():
        if ref["kind"] == "versioned" and (name, ref["version"]) not in seen:
            seen.add((name, ref["version"]))
            lines += trace(data, name, ref["version"], depth + 1, seen)
        elif ref["kind"] in ("file", "folder"):
            lines.append(f"{pad}  {name}: {ref['kind']} {ref['path']} sha256 {ref['sha256'][:16]}")
        elif ref["kind"] == "partitions":
            lines.append(
                f"{pad}  {name}: {ref['count']} partitions in {ref['path']} (listing "
                f"sha256 {ref.get('listing_sha256', '?')[:16]})"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imitation_kedro.provenance",
        description="Walk a versioned output back to its inputs.",
    )
    parser.add_argument("version", help="the version folder name, e.g. 2026-12-06T19.10.00.000Z")
    parser.add_argument("--dataset", default="out_thresholds")
    parser.add_argument("--data", default="data", type=Path)
    args = parser.parse_args(argv)
    lines = trace(args.data, args.dataset, args.version)
    print("\n".join(lines))
    return 1 if "no provenance record" in lines[0] else 0


if __name__ == "__main__":
    sys.exit(main())
