"""The rehearsal's data: paper-shape concept tables, references and a LAION-schema corpus.

Concept names are the paper's real ones (``/work/shared/data``: celebrities, politicians, classical
artists) plus :data:`MODERN_ARTISTS`, an invented stand-in for the unpublished modern set. Each
concept is planted in a deterministic number of captions on a log ladder (1 .. ``max_count``),
written as LAION-2B-en metadata shards (``SAMPLE_ID``, ``URL``, ``TEXT``, ``WIDTH``, ``HEIGHT``,
``similarity``, ``LICENSE``, ``NSFW``) and as LAION-5B shards holding those rows plus as many again
(the multilingual and no-language parts), so 5B counts differ from 2B-en counts. Images are PNG
files fetched through ``file://`` URLs by the frequency downloader (img2dataset layout).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from imitation_kedro.core.slugs import unique_slugs

SHARED_DATA = Path("/work/shared/data")
# Invented modern artists (the paper's modern set is not public): the rehearsal's fourth set.
MODERN_ARTISTS = (
    "Mara Velden",
    "Tomasz Orlik",
    "Ines Calloway",
    "Jun-ho Baek",
    "Odile Marchetti",
    "Kwame Asante-Reid",
    "Lena Vukovic",
    "Rafael Montiel",
    "Sigrid Hallberg",
    "Noor Haddad",
    "Pieter Claes",
    "Amaya Etxeberria",
)
SETS = (("celebrities", "faces"), ("politicians", "faces"), ("classical", "art"), ("modern", "art"))
FILLER = (
    "a cat on a sofa",
    "city skyline at night",
    "bowl of fruit",
    "mountain lake",
    "vintage car",
    "abstract pattern",
    "wooden chair",
    "rainy street",
)


def concept_table(per_set: int, shared: Path = SHARED_DATA) -> pd.DataFrame:
    """``per_set`` concepts of each of the four sets (the tables' first names, in order)."""
    names = {
        "celebrities": pd.read_csv(shared / "fit_celebrities.csv")["name"],
        "politicians": pd.read_csv(shared / "fit_politicians.csv")["name"],
        "classical": pd.read_csv(shared / "fit_classical_artists_laion2b_counts.csv")[
            "artist_name"
        ],
        "modern": pd.Series(MODERN_ARTISTS),
    }
    rows, seen = [], set()
    for concept_set, domain in SETS:
        taken = 0
        for name in names[concept_set].astype(str).str.strip():
            if taken == per_set or not name or name.lower() in seen:
                continue
            seen.add(name.lower())
            rows.append(
                {"concept": name, "domain": domain, "concept_set": concept_set, "aliases": []}
            )
            taken += 1
        if taken < per_set:
            raise ValueError(
                f"concept set {concept_set!r} has only {taken} names (< per_set {per_set})"
            )
    table = pd.DataFrame(rows)
    slugs = unique_slugs(table["concept"].tolist())
    table.insert(1, "slug", table["concept"].map(slugs))
    return table


def _png(rng: np.random.Generator, side: int) -> bytes:
    pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def references(concepts: pd.DataFrame, per_concept: int, seed: int = 0) -> pd.DataFrame:
    """``per_concept`` gold reference images per concept (64 px noise, distinct per concept)."""
    rows = []
    for i, concept in enumerate(concepts["concept"]):
        rng = np.random.default_rng([seed, i])
        rows += [
            {"concept": concept, "ref_index": k, "png": _png(rng, 64)} for k in range(per_concept)
        ]
    return pd.DataFrame(rows)


def planted_counts(
    concepts: pd.DataFrame, max_count: int, seed: int = 0, scale: int = 1
) -> pd.Series:
    """Captions per concept: a log ladder 1 .. ``max_count``, shuffled within each set, times
    ``scale`` (``scale=10``: the same ladder with ten times the captions and images)."""
    if scale < 1:
        raise ValueError(f"rehearsal corpus: scale must be an integer >= 1, got {scale}")
    out = pd.Series(0, index=concepts["concept"], dtype=int)
    for k, (_, group) in enumerate(concepts.groupby("concept_set", sort=True)):
        ladder = np.unique(np.geomspace(1, max_count, len(group)).round().astype(int))
        ladder = np.resize(ladder, len(group))
        np.random.default_rng([seed, k]).shuffle(ladder)
        out[group["concept"].to_numpy()] = ladder * scale
    return out


def captions(
    concepts: pd.DataFrame, counts: pd.Series, image_dir: Path, filler: int, seed: int = 0
) -> pd.DataFrame:
    """LAION-2B-en metadata rows: each concept's captions, plus ``filler`` unrelated ones.

    Writes one PNG per row into ``image_dir`` (URL ``file://...``); every tenth concept caption's
    file is left out, a dead link the downloader must count.
    """
    rng = np.random.default_rng(seed)
    image_dir.mkdir(parents=True, exist_ok=True)
    texts = []
    for concept, domain in zip(concepts["concept"], concepts["domain"], strict=True):
        lead = "a painting by" if domain == "art" else "a photo of"
        texts += [
            f"{lead} {concept}, {FILLER[j % len(FILLER)]}" for j in range(int(counts[concept]))
        ]
    texts += [FILLER[j % len(FILLER)] + f" #{j}" for j in range(filler)]
    order = rng.permutation(len(texts))
    rows = []
    for sample_id, idx in enumerate(order, start=1):
        path = image_dir / f"{sample_id:09d}.png"
        if idx % 10 != 9 and not path.exists():
            path.write_bytes(_png(np.random.default_rng([seed, int(idx)]), 48))
        rows.append(
            {
                "SAMPLE_ID": sample_id,
                "URL": path.resolve().as_uri(),
                "TEXT": texts[idx],
                "WIDTH": 48,
                "HEIGHT": 48,
                "similarity": 0.3,
                "LICENSE": "?",
                "NSFW": "UNLIKELY",
            }
        )
    return pd.DataFrame(rows)


def laion5b(captions_2b: pd.DataFrame) -> pd.DataFrame:
    """LAION-5B rows: the 2B-en rows plus one more copy of each under new ids (laion2B-multi and
    laion1B-nolang stand-in), so every 5B count is twice the 2B-en count."""
    extra = captions_2b.assign(SAMPLE_ID=captions_2b["SAMPLE_ID"] + 10**8)
    return pd.concat([captions_2b, extra], ignore_index=True)[["SAMPLE_ID", "URL", "TEXT"]]


def shards(table: pd.DataFrame, rows_per_shard: int) -> dict[str, pd.DataFrame]:
    """``part-00000`` ... partitions of ``rows_per_shard`` rows (LAION's metadata layout)."""
    return {
        f"part-{i:05d}": table.iloc[start : start + rows_per_shard].reset_index(drop=True)
        for i, start in enumerate(range(0, len(table), rows_per_shard))
    }
