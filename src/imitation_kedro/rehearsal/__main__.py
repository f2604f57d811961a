"""``python -m imitation_kedro.rehearsal build [--project .] [--per-set N]``: the rehearsal's inputs.

``--per-set`` (default 12, the threshold stage's ``min_concepts`` is 10) concepts of each set;
``--scale K`` (default 1) builds K times the captions and images of every concept (memory benchmark).

Reads where each input belongs from the ``rehearsal`` env's configuration (catalog paths, weight
paths and hub ids in the parameters), refuses any target outside ``data/rehearsal/``, and skips
what is already there (everything is built deterministically from fixed seeds). Then run::

    HF_HUB_CACHE=data/rehearsal/hf_cache HF_HUB_OFFLINE=1 kedro run --env rehearsal --pipelines fit
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from imitation_kedro.settings import CONFIG_LOADER_ARGS

ENV = "rehearsal"
DATA_ROOT = CONFIG_LOADER_ARGS["env_data_roots"][ENV]  # the loader re-roots the catalog there
log = logging.getLogger("imitation_kedro.rehearsal")


def load_config(project: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rehearsal env's (catalog, parameters), catalog paths under its data root (as a run)."""
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(project / "conf"), env=ENV, **settings.CONFIG_LOADER_ARGS
    )
    return loader["catalog"], loader["parameters"]


class Target:
    """Paths under the rehearsal's data root; anything else is refused."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.root = (project / DATA_ROOT).resolve()

    def __call__(self, relative: str) -> Path:
        path = (self.project / relative).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(
                f"rehearsal build: {relative} is outside {DATA_ROOT}/; point the rehearsal "
                "conf (conf/rehearsal/parameters_*.yml) at a path under it"
            )
        return path


def _entry_path(catalog: dict[str, Any], name: str) -> str:
    entry = catalog[name]
    return entry.get("path") or entry.get("filepath") or entry["dataset"]["filepath"]


def _write_parquet(path: Path, table: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    table.to_parquet(tmp, index=False)
    tmp.replace(path)


def build_data(
    catalog: dict[str, Any], target: Target, per_set: int, max_count: int, scale: int = 1
) -> pd.DataFrame:
    from imitation_kedro.rehearsal import corpus

    concepts = corpus.concept_table(per_set)
    _write_parquet(target(_entry_path(catalog, "raw_concepts")), concepts)
    _write_parquet(
        target(_entry_path(catalog, "raw_reference_images")), corpus.references(concepts, 8)
    )
    counts = corpus.planted_counts(concepts, max_count, scale=scale)
    images = target(f"{DATA_ROOT}/laion_files")
    rows = corpus.captions(concepts, counts, images, filler=5 * len(concepts) * scale)
    for name, table in (
        ("raw_laion_captions", rows),
        ("raw_laion5b_captions", corpus.laion5b(rows)),
    ):
        folder = target(_entry_path(catalog, name))
        for part, shard in corpus.shards(table, 2000).items():
            _write_parquet(folder / f"{part}.parquet", shard)
    _write_parquet(
        target(f"{DATA_ROOT}/planted_counts.parquet"),
        counts.rename("captions_2b_en").reset_index(),
    )
    return concepts


def _hub_id(value: str) -> str:
    return value.removeprefix("hf-hub:")


def build_models(params: dict[str, Any], target: Target) -> None:
    from imitation_kedro.rehearsal import standins
    from imitation_kedro.rehearsal.hf_cache import cache_snapshot

    cache = target(f"{DATA_ROOT}/hf_cache")
    with tempfile.TemporaryDirectory() as tmp:
        for model, settings in params["generation"]["models"].items():
            if model in standins.SD_MODELS:
                seed = sorted(standins.SD_MODELS).index(model)  # each model its own weights
                folder = standins.tiny_stable_diffusion(model, Path(tmp) / model, seed)
                cache_snapshot(cache, settings["checkpoint"], folder)
        gate = params["frequency"]["verification"].get("clip_model")
        if isinstance(gate, str) and gate.startswith("hf-hub:"):
            cache_snapshot(cache, _hub_id(gate), standins.artwork_gate_standin(Path(tmp) / "gate"))
    verification = params["frequency"]["verification"]
    domains = params["similarity"]["domains"]
    onnx = {verification.get("face_model"), domains["faces"]["embedder"]["checkpoint"]}
    detectors = {
        (verification.get("face_detector") or {}).get("path"),
        (domains["faces"]["embedder"].get("detector") or {}).get("path"),
    }
    styles = {verification.get("style_model"), domains["art"]["embedder"]["checkpoint"]}
    for path in filter(None, onnx):
        standins.arcface_standin(target(path))
    for path in filter(None, detectors):
        standins.scrfd_standin(target(path))
    for path in filter(None, styles):
        standins.csd_standin(target(path))


def build(
    project: Path, per_set: int = 12, max_count: int = 60, fresh: bool = False, scale: int = 1
) -> Path:
    """Build every input of ``kedro run --env rehearsal`` under ``data/rehearsal``; returns it.
    ``scale`` multiplies every concept's captions (and images) and the filler rows."""
    catalog, params = load_config(project)
    target = Target(project)
    if fresh and target.root.exists():
        shutil.rmtree(target.root)
    build_data(catalog, target, per_set, max_count, scale)
    build_models(params, target)
    log.info("rehearsal inputs built under %s", target.root)
    return target.root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m imitation_kedro.rehearsal")
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--project", type=Path, default=Path.cwd())
    parser.add_argument("--per-set", type=int, default=12, help="concepts per concept set")
    parser.add_argument("--max-count", type=int, default=60, help="most captions of one concept")
    parser.add_argument("--fresh", action="store_true", help="delete data/rehearsal first")
    parser.add_argument(
        "--scale", type=int, default=1, help="times the captions and images of every concept"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(build(args.project.resolve(), args.per_set, args.max_count, args.fresh, args.scale))


if __name__ == "__main__":
    main()
