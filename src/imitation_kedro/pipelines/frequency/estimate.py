"""Scale verified fractions back to image counts (FIT §3.6) with a Wilson interval.

``estimate = verified x captions / downloaded``; the Wilson score interval of the verified
fraction ``verified / downloaded`` (``ci_level``) is multiplied by ``captions``. No caption match
gives 0 (exact); captions but no usable image keeps the raw count 0 (FIT §3.6; or NaN with
``estimate.no_images: nan``), always with ``status = no_images`` and a logged warning.
:func:`scale_to_laion5b` is FIT's SD2.1 rule (x captions_5b / captions_2b_en), giving the rows of
corpus ``laion5b``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from imitation_kedro.schemas import column_names

logger = logging.getLogger(__name__)


def wilson_interval(
    successes: np.ndarray, trials: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``successes / trials`` (NaN where ``trials`` is 0)."""
    from statsmodels.stats.proportion import proportion_confint

    successes = np.asarray(successes, dtype=np.float64)
    trials = np.asarray(trials, dtype=np.float64)
    lo = np.full(trials.shape, np.nan)
    hi = np.full(trials.shape, np.nan)
    ok = trials > 0
    if ok.any():
        lo[ok], hi[ok] = proportion_confint(
            successes[ok], trials[ok], alpha=1 - level, method="wilson"
        )
    # The interval's ends are exactly 0 / 1 at 0 / all successes (no floating-point shortfall).
    lo[ok & (successes == 0)] = 0.0
    hi[ok & (successes == trials)] = 1.0
    return np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)


def estimate_frequencies(table: pd.DataFrame, level: float, no_images: str = "zero") -> pd.DataFrame:
    """Add estimate, ci_low, ci_high and status to a per-concept table of counts (LAION-2B-en).

    ``table`` holds concept, concept_set, domain, captions, sampled, downloaded, verified and
    optionally ``verified_units`` (matched faces, FIT §3.3; default: the verified images). The
    estimate is verified_units x captions / downloaded; the Wilson interval of the verified image
    fraction is scaled the same way. ``no_images``: ``zero`` keeps a concept with captions but no
    usable image at its raw count 0 (FIT §3.6), ``nan`` leaves it empty with CI [0, captions].
    """
    out = table.copy()
    if "verified_units" not in out:
        out["verified_units"] = out["verified"]
    cap = out["captions"].to_numpy(np.float64)
    n = out["downloaded"].to_numpy(np.float64)
    v = out["verified"].to_numpy(np.float64)
    units = out["verified_units"].to_numpy(np.float64)
    bad = (v > n) | (n > out["sampled"].to_numpy()) | (units < v)
    if bad.any():
        raise ValueError(
            "verified <= verified_units and verified <= downloaded <= sampled violated for "
            f"concept(s) {out.loc[bad, 'concept'].tolist()}"
        )
    lo, hi = wilson_interval(v, n, level)
    per_image = np.where(v > 0, units / np.where(v > 0, v, 1.0), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(n > 0, units * cap / np.where(n > 0, n, 1), np.nan)
    status = np.where(n > 0, "ok", np.where(cap > 0, "no_images", "no_captions"))
    zero = (cap == 0) | ((n == 0) & (no_images == "zero"))
    out["estimate"] = np.where(zero, 0.0, est)
    out["ci_low"] = np.where(zero | (n == 0), 0.0, lo * cap * per_image)
    out["ci_high"] = np.where(cap == 0, 0.0, np.where(n > 0, hi * cap * per_image, cap))
    out["status"] = status
    missing = out.loc[out["status"] == "no_images", "concept"].tolist()
    if missing:
        logger.warning(
            "%d concept(s) have caption hits but no usable image: estimate %s, CI [0, captions]: %s",
            len(missing),
            "0 (raw count, estimate.no_images: zero)" if no_images == "zero" else "NaN",
            missing[:20],
        )
    for col in ("captions", "sampled", "downloaded", "verified", "verified_units"):
        out[col] = out[col].astype(np.int64)
    out["corpus"] = "laion2b_en"
    out["captions_5b"] = pd.array([pd.NA] * len(out), dtype="Int64")
    # The published schema of prm_concept_frequencies is the single source of its columns.
    return out[column_names("prm_concept_frequencies")].reset_index(drop=True)


def scale_to_laion5b(frequencies: pd.DataFrame, captions_5b: pd.Series) -> pd.DataFrame:
    """FIT §3.6: multiply the 2B-en estimate and its CI by ``captions_5b / captions``.

    Only where the 2B-en caption count is > 0 (FIT also requires downloaded images; without them
    the estimate is already NaN, and the CI [0, captions] becomes [0, captions_5b]). A concept
    with no 2B-en caption keeps its exact 0, whatever its 5B count. ``captions_5b`` is indexed by
    concept; sets ``corpus`` = laion5b and ``captions_5b``.
    """
    out = frequencies.copy()
    c5 = out["concept"].map(captions_5b).astype(np.float64)
    if c5.isna().any():
        raise ValueError(f"no LAION-5B caption count for {out.loc[c5.isna(), 'concept'].tolist()}")
    cap = out["captions"].to_numpy(np.float64)
    ratio = np.where(cap > 0, c5.to_numpy() / np.where(cap > 0, cap, 1.0), 1.0)
    for col in ("estimate", "ci_low", "ci_high"):
        out[col] = out[col].to_numpy(np.float64) * ratio
    out["corpus"] = "laion5b"
    out["captions_5b"] = pd.array(c5.to_numpy(), dtype="Int64")
    return out[column_names("prm_concept_frequencies")]
