"""The LAION-like corpus (row plan, caption shards, img2dataset image shards) and its ground truth."""

from __future__ import annotations

import json
import logging
import random

import numpy as np
import pandas as pd

from imitation_kedro.core.phrase_rule import PhraseMatcher
from imitation_kedro.core.progress import progress
from imitation_kedro.core.seeding import stable_seed
from imitation_kedro.pipelines.world import captions as cap
from imitation_kedro.pipelines.world.params import CorpusParams
from imitation_kedro.pipelines.world.render import random_spec, render, to_png

logger = logging.getLogger(__name__)

SAMPLE_ID_BASE = 100_000_000
BACKGROUND_SPEC_POOL = 1000
LAION_COLUMNS = ["SAMPLE_ID", "URL", "TEXT", "HEIGHT", "WIDTH", "LICENSE", "NSFW", "similarity"]
IMAGE_COLUMNS = ["key", "url", "caption", "status", "width", "height", "png"]
# Row roles in the plan (internal; never written to the public corpus).
NAMED, DUPLICATE, MISMATCH, UNNAMED, BACKGROUND = "named", "duplicate", "mismatch", "unnamed", "bg"


def lay_out_rows(specs: pd.DataFrame, seed: int, cp: CorpusParams) -> pd.DataFrame:
    """Lay out every corpus row: caption, what its image shows, duplicates and traps.

    Columns: LAION's (``SAMPLE_ID`` ... ``similarity``) + ``shows`` (concept or None), ``role``,
    ``has_image`` and ``dup_of`` (SAMPLE_ID whose caption/URL/image this row copies, or -1).
    """
    r = random.Random(stable_seed(seed, "world", "captions"))
    texts: list[str | None] = []
    shows: list[str | None] = []
    roles: list[str] = []
    has_image: list[bool] = []
    dup_of: list[int] = []  # index into rows, -1 if none

    def add(text: str | None, concept: str | None, role: str, image: bool, dup: int = -1) -> None:
        texts.append(text)
        shows.append(concept)
        roles.append(role)
        has_image.append(image)
        dup_of.append(dup)

    for row in specs.itertuples(index=False):
        f = int(row.planted_frequency)
        names = [row.concept, *row.aliases]
        n_dup = int(f * cp.duplicate_rate) if f >= 2 else 0
        first = len(texts)
        for _ in range(f - n_dup):
            use_alias = len(names) > 1 and r.random() < cp.alias_caption_rate
            name = r.choice(names[1:]) if use_alias else row.concept
            add(cap.named_caption(row.domain, name, r, cp.case_variant_rate), row.concept, NAMED, True)
        originals = len(texts) - first
        for _ in range(n_dup):
            src = first + r.randrange(originals)
            add(texts[src], row.concept, DUPLICATE, True, src)
        for _ in range(int(round(f * cp.mismatch_rate))):
            add(cap.named_caption(row.domain, row.concept, r, cp.case_variant_rate), None, MISMATCH, True)
        for _ in range(int(round(f * cp.unnamed_rate))):
            text = cap.near_miss_caption(row.concept, r) if r.random() < 0.5 else cap.background_caption(r)
            add(text, row.concept, UNNAMED, True)
    n_background = cp.n_rows - len(texts)
    if n_background < cp.background_image_rows:
        raise ValueError(
            f"corpus.n_rows={cp.n_rows} leaves {n_background} background rows, fewer than "
            f"corpus.background_image_rows={cp.background_image_rows}"
        )
    image_rows = set(r.sample(range(n_background), cp.background_image_rows))
    for k in range(n_background):
        p = r.random()
        if p < cp.empty_caption_rate:
            text: str | None = "" if r.random() < 0.5 else None
        elif p < cp.empty_caption_rate + cp.foreign_caption_rate:
            text = cap.foreign_caption(r)
        else:
            text = cap.background_caption(r)
        add(text, None, BACKGROUND, k in image_rows)

    n = len(texts)
    rng = np.random.default_rng(stable_seed(seed, "world", "corpus-order"))
    position = np.empty(n, dtype=np.int64)
    position[rng.permutation(n)] = np.arange(n)  # row i is written at position[i]
    sample_id = SAMPLE_ID_BASE + position
    dup_idx = np.asarray(dup_of, dtype=np.int64)
    urls = np.asarray(
        [f"https://miniature-laion.invalid/{stable_seed(seed, 'url', i):016x}.jpg" for i in range(n)],
        dtype=object,
    )
    is_dup = dup_idx >= 0
    urls[is_dup] = urls[dup_idx[is_dup]]
    sizes = np.asarray([[256, 256], [512, 512], [640, 480], [480, 640], [1024, 768]], dtype=np.int64)
    size = sizes[rng.integers(len(sizes), size=n)]
    plan = pd.DataFrame(
        {
            "SAMPLE_ID": sample_id,
            "URL": urls,
            "TEXT": pd.array(texts, dtype=object),
            "HEIGHT": size[:, 0],
            "WIDTH": size[:, 1],
            "LICENSE": np.where(rng.random(n) < 0.9, "?", "cc-by"),
            "NSFW": np.where(rng.random(n) < 0.98, "UNLIKELY", "UNSURE"),
            "similarity": rng.uniform(0.28, 0.42, size=n).round(6),
            "shows": pd.array(shows, dtype=object),
            "role": roles,
            "has_image": has_image,
            "dup_of": np.where(is_dup, sample_id[np.maximum(dup_idx, 0)], -1),
        }
    )
    return plan.sort_values("SAMPLE_ID", kind="stable").reset_index(drop=True)


def _shard_of(sample_ids: pd.Series, rows_per_shard: int) -> pd.Series:
    return (sample_ids - SAMPLE_ID_BASE) // rows_per_shard


def caption_shards(plan: pd.DataFrame, rows_per_shard: int) -> dict[str, pd.DataFrame]:
    """The public caption corpus: LAION-2B-en columns, ``part-XXXXX`` shards by SAMPLE_ID."""
    shard = _shard_of(plan["SAMPLE_ID"], rows_per_shard)
    out = {}
    for k, part in plan[LAION_COLUMNS].groupby(shard, sort=True):
        out[f"part-{int(k):05d}"] = part.reset_index(drop=True)
    return out


def image_shards(
    plan: pd.DataFrame, specs: pd.DataFrame, seed: int, domains: list[str], cp: CorpusParams
) -> dict[str, pd.DataFrame]:
    """Render and PNG-encode the image of every image-bearing row (img2dataset parquet layout)."""
    noise = cp.noise
    with_image = plan[plan["has_image"]]
    png: dict[int, bytes] = {}
    own = with_image[with_image["dup_of"] < 0]
    by_concept = own[own["shows"].notna()].groupby("shows", sort=True)["SAMPLE_ID"]
    spec_of = dict(zip(specs["concept"], specs["spec"], strict=True))
    for concept, ids in progress(by_concept, desc="world: render concept images", unit="concept"):
        rng = np.random.default_rng(stable_seed(seed, "world", "corpus-images", concept))
        pixels = render(json.loads(spec_of[concept]), len(ids), rng, noise)
        for sid, px in zip(ids.to_numpy(), pixels, strict=True):
            png[int(sid)] = to_png(px)
    # Background images: renders of a pool of random (non-concept) specs, one batch per spec.
    bg_ids = own.loc[own["shows"].isna(), "SAMPLE_ID"].to_numpy()
    pool = max(1, min(len(bg_ids), BACKGROUND_SPEC_POOL))
    for k in progress(range(pool), desc="world: render background images", unit="spec"):
        rng = np.random.default_rng(stable_seed(seed, "world", "background-spec", k))
        spec = random_spec(domains[k % len(domains)], rng)
        ids = bg_ids[k::pool]
        for sid, px in zip(ids, render(spec, len(ids), rng, noise), strict=True):
            png[int(sid)] = to_png(px)
    for sid, src in zip(with_image["SAMPLE_ID"], with_image["dup_of"], strict=True):
        if src >= 0:
            png[int(sid)] = png[int(src)]
    images = pd.DataFrame(
        {
            "key": with_image["SAMPLE_ID"].map(lambda s: f"{int(s):09d}"),
            "url": with_image["URL"],
            "caption": with_image["TEXT"],
            "status": "success",
            "width": np.int64(32),
            "height": np.int64(32),
            "png": [png[int(s)] for s in with_image["SAMPLE_ID"]],
        }
    )
    shard = _shard_of(with_image["SAMPLE_ID"], cp.rows_per_shard)
    return {
        f"part-{int(k):05d}": part.reset_index(drop=True)
        for k, part in images[IMAGE_COLUMNS].groupby(shard.to_numpy(), sort=True)
    }


def ground_truth(plan: pd.DataFrame, specs: pd.DataFrame) -> pd.DataFrame:
    """True caption and image counts per concept, by the same phrase rule ``frequency`` uses."""
    matcher = PhraseMatcher(
        {c: [c, *aliases] for c, aliases in zip(specs["concept"], specs["aliases"], strict=True)}
    )
    concepts = list(specs["concept"])
    captions = dict.fromkeys(concepts, 0)
    images = dict.fromkeys(concepts, 0)
    for text, shows in zip(plan["TEXT"], plan["shows"], strict=True):
        for concept in matcher.concepts_in(text):
            captions[concept] += 1
            if shows == concept:
                images[concept] += 1
    all_images = plan.loc[plan["has_image"] & plan["shows"].notna(), "shows"].value_counts()
    truth = pd.DataFrame(
        {
            "concept": concepts,
            "domain": specs["domain"].to_numpy(),
            "true_caption_count": [captions[c] for c in concepts],
            "true_image_count": [images[c] for c in concepts],
            "true_image_count_all": [int(all_images.get(c, 0)) for c in concepts],
            "planted_frequency": specs["planted_frequency"].to_numpy(),
        }
    )
    off = truth[truth["true_image_count"] != truth["planted_frequency"]]
    if len(off):
        logger.warning("ground truth differs from the planted frequency for %s", list(off["concept"]))
    return truth
