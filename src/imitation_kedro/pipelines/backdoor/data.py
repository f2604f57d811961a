"""Image-text pair tables: partitions, column checks, labels, classes, splits.

Mode-independent: no image is read or decoded here (the pair source does that, eager or
streaming: :mod:`.source`). No torch here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .params import DataParams

logger = logging.getLogger(__name__)

PAIR_COLUMNS = ["key", "png", "caption", "label"]


class BackdoorDataError(ValueError):
    """The pairs or classes given to the backdoor pipeline cannot be used."""


def concat_partitions(partitions: Mapping[str, Any] | pd.DataFrame) -> pd.DataFrame:
    """One table from a PartitionedDataset load (id -> callable or DataFrame), in id order."""
    if isinstance(partitions, pd.DataFrame):
        return partitions.reset_index(drop=True)
    frames = []
    for pid in sorted(partitions):
        part = partitions[pid]
        frame = part() if callable(part) else part
        if not isinstance(frame, pd.DataFrame):
            raise BackdoorDataError(f"partition {pid!r} is not a table ({type(frame).__name__})")
        frames.append(frame)
    if not frames:
        raise BackdoorDataError("the image-text pair dataset has no partitions")
    return pd.concat(frames, ignore_index=True)


def _label_matcher(concepts: pd.DataFrame) -> Callable[[str], str | None]:
    """Caption -> the one concept it names as a whole phrase (name or alias), else None."""
    names: dict[str, str] = {}
    for row in concepts.itertuples(index=False):
        raw_aliases = getattr(row, "aliases", None)  # list, numpy array (parquet) or None
        aliases = [] if raw_aliases is None else list(raw_aliases)
        for phrase in [row.concept, *aliases]:
            phrase = str(phrase).strip().lower()
            if phrase:
                names.setdefault(phrase, row.concept)
    if not names:
        return lambda caption: None
    ordered = sorted(names, key=len, reverse=True)
    pattern = re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, ordered)) + r")(?![a-z0-9])")

    def match(caption: str) -> str | None:
        found = {names[m] for m in pattern.findall(str(caption or "").lower())}
        return found.pop() if len(found) == 1 else None

    return match


def eval_table_pairs(table: pd.DataFrame, concepts: pd.DataFrame) -> pd.DataFrame:
    """A separate evaluation set (ImageNet val ``image,label`` or world references
    ``concept,png``) as pairs with a class-name ``label``; integer labels index ``concepts``.

    The table's images are already attached by the pair source (``png`` bytes, or ``image``
    paths joined with ``data.eval_image_root``: ``PairSource.attach_images``).
    """
    names = concepts["concept"].tolist()
    if "label" in table.columns:
        labels = table["label"]
        if pd.api.types.is_integer_dtype(labels):
            bad = labels[(labels < 0) | (labels >= len(names))]
            if len(bad):
                raise BackdoorDataError(
                    f"evaluation label {bad.iloc[0]} outside the {len(names)} classes"
                )
            index = labels.astype(int)
            labels = labels.map(lambda i: names[i])
        else:
            first = first_index(names)
            index = labels.map(lambda c: first.get(c, -1))
    elif "concept" in table.columns:
        labels = table["concept"]
        first = first_index(names)
        index = labels.map(lambda c: first.get(c, -1))
    else:
        raise BackdoorDataError(
            f"evaluation table needs `label` or `concept`: {list(table.columns)}"
        )
    keys = table["key"].astype(str) if "key" in table.columns else "eval-" + table.index.astype(str)
    images = {"png": table["png"]} if "png" in table.columns else {"image": table["image"]}
    return pd.DataFrame(
        {
            "key": keys,
            **images,
            "caption": labels.astype(str),
            "label": labels.astype(str),
            "label_index": np.asarray(index, dtype=np.int64),
        }
    )


def first_index(names: list[str]) -> dict[str, int]:
    """Class name -> its first index (a name may repeat: CLIP's "missile" 657/744)."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        first.setdefault(name, i)
    return first


def label_indices(
    split: pd.DataFrame, classes: list[str], eval_index: dict[str, int] | None
) -> pd.Series:
    """Class index per pair: the evaluation table's own index where it has one (index-based
    classes, the paper's), else the first class of that name; -1 for unlabelled pairs."""
    first = first_index(classes)
    index = split["label"].map(lambda c: first.get(c, -1) if isinstance(c, str) else -1)
    if eval_index:
        own = split["key"].map(eval_index)
        index = own.where(own.notna() & (split["split"] != "pretrain"), index)
    return index.astype(np.int64)


def table_rows(raw_pairs: pd.DataFrame, concepts: pd.DataFrame, params: DataParams) -> pd.DataFrame:
    """Column checks, img2dataset status filter, unique keys, ``max_pairs`` sample, labels.

    Reads no image: the pair source has already attached ``png`` bytes or ``image`` paths.
    """
    missing = [
        c
        for c in ("png", "caption")
        if c not in raw_pairs.columns and not (c == "png" and "image" in raw_pairs.columns)
    ]
    if missing:
        raise BackdoorDataError(
            f"image-text pairs lack column(s) {missing}; got {list(raw_pairs.columns)}"
        )
    if "concept" not in concepts.columns:
        raise BackdoorDataError(f"concepts table lacks column 'concept': {list(concepts.columns)}")
    pairs = raw_pairs.copy()
    if "status" in pairs.columns:  # img2dataset layout: only successful downloads carry images
        pairs = pairs[pairs["status"].fillna("success") == "success"]
    pairs["key"] = pairs["key"].astype(str) if "key" in pairs.columns else pairs.index.astype(str)
    if pairs["key"].duplicated().any():
        dup = pairs.loc[pairs["key"].duplicated(), "key"].iloc[0]
        raise BackdoorDataError(f"duplicate pair key {dup!r} in the image-text pairs")
    if params.max_pairs and len(pairs) > params.max_pairs:
        pairs = pairs.sample(n=params.max_pairs, random_state=params.seed % 2**32)
    if "label" not in pairs.columns:
        matcher = _label_matcher(concepts)
        pairs["label"] = [matcher(c) for c in pairs["caption"]]
    return pairs


def captioned_rows(pairs: pd.DataFrame, rejects: list[dict[str, str]]) -> Iterator[Any]:
    """The rows of ``pairs`` with a caption, in order; an empty caption is a counted reject."""
    for row in pairs.itertuples(index=False):
        caption = str(row.caption) if isinstance(row.caption, str) else ""
        if not caption.strip():
            rejects.append({"key": row.key, "reason": "empty caption"})
            continue
        yield row


def finish_pairs(
    out: pd.DataFrame, rejects: list[dict[str, str]], n_in: int, columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalise labels, log the rejects by reason, refuse an empty result."""
    out["label"] = out["label"].astype(object).where(out["label"].notna(), None)
    reject_df = pd.DataFrame(rejects, columns=["key", "reason"])
    if len(reject_df):
        logger.warning(
            "backdoor: rejected %d of %d pairs (%s)",
            len(reject_df),
            n_in,
            reject_df["reason"].value_counts().to_dict(),
        )
    if out.empty:
        raise BackdoorDataError("no usable image-text pairs left after decoding")
    return out[columns].reset_index(drop=True), reject_df


def choose_classes(
    pairs: pd.DataFrame,
    target: str | None,
    params: DataParams,
    target_rank: int = 0,
    concepts: pd.DataFrame | None = None,
) -> tuple[list[str], str]:
    """Zero-shot classes and the attack target among them.

    ``data.class_order: file``: every row of the class file, in file order (index-based, as
    the paper: CLIP's 1,000 ImageNet names, duplicates kept). ``frequency``: the most frequent
    labelled concepts, sorted by name; ``target=None`` picks the class ranked ``target_rank`` by
    labelled pairs (0 = most frequent).
    """
    if params.class_order == "file":
        if concepts is None:
            raise BackdoorDataError("data.class_order: file needs the class file")
        classes = [str(c) for c in concepts["concept"]]
        if target is None or target not in classes:
            raise BackdoorDataError(
                f"attack target {target!r} is not a row of the class file ({len(classes)} "
                "classes); name one of its classes in attack.target"
            )
        return classes, target
    counts = pairs["label"].dropna().value_counts()
    counts = counts[counts >= params.min_class_pairs]
    ranked = sorted(counts.index, key=lambda c: (-counts[c], c))
    classes = ranked[: params.n_classes] if params.n_classes else ranked
    if len(classes) < 2:
        raise BackdoorDataError(
            f"only {len(classes)} class(es) have >= {params.min_class_pairs} labelled pairs; "
            "zero-shot evaluation needs at least 2"
        )
    if target is None:
        if not 0 <= target_rank < len(classes):
            raise BackdoorDataError(
                f"attack.target_rank={target_rank} but only {len(classes)} classes"
            )
        target = classes[target_rank]
    if target not in classes:
        raise BackdoorDataError(
            f"attack target {target!r} is not in the class list {classes} "
            f"(its labelled pairs: {int(pairs['label'].eq(target).sum())})"
        )
    return sorted(classes), target


def split_pairs(
    pairs: pd.DataFrame,
    classes: list[str],
    params: DataParams,
    eval_pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Add ``split`` (test, selection, pretrain) with a seeded shuffle.

    With ``eval_pairs`` (``data.eval_source: table``) test and selection come from that separate
    set (ImageNet val at paper scale) and every corpus pair is a pre-training pair.
    """
    rng = np.random.default_rng(params.seed)
    if eval_pairs is not None:
        ev = eval_pairs[eval_pairs["label"].isin(classes)].reset_index(drop=True)
        need = params.n_test + params.n_selection
        if len(ev) < need:
            raise BackdoorDataError(
                f"evaluation table has {len(ev)} usable rows, fewer than "
                f"n_test + n_selection = {need}"
            )
        order = rng.permutation(len(ev))
        split = np.full(len(ev), "drop", dtype=object)
        split[order[: params.n_test]] = "test"
        split[order[params.n_test : need]] = "selection"
        ev = ev.assign(split=split)
        ev = ev[ev["split"] != "drop"]
        return pd.concat([pairs.assign(split="pretrain"), ev], ignore_index=True)
    in_class = pairs["label"].isin(classes)
    labelled = pairs.index[in_class].to_numpy().copy()
    rng.shuffle(labelled)
    need = params.n_test + params.n_selection
    if len(labelled) <= need:
        raise BackdoorDataError(
            f"{len(labelled)} labelled pairs cannot fill n_test={params.n_test} + "
            f"n_selection={params.n_selection} and leave pairs for pre-training"
        )
    split = pd.Series("pretrain", index=pairs.index, dtype=object)
    split[labelled[: params.n_test]] = "test"
    split[labelled[params.n_test : need]] = "selection"
    out = pairs.assign(split=split)
    if not params.unlabelled_in_pretraining:
        out = out[in_class]
    return out.reset_index(drop=True)
