"""Same-concept vs different-concept similarity threshold, calibrated from reference images.

FIT §3.3 derived the face threshold this way: positives are the per-person mean of the
intra-person cosine matrix (diagonal included), negatives the mean cross-person cosine of every
pair of persons; ``lower`` = (min positive + max negative) / 2 and ``higher`` = the ROC threshold
maximising 2·TPR·(1-FPR) / (TPR + 1-FPR). ``statistic: loo_max`` applies the same two rules to the
statistic the verifier thresholds: a reference's max cosine to its own concept's *other*
references (positive) or to another concept's references (negative).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CALIBRATION_COLUMNS = [
    "concept_set",
    "domain",
    "statistic",
    "n_concepts",
    "n_positive",
    "n_negative",
    "min_positive",
    "max_negative",
    "lower",
    "higher",
    "tpr_lower",
    "fpr_lower",
    "tpr_higher",
    "fpr_higher",
]


class CalibrationError(ValueError):
    """Too few references to calibrate (names the domain / concept)."""


def pair_scores(refs: dict[str, np.ndarray], statistic: str) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative scores of the chosen ``statistic`` over the concepts in ``refs``."""
    names = sorted(refs)
    pos: list[float] = []
    neg: list[float] = []
    for i, a in enumerate(names):
        ea = refs[a]
        if statistic == "mean_pair":
            pos.append(float((ea @ ea.T).mean()))
            for b in names[i + 1 :]:
                neg.append(float((ea @ refs[b].T).mean()))
        elif statistic == "loo_max":
            if len(ea) < 2:
                raise CalibrationError(
                    f"concept {a!r} has {len(ea)} reference(s); loo_max calibration needs >= 2"
                )
            own = ea @ ea.T
            np.fill_diagonal(own, -np.inf)
            pos.extend(own.max(axis=1).tolist())
            for b in names:
                if b != a:
                    neg.extend((ea @ refs[b].T).max(axis=1).tolist())
        else:
            raise CalibrationError(f"unknown calibration statistic {statistic!r}")
    return np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)


def f1_like_threshold(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC threshold (score >= t is positive) maximising 2·TPR·(1-FPR)/(TPR + 1-FPR)."""
    cands = np.unique(np.concatenate([pos, neg]))[::-1]
    pos_sorted, neg_sorted = np.sort(pos), np.sort(neg)
    tpr = 1.0 - np.searchsorted(pos_sorted, cands, side="left") / pos.size
    fpr = 1.0 - np.searchsorted(neg_sorted, cands, side="left") / neg.size
    tnr = 1.0 - fpr
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(tpr + tnr > 0, 2 * tpr * tnr / (tpr + tnr), 0.0)
    return float(cands[int(np.argmax(score))])


def _rates(pos: np.ndarray, neg: np.ndarray, t: float) -> tuple[float, float]:
    return float((pos > t).mean()), float((neg > t).mean())


def calibrate_domain(
    domain: str, refs: dict[str, np.ndarray], statistic: str, concept_set: str = ""
) -> dict[str, object]:
    """One calibration-table row for a concept set (``concept_set`` "": the domain itself)."""
    concept_set = concept_set or domain
    if len(refs) < 2:
        raise CalibrationError(
            f"concept set {concept_set!r} (domain {domain!r}): calibration needs references of "
            f">= 2 concepts, got {len(refs)}"
        )
    pos, neg = pair_scores(refs, statistic)
    lower = float((pos.min() + neg.max()) / 2.0)
    higher = f1_like_threshold(pos, neg)
    tl, fl = _rates(pos, neg, lower)
    th, fh = _rates(pos, neg, higher)
    return {
        "concept_set": concept_set,
        "domain": domain,
        "statistic": statistic,
        "n_concepts": len(refs),
        "n_positive": int(pos.size),
        "n_negative": int(neg.size),
        "min_positive": float(pos.min()),
        "max_negative": float(neg.max()),
        "lower": lower,
        "higher": higher,
        "tpr_lower": tl,
        "fpr_lower": fl,
        "tpr_higher": th,
        "fpr_higher": fh,
    }


def calibration_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)


def choose_threshold(calibration: pd.DataFrame, concept_set: str, setting: str | float) -> float:
    """The threshold the verifier uses: a number as given, or the set's calibrated
    ``lower``/``higher``."""
    if not isinstance(setting, str):
        return float(setting)
    row = calibration[calibration["concept_set"] == concept_set]
    if row.empty:
        raise CalibrationError(
            f"no calibration row for concept set {concept_set!r}: rerun calibrate_verification"
        )
    return float(row.iloc[0][setting])
