"""The headline as an effect with an interval, the paper's numbers beside it, a verdict, and the
seeds the study needs (issue 23).

Effect = mean accuracy cost of cleaning after MMCL+SSL pre-training minus that after MMCL
pre-training, in points, per cleaning objective and ASR cap (cost per seed: :func:`.finding.drops`).
Interval: 95 % BCa bootstrap over seeds (scipy.stats.bootstrap, each pre-training objective's
seeds resampled on their own, seeded: the same tables give the same interval). Verdict (only when every
poisoned model carries the backdoor, the gate of :mod:`.finding`): reproduced
(interval above 0), contradicted (interval below 0, or below the paper's own effect while it
includes 0: the data rule out an effect as large as the paper's), else undetermined at this
power. Power: statsmodels' two-sample t-test power at the paper's ~10-point effect, from the
pooled seed-to-seed standard deviation measured here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .finding import GATE_ASR, drops
from .intervals import markdown_table

EFFECT_OF_INTEREST = 10.0  # points: the paper's CC6M CleanCLIP cost gap (+11.1), rounded
POWER, ALPHA = 0.8, 0.05
BOOT_RESAMPLES, BOOT_SEED = 9999, 0
MAX_SEEDS = 1000  # seeds_needed reports at most this
NEVER = None  # the paper's "never cleans" at that cap: the model keeps no accuracy
# Reference s7.1 (accuracy before cleaning) and s7.2 (best accuracy after cleaning at ASR <= 5 /
# 10 / 20 %), ImageNet-1K top-1 %, per (corpus, pre-training objective, cleaning objective).
PAPER_BEFORE = {("CC3M", "mmcl"): 16.00, ("CC3M", "mmcl_ssl"): 17.04,
                ("CC6M", "mmcl"): 23.76, ("CC6M", "mmcl_ssl"): 23.86}  # fmt: skip
PAPER_AFTER = {
    ("CC3M", "mmcl", "mmcl"): (12.43, 12.62, 12.62),
    ("CC3M", "mmcl", "ssl"): (12.50, 12.50, 12.50),
    ("CC3M", "mmcl", "mmcl_ssl"): (16.49, 17.22, 17.46),
    ("CC3M", "mmcl_ssl", "mmcl"): (13.41, 13.94, 14.61),
    ("CC3M", "mmcl_ssl", "ssl"): (0.61, 0.61, 10.81),
    ("CC3M", "mmcl_ssl", "mmcl_ssl"): (14.16, 15.11, 15.11),
    ("CC6M", "mmcl", "mmcl"): (NEVER, NEVER, NEVER),
    ("CC6M", "mmcl", "ssl"): (23.56, 24.01, 24.29),
    ("CC6M", "mmcl", "mmcl_ssl"): (24.04, 24.96, 25.06),
    ("CC6M", "mmcl_ssl", "mmcl"): (NEVER, NEVER, NEVER),
    ("CC6M", "mmcl_ssl", "ssl"): (6.82, 6.82, 9.34),
    ("CC6M", "mmcl_ssl", "mmcl_ssl"): (13.05, 13.05, 13.05),
}
PAPER_CAPS = (0.05, 0.10, 0.20)
EFFECT_COLUMNS = [
    "cleaning", "cleaning_objective", "asr_cap", "n_mmcl", "n_mmcl_ssl", "cost_mmcl",
    "cost_mmcl_ssl", "effect", "lo", "hi", "paper_effect", "verdict", "sd", "seeds_needed",
    "seeds_planned", "power_now",
]  # fmt: skip
NAMES = {"mmcl_ssl": "MMCL+SSL (CleanCLIP)", "mmcl": "MMCL", "ssl": "SSL", None: "best of any"}


def paper_effect(corpus: str, cleaning: str | None, cap: float) -> float:
    """The paper's cost after MMCL+SSL minus cost after MMCL pre-training (points) at ``cap``;
    nan for a cap the paper does not report."""
    if not any(math.isclose(cap, c) for c in PAPER_CAPS):
        return float("nan")
    i = [math.isclose(cap, c) for c in PAPER_CAPS].index(True)
    cost = {}
    for obj in ("mmcl", "mmcl_ssl"):
        cleanings = [cleaning] if cleaning else ["mmcl", "ssl", "mmcl_ssl"]
        after = [PAPER_AFTER[(corpus, obj, c)][i] for c in cleanings]
        best = max((a for a in after if a is not NEVER), default=0.0)
        cost[obj] = PAPER_BEFORE[(corpus, obj)] - best
    return cost["mmcl_ssl"] - cost["mmcl"]


def bootstrap_diff(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its 95 % BCa bootstrap interval over seeds (nan below 2 seeds per
    side; a degenerate resample distribution gives the point itself)."""
    from scipy.stats import bootstrap

    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
    if min(len(a), len(b)) < 2:
        return diff, float("nan"), float("nan")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return diff, diff, diff
    res = bootstrap(
        (a, b),
        lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
        n_resamples=BOOT_RESAMPLES,
        confidence_level=1 - ALPHA,
        method="BCa",
        rng=np.random.default_rng(BOOT_SEED),
    )
    lo, hi = res.confidence_interval
    if not (np.isfinite(lo) and np.isfinite(hi)):  # BCa undefined (ties): percentile instead
        res = bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
                        n_resamples=BOOT_RESAMPLES, method="percentile",
                        rng=np.random.default_rng(BOOT_SEED))  # fmt: skip
        lo, hi = res.confidence_interval
    return diff, float(lo), float(hi)


def verdict(lo: float, hi: float, paper: float) -> str:
    """reproduced / contradicted / undetermined at this power (module docstring)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "undetermined (too few seeds for an interval)"
    if lo > 0:
        return "reproduced"
    if hi < 0 or (np.isfinite(paper) and paper > 0 and hi < paper):
        return "contradicted"
    return "undetermined at this power"


def gate_verdict(weak: list[str]) -> str | None:
    """No verdict while a poisoned model lacks the backdoor (reference s10, :data:`GATE_ASR`)."""
    if not weak:
        return None
    return (f"undetermined: gate not met ({len(weak)} poisoned model(s) below "
            f"{100 * GATE_ASR:.0f} % ASR before cleaning)")  # fmt: skip


def seeds_needed(sd: float, effect: float = EFFECT_OF_INTEREST) -> int | None:
    """Seeds per pre-training objective for ``POWER`` at ``effect`` points (two-sided two-sample
    t-test, equal groups) given the seed-to-seed sd in points; None without a spread."""

    if not (np.isfinite(sd) and sd > 0):
        return None
    # the smallest n with enough power (solve_power fails to converge for large effects)
    for n in range(2, MAX_SEEDS + 1):
        if achieved_power(sd, n, effect) >= POWER:
            return n
    return MAX_SEEDS


def sd_upper(sd: float, dof: int) -> float:
    """Upper 95 % confidence limit of a standard deviation estimated with ``dof`` degrees of
    freedom (chi-square): plan seeds with it, since a few seeds can underestimate the spread."""
    from scipy.stats import chi2

    if dof < 1 or not np.isfinite(sd):
        return float("nan")
    return float(sd * np.sqrt(dof / chi2.ppf(ALPHA, dof)))


def achieved_power(sd: float, n: int, effect: float = EFFECT_OF_INTEREST) -> float:
    from statsmodels.stats.power import TTestIndPower

    if not (np.isfinite(sd) and sd > 0) or n < 2:
        return float("nan")
    power = float(TTestIndPower().power(effect_size=effect / sd, nobs1=n, alpha=ALPHA))
    return 1.0 if np.isnan(power) and effect / sd > 3 else power  # nan: numerically 1


def pooled_sd(a: np.ndarray, b: np.ndarray) -> float:
    """Pooled seed-to-seed standard deviation of two groups (points)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    dof = len(a) + len(b) - 2
    if dof < 1 or min(len(a), len(b)) < 1:
        return float("nan")
    ss = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
    return float(np.sqrt(ss / dof))


def effect_table(
    kept: pd.DataFrame, heldout: pd.DataFrame, caps: list[float], corpus: str = "CC6M"
) -> pd.DataFrame:
    """One row per (cleaning objective, ASR cap): the effect, its bootstrap interval, the
    paper's effect (``corpus``), the verdict, and the seeds needed for 80 % power."""
    rows = []
    weak = kept.loc[kept["test_asr1"] < GATE_ASR, "model"].tolist()
    cleanings = [c for c in ("mmcl_ssl", "mmcl", "ssl") if c in set(heldout["clean_objective"])]
    for cleaning in [*cleanings, None]:
        for cap in sorted(caps):
            d = drops(kept, heldout, cap, cleaning)
            a, b = 100 * d["mmcl_ssl"], 100 * d["mmcl"]
            diff, lo, hi = bootstrap_diff(a, b)
            paper = paper_effect(corpus, cleaning, cap)
            sd = pooled_sd(a, b)
            rows.append({
                "cleaning": NAMES[cleaning], "cleaning_objective": cleaning or "any",
                "asr_cap": cap, "n_mmcl": len(b), "n_mmcl_ssl": len(a),
                "cost_mmcl": float(b.mean()) if len(b) else np.nan,
                "cost_mmcl_ssl": float(a.mean()) if len(a) else np.nan,
                "effect": diff, "lo": lo, "hi": hi, "paper_effect": paper,
                "verdict": gate_verdict(weak) or verdict(lo, hi, paper), "sd": sd,
                "seeds_needed": seeds_needed(sd) or 0,
                "seeds_planned": seeds_needed(sd_upper(sd, len(a) + len(b) - 2)) or 0,
                "power_now": achieved_power(sd, min(len(a), len(b))),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _num(x: float, fmt: str = "+.1f") -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(x, fmt)


def effect_section(table: pd.DataFrame, corpus: str = "CC6M") -> list[str]:
    """The report's headline section: the effect table, the verdict sentence, the power."""
    if table.empty:
        return []
    view = pd.DataFrame({
        "cleaning": table["cleaning"],
        "ASR cap %": [f"{100 * c:g}" for c in table["asr_cap"]],
        "cost after MMCL": [_num(v, ".1f") for v in table["cost_mmcl"]],
        "cost after MMCL+SSL": [_num(v, ".1f") for v in table["cost_mmcl_ssl"]],
        "effect [95 % bootstrap]": [f"{_num(r.effect)} [{_num(r.lo)}, {_num(r.hi)}]"
                                    for r in table.itertuples()],
        f"paper ({corpus})": [_num(v) for v in table["paper_effect"]],
        "verdict": table["verdict"],
        "seeds for 80 % power (sd / upper sd)": [
            f"{a or 'n/a'} / {b or 'n/a'}" for a, b in zip(table["seeds_needed"],
                                                        table["seeds_planned"], strict=True)],
    })  # fmt: skip
    head = table[(table["cleaning_objective"] == "mmcl_ssl")].sort_values("asr_cap")
    out = [
        "## Headline: the cost gap of cleaning, as an effect with an interval",
        "",
        "Effect = accuracy cost of cleaning after MMCL+SSL pre-training minus after MMCL "
        "pre-training, in points (cost per seed: poisoned test top-1 minus the selected cleaned "
        "test top-1; a seed never cleaned to the cap loses all its accuracy). Interval: 95 % BCa "
        "bootstrap over seeds. Paper: the same difference from its tables (reference s7.1, s7.2). "
        f"Seeds for {100 * POWER:.0f} % power: per pre-training objective, two-sample t-test at "
        f"a {EFFECT_OF_INTEREST:g}-point effect with the seed-to-seed sd measured here, and with "
        "its upper 95 % confidence limit (few seeds underestimate a spread).",
        "",
        markdown_table(view),
        "",
    ]
    if len(head):
        r = head.iloc[0]
        out.append(
            f"**Verdict (CleanCLIP, ASR ≤ {100 * r.asr_cap:g} %): {r.verdict}.** The cost gap is "
            f"{_num(r.effect)} points [{_num(r.lo)}, {_num(r.hi)}] over {r.n_mmcl} + "
            f"{r.n_mmcl_ssl} seeds; the paper's is {_num(r.paper_effect)} ({corpus}). "
            f"Seed-to-seed sd {_num(r.sd, '.1f')} points: power {_num(100 * r.power_now, '.0f')} %"
            f" at a {EFFECT_OF_INTEREST:g}-point effect; {r.seeds_needed or 'n/a'} seeds per "
            f"objective give {100 * POWER:.0f} % ({r.seeds_planned or 'n/a'} at the upper 95 % "
            "confidence limit of the sd, the count to plan with)."
        )
        out.append("")
    return out
