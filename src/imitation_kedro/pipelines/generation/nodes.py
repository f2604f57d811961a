"""Nodes of the `generation` pipeline: prompts -> plan -> images -> manifests -> grids.

Pure functions of their inputs; the model arrives as a catalog dataset, images leave as lazy
callables that ``int_generated_images`` evaluates one batch at a time, and what rendering did
(durations, settings used) leaves as a saved record that the manifest node reads back.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pandas as pd

from imitation_kedro.core.devices import resolve_device
from imitation_kedro.core.generation_params import GenerationParams, GridSettings
from imitation_kedro.core.params import FromBlock
from imitation_kedro.models.fingerprint import config_sha256, pipeline_weights_sha256
from imitation_kedro.pipelines.generation import render
from imitation_kedro.pipelines.generation.fingerprint import image_record, stale_reason
from imitation_kedro.pipelines.generation.grids import (
    concept_mosaic,
    grid_paths,
    overview_figure,
    pick_concepts,
)
from imitation_kedro.pipelines.generation.prompts import PROMPT_COLUMNS, build_prompt_rows
from imitation_kedro.pipelines.generation.resume import (
    CORRUPT,
    EXISTING,
    STALE,
    TODO,
    mark_existing,
)
from imitation_kedro.pipelines.generation.sharding import (
    parse_shard_partition,
    select_shard,
    shard_partition,
)

logger = logging.getLogger(__name__)

MANIFEST_SETTINGS = [
    "steps", "guidance_scale", "height", "width", "scheduler", "dtype", "negative_prompt",
    "safety_checker", "checkpoint", "pipeline_class", "device", "batch_invariant",
    "weights_sha256", "diffusers_version", "torch_version",
]
"""Columns taken from each image's render record: what it was made with, not this call's
parameters."""
RUN_COLUMNS = ["shard", "status", "status_reason"]
"""Shard-manifest columns that describe one run, left out of the merged manifest so that
reruns, batch sizes and shard counts give the same bytes."""
STATUS_IN_MANIFEST = {
    TODO: "generated", CORRUPT: "regenerated", STALE: "rerendered", EXISTING: "existing"
}


def build_prompt_table(raw_concepts: pd.DataFrame, params: GenerationParams) -> pd.DataFrame:
    """One row per (model, concept, prompt_id, index) with prompt, seed and partition id."""
    return build_prompt_rows(
        raw_concepts, params.templates, params.model, params.images_per_prompt, params.seed_mode
    )


def plan_generation(
    prompt_table: pd.DataFrame,
    existing_images: dict[str, Callable[[], Any]],
    params: GenerationParams,
) -> pd.DataFrame:
    """This shard's rows, each marked existing (complete on disk), todo or corrupt (redo)."""
    rows = select_shard(prompt_table, params.shard_index, params.num_shards)
    if rows.empty:
        logger.warning(
            "generation: shard %d of %d owns no image of the %d planned",
            params.shard_index,
            params.num_shards,
            len(prompt_table),
        )
    return mark_existing(rows, existing_images)


def _check_checkpoint(pipe: Any, params: GenerationParams) -> str:
    loaded = str(getattr(pipe, "name_or_path", "") or "")
    wanted = params.settings.checkpoint
    if wanted and loaded and not _same_checkpoint(loaded, wanted):
        raise ValueError(
            f"generation.model is {params.model!r} with checkpoint {wanted!r}, but the catalog "
            f"entry mdl_t2i loaded {loaded!r}; run with --params "
            f"generation.model={params.model} so both agree (see conf/paper/catalog_generation.yml)"
        )
    return loaded or wanted or ""


def _same_checkpoint(loaded: str, wanted: str) -> bool:
    """``loaded`` is ``wanted`` itself, or the hub cache snapshot of the hub id ``wanted``."""
    loaded, wanted = loaded.rstrip("/"), wanted.rstrip("/")
    return loaded == wanted or f"/models--{wanted.replace('/', '--')}/snapshots/" in loaded


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return ""


def generate_images(
    generation_plan: pd.DataFrame, t2i_pipeline: Any, params: GenerationParams
) -> tuple[dict[str, Callable[[], Any]], dict[str, render.RenderLog]]:
    """Lazy ``{partition id: render callable}`` for the images missing or stale, and this
    shard's lazy render log ``{shard partition: log}``, which rendering fills (durations, the
    record each image was made with) and which is saved after the images.

    An image on disk is reused only when the fingerprint stored in it (model weights hash,
    scheduler, sampling settings, size, prompt, seed) equals the current one; the log says how
    many were reused and why the others were not.
    """
    device = resolve_device(params.speed.device, "generation.speed.device")
    model_record = _model_record(t2i_pipeline, params, device)
    log = render.RenderLog(settings=model_record)
    logs = {shard_partition(params.model, params.shard_index, params.num_shards): log}
    plan = generation_plan.assign(status=generation_plan["status"].astype(object))
    records = {
        path: image_record(model_record, prompt, seed)
        for path, prompt, seed in zip(plan["path"], plan["prompt"], plan["seed"], strict=True)
    }
    for i, row in enumerate(plan.itertuples(index=False)):
        if row.status != EXISTING:
            continue
        stored = json.loads(row.stored_record) if row.stored_record else None
        reason = stale_reason(stored, records[row.path])
        if reason:
            plan.iat[i, plan.columns.get_loc("status")] = STALE
            plan.iat[i, plan.columns.get_loc("status_reason")] = reason
        else:
            log.images[row.path] = {"record": stored, "pixels_sha256": row.pixels_sha256}
    for path, status, reason in zip(plan["path"], plan["status"], plan["status_reason"], strict=True):
        log.images.setdefault(path, {}).update(status=STATUS_IN_MANIFEST[status], reason=reason)
    _log_reuse(plan)
    todo = plan[plan["status"] != EXISTING]
    if todo.empty:
        return {}, logs
    prepare = functools.partial(_prepare, params=params, device=device)
    renderer = render.BatchRenderer(
        t2i_pipeline, todo, params.batch_size, prepare, params.settings, log,
        desc=f"generate {params.model}", records=records,
    )
    # partial binds each path now: no late-binding closure over the loop variable.
    return {path: functools.partial(renderer.image, path) for path in renderer.paths()}, logs


def _model_record(pipe: Any, params: GenerationParams, device: str) -> dict[str, Any]:
    """The model-level half of every image's render record (see ``fingerprint.py``)."""
    s = params.settings
    _check_checkpoint(pipe, params)
    size = (s.width, s.height) if s.width is not None else render.default_size(pipe)
    scheduler = getattr(pipe, "scheduler", None)
    return {
        "weights_sha256": pipeline_weights_sha256(pipe),
        "pipeline_class": type(pipe).__name__,
        "scheduler": s.scheduler or type(scheduler).__name__,
        "scheduler_config_sha256": config_sha256(getattr(scheduler, "config", None)),
        "steps": s.steps,
        "guidance_scale": s.guidance_scale,
        "width": size[0] if size else None,
        "height": size[1] if size else None,
        "dtype": s.dtype,
        "negative_prompt": s.negative_prompt,
        "safety_checker": s.safety_checker,
        "batch_invariant": params.speed.batch_invariant,
        "device_kind": device.split(":")[0],
        "device": device,
        # The configured id, not the local folder it resolved to: the bytes of an image must
        # not depend on where the weights sit (the weights hash identifies them).
        "checkpoint": s.checkpoint or "",
        "diffusers_version": _package_version("diffusers"),
        "torch_version": _package_version("torch"),
    }


def _log_reuse(plan: pd.DataFrame) -> None:
    reasons = plan.loc[plan["status"] != EXISTING, "status_reason"].value_counts()
    logger.info(
        "generation: %d images planned, %d reused (fingerprint matches), %d to render%s",
        len(plan), int((plan["status"] == EXISTING).sum()), int(reasons.sum()),
        "".join(f"; {n} {reason}" for reason, n in reasons.items()),
    )


def _prepare(pipe: Any, params: GenerationParams, device: str) -> dict[str, Any]:
    return render.prepare_pipeline(pipe, params.settings, params.speed, device)


def write_shard_manifest(
    generation_plan: pd.DataFrame,
    generated_images: dict[str, Callable[[], Any]],
    render_logs: dict[str, Callable[[], dict[str, Any]]],
    params: GenerationParams,
) -> dict[str, pd.DataFrame]:
    """This shard's manifest: one row per planned image with the settings it was actually
    made with (for a reused image, the record stored in its file), its fingerprint and pixel
    hash, after checking that each planned image is on disk and in the saved render log."""
    missing = sorted(set(generation_plan["path"]) - set(generated_images))
    if missing:
        raise ValueError(
            f"{len(missing)} planned image(s) are not in int_generated_images, e.g. {missing[:3]}"
        )
    shard = shard_partition(params.model, params.shard_index, params.num_shards)
    if shard not in render_logs:
        raise ValueError(
            f"no render log {shard!r} in int_generation_render_logs (have "
            f"{sorted(render_logs)[:5]}): run generate_images for this shard first"
        )
    log = render_logs[shard]()
    images: dict[str, dict[str, Any]] = log.get("images", {})
    unrecorded = sorted(p for p in generation_plan["path"] if "record" not in images.get(p, {}))
    if unrecorded:
        raise RuntimeError(
            f"{len(unrecorded)} image(s) have no render record in int_generation_render_logs "
            f"{shard!r} (e.g. {unrecorded[:3]}): the log must be saved after int_generated_images"
        )
    manifest = generation_plan[PROMPT_COLUMNS + ["shard"]].copy()
    entries = [images[p] for p in manifest["path"]]
    manifest["status"] = [e["status"] for e in entries]
    manifest["status_reason"] = [e.get("reason", "") for e in entries]
    for column in MANIFEST_SETTINGS:
        manifest[column] = [e["record"].get(column) for e in entries]
    manifest["negative_prompt"] = manifest["negative_prompt"].fillna("")
    manifest["fingerprint"] = [e["record"]["fingerprint"] for e in entries]
    manifest["pixels_sha256"] = [e["pixels_sha256"] for e in entries]
    manifest = manifest.astype({"height": "int64", "width": "int64", "steps": "int64"})
    if log["durations"]:
        logger.info(
            "generation: rendered %d images in %d batches (%.2f images/s), peak %d held in memory",
            len(log["durations"]),
            log["batches"],
            log["images_per_s"] or float("nan"),
            log["peak_cached_images"],
        )
    return {shard: manifest}


def _complete_shards(model: str, found: dict[int, list[int]], wanted_n: int | None) -> int:
    """The shard count whose manifests are all present for ``model``; raises otherwise."""
    if wanted_n is not None:
        have = found.get(wanted_n, [])
        lacking = sorted(set(range(wanted_n)) - set(have))
        if lacking:
            raise ValueError(
                f"model {model!r}: shard manifest(s) {lacking} of {wanted_n} are missing; run "
                "those shards (kedro run --pipelines generation --tags shard --params "
                "generation.shard_index=I,...) before merging"
            )
        return wanted_n
    complete = [n for n, have in found.items() if sorted(have) == list(range(n))]
    if len(complete) != 1:
        raise ValueError(
            f"model {model!r}: shard manifests do not form one complete set (found "
            f"{ {n: sorted(h) for n, h in found.items()} }); delete the stale ones"
        )
    return complete[0]


def merge_generation_manifests(
    shard_manifests: dict[str, Callable[[], pd.DataFrame]],
    prompt_table: pd.DataFrame,
    params: GenerationParams,
) -> pd.DataFrame:
    """Union of the shard manifests of every model on disk: the table `similarity` reads.

    The current model must be covered exactly (every planned image once); other models (from
    earlier runs with another ``generation.model``) must have a complete set of shards.
    """
    by_model: dict[str, dict[int, list[int]]] = {}
    for partition in shard_manifests:
        model, i, n = parse_shard_partition(partition)
        by_model.setdefault(model, {}).setdefault(n, []).append(i)
    if params.model not in by_model:
        raise ValueError(
            f"no shard manifest for model {params.model!r}; found models {sorted(by_model)}"
        )
    frames = []
    for model, found in sorted(by_model.items()):
        n = _complete_shards(model, found, params.num_shards if model == params.model else None)
        stale = sorted(k for k in found if k != n)
        if stale:
            logger.warning(
                "model %r: ignoring stale shard manifests for num_shards %s", model, stale
            )
        frames.extend(shard_manifests[shard_partition(model, i, n)]() for i in range(n))
    manifest = pd.concat(frames, ignore_index=True)
    dupes = manifest["path"][manifest["path"].duplicated()]
    if not dupes.empty:
        raise ValueError(
            f"{len(dupes)} image(s) appear in two shard manifests, e.g. {dupes.iloc[0]!r}"
        )
    current = set(manifest.loc[manifest["model"] == params.model, "path"])
    planned = set(prompt_table["path"])
    if current != planned:
        gaps, extra = sorted(planned - current), sorted(current - planned)
        raise ValueError(
            f"model {params.model!r}: merged manifest differs from the prompt table "
            f"({len(gaps)} missing e.g. {gaps[:3]}, {len(extra)} unexpected e.g. {extra[:3]}); "
            "rerun the shards with the current parameters"
        )
    manifest = manifest.drop(columns=[c for c in RUN_COLUMNS if c in manifest.columns])
    return manifest.sort_values("path", kind="stable").reset_index(drop=True)


def plot_generation_grids(
    generation_manifest: pd.DataFrame,
    generated_images: dict[str, Callable[[], Any]],
    model: str,
    grid: FromBlock[GridSettings],
) -> tuple[Any, dict[str, Callable[[], Any]]]:
    """An overview figure (sampled concepts x first images per prompt) for kedro-viz, and one
    lazily built mosaic per concept at ``{model}/{slug}``; ``grid`` is ``generation.grid``."""
    manifest = generation_manifest[generation_manifest["model"] == model]
    concepts = pick_concepts(manifest, grid.max_concepts)
    figure = overview_figure(
        manifest,
        generated_images,
        concepts,
        grid.images_per_prompt,
        title=f"{model}: first {grid.images_per_prompt} image(s) per prompt",
    )
    mosaics: dict[str, Callable[[], Any]] = {}
    for slug, rows in manifest.groupby("slug", sort=True):
        paths = grid_paths(rows, grid.images_per_prompt)
        mosaics[f"{model}/{slug}"] = functools.partial(
            concept_mosaic, paths, generated_images
        )
    return figure, mosaics
