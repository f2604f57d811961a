"""Penalty sensitivity of the paper's PELT and a smooth logistic imitation curve.

Logistic curve (FIT reference section 11, "functional form"): a fractional-logit GLM
(statsmodels ``GLM``, binomial family, logit link) of the score rescaled to [0, 1] by the
observed minimum and maximum, against ``x = log10(1 + count)``. The midpoint ``x0 = -b0 / b1``
is where the curve is half-way between the two extremes; ``midpoint = 10**x0 - 1`` images.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from imitation_kedro.pipelines.threshold.pelt import noise_sd, pelt_l2


def sweep_penalty(
    counts: np.ndarray, y: np.ndarray, penalties: list[float], min_size: int, jump: int
) -> list[dict[str, float]]:
    """Per penalty: number of change points and the first one read the paper's way."""
    rows = []
    for pen in penalties:
        cps = [b for b in pelt_l2(y, pen, min_size, jump) if b < len(y)]
        rows.append(
            {
                "penalty": float(pen),
                "n_change_points": len(cps),
                "change_index": cps[0] if cps else -1,
                "threshold": float(round(float(counts[cps[0]]))) if cps else np.nan,
            }
        )
    return rows


def bic_penalty(y: np.ndarray) -> float:
    """sigma^2 log T with a robust noise SD (ruptures takes only linear penalties)."""
    return float(noise_sd(y) ** 2 * np.log(len(y)))


def penalty_grid(low: float, high: float, n: int) -> list[float]:
    return [float(v) for v in np.geomspace(low, high, n)]


def fit_logistic(counts: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Fractional-logit fit; NaNs and a note when the curve is flat or falling or fails."""
    import statsmodels.api as sm

    out = {
        "logistic_b0": np.nan,
        "logistic_b1": np.nan,
        "logistic_midpoint": np.nan,
        "logistic_low": np.nan,
        "logistic_high": np.nan,
        "logistic_note": "",
    }
    y = np.asarray(y, dtype=float)
    low, high = float(np.min(y)), float(np.max(y))
    if high - low <= 0 or len(y) < 3:
        out["logistic_note"] = "not fitted: all scores equal or < 3 concepts"
        return out
    x = np.log10(1.0 + np.asarray(counts, dtype=float))
    target = (y - low) / (high - low)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.GLM(target, sm.add_constant(x), family=sm.families.Binomial()).fit()
        b0, b1 = (float(v) for v in fit.params)
    except Exception as exc:  # noqa: BLE001 - a failed optional fit is reported, not raised
        out["logistic_note"] = f"not fitted: {type(exc).__name__}: {exc}"
        return out
    out.update(logistic_b0=b0, logistic_b1=b1, logistic_low=low, logistic_high=high)
    if not np.isfinite(b1) or b1 <= 0:
        out["logistic_note"] = "no rising curve (slope <= 0): no midpoint"
        return out
    x0 = -b0 / b1
    out["logistic_midpoint"] = float(10.0**x0 - 1.0)
    if not (x.min() <= x0 <= x.max()):
        out["logistic_note"] = "midpoint outside the observed counts (extrapolated)"
    return out


def logistic_curve(params: pd.Series, counts: np.ndarray) -> np.ndarray:
    """The fitted curve in score units at ``counts``."""
    x = np.log10(1.0 + np.asarray(counts, dtype=float))
    z = params["logistic_b0"] + params["logistic_b1"] * x
    from scipy.special import expit

    return params["logistic_low"] + (params["logistic_high"] - params["logistic_low"]) * expit(z)
