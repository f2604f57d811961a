"""Nodes of the ``frequency`` pipeline: caption counts -> images -> verification -> estimates."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.concept_sets import set_map
from imitation_kedro.core.seeding import stable_seed
from imitation_kedro.datasets.shard_folder import ShardFolder
from imitation_kedro.pipelines.frequency import acquisition as acq
from imitation_kedro.pipelines.frequency import calibration as cal
from imitation_kedro.pipelines.frequency import image_store as store
from imitation_kedro.pipelines.frequency import verification as ver
from imitation_kedro.pipelines.frequency.counting import count_with_engine
from imitation_kedro.pipelines.frequency.estimate import estimate_frequencies, scale_to_laion5b
from imitation_kedro.pipelines.frequency.matching import PatternTable, build_patterns
from imitation_kedro.pipelines.frequency.params import (
    AcquisitionParams,
    EstimateParams,
    MatchingParams,
    SamplingParams,
    VerificationParams,
)
from imitation_kedro.pipelines.frequency.spark_engine import to_pandas

logger = logging.getLogger(__name__)


def build_concept_phrases(concepts: pd.DataFrame, matching: MatchingParams) -> pd.DataFrame:
    """Validate the concept table; one row per (concept, normalised phrase) to search for."""
    table = build_patterns(concepts, matching.use_aliases, matching.analyzer)
    out = table.to_frame()
    domains = dict(zip(concepts["concept"], concepts["domain"], strict=True))
    out.insert(1, "concept_set", out["concept"].map(set_map(concepts)))
    out.insert(2, "domain", out["concept"].map(domains))
    return out


def count_captions(
    captions: Mapping[str, Callable[[], Any]] | Any,
    phrases: pd.DataFrame,
    matching: MatchingParams,
    sampling: SamplingParams,
) -> tuple[pd.DataFrame, Any]:
    """Count captions naming each concept; keep a seeded, capped sample of the matching rows.

    ``captions`` is a PartitionedDataset (dict of loaders: local engine) or a Spark DataFrame
    (conf/spark: Spark engine). Both give identical counts and samples.
    """
    counts, hits = count_with_engine(captions, PatternTable.from_frame(phrases), matching, sampling)
    first = phrases.drop_duplicates("concept").set_index("concept")
    sets = first["concept_set"] if "concept_set" in first else first["domain"]
    counts.insert(1, "concept_set", counts["concept"].map(sets))
    counts.insert(2, "domain", counts["concept"].map(first["domain"]))
    return counts, hits


def count_laion5b_captions(
    captions_5b: Mapping[str, Callable[[], Any]] | Any,
    phrases: pd.DataFrame,
    matching: MatchingParams,
    estimate: EstimateParams,
) -> pd.DataFrame:
    """``int_caption_counts_5b``: concept, captions_5b, corpus_rows over raw_laion5b_captions.

    Only when ``estimate.corpora`` lists laion5b (FIT §3.6, SD2.1); otherwise the shards are not
    read and the counts are empty (<NA>). Same matcher and engines as :func:`count_captions`; no
    hits are sampled (images always come from LAION-2B-en).
    """
    table = PatternTable.from_frame(phrases)
    if "laion5b" not in estimate.corpora:
        empty = pd.array([pd.NA] * len(table.concepts), dtype="Int64")
        return pd.DataFrame(
            {"concept": list(table.concepts), "captions_5b": empty, "corpus_rows": empty}
        )
    if isinstance(captions_5b, Mapping) and not captions_5b:
        raise ValueError(
            "raw_laion5b_captions has no parquet shards, but frequency.estimate.corpora lists "
            "laion5b: point raw_laion5b_captions at the LAION-5B metadata (in the miniature world, "
            "run `kedro run --pipelines world` first)"
        )
    counts, _ = count_with_engine(captions_5b, table, matching, None)
    return pd.DataFrame(
        {
            "concept": counts["concept"],
            "captions_5b": pd.array(counts["captions"], dtype="Int64"),
            "corpus_rows": pd.array(counts["corpus_rows"], dtype="Int64"),
        }
    )


def plan_downloads(hits: Any) -> pd.DataFrame:
    """The image requests (img2dataset url list): one per distinct sampled caption row."""
    return acq.download_requests(to_pandas(hits))


def download_images(
    requests: pd.DataFrame, shards: ShardFolder, acquisition: AcquisitionParams
) -> pd.DataFrame:
    """Paper mode: download the requests into img2dataset shards (resumable). Miniature: no-op.

    The shards are written through ``int_downloaded_image_shards``, whose folder the paper
    catalog also reads as ``raw_laion_images``; the returned summary orders this node before the
    collection.
    """
    if acquisition.source == "shipped":
        return pd.DataFrame({"shard": [-1], "rows": [0], "action": ["shipped"]})
    if requests.empty:
        raise acq.AcquisitionError("no caption hits to download: every concept has 0 captions")
    if acquisition.downloader == "img2dataset":
        return acq.download_img2dataset(requests, shards, acquisition)
    return acq.download_builtin(requests, shards, acquisition)


def collect_images(
    requests: pd.DataFrame,
    image_shards: Mapping[str, Callable[[], Any]],
    download_summary: pd.DataFrame,
    clean_store: ShardFolder,
    acquisition: AcquisitionParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the requested images shard by shard, clean them (FIT §3.2 rules) and write the clean
    shards through ``clean_store`` (``int_clean_image_store``).

    Returns the index of clean images (key, shard, width, height, bytes) and the rejects (key,
    url, reason, detail). Memory holds one shard of images at a time.
    """
    logger.info("download summary: %s", download_summary["action"].value_counts().to_dict())
    index, rejects = store.collect_clean(image_shards, requests, clean_store, acquisition)
    if len(requests) and index.empty:
        raise acq.AcquisitionError(
            f"none of the {len(requests)} requested images is usable; rejects by reason: "
            f"{rejects['reason'].value_counts().to_dict()}"
        )
    return index, rejects


def calibrate_verification(
    concepts: pd.DataFrame,
    references: pd.DataFrame,
    clip_model: Any,
    verification: VerificationParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Calibration per concept set (same- vs different-concept reference pairs -> thresholds),
    and the gold references rejected for showing no face or several faces."""
    cp = verification.calibration
    rows = []
    sets, rejects = ver.domain_references(references, concepts, clip_model, verification)
    for cset, (_, _, _, refs, domain) in sets.items():
        names = sorted(refs)
        if len(names) > cp.max_concepts:
            rng = np.random.default_rng(stable_seed("calibration", cp.seed, cset))
            names = sorted(rng.choice(names, size=cp.max_concepts, replace=False).tolist())
        rows.append(cal.calibrate_domain(domain, {n: refs[n] for n in names}, cp.statistic, cset))
    return cal.calibration_frame(rows), rejects


def verify_images(  # noqa: PLR0913
    hits: Any,
    clean: Any,
    concepts: pd.DataFrame,
    references: pd.DataFrame,
    clip_model: Any,
    calibration: pd.DataFrame,
    verification: VerificationParams,
    clean_index: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, Any]:
    """Score each sampled hit's clean image against its concept with its set's settings.

    ``clean`` is the partitioned store of clean images (one loader per shard; ``clean_index``
    says which shards and keys belong to this run) or one table. Images are read and scored one
    shard at a time and the verified images saved one shard at a time, so memory does not grow
    with the number of images. Returns the scores and the verified images (concept, key, png).
    """
    hits = to_pandas(hits)
    pairs = pd.DataFrame({"concept": hits["concept"], "key": hits["SAMPLE_ID"].map(acq.sample_key)})
    sets, _ = ver.domain_references(references, concepts, clip_model, verification)
    plan = []
    for cset, (spec, emb, gate_emb, refs, domain) in sets.items():
        gate = None
        if spec.method == "art":
            text = np.asarray(gate_emb.embed_text([spec.artwork_label]))[0]
            gate = (text, float(spec.artwork_threshold))
        threshold = cal.choose_threshold(calibration, cset, spec.threshold)
        plan.append((cset, domain, spec, emb, gate_emb, refs, threshold, gate))
    scores, verified = [], {}
    for shard, images in store.iter_image_shards(clean, clean_index):
        sub_pairs = pairs[pairs["key"].isin(set(images["key"]))]
        shard_scores = [
            ver.score_domain(
                domain, spec.method, sub_pairs[sub_pairs["concept"].isin(set(refs))], images,
                refs, emb, threshold, verification.batch_size, gate=gate,
                gate_embedder=gate_emb, concept_set=cset,
            )
            for cset, domain, spec, emb, gate_emb, refs, threshold, gate in plan
        ]
        table = pd.concat(shard_scores, ignore_index=True)
        scores.append(table.drop(columns="boxes"))
        verified[shard] = table[table["verified"].astype(bool)][["concept", "key", "boxes"]]
    table = (
        pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(columns=ver.SCORE_COLUMNS)
    )
    table = table.sort_values(["concept_set", "concept", "key"], kind="mergesort")
    table = table.astype({"matched_faces": "int64", "verified": bool})
    return table.reset_index(drop=True)[ver.SCORE_COLUMNS], store.image_store_output(clean, verified)


def estimate_concept_frequencies(  # noqa: PLR0913
    concepts: pd.DataFrame,
    counts: pd.DataFrame,
    hits: Any,
    clean_keys: pd.DataFrame,
    scores: pd.DataFrame,
    counts_5b: pd.DataFrame,
    estimate: EstimateParams,
    verification: VerificationParams,
) -> pd.DataFrame:
    """``prm_concept_frequencies``: one row per (concept, corpus) of ``estimate.corpora``.

    verified_units x captions / downloaded with a Wilson CI (units: matched faces with
    ``verification.face_unit: faces``, FIT §3.3; else images); the laion5b rows are the 2B-en
    estimate and CI scaled by captions_5b / captions (FIT §3.6).
    """
    hits = to_pandas(hits)
    keys = hits["SAMPLE_ID"].map(acq.sample_key)
    sampled = hits.groupby("concept").size()
    downloaded = hits[keys.isin(set(clean_keys["key"])).to_numpy()].groupby("concept").size()
    ok = scores[scores["verified"].astype(bool)]
    verified = ok.groupby("concept").size()
    units = ok.groupby("concept")["matched_faces"].sum()
    table = counts[["concept", "captions"]].merge(concepts[["concept", "domain"]], on="concept")
    table.insert(1, "concept_set", table["concept"].map(set_map(concepts)))
    for name, series in (("sampled", sampled), ("downloaded", downloaded), ("verified", verified)):
        table[name] = table["concept"].map(series).fillna(0).astype(np.int64)
    table["verified_units"] = table["verified"]
    if verification.face_unit == "faces":
        mapped = table["concept"].map(units)
        table["verified_units"] = mapped.fillna(table["verified"]).astype(np.int64)
    base = estimate_frequencies(table, estimate.ci_level, estimate.no_images)
    out = [base] if "laion2b_en" in estimate.corpora else []
    if "laion5b" in estimate.corpora:
        out.append(_laion5b_rows(base, counts, counts_5b))
    return pd.concat(out, ignore_index=True)


def _laion5b_rows(base: pd.DataFrame, counts: pd.DataFrame, counts_5b: pd.DataFrame) -> pd.DataFrame:
    c5 = counts_5b.set_index("concept")["captions_5b"]
    if c5.isna().all():
        raise ValueError(
            "estimate.corpora lists laion5b but int_caption_counts_5b is empty: it was computed "
            "without laion5b; rerun count_laion5b_captions"
        )
    rows_2b = counts["corpus_rows"].iloc[0] if "corpus_rows" in counts and len(counts) else None
    if rows_2b is not None and int(counts_5b["corpus_rows"].iloc[0]) == int(rows_2b):
        logger.warning(
            "raw_laion5b_captions has as many captions (%d) as raw_laion_captions: is it the "
            "LAION-2B-en corpus? Point it at the LAION-5B metadata (catalog_frequency.yml); "
            "every scale factor is 1 here",
            int(rows_2b),
        )
    out = scale_to_laion5b(base, c5)
    logger.info("LAION-5B estimates for %d concept(s) (FIT §3.6)", int((out.captions > 0).sum()))
    return out
