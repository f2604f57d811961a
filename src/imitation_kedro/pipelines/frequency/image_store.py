"""Images streamed one shard at a time: raw img2dataset shards -> clean shards -> verified shards.

Memory holds one shard of images at a time, never the whole sample (FIT: 2-3 M celebrity images):

* :func:`choose_sources` reads each raw shard once for its keys and statuses only and picks, per
  requested key, the shard that supplies it (a successful copy over a failed one, then the last
  shard in name order);
* :func:`collect_clean` reads the raw shards again one at a time, cleans the chosen rows (FIT §3.2
  rules, :func:`~imitation_kedro.pipelines.frequency.acquisition.clean_images`) and writes each
  clean shard atomically through a :class:`~imitation_kedro.datasets.shard_folder.ShardFolder`.
  It returns a small index (key, shard, width, height, bytes): the index, not the folder listing,
  says which clean images exist, so shards left by an earlier run are never read;
* :func:`iter_image_shards` hands verification one clean shard at a time; verified images go
  back out as a partitioned store of lazily built shards (:func:`image_store_output`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from imitation_kedro.core.progress import progress
from imitation_kedro.pipelines.frequency.acquisition import (
    REJECT_COLUMNS,
    AcquisitionError,
    clean_images,
    load_shard,
)
from imitation_kedro.pipelines.frequency.params import AcquisitionParams

if TYPE_CHECKING:
    from imitation_kedro.datasets.shard_folder import ShardFolder

logger = logging.getLogger(__name__)

INDEX_COLUMNS = ["key", "shard", "width", "height", "bytes"]
_CLEAN_SCHEMA = pa.schema(
    [("key", pa.string()), ("png", pa.binary()), ("width", pa.int64()), ("height", pa.int64())]
)


def choose_sources(partitions: Mapping[str, Callable[[], Any]], wanted: set[str]) -> dict[str, str]:
    """Requested key -> the raw shard that supplies it (success first, then the last shard)."""
    best: dict[str, tuple[int, str]] = {}
    for pid in progress(sorted(partitions), desc="image shards (keys)", unit="shard"):
        data = load_shard(pid, partitions[pid])
        take = data.loc[data["key"].isin(wanted).to_numpy(), ["key", "status"]]
        del data
        for key, status in zip(take["key"], take["status"], strict=True):
            ok = int(status == "success")
            if key not in best or ok >= best[key][0]:
                best[key] = (ok, pid)
    return {key: pid for key, (_, pid) in best.items()}


def collect_clean(
    partitions: Mapping[str, Callable[[], Any]],
    requests: pd.DataFrame,
    store: ShardFolder,
    p: AcquisitionParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean the requested images shard by shard into ``store``; return (index, rejects)."""
    source = choose_sources(partitions, set(requests["key"]))
    by_shard: dict[str, list[str]] = {}
    for key, pid in source.items():
        by_shard.setdefault(pid, []).append(key)
    index, rejects = [], []
    missing = requests[~requests["key"].isin(source)]
    if len(missing):
        rejects.append(
            pd.DataFrame(
                {"key": missing["key"], "url": missing["url"], "reason": "missing",
                 "detail": "no image row for this key"}
            )
        )
    for n, pid in enumerate(progress(sorted(by_shard), desc="clean shards", unit="shard")):
        data = load_shard(pid, partitions[pid])
        keys = set(by_shard[pid])
        found = data[data["key"].isin(keys).to_numpy()]
        ok = (found["status"] == "success").astype(int)  # within a shard: a successful copy
        found = found.assign(_ok=ok).sort_values(["key", "_ok"], kind="stable")
        found = found.drop_duplicates("key", keep="last").drop(columns="_ok")
        del data
        wanted = requests[requests["key"].isin(keys)]
        clean, rej = clean_images(found, wanted, p, log=False)
        rejects.append(rej)
        name = f"clean-{n:05d}"
        store.write(
            name,
            pa.Table.from_pandas(
                clean[["key", "png", "width", "height"]], schema=_CLEAN_SCHEMA,
                preserve_index=False,
            ),
        )
        index.append(
            pd.DataFrame(
                {"key": clean["key"], "shard": name, "width": clean["width"],
                 "height": clean["height"], "bytes": clean["png"].map(len).astype("int64")}
            )
        )
    rej_df = (
        pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(columns=REJECT_COLUMNS)
    )
    order = {k: i for i, k in enumerate(requests["key"])}
    rej_df = rej_df.sort_values("key", key=lambda k: k.map(order)).reset_index(drop=True)
    idx = pd.concat(index, ignore_index=True) if index else pd.DataFrame(columns=INDEX_COLUMNS)
    idx = idx.sort_values("key", kind="mergesort").reset_index(drop=True)
    if len(rej_df):
        logger.warning(
            "image cleaning rejected %d of %d images: %s",
            len(rej_df), len(requests), rej_df["reason"].value_counts().to_dict(),
        )
    return idx.astype({"width": "int64", "height": "int64", "bytes": "int64"}), rej_df[
        REJECT_COLUMNS
    ]


def iter_image_shards(
    clean: Mapping[str, Callable[[], Any]] | pd.DataFrame, index: pd.DataFrame | None = None
) -> Iterator[tuple[str, pd.DataFrame]]:
    """(shard name, key + png of its clean images), one shard in memory at a time.

    ``clean`` is the partitioned clean store (``index`` lists the shards and keys of this run) or
    one table (a single shard ``all``).
    """
    if isinstance(clean, pd.DataFrame):
        yield "all", clean[["key", "png"]]
        return
    if index is None:
        raise AcquisitionError("a partitioned clean-image store needs its index (int_clean_images)")
    for name, keys in index.groupby("shard", sort=True)["key"]:
        yield str(name), _shard_images(clean, str(name), set(keys))


def _shard_images(clean: Mapping[str, Callable[[], Any]], name: str, keys: set[str]) -> pd.DataFrame:
    if name not in clean:
        raise AcquisitionError(
            f"clean image shard {name!r} listed in int_clean_images is missing from the store: "
            "rerun collect_images"
        )
    data = clean[name]()
    data = data[data["key"].astype(str).isin(keys)]
    return data[["key", "png"]].astype({"key": str})


def verified_shard(
    clean: Mapping[str, Callable[[], Any]], name: str, pairs: pd.DataFrame
) -> pd.DataFrame:
    """concept, key, png of the verified ``pairs`` (concept, key, boxes) of clean shard ``name``."""
    images = _shard_images(clean, name, set(pairs["key"]))
    return face_crops(pairs.merge(images, on="key", how="left"))


def face_crops(verified: pd.DataFrame, margin: float = 0.5) -> pd.DataFrame:
    """One row per matched face for the faces method (FIT §5.1: every matched LAION face is a
    reference, a group photo's matching face cropped with ``margin`` x its size around it);
    key ``<image key>_f<i>``. Rows without boxes (other methods) stay whole images."""
    from PIL import Image

    if "boxes" not in verified.columns:
        return verified[["concept", "key", "png"]].reset_index(drop=True)
    rows = []
    for concept, key, png, boxes in zip(
        verified["concept"], verified["key"], verified["png"], verified["boxes"], strict=True
    ):
        if boxes is None or (isinstance(boxes, float) and pd.isna(boxes)):
            rows.append((concept, key, png))
            continue
        with Image.open(io.BytesIO(bytes(png))) as img:
            img = img.convert("RGB")
            for i, (left, top, right, bottom) in enumerate(boxes):
                w, h = right - left, bottom - top
                box = (max(0, int(left - margin * w)), max(0, int(top - margin * h)),
                       min(img.width, int(right + margin * w)),
                       min(img.height, int(bottom + margin * h)))
                buf = io.BytesIO()
                img.crop(box).save(buf, format="PNG")
                rows.append((concept, f"{key}_f{i}", buf.getvalue()))
    return pd.DataFrame(rows, columns=["concept", "key", "png"])


def image_store_output(
    clean: Mapping[str, Callable[[], Any]] | pd.DataFrame, pairs: dict[str, pd.DataFrame]
) -> Any:
    """Verified images as the input came: one table for a table; else one partition per clean
    shard, each built when saved (lazy saving: one shard of images in memory at a time)."""
    if isinstance(clean, pd.DataFrame):
        frames = [face_crops(p.merge(clean[["key", "png"]], on="key", how="left"))
                  for p in pairs.values()]
        if not frames:
            return pd.DataFrame({"concept": [], "key": [], "png": []})
        return pd.concat(frames, ignore_index=True)
    return {name: partial(verified_shard, clean, name, p) for name, p in pairs.items()}
