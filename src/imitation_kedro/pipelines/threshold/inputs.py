"""Read, check, join and sort the threshold inputs (pipeline outputs or a user's own table).

Everything ends in two canonical tables:

* ``concepts``: one row per (concept_set, domain, model, concept): ``count``, ``score`` (mean over
  prompts, FIT section 5.3), ``n_prompts`` and ``rank`` (0-based position after the stable sort by
  count with the concept name as tie-break, rule F9);
* ``prompts``: one row per (concept_set, domain, model, concept, prompt_id) with the per-prompt
  ``score`` (the nested bootstrap resamples these).

One threshold per (concept_set, model): a set lies in one domain (FIT: celebrities, politicians,
classical, modern), so grouping by (concept_set, domain, model) is grouping by set and model. Each
model's counts are the estimates of its own pre-training corpus (``corpus`` column of
prm_concept_frequencies; ``threshold.model_corpus``: SD2.1 reads LAION-5B, FIT section 3.6).

Rows that cannot be used are never dropped silently: they become ``rejects`` (concept_set,
domain, model, concept, reason) saved by the pipeline and listed in the report, or an error when
``on_bad_rows: error``. Ambiguous input (duplicates, a concept in two domains) is always an error.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.threshold_params import ThresholdParams
from imitation_kedro.pipelines.threshold.user_table_checks import checked_user_table

logger = logging.getLogger(__name__)

GROUP = ["concept_set", "domain", "model"]
DEFAULT_GROUP_VALUE = "all"
REJECT_COLUMNS = ["concept_set", "domain", "model", "concept", "reason"]
DEFAULT_CORPUS = "laion2b_en"
USER_REQUIRED = ["concept", "count", "score"]
FREQ_REQUIRED = ["concept", "domain"]
SCORES_REQUIRED = ["concept", "domain", "model", "prompt_id", "score"]


class ThresholdInputError(ValueError):
    """An input table of the threshold pipeline cannot be used as given."""


def fingerprint(df: pd.DataFrame) -> str:
    """A short sha256 of a table's content (identifies the exact input version in the report)."""
    hashed = pd.util.hash_pandas_object(df.reset_index(drop=True), index=False)
    digest = hashlib.sha256(hashed.to_numpy().tobytes())
    digest.update(",".join(map(str, df.columns)).encode())
    return digest.hexdigest()[:16]


def _need_columns(df: pd.DataFrame, required: list[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ThresholdInputError(f"{name}: expected a table, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ThresholdInputError(f"{name}: missing column(s) {missing}; it has {list(df.columns)}")


def _numeric(df: pd.DataFrame, column: str, name: str) -> pd.Series:
    """The column as float; non-numeric cells are an error naming the concept and value."""
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() & df[column].notna()
    if bad.any():
        rows = df.loc[bad, ["concept", column]].head(5).to_dict("records")
        raise ThresholdInputError(f"{name}: column '{column}' has non-numeric values: {rows}")
    return values.astype(float)


def _check_concept_names(df: pd.DataFrame, name: str) -> None:
    names = df["concept"]
    bad = names.isna() | ~names.map(lambda v: isinstance(v, str) and v.strip() != "")
    if bad.any():
        raise ThresholdInputError(
            f"{name}: empty or non-text concept names at rows {list(df.index[bad][:5])}"
        )


def _duplicates(df: pd.DataFrame, keys: list[str], name: str) -> None:
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        rows = df.loc[dup, keys].drop_duplicates().head(10).to_dict("records")
        raise ThresholdInputError(
            f"{name}: duplicate rows for key {keys} (which one is right is ambiguous): {rows}"
        )


def _bad_value_reasons(values: pd.Series, column: str, allow_negative: bool) -> pd.Series:
    """Per row: '' when fine, else why the value cannot be used."""
    reasons = pd.Series("", index=values.index, dtype=object)
    reasons[values.isna()] = f"{column} is missing/NaN"
    reasons[np.isinf(values.fillna(0.0))] = f"{column} is infinite"
    if not allow_negative:
        reasons[(values < 0) & np.isfinite(values.fillna(0.0))] = f"{column} is negative"
    return reasons


def _from_user_table(user: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A user table (concept, count, score[, domain, model, prompt_id]) -> (long rows, rejects)."""
    name = "raw_user_scores"
    _need_columns(user, USER_REQUIRED, name)
    df = user.copy()
    _check_concept_names(df, name)
    for col in ("domain", "model"):
        if col not in df.columns:
            df[col] = DEFAULT_GROUP_VALUE
        df[col] = df[col].fillna(DEFAULT_GROUP_VALUE).astype(str)
    if "concept_set" not in df.columns:
        df["concept_set"] = df["domain"]  # without sets: one threshold per domain
    df["concept_set"] = df["concept_set"].fillna(df["domain"]).astype(str)
    per_prompt = "prompt_id" in df.columns
    if not per_prompt:
        df["prompt_id"] = 0
    _duplicates(df, [*GROUP, "concept", "prompt_id"], name)
    df["count"] = _numeric(df, "count", name)
    df["score"] = _numeric(df, "score", name)
    counts_per_concept = df.groupby([*GROUP, "concept"])["count"].nunique(dropna=False)
    varying = counts_per_concept[counts_per_concept > 1]
    if len(varying):
        raise ThresholdInputError(
            f"{name}: a concept's count differs between its prompt rows: "
            f"{[c for *_, c in varying.index[:5]]}"
        )
    return df[[*GROUP, "concept", "prompt_id", "count", "score"]], _empty_rejects()


def _corpus_counts(
    frequencies: pd.DataFrame, count_column: str, model_corpus: dict[str, str], models: list[str]
) -> pd.DataFrame:
    """concept, concept_set, domain, corpus, count: each model's corpus must be in the table."""
    fname = "prm_concept_frequencies"
    freq = frequencies.copy()
    if "corpus" not in freq.columns:  # a table from before corpora: LAION-2B-en estimates
        freq["corpus"] = DEFAULT_CORPUS
    if "concept_set" not in freq.columns:
        freq["concept_set"] = freq["domain"]
    _duplicates(freq, ["concept", "corpus"], fname)
    have = set(freq["corpus"].astype(str))
    for model in models:
        corpus = model_corpus.get(model, DEFAULT_CORPUS)
        if corpus not in have:
            raise ThresholdInputError(
                f"model {model!r} was pre-trained on {corpus} (threshold.model_corpus) but "
                f"{fname} holds estimates for {sorted(have)} only: add {corpus} to "
                "frequency.estimate.corpora and rerun frequency"
            )
    out = freq[["concept", "concept_set", "domain", "corpus"]].copy()
    out["count"] = _numeric(freq, count_column, fname)
    out["concept_set"] = out["concept_set"].astype(str)
    return out


def _from_pipeline(
    frequencies: pd.DataFrame,
    scores: pd.DataFrame,
    count_column: str,
    model_corpus: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """prm_concept_frequencies x prm_imitation_scores -> (long rows, rejects of unmatched concepts).

    Each model's scores join the counts of that model's pre-training corpus.
    """
    fname, sname = "prm_concept_frequencies", "prm_imitation_scores"
    _need_columns(frequencies, [*FREQ_REQUIRED, count_column], fname)
    _need_columns(scores, SCORES_REQUIRED, sname)
    _check_concept_names(frequencies, fname)
    _check_concept_names(scores, sname)
    _duplicates(scores, ["concept", "model", "prompt_id"], sname)
    sc = scores[["concept", "domain", "model", "prompt_id"]].copy()
    sc["score"] = _numeric(scores, "score", sname)
    sc["model"] = sc["model"].astype(str)
    model_corpus = dict(model_corpus or {})
    freq = _corpus_counts(frequencies, count_column, model_corpus, sorted(set(sc["model"])))
    sc["corpus"] = sc["model"].map(lambda m: model_corpus.get(m, DEFAULT_CORPUS))

    merged = sc.merge(
        freq, on=["concept", "corpus"], how="left", suffixes=("", "_freq"), indicator=True
    )
    clash = merged[(merged["_merge"] == "both") & (merged["domain"] != merged["domain_freq"])]
    if len(clash):
        rows = clash[["concept", "domain", "domain_freq"]].drop_duplicates().head(5)
        raise ThresholdInputError(
            f"{sname} and {fname} disagree on a concept's domain: {rows.to_dict('records')}"
        )
    sets = freq.drop_duplicates("concept").set_index("concept")["concept_set"]
    merged["concept_set"] = merged["concept"].map(sets).fillna(merged["domain"]).astype(str)
    rejects = []
    no_freq = merged[merged["_merge"] == "left_only"][[*GROUP, "concept", "corpus"]]
    for row in no_freq.drop_duplicates().itertuples(index=False):
        rejects.append(
            (row.concept_set, row.domain, row.model, row.concept,
             f"no row in {fname} for corpus {row.corpus}")
        )
    # Concepts counted by `frequency` but never scored for a model of the same set.
    for (cset, domain, model), group in merged.groupby(GROUP, sort=True):
        scored = set(group["concept"])
        counted = freq.loc[freq["concept_set"] == cset, "concept"]
        for concept in sorted(set(counted) - scored):
            rejects.append((cset, domain, model, concept, f"no row in {sname}"))
    long = merged[merged["_merge"] == "both"][[*GROUP, "concept", "prompt_id", "count", "score"]]
    return long.reset_index(drop=True), pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in REJECT_COLUMNS})


def _value_rejects(long: pd.DataFrame) -> pd.DataFrame:
    """(domain, model, concept) keys whose count or any prompt score is NaN/inf/negative."""
    reasons = _bad_value_reasons(long["count"], "count", allow_negative=False)
    score_reasons = _bad_value_reasons(long["score"], "score", allow_negative=True)
    reasons = reasons.where(reasons != "", score_reasons)
    bad = long.loc[reasons != "", [*GROUP, "concept"]].copy()
    bad["reason"] = reasons[reasons != ""]
    return bad.drop_duplicates([*GROUP, "concept"]).reset_index(drop=True)


def _drop_keys(long: pd.DataFrame, rejects: pd.DataFrame) -> pd.DataFrame:
    if rejects.empty:
        return long
    keys = pd.MultiIndex.from_frame(rejects[[*GROUP, "concept"]].astype(str))
    mine = pd.MultiIndex.from_frame(long[[*GROUP, "concept"]].astype(str))
    return long[~mine.isin(keys)].reset_index(drop=True)


def prepare_tables(
    frequencies: pd.DataFrame | None,
    scores: pd.DataFrame | None,
    user_table: pd.DataFrame | None,
    params: ThresholdParams,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Canonical (concepts, prompts, rejects, summary) from the user table when one is given,
    else from the FIT chain's two tables (pipelines ``threshold_user_table`` and ``threshold``)."""
    inputs: dict[str, dict[str, Any]] = {}
    source = "pipeline" if user_table is None else "user_table"
    if source == "user_table":
        long, rejects = checked_user_table(user_table, _from_user_table)
        used = {"raw_user_scores": user_table}
    else:
        if frequencies is None or scores is None:
            raise ThresholdInputError(
                "prm_concept_frequencies / prm_imitation_scores are missing: run the frequency "
                "and similarity pipelines first, or threshold your own table with "
                "`kedro run --pipelines threshold_user_table`"
            )
        long, rejects = _from_pipeline(
            frequencies, scores, params.count_column, params.model_corpus
        )
        used = {"prm_concept_frequencies": frequencies, "prm_imitation_scores": scores}
    for name, df in used.items():
        inputs[name] = {
            "rows": len(df),
            "columns": list(map(str, df.columns)),
            "sha256": fingerprint(df),
        }

    bad_values = _value_rejects(long)
    rejects = pd.concat([rejects, bad_values], ignore_index=True)
    if params.on_bad_rows == "error" and len(rejects):
        raise ThresholdInputError(
            f"{len(rejects)} unusable concept row(s) (threshold.on_bad_rows=error): "
            f"{rejects.head(10).to_dict('records')}"
        )
    long = _drop_keys(long, bad_values)

    present = set(long["concept"])
    excluded = sorted(set(params.exclude) & present)
    not_found = sorted(set(params.exclude) - present)
    if not_found:
        logger.warning("threshold.exclude names concepts not in the data: %s", not_found)
    if excluded:
        ex = long[long["concept"].isin(excluded)][[*GROUP, "concept"]].drop_duplicates()
        ex["reason"] = "excluded by parameter threshold.exclude"
        rejects = pd.concat([rejects, ex], ignore_index=True)
        long = long[~long["concept"].isin(excluded)]
    if len(rejects):
        logger.warning(
            "threshold: %d concept row(s) rejected: %s",
            len(rejects),
            rejects.groupby("reason").size().to_dict(),
        )

    prompts = long.sort_values([*GROUP, "concept", "prompt_id"], kind="mergesort")
    prompts = prompts.reset_index(drop=True)
    concepts = (
        prompts.groupby([*GROUP, "concept"], sort=False)
        .agg(count=("count", "first"), score=("score", "mean"), n_prompts=("score", "size"))
        .reset_index()
    )
    # Rule F9: ascending count, ties broken by concept name, stable.
    concepts = concepts.sort_values([*GROUP, "count", "concept"], kind="mergesort")
    concepts["rank"] = concepts.groupby(GROUP, sort=False).cumcount()
    concepts = concepts.reset_index(drop=True)
    ties = concepts.duplicated([*GROUP, "count"], keep=False)
    summary = {
        "source": source,
        "count_column": params.count_column if source == "pipeline" else "count",
        "inputs": inputs,
        "excluded": excluded,
        "exclude_not_found": not_found,
        "n_rejects": len(rejects),
        "n_concepts": concepts.groupby(GROUP).size().rename("n").reset_index().to_dict("records"),
        "n_tied_concepts": int(ties.sum()),
    }
    rejects = rejects.sort_values(["reason", *GROUP, "concept"], kind="mergesort")
    return concepts, prompts, rejects.reset_index(drop=True), summary
