"""Per (concept_set, model) group: the paper's PELT and the segmented test, with bootstrap CIs."""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.seeding import stable_seed
from imitation_kedro.core.threshold_params import ThresholdParams
from imitation_kedro.pipelines.threshold.bootstrap import bootstrap_change, percentile_ci
from imitation_kedro.pipelines.threshold.pelt import pelt_l2, read_paper, ruptures_breakpoints
from imitation_kedro.pipelines.threshold.segmented import best_break, segmented_test
from imitation_kedro.schemas import column_names

logger = logging.getLogger(__name__)


def _base_row(  # noqa: PLR0913
    concept_set: str,
    model: str,
    method: str,
    group: pd.DataFrame,
    params: ThresholdParams,
    method_params: dict[str, Any],
    domain: str,
) -> dict[str, Any]:
    # The published schema of out_thresholds is the single source of its columns.
    row = dict.fromkeys(column_names("out_thresholds"), np.nan)
    row.update(
        concept_set=concept_set,
        domain=domain,
        model=model,
        method=method,
        status="no_threshold",
        reason="",
        change_index=-1,
        second_change_index=-1,
        threshold_concept="",
        outliers="",
        n_concepts=len(group),
        n_tied=int(group.duplicated("count", keep=False).sum()),
        n_resamples=0,
        ci_level=params.bootstrap.level,
        engine_check="",
        logistic_note="",
        parameters=json.dumps(method_params, sort_keys=True),
    )
    return row


def _degenerate_reason(group: pd.DataFrame, params: ThresholdParams) -> str:
    if len(group) < params.min_concepts:
        return f"too few concepts: {len(group)} < min_concepts {params.min_concepts}"
    if group["score"].nunique() == 1:
        return "all scores are equal: nothing changes"
    if group["count"].nunique() == 1:
        return "all counts are equal: no order to split"
    return ""


def _paper(group: pd.DataFrame, row: dict[str, Any], params: ThresholdParams) -> dict[str, Any]:
    p = params.paper
    counts = group["count"].to_numpy(dtype=float)
    y = group["score"].to_numpy(dtype=float)
    bkps = ruptures_breakpoints(y, p.penalty, p.min_size, p.jump)
    twin = pelt_l2(y, p.penalty, p.min_size, p.jump)
    row["engine_check"] = "ok" if twin == bkps else f"numpy twin {twin} != ruptures {bkps}"
    if twin != bkps:
        logger.warning(
            "threshold: PELT twin differs from ruptures (%s, %s): %s",
            row["concept_set"],
            row["model"],
            row["engine_check"],
        )
    reading = read_paper(counts, y, list(group["concept"]), bkps, p.outlier_factor)
    row["n_change_points"] = len(reading.breakpoints)
    if reading.cp is None:
        row["reason"] = f"PELT found no change point at penalty {p.penalty}"
        return row
    row.update(
        status="threshold",
        change_index=reading.cp,
        threshold=reading.threshold,
        threshold_concept=group["concept"].iloc[reading.cp],
        mean_before=reading.mean_before,
        mean_after=reading.mean_after,
        outliers="; ".join(reading.outliers),
    )
    if reading.second_cp is not None:
        row.update(second_change_index=reading.second_cp, second_threshold=reading.second_threshold)
    return row


def _segmented(group: pd.DataFrame, row: dict[str, Any], params: ThresholdParams) -> dict[str, Any]:
    s = params.segmented
    counts = group["count"].to_numpy(dtype=float)
    y = group["score"].to_numpy(dtype=float)
    seed = stable_seed(params.seed, "threshold", "permutation", row["concept_set"], row["model"])
    result = segmented_test(counts, y, _min_segment(params), s.form, s.n_permutations, seed)
    row.update(p_value=result.p_value, statistic=result.statistic)
    if result.cp is None:
        row["reason"] = "no admissible break (segments too short or counts all tied)"
        return row
    candidate = float(round(float(counts[result.cp])))
    if result.p_value >= s.alpha:
        row["reason"] = (
            f"no significant break: p = {result.p_value:.3f} >= alpha {s.alpha} "
            f"(best candidate at count {candidate:g})"
        )
        return row
    row.update(
        status="threshold",
        change_index=result.cp,
        threshold=candidate,
        threshold_concept=group["concept"].iloc[result.cp],
        mean_before=result.mean_before,
        mean_after=result.mean_after,
    )
    return row


def _min_segment(params: ThresholdParams) -> int:
    # A line per side needs three points to leave a residual.
    s = params.segmented
    return max(s.min_segment, 3) if s.form == "linear_log" else s.min_segment


def _detector(method: str, params: ThresholdParams):
    if method == "paper":
        p = params.paper

        def detect(x: np.ndarray, y: np.ndarray) -> int | None:
            cps = [b for b in pelt_l2(y, p.penalty, p.min_size, p.jump) if b < len(y)]
            return cps[0] if cps else None
    else:

        def detect(x: np.ndarray, y: np.ndarray) -> int | None:
            return best_break(x, y, _min_segment(params), params.segmented.form)

    return detect


def method_parameters(method: str, params: ThresholdParams) -> dict[str, Any]:
    sub = params.paper if method == "paper" else params.segmented
    return {
        method: sub.to_dict(),
        "bootstrap": params.bootstrap.to_dict(),
        "min_concepts": params.min_concepts,
        "seed": params.seed,
    }


def detect_group(  # noqa: PLR0913
    concept_set: str,
    model: str,
    group: pd.DataFrame,
    prompts: pd.DataFrame,
    params: ThresholdParams,
    domain: str | None = None,
) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    """Rows of out_thresholds and bootstrap draws for one (concept_set, model) group.

    Seeds derive from the set (in the miniature world the set is the domain, as before)."""
    domain = concept_set if domain is None else domain
    rows, draws = [], []
    degenerate = _degenerate_reason(group, params)
    for method in params.methods:
        row = _base_row(
            concept_set, model, method, group, params, method_parameters(method, params), domain
        )
        if method == "paper":
            row["penalty"] = params.paper.penalty
        if degenerate:
            row["reason"] = degenerate
            rows.append(row)
            continue
        row = _paper(group, row, params) if method == "paper" else _segmented(group, row, params)
        b = params.bootstrap
        if row["status"] == "threshold" and b.n_resamples > 0:
            seed = stable_seed(params.seed, "threshold", "bootstrap", concept_set, model, method)
            d = bootstrap_change(
                group, prompts, _detector(method, params), b.n_resamples, b.nested_prompts, seed
            )
            row.update(percentile_ci(d, b.level), n_resamples=b.n_resamples)
            d.insert(0, "method", method)
            d.insert(0, "model", model)
            d.insert(0, "domain", domain)
            d.insert(0, "concept_set", concept_set)
            draws.append(d)
        rows.append(row)
    return rows, draws
