"""Nodes of the ``frequency`` pipeline: caption counts -> images -> verification -> estimates."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.seeding import stable_seed
from imitation_kedro.pipelines.frequency import acquisition as acq
from imitation_kedro.pipelines.frequency import calibration as cal
from imitation_kedro.pipelines.frequency import verification as ver
from imitation_kedro.pipelines.frequency.estimate import estimate_frequencies, scale_to_laion5b
from imitation_kedro.pipelines.frequency.local_engine import count_local
from imitation_kedro.pipelines.frequency.matching import PatternTable, build_patterns
from imitation_kedro.pipelines.frequency.params import FrequencyParams
from imitation_kedro.pipelines.frequency.spark_engine import count_spark, is_spark_frame, to_pandas

logger = logging.getLogger(__name__)


def build_concept_phrases(concepts: pd.DataFrame, params: FrequencyParams) -> pd.DataFrame:
    """Validate the concept table; one row per (concept, normalised phrase) to search for."""
    table = build_patterns(concepts, params.matching.use_aliases)
    out = table.to_frame()
    domains = dict(zip(concepts["concept"], concepts["domain"], strict=True))
    out.insert(1, "domain", out["concept"].map(domains))
    return out


def _pattern_table(phrases: pd.DataFrame) -> PatternTable:
    names = tuple(pd.unique(phrases["concept"]))
    index = {c: i for i, c in enumerate(names)}
    owner = np.asarray([index[c] for c in phrases["concept"]], dtype=np.int64)
    return PatternTable(names, tuple(phrases["phrase"]), owner)


def _run_engine(
    captions: Mapping[str, Callable[[], Any]] | Any,
    table: PatternTable,
    params: FrequencyParams,
    keep_hits: bool = True,
) -> tuple[pd.DataFrame, Any]:
    spark_input = is_spark_frame(captions)
    engine = params.matching.engine
    if engine == "spark" and not spark_input:
        raise TypeError(
            "frequency.matching.engine is 'spark' but the caption shards did not load as a Spark "
            "DataFrame: run with --env spark (catalog spark.SparkDatasetV2)"
        )
    if engine == "local" and spark_input:
        raise TypeError(
            "frequency.matching.engine is 'local' but the captions loaded as a Spark "
            "DataFrame: set engine to auto or spark"
        )
    if spark_input:
        return count_spark(captions, table, params, keep_hits=keep_hits)
    return count_local(captions, table, params, keep_hits=keep_hits)


def count_captions(
    captions: Mapping[str, Callable[[], Any]] | Any, phrases: pd.DataFrame, params: FrequencyParams
) -> tuple[pd.DataFrame, Any]:
    """Count captions naming each concept; keep a seeded, capped sample of the matching rows.

    ``captions`` is a PartitionedDataset (dict of loaders: local engine) or a Spark DataFrame
    (conf/spark: Spark engine). Both give identical counts and samples.
    """
    counts, hits = _run_engine(captions, _pattern_table(phrases), params)
    domains = phrases.drop_duplicates("concept").set_index("concept")["domain"]
    counts.insert(1, "domain", counts["concept"].map(domains))
    return counts, hits


def count_laion5b_captions(
    captions_5b: Mapping[str, Callable[[], Any]] | Any,
    phrases: pd.DataFrame,
    params: FrequencyParams,
) -> pd.DataFrame:
    """``int_caption_counts_5b``: concept, captions_5b, corpus_rows over raw_laion5b_captions.

    Only with ``estimate.pretraining: laion5b`` (FIT §3.6, SD2.1); otherwise the shards are not
    read and the counts are empty (<NA>). Same matcher and engines as :func:`count_captions`; no
    hits are sampled (images always come from LAION-2B-en).
    """
    table = _pattern_table(phrases)
    if params.estimate.pretraining != "laion5b":
        empty = pd.array([pd.NA] * len(table.concepts), dtype="Int64")
        return pd.DataFrame(
            {"concept": list(table.concepts), "captions_5b": empty, "corpus_rows": empty}
        )
    if isinstance(captions_5b, Mapping) and not captions_5b:
        raise ValueError(
            "raw_laion5b_captions has no parquet shards, but frequency.estimate.pretraining is "
            "laion5b: point raw_laion5b_captions at the LAION-5B metadata (in the miniature world, "
            "run `kedro run --pipelines world` first)"
        )
    counts, _ = _run_engine(captions_5b, table, params, keep_hits=False)
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


def download_images(requests: pd.DataFrame, params: FrequencyParams) -> pd.DataFrame:
    """Paper mode: download the requests into img2dataset shards (resumable). Miniature: no-op.

    The shards land in ``acquisition.output_folder``, which the paper catalog also reads as
    ``raw_laion_images``; the returned summary orders this node before the collection.
    """
    p = params.acquisition
    if p.source == "shipped":
        return pd.DataFrame({"shard": [-1], "rows": [0], "action": ["shipped"]})
    if requests.empty:
        raise acq.AcquisitionError("no caption hits to download: every concept has 0 captions")
    if p.downloader == "img2dataset":
        return acq.download_img2dataset(requests, p.output_folder, p)
    return acq.download_builtin(requests, p.output_folder, p)


def collect_images(
    requests: pd.DataFrame,
    image_shards: Mapping[str, Callable[[], Any]],
    download_summary: pd.DataFrame,
    params: FrequencyParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the requested images from the shards and clean them (FIT §3.2 rules).

    Returns the clean images (key, png, width, height) and the rejects (key, url, reason, detail).
    """
    logger.info("download summary: %s", download_summary["action"].value_counts().to_dict())
    found = acq.read_shards(image_shards, set(requests["key"]))
    clean, rejects = acq.clean_images(found, requests, params.acquisition)
    if len(requests) and clean.empty:
        raise acq.AcquisitionError(
            f"none of the {len(requests)} requested images is usable; rejects by reason: "
            f"{rejects['reason'].value_counts().to_dict()}"
        )
    return clean, rejects


def _domain_plan(concepts: pd.DataFrame, params: FrequencyParams) -> dict[str, list[str]]:
    vp = params.verification
    plan = {d: sorted(g["concept"]) for d, g in concepts.groupby("domain")}
    unknown = sorted(set(plan) - set(vp.domains))
    if unknown:
        raise ver.VerificationError(
            f"concept domain(s) {unknown} have no entry in frequency.verification.domains "
            f"(configured: {sorted(vp.domains)})"
        )
    return plan


def _embedders(
    clip_model: Any, method: str, params: FrequencyParams, cache: dict
) -> tuple[Any, Any]:
    """(embedder for references/images, CLIP embedder for the artwork gate) of a domain method.

    The CLIP embedder (``verification.clip_model`` if set, else the ``mdl_miniature_clip`` input)
    is built once per node call and only for methods that need it.
    """
    vp = params.verification

    def clip() -> Any:
        if "clip" not in cache:
            cache["clip"] = (
                ver.open_clip_embedder(vp.clip_model, vp.batch_size)
                if vp.clip_model
                else ver.as_image_embedder(clip_model, vp.batch_size)
            )
        return cache["clip"]

    if method == "faces":
        return ver.face_embedder(vp.face_model, vp.batch_size, vp.face_detector), None
    if method == "art":
        return ver.style_embedder(
            vp.style_model, None, vp.batch_size
        ) if vp.style_model else clip(), clip()
    return clip(), None


def _reference_embeddings(references, concepts, clip_model, params):
    out, cache = {}, {}
    for domain, names in _domain_plan(concepts, params).items():
        spec = params.verification.domains[domain]
        emb, gate = _embedders(clip_model, spec.method, params, cache)
        refs = ver.reference_embeddings(
            references,
            names,
            emb,
            params.verification.batch_size,
            params.verification.min_references,
        )
        out[domain] = (spec, emb, gate, refs)
    return out


def calibrate_verification(
    concepts: pd.DataFrame, references: pd.DataFrame, clip_model: Any, params: FrequencyParams
) -> pd.DataFrame:
    """Calibration table per domain: same- vs different-concept reference pairs -> thresholds."""
    cp = params.verification.calibration
    rows = []
    for domain, (_, _, _, refs) in _reference_embeddings(
        references, concepts, clip_model, params
    ).items():
        names = sorted(refs)
        if len(names) > cp.max_concepts:
            rng = np.random.default_rng(stable_seed("calibration", cp.seed, domain))
            names = sorted(rng.choice(names, size=cp.max_concepts, replace=False).tolist())
        rows.append(cal.calibrate_domain(domain, {n: refs[n] for n in names}, cp.statistic))
    return cal.calibration_frame(rows)


def verify_images(
    hits: Any,
    clean: pd.DataFrame,
    concepts: pd.DataFrame,
    references: pd.DataFrame,
    clip_model: Any,
    calibration: pd.DataFrame,
    params: FrequencyParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score each sampled hit's clean image against its concept; keep the verified images."""
    hits = to_pandas(hits)
    pairs = pd.DataFrame({"concept": hits["concept"], "key": hits["SAMPLE_ID"].map(acq.sample_key)})
    pairs = pairs[pairs["key"].isin(set(clean["key"]))]
    scores = []
    for domain, (spec, emb, gate_emb, refs) in _reference_embeddings(
        references, concepts, clip_model, params
    ).items():
        threshold = cal.choose_threshold(calibration, domain, spec.threshold)
        gate = None
        if spec.method == "art":
            text = np.asarray(gate_emb.embed_text([spec.artwork_label]))[0]
            gate = (text, float(spec.artwork_threshold))
        sub = pairs[pairs["concept"].isin(set(refs))]
        scores.append(
            ver.score_domain(
                domain,
                spec.method,
                sub,
                clean,
                refs,
                emb,
                threshold,
                params.verification.batch_size,
                gate=gate,
                gate_embedder=gate_emb,
            )
        )
    table = (
        pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(columns=ver.SCORE_COLUMNS)
    )
    verified = table[table["verified"].astype(bool)][["concept", "key"]]
    images = verified.merge(clean[["key", "png"]], on="key", how="left")
    return table.reset_index(drop=True), images.reset_index(drop=True)


def estimate_concept_frequencies(
    concepts: pd.DataFrame,
    counts: pd.DataFrame,
    hits: Any,
    clean: pd.DataFrame,
    scores: pd.DataFrame,
    counts_5b: pd.DataFrame,
    params: FrequencyParams,
) -> pd.DataFrame:
    """``prm_concept_frequencies``: verified x captions / downloaded with a Wilson CI per concept.

    With ``estimate.pretraining: laion5b`` the estimate and CI are scaled by captions_5b /
    captions (FIT §3.6).
    """
    hits = to_pandas(hits)
    keys = hits["SAMPLE_ID"].map(acq.sample_key)
    sampled = hits.groupby("concept").size()
    downloaded = hits[keys.isin(set(clean["key"])).to_numpy()].groupby("concept").size()
    verified = scores[scores["verified"].astype(bool)].groupby("concept").size()
    table = counts[["concept", "captions"]].merge(concepts[["concept", "domain"]], on="concept")
    for name, series in (("sampled", sampled), ("downloaded", downloaded), ("verified", verified)):
        table[name] = table["concept"].map(series).fillna(0).astype(np.int64)
    out = estimate_frequencies(table, params.estimate.ci_level)
    if params.estimate.pretraining == "laion5b":
        c5 = counts_5b.set_index("concept")["captions_5b"]
        if c5.isna().all():
            raise ValueError(
                "estimate.pretraining is laion5b but int_caption_counts_5b is empty: it was "
                "computed with pretraining laion2b_en; rerun count_laion5b_captions"
            )
        rows_2b = counts["corpus_rows"].iloc[0] if "corpus_rows" in counts else None
        if rows_2b is not None and int(counts_5b["corpus_rows"].iloc[0]) == int(rows_2b):
            logger.warning(
                "raw_laion5b_captions has as many captions (%d) as raw_laion_captions: is it the "
                "LAION-2B-en corpus? Point it at the LAION-5B metadata (catalog_frequency.yml); "
                "every scale factor is 1 here",
                int(rows_2b),
            )
        out = scale_to_laion5b(out, c5)
        logger.info(
            "scaled estimates to LAION-5B for %d concept(s) (FIT §3.6)",
            int((out.captions > 0).sum()),
        )
    return out
