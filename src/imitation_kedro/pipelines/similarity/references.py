"""Which images to embed: generations from the manifest and each concept's reference set.

Reference rule (FIT reference 5.1/5.2, rule F6): the verified pre-training images from
``frequency`` when a concept has at least ``min_laion_refs`` of them, else the curated set;
a concept whose chosen set has fewer than ``min_refs`` images is skipped and listed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from imitation_kedro.core.concept_sets import set_map
from imitation_kedro.core.seeding import stable_shard

from .embedding_cache import bytes_digest, content_key, digest
from .params import SimilarityParams

logger = logging.getLogger(__name__)

ITEM_COLUMNS = [
    "image_id", "image_key", "role", "concept", "domain", "model", "prompt_id", "index", "ref_source",
]
REJECT_COLUMNS = ["level", "concept", "domain", "model", "prompt_id", "image_id", "role", "reason"]
MANIFEST_REQUIRED = ["model", "concept", "prompt_id", "index", "path"]
SETTING_COLUMNS = ["prompt", "seed", "steps", "guidance_scale", "height", "width", "scheduler", "dtype"]


def require_columns(frame: pd.DataFrame, columns: Iterable[str], dataset: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{dataset} lacks column(s) {missing}; it has {list(frame.columns)}")


def reject(level: str, concept: str, reason: str, **extra: Any) -> dict[str, Any]:
    row = dict.fromkeys(REJECT_COLUMNS, None)
    row.update(level=level, concept=concept, reason=reason, **extra)
    return row


def rejects_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=REJECT_COLUMNS)
    frame["prompt_id"] = pd.array(frame["prompt_id"], dtype="Int64")
    return frame


def _in_shard(concept: str, params: SimilarityParams) -> bool:
    return params.num_shards == 1 or stable_shard(concept, params.num_shards) == params.shard_index


def _generated_items(
    manifest: pd.DataFrame,
    partition_ids: Mapping[str, Any] | set[str],
    domains: Mapping[str, str],
    rejects: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    items = []
    settings = [c for c in SETTING_COLUMNS if c in manifest.columns]
    for row in manifest.itertuples(index=False):
        rec = row._asdict()
        concept, path = rec["concept"], str(rec["path"])
        domain = domains[concept]
        image_id = f"gen:{path}"
        if path not in partition_ids:
            rejects.append(
                reject("image", concept, "generated image listed in the manifest is missing from "
                       "int_generated_images", domain=domain, model=rec["model"],
                       prompt_id=int(rec["prompt_id"]), image_id=image_id, role="generated")
            )
            continue
        items.append(
            {
                "image_id": image_id,
                "image_key": f"{image_id}#{digest(rec['model'], *(rec[c] for c in settings))}"
                + (content_key(file_bytes_loader(partition_ids[path]))
                   if isinstance(partition_ids, Mapping) else ""),
                "role": "generated", "concept": concept, "domain": domain, "model": str(rec["model"]),
                "prompt_id": int(rec["prompt_id"]), "index": int(rec["index"]), "ref_source": "",
            }
        )
    return items


def _reference_items(
    concept: str, domain: str, frame: pd.DataFrame, source: str, id_column: str
) -> list[dict[str, Any]]:
    items = []
    for ident, png in zip(frame[id_column], frame["png"], strict=True):
        blob = bytes(png) if png is not None else b""
        items.append(
            {
                "image_id": f"{source}:{concept}\x1f{ident}",
                "image_key": f"png#{bytes_digest(blob)}",
                "role": "reference", "concept": concept, "domain": domain, "model": "",
                "prompt_id": -1, "index": int(ident) if source == "curated" else -1, "ref_source": source,
            }
        )
    return items


def plan_items(
    manifest: pd.DataFrame,
    partition_ids: Iterable[str],
    concepts: pd.DataFrame,
    references: pd.DataFrame,
    verified: pd.DataFrame,
    params: SimilarityParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Items to embed (generations and chosen references) and the rejects found while planning."""
    verified = verified_table(verified)
    require_columns(manifest, MANIFEST_REQUIRED, "int_generation_manifest")
    require_columns(concepts, ["concept", "domain"], "raw_concepts")
    require_columns(references, ["concept", "ref_index", "png"], "raw_reference_images")
    require_columns(verified, ["concept", "key", "png"], "int_verified_images")
    if concepts["concept"].duplicated().any():
        dup = concepts.loc[concepts["concept"].duplicated(), "concept"].iloc[0]
        raise ValueError(f"raw_concepts lists concept {dup!r} twice")
    domains = dict(zip(concepts["concept"], concepts["domain"], strict=True))
    for concept in sorted(domains):  # every domain must be configured (error names the concept)
        params.domain(domains[concept], concept)

    rejects: list[dict[str, Any]] = []
    unknown = sorted(set(manifest["concept"]) - set(domains))
    for concept in unknown:
        rejects.append(reject("concept", concept, "generated concept is not in raw_concepts"))
    manifest = manifest[manifest["concept"].isin(domains) & manifest["concept"].map(
        lambda c: _in_shard(c, params))]
    items = _generated_items(
        manifest, partition_ids if isinstance(partition_ids, Mapping) else set(partition_ids),
        domains, rejects,
    )
    with_generations = {it["concept"] for it in items}

    refs_by = dict(tuple(references.groupby("concept", sort=True)))
    laion_by = dict(tuple(verified.drop_duplicates(["concept", "key"]).groupby("concept", sort=True)))
    for concept in sorted(domains):
        if not _in_shard(concept, params):
            continue
        domain = domains[concept]
        if concept not in with_generations:
            rejects.append(reject("concept", concept, "no generated images", domain=domain))
            continue
        settings = params.domain(domain, concept)
        laion = laion_by.get(concept, verified.iloc[:0])
        curated = refs_by.get(concept, references.iloc[:0])
        if len(laion) >= settings.min_laion_refs:
            chosen, source, id_col = laion.sort_values("key"), "laion", "key"
        else:
            chosen, source, id_col = curated.sort_values("ref_index"), "curated", "ref_index"
        if len(chosen) < settings.min_refs:
            rejects.append(
                reject("concept", concept, f"too few references: {len(chosen)} {source} < min_refs "
                       f"{settings.min_refs} (verified {len(laion)}, curated {len(curated)})",
                       domain=domain)
            )
            items = [it for it in items if it["concept"] != concept]
            continue
        items.extend(_reference_items(concept, domain, chosen, source, id_col))
        if source == "laion" and settings.embedder.is_face and len(curated):
            # FIT §5.1: the >= min_laion_refs switch counts the LAION faces left after the
            # one-face filter (scoring); the gold references are the fallback, so embed them too.
            items.extend(_reference_items(
                concept, domain, curated.sort_values("ref_index"), "curated", "ref_index"
            ))
    for rej in rejects:
        if rej["level"] == "concept":
            logger.warning("similarity: skipping concept %r: %s", rej["concept"], rej["reason"])
    frame = pd.DataFrame(items, columns=ITEM_COLUMNS)
    frame.insert(
        ITEM_COLUMNS.index("domain"), "concept_set", frame["concept"].map(set_map(concepts))
    )
    return frame, rejects_frame(rejects)


def verified_table(verified: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame:
    """int_verified_images as one table (concept, key, png): a table as it is, or the partitions
    (one per clean shard, ``frequency``'s streamed output) read in name order."""
    if isinstance(verified, pd.DataFrame):
        return verified
    parts = []
    for name in sorted(verified):
        loader = verified[name]
        part = loader() if callable(loader) else loader
        parts.append(part[[c for c in ("concept", "key", "png") if c in part.columns]])
    if not parts:
        return pd.DataFrame({"concept": pd.Series(dtype=object), "key": pd.Series(dtype=object),
                             "png": pd.Series(dtype=object)})
    return pd.concat(parts, ignore_index=True)


def reference_sources(references: pd.DataFrame, verified: pd.DataFrame) -> dict[str, Any]:
    """``image_id -> png bytes`` for every reference (curated and verified)."""
    verified = verified_table(verified)
    out: dict[str, Any] = {}
    for concept, idx, png in zip(references["concept"], references["ref_index"], references["png"], strict=True):
        out[f"curated:{concept}\x1f{idx}"] = png
    for concept, key, png in zip(verified["concept"], verified["key"], verified["png"], strict=True):
        out[f"laion:{concept}\x1f{key}"] = png
    return out


def generated_source(partitions: Mapping[str, Any], image_id: str) -> Any:
    """The source of a generated image: its file's bytes (a loader), read and decoded in a worker."""
    return file_bytes_loader(partitions[image_id.removeprefix("gen:")])


def file_bytes_loader(loader: Any) -> Any:
    """For a ``pillow.ImageDataset`` partition loader: a loader of the file's raw bytes.

    ``ImageDataset.load`` decodes and then copies the whole image (``Image.open(f).copy()``);
    the workers decode the bytes themselves (same PIL decoder, same rejects), saving the copy.
    Anything else (another dataset type, a PIL image, bytes) is returned unchanged.
    """
    dataset = getattr(loader, "__self__", None)
    if getattr(loader, "__name__", "") != "load" or type(dataset).__name__ != "ImageDataset":
        return loader
    if not all(hasattr(dataset, a) for a in ("_fs", "_get_load_path", "_protocol")):
        return loader

    def read() -> bytes:
        from kedro.io.core import get_filepath_str

        path = get_filepath_str(dataset._get_load_path(), dataset._protocol)
        with dataset._fs.open(path, "rb") as fh:
            return fh.read()

    return read
