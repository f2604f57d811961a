"""Images for the sampled caption hits: download (paper) or read shipped shards, then clean.

Shards follow img2dataset's parquet layout (``encode_format: png``): ``key`` (the caption's
SAMPLE_ID as a 9-digit string), ``url``, ``caption``, ``status`` (``success`` or
``failed_to_download``), ``error_message``, ``width``, ``height``, ``png`` (bytes). Dead URLs are
rows with a failure status, so they are counted, never silently dropped.

The shards are written through the catalog entry ``int_downloaded_image_shards`` (a
:class:`~imitation_kedro.datasets.shard_folder.ShardFolder`: atomic writes). The built-in
downloader writes shard ``{shard:05d}`` (requests sorted by key, ``shard_size`` per shard) and
skips a shard whose file already holds exactly its keys: an interrupted download resumed gives the
same shards. ``downloader: img2dataset`` hands the same request list to ``img2dataset.download``
(incremental mode, into the same folder) instead.
"""

from __future__ import annotations

import io
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from imitation_kedro.core.progress import progress
from imitation_kedro.pipelines.frequency.params import AcquisitionParams

if TYPE_CHECKING:
    from imitation_kedro.datasets.shard_folder import ShardFolder

logger = logging.getLogger(__name__)

SHARD_COLUMNS = ["key", "url", "caption", "status", "error_message", "width", "height", "png"]
REJECT_COLUMNS = ["key", "url", "reason", "detail"]
_SHARD_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("url", pa.string()),
        ("caption", pa.string()),
        ("status", pa.string()),
        ("error_message", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("png", pa.binary()),
    ]
)


class AcquisitionError(ValueError):
    """Images cannot be acquired (names the shard, column or key)."""


def sample_key(sample_id: int) -> str:
    """img2dataset-style key of a caption row: its SAMPLE_ID zero-padded to 9 digits."""
    return f"{int(sample_id):09d}"


def download_requests(hits: pd.DataFrame) -> pd.DataFrame:
    """One request per distinct sampled caption row: ``key``, ``url``, ``caption`` (sorted by key)."""
    if hits.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ("key", "url", "caption")})
    req = hits.drop_duplicates("SAMPLE_ID")
    out = pd.DataFrame(
        {
            "key": [sample_key(s) for s in req["SAMPLE_ID"]],
            "url": req["URL"].astype(object).to_numpy(),
            "caption": req["TEXT"].astype(object).to_numpy(),
        }
    )
    return out.sort_values("key", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- reading shards
def load_shard(pid: str, loader: Callable[[], Any] | Any) -> pd.DataFrame:
    """One img2dataset shard with a string ``key`` (img2dataset runs keep our key as
    ``sample_key``); a shard that is not parquet or lacks ``key``/``status``/``png`` raises,
    naming the shard."""
    try:
        data = loader() if callable(loader) else loader
    except Exception as exc:  # noqa: BLE001 - re-raised naming the shard
        raise AcquisitionError(
            f"image shard {pid!r} could not be read as parquet: {type(exc).__name__}: {exc}"
        ) from exc
    if "sample_key" in data.columns:
        data = data.drop(columns=["key"], errors="ignore").rename(columns={"sample_key": "key"})
    missing = [c for c in ("key", "status", "png") if c not in data.columns]
    if missing:
        raise AcquisitionError(
            f"image shard {pid!r} lacks column(s) {missing}; columns found: {list(data.columns)}"
        )
    data = data.copy()
    data["key"] = data["key"].astype(str)
    return data


def read_shards(partitions: Mapping[str, Callable[[], Any]], wanted: set[str]) -> pd.DataFrame:
    """Rows of img2dataset shards whose key is in ``wanted`` (shard by shard; last copy wins).

    A shard that is not parquet or lacks ``key``/``status``/``png`` raises, naming the shard.
    img2dataset runs save our key as ``sample_key`` (its own ``key`` is shard-based): that column
    is used when present.
    """
    parts: list[pd.DataFrame] = []
    for pid in progress(sorted(partitions), desc="image shards", unit="shard"):
        data = load_shard(pid, partitions[pid])
        take = data[data["key"].isin(wanted).to_numpy()].copy()
        if take.empty:
            continue
        for col in SHARD_COLUMNS:
            if col not in take.columns:
                take[col] = None
        parts.append(take[SHARD_COLUMNS])
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SHARD_COLUMNS})
    found = pd.concat(parts, ignore_index=True)
    # Prefer a successful copy of a key over a failed one, then the latest shard.
    found["_ok"] = (found["status"] == "success").astype(int)
    found = found.sort_values(["key", "_ok"], kind="stable").drop_duplicates("key", keep="last")
    return found.drop(columns="_ok").reset_index(drop=True)


# --------------------------------------------------------------------------- downloading
def fetch_url(
    url: str, timeout_s: float, retries: int, user_agent: str
) -> tuple[bytes | None, str | None]:
    """GET ``url`` -> (bytes, None) or (None, error message); retries on errors."""
    error = "no attempt"
    for _ in range(retries + 1):
        try:
            request = urllib.request.Request(url, headers={"User-Agent": user_agent})
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                return response.read(), None
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code != 429:
                break
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    return None, error


def _shard_rows(requests: pd.DataFrame, p: AcquisitionParams) -> pd.DataFrame:
    def one(row: tuple[str, str, str]) -> dict[str, Any]:
        key, url, caption = row
        data, error = fetch_url(str(url), p.timeout_s, p.retries, p.user_agent)
        width = height = None
        if data is not None:
            width, height = _image_size(data)
        return {
            "key": key,
            "url": url,
            "caption": caption,
            "status": "success" if data is not None else "failed_to_download",
            "error_message": error,
            "width": width,
            "height": height,
            "png": data,
        }

    items = list(requests[["key", "url", "caption"]].itertuples(index=False, name=None))
    with ThreadPoolExecutor(max_workers=min(p.threads, max(1, len(items)))) as pool:
        rows = list(pool.map(one, items))
    return pd.DataFrame(rows, columns=SHARD_COLUMNS)


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(img.width), int(img.height)
    except Exception:  # noqa: BLE001 - unreadable images are rejected by cleaning
        return None, None


def download_builtin(
    requests: pd.DataFrame, shards: ShardFolder, p: AcquisitionParams
) -> pd.DataFrame:
    """Download ``requests`` into img2dataset-layout shards; resume by shard; return a summary."""
    summary = []
    chunks = [requests.iloc[i : i + p.shard_size] for i in range(0, len(requests), p.shard_size)]
    for shard, chunk in enumerate(progress(chunks, desc="download shards", unit="shard")):
        name = f"{shard:05d}"
        keys = chunk["key"].tolist()
        status = "downloaded"
        old = shards.read(name)
        if old is not None and old["key"].astype(str).tolist() == keys:
            failed = old["status"] != "success"
            if not (p.retry_failed and failed.any()):
                summary.append({"shard": shard, "rows": len(old), "action": "kept"})
                continue
            redo = _shard_rows(chunk[failed.to_numpy()], p)
            new = pd.concat([old[~failed], redo]).set_index("key").loc[keys].reset_index()
            status = "retried"
        else:
            new = _shard_rows(chunk, p)
        shards.write(
            name,
            pa.Table.from_pandas(new[SHARD_COLUMNS], schema=_SHARD_SCHEMA, preserve_index=False),
        )
        summary.append({"shard": shard, "rows": len(new), "action": status})
    return pd.DataFrame(summary, columns=["shard", "rows", "action"])


def download_img2dataset(
    requests: pd.DataFrame, shards: ShardFolder, p: AcquisitionParams
) -> pd.DataFrame:
    """Run img2dataset (the LAION tool) on the request list; incremental, png, no resizing."""
    try:
        from img2dataset import download
    except ImportError as exc:  # pragma: no cover - depends on the optional 'paper' extra
        raise AcquisitionError(
            "acquisition.downloader is 'img2dataset' but img2dataset is not installed "
            "(pip install img2dataset, in an environment where it fits)"
        ) from exc
    url_list = shards.write_sidecar("requests", requests.rename(columns={"key": "sample_key"}))
    download(**img2dataset_kwargs(url_list, shards.path, p))
    return pd.DataFrame({"shard": [-1], "rows": [len(requests)], "action": ["img2dataset"]})


def img2dataset_kwargs(url_list: Path, folder: Path, p: AcquisitionParams) -> dict[str, Any]:
    """The img2dataset.download arguments equivalent to the built-in downloader's settings."""
    return {
        "url_list": str(url_list),
        "input_format": "parquet",
        "url_col": "url",
        "caption_col": "caption",
        "save_additional_columns": ["sample_key"],
        "output_format": "parquet",
        "output_folder": str(folder),
        "encode_format": "png",
        "resize_mode": "no",
        "timeout": int(p.timeout_s),
        "retries": p.retries,
        "thread_count": p.threads,
        "number_sample_per_shard": p.shard_size,
        "incremental_mode": "incremental",
        "user_agent_token": p.user_agent,
    }


# --------------------------------------------------------------------------- cleaning
def clean_images(
    found: pd.DataFrame, requests: pd.DataFrame, p: AcquisitionParams, log: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply FIT's cleaning rules; return (clean images, rejects with a reason per key).

    Reasons: ``missing`` (no shard row), ``dead_url`` (failed download), ``too_few_bytes``
    (< min_bytes), ``unreadable`` (PIL cannot decode), ``too_small`` (a side < min_side),
    ``not_rgb`` (``convert('RGB')`` fails).
    """
    from PIL import Image

    by_key = found.set_index("key") if not found.empty else None
    clean, rejects = [], []
    for key, url in zip(requests["key"], requests["url"], strict=True):
        if by_key is None or key not in by_key.index:
            rejects.append((key, url, "missing", "no image row for this key"))
            continue
        row = by_key.loc[key]
        data = row["png"]
        if (
            row["status"] != "success"
            or data is None
            or (isinstance(data, float) and np.isnan(data))
        ):
            rejects.append((key, url, "dead_url", str(row.get("error_message") or row["status"])))
            continue
        data = bytes(data)
        if len(data) < p.min_bytes:
            rejects.append((key, url, "too_few_bytes", f"{len(data)} < {p.min_bytes} bytes"))
            continue
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                size = img.size
                try:
                    img.convert("RGB")
                except Exception as exc:  # noqa: BLE001
                    rejects.append((key, url, "not_rgb", f"{type(exc).__name__}: {exc}"))
                    continue
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a reject
            rejects.append((key, url, "unreadable", f"{type(exc).__name__}: {exc}"))
            continue
        if min(size) < p.min_side:
            rejects.append((key, url, "too_small", f"{size[0]}x{size[1]} < {p.min_side}"))
            continue
        clean.append((key, data, int(size[0]), int(size[1])))
    clean_df = pd.DataFrame(clean, columns=["key", "png", "width", "height"])
    rej_df = pd.DataFrame(rejects, columns=REJECT_COLUMNS)
    if log and len(rej_df):
        logger.warning(
            "image cleaning rejected %d of %d images: %s",
            len(rej_df),
            len(requests),
            rej_df["reason"].value_counts().to_dict(),
        )
    return clean_df, rej_df
