"""The accuracy-vs-ASR figure and the markdown report (numbers computed, never typed in)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .params import BackdoorParams

GATE_ASR = 0.8  # reference s10: a backdoor must exist before the mitigation claim is tested
COLOURS = {"mmcl": "tab:blue", "ssl": "tab:orange", "mmcl_ssl": "tab:green"}


def plot_accuracy_vs_asr(results: pd.DataFrame, params: BackdoorParams) -> Any:
    """One panel per pre-training objective: every (run, epoch) point on the test split, the
    poisoned model as a red star (the paper's scatter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objectives = sorted(results["pretrain_objective"].unique())
    fig, axes = plt.subplots(1, len(objectives), figsize=(5 * len(objectives), 4), squeeze=False)
    for ax, obj in zip(axes[0], objectives, strict=True):
        sub = results[results["pretrain_objective"] == obj]
        for clean_obj, pts in sub[sub["epoch"] > 0].groupby("clean_objective"):
            ax.scatter(
                100 * pts["test_asr1"],
                100 * pts["test_acc1"],
                s=14,
                alpha=0.7,
                color=COLOURS.get(clean_obj),
                label=f"cleaned: {clean_obj}",
            )
        start = sub[sub["epoch"] == 0]
        ax.scatter(
            100 * start["test_asr1"],
            100 * start["test_acc1"],
            marker="*",
            s=160,
            color="red",
            label="poisoned (before cleaning)",
        )
        for cap in params.select.asr_caps:
            ax.axvline(100 * cap, color="grey", lw=0.6, ls=":")
        ax.set(
            title=f"pre-trained with {obj}",
            xlabel="ASR@1 on triggered test images (%)",
            ylabel="zero-shot top-1 accuracy, test (%)",
            xlim=(-2, 102),
        )
        ax.legend(fontsize=7)
    fig.suptitle(f"CleanCLIP grid, attack {params.attack.kind}")
    fig.tight_layout()
    return fig


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` trials (95 % by default)."""
    if n <= 0 or not np.isfinite(p):
        return (np.nan, np.nan)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % Student-t interval across seeds (nan bounds for fewer than 2 values)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(values.mean())
    if len(values) == 1:
        return (mean, np.nan, np.nan)
    from scipy import stats

    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return (mean, mean - half, mean + half)


def welch_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``a`` minus mean of ``b`` with a 95 % Welch interval (independent seeds)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return (diff, np.nan, np.nan)
    from scipy import stats

    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return (diff, diff, diff)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.975, dof) * se
    return (diff, diff - half, diff + half)


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f}"


def _with_ci(mean: float, lo: float, hi: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return _pct(mean)
    return f"{_pct(mean)} [{_pct(lo)}, {_pct(hi)}]"


def _seed_ci(values: np.ndarray) -> str:
    mean, lo, hi = t_interval(values)
    n = int(np.sum(~np.isnan(np.asarray(values, dtype=float))))
    return f"{_with_ci(mean, lo, hi)} (n={n})"


def _table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _n_eval(classes: dict[str, Any], split: str, what: str) -> int:
    return int(classes.get("n_eval", {}).get(split, {}).get(what, 0))


def _wilson_cell(p: float, n: int) -> str:
    return _with_ci(p, *wilson(p, n)) if n else _pct(p)


def write_report(
    classes: dict[str, Any],
    manifest: pd.DataFrame,
    pretrain_metrics: pd.DataFrame,
    results: pd.DataFrame,
    selection: pd.DataFrame,
    params: BackdoorParams,
) -> str:
    """Markdown: data, attack, poisoned models, selected cleaned models, the paper's question.

    Intervals: Wilson 95 % for one model's accuracy / ASR on the test split (binomial over test
    images); Student-t 95 % across pre-training seeds for means; Welch 95 % for the difference of
    two objectives' means. Numbers in percent.
    """
    n_cls = len(classes["classes"])
    n_acc, n_asr = _n_eval(classes, "test", "acc"), _n_eval(classes, "test", "asr")
    kept = pretrain_metrics[pretrain_metrics["kept"]].sort_values(
        ["pretrain_objective", "pretrain_seed"]
    )
    heldout = selection[selection["rule"] == "heldout"]
    a = params.attack
    trigger = (
        f"{a.patch_size} px {a.patch_noise.replace('_', '-')} noise patch, {a.patch_location} "
        "location"
        if a.kind in ("badnet", "label_consistent")
        else a.kind
    )
    lines = [
        f"# Backdoor cleaning vs pre-training objective ({a.kind} attack)",
        "",
        f"- classes: {n_cls} (chance top-1 = {100 / n_cls:.1f} %), target {classes['target']!r}",
        f"- poisoned pre-training pairs: {len(manifest)} ({trigger}); rejected input pairs: "
        f"{classes['rejects']}",
        *_streaming_rejects(pretrain_metrics, results),
        f"- test split: {n_acc or '?'} images for accuracy, {n_asr or '?'} non-target images for "
        "ASR (Wilson intervals below are over these)",
        f"- pre-training objectives {list(params.pretrain.objectives)}, seeds "
        f"{list(params.pretrain.seeds)}, {params.pretrain.optim.epochs} epochs, batch "
        f"{params.pretrain.optim.batch_size} pairs for every objective",
        f"- cleaning grid: objectives {list(params.clean.objectives)}, lr {list(params.clean.lrs)},"
        f" λ2 {list(params.clean.lambda_ssl)}, {params.clean.optim.epochs} epochs, fresh optimiser:"
        f" {not params.clean.load_optimizer_state}",
        f"- selection on the `{params.select.selection_split}` split; test numbers reported",
        "- intervals: [95 % Wilson] per model on test images; [95 % Student-t] across seeds",
        "",
        "## Poisoned models (kept checkpoint, before cleaning)",
        "",
        _table(
            pd.DataFrame(
                {
                    "model": kept["model"],
                    "epoch": kept["epoch"],
                    "test top-1 % [Wilson]": [_wilson_cell(v, n_acc) for v in kept["test_acc1"]],
                    "test ASR@1 % [Wilson]": [_wilson_cell(v, n_asr) for v in kept["test_asr1"]],
                    "selection ASR@1 %": [_pct(v) for v in kept["selection_asr1"]],
                    "pairs/s": kept["pairs_per_s"].round(0).astype(int),
                }
            )
        ),
        "",
        "Across seeds (mean [95 % t-interval]):",
        "",
        _table(
            pd.DataFrame(
                [
                    {
                        "pre-training": obj,
                        "test top-1 %": _seed_ci(g["test_acc1"].to_numpy()),
                        "test ASR@1 %": _seed_ci(g["test_asr1"].to_numpy()),
                    }
                    for obj, g in kept.groupby("pretrain_objective", sort=True)
                ]
            )
        ),
        "",
    ]
    lines += _cleaned_summary(kept, heldout, n_asr)
    lines += [
        "## Is cleaning harder after MMCL+SSL pre-training?",
        "",
    ]
    lines += _finding(kept, heldout, params)
    lines += [
        "",
        "The oracle rule (selection on test, as in the paper) is in the selection table "
        "(`rule == oracle_test`).",
    ]
    return "\n".join(lines) + "\n"


def _streaming_rejects(pretrain: pd.DataFrame, results: pd.DataFrame) -> list[str]:
    """Streaming mode only: pairs whose image failed to decode in a batch (dropped, counted)."""
    if "decode_rejects" not in pretrain.columns:
        return []
    most = int(pretrain["decode_rejects"].max())
    if "decode_rejects" in results.columns and len(results):
        most = max(most, int(results["decode_rejects"].max()))
    return [
        f"- images that failed to decode while streaming (pair dropped from both sides of its "
        f"batch; most in one node): {most}"
    ]


def _acc_before(kept: pd.DataFrame) -> dict[tuple[str, int], float]:
    return {
        (r.pretrain_objective, int(r.pretrain_seed)): float(r.test_acc1)
        for r in kept.itertuples(index=False)
    }


def _cleaned_summary(kept: pd.DataFrame, heldout: pd.DataFrame, n_asr: int) -> list[str]:
    """Per (pre-training objective, cleaning objective, cap): seeds cleaned, accuracy and ASR."""
    if heldout.empty:
        return ["## Selected cleaned models", "", "(no cleaning runs)", ""]
    before = _acc_before(kept)
    rows, detail = [], []
    for (obj, clean, cap), g in heldout.groupby(
        ["pretrain_objective", "clean_objective", "asr_cap"], sort=True
    ):
        ok = g[g["selected"]]
        change = np.array(
            [r.test_acc1 - before[(obj, int(r.pretrain_seed))] for r in ok.itertuples()]
        )
        rows.append(
            {
                "pre-training": obj,
                "cleaning": clean,
                "ASR cap %": f"{100 * cap:g}",
                "seeds cleaned": f"{len(ok)}/{len(g)}",
                "test top-1 % after": _seed_ci(ok["test_acc1"].to_numpy()),
                "change vs poisoned (points)": _seed_ci(change),
                "test ASR@1 % after": _seed_ci(ok["test_asr1"].to_numpy()),
                "lowest selection ASR % (mean)": _pct(float(g["min_asr"].mean())),
            }
        )
    for r in heldout.sort_values(
        ["pretrain_objective", "pretrain_seed", "clean_objective", "asr_cap"]
    ).itertuples(index=False):
        detail.append(
            {
                "pre-training": r.pretrain_objective,
                "seed": int(r.pretrain_seed),
                "cleaning": r.clean_objective,
                "cap %": f"{100 * r.asr_cap:g}",
                "lr": r.lr if r.selected else "-",
                "epoch": int(r.epoch) if r.selected else "-",
                "sel top-1 %": _pct(r.sel_acc1) if r.selected else "-",
                "test top-1 %": _pct(r.test_acc1) if r.selected else "not cleaned",
                "test ASR@1 % [Wilson]": (_wilson_cell(r.test_asr1, n_asr) if r.selected else "-"),
                "min sel ASR %": _pct(r.min_asr),
            }
        )
    return [
        "## Selected cleaned models (held-out selection rule)",
        "",
        "Per cap, the best selection-split top-1 among (run, epoch) points with selection ASR@1 ≤ cap;"
        " the point's test numbers. Mean [95 % t-interval] over the seeds that reached the cap.",
        "",
        _table(pd.DataFrame(rows)),
        "",
        "<details><summary>Per seed</summary>",
        "",
        _table(pd.DataFrame(detail)),
        "",
        "</details>",
        "",
    ]


def _drops(
    kept: pd.DataFrame, heldout: pd.DataFrame, cap: float, cleaning: str | None
) -> dict[str, np.ndarray]:
    """Per pre-training objective, per seed: poisoned test top-1 minus the best cleaned test top-1
    at ASR <= cap (``cleaning=None``: any cleaning objective); no eligible point = all of it."""
    out = {}
    before = _acc_before(kept)
    for obj in ("mmcl", "mmcl_ssl"):
        vals = []
        for seed in sorted(kept.loc[kept["pretrain_objective"] == obj, "pretrain_seed"]):
            pts = heldout[
                (heldout["pretrain_objective"] == obj)
                & (heldout["pretrain_seed"] == seed)
                & (heldout["asr_cap"] == cap)
                & heldout["selected"]
            ]
            if cleaning is not None:
                pts = pts[pts["clean_objective"] == cleaning]
            acc0 = before[(obj, int(seed))]
            vals.append(acc0 - (pts["test_acc1"].max() if len(pts) else 0.0))
        out[obj] = np.array(vals, dtype=float)
    return out


def _finding(kept: pd.DataFrame, heldout: pd.DataFrame, params: BackdoorParams) -> list[str]:
    cap = min(params.select.asr_caps)
    objs = set(kept["pretrain_objective"])
    if not {"mmcl", "mmcl_ssl"} <= objs or heldout.empty:
        return ["Needs both `mmcl` and `mmcl_ssl` pre-training to compare."]
    weak = kept[kept["test_asr1"] < GATE_ASR]
    if len(weak):
        return [
            f"**Gate not met:** {', '.join(weak['model'])} reached test ASR@1 "
            f"{', '.join(f'{100 * a:.0f} %' for a in weak['test_asr1'])} before cleaning, "
            f"below the {100 * GATE_ASR:.0f} % the reference requires before testing the "
            "mitigation claim (section 10). No conclusion is drawn; train longer or poison more."
        ]
    if not heldout[heldout["asr_cap"] == cap]["selected"].any():
        return [
            f"No cleaning run of any model reached ASR ≤ {100 * cap:g} % on the selection "
            "split: the grid is too small to compare the objectives."
        ]
    out = [
        f"Accuracy cost of cleaning = poisoned test top-1 minus the selected cleaned test top-1 at "
        f"selection ASR@1 ≤ {100 * cap:g} %, per seed (negative: cleaning also raised accuracy); "
        "a seed with no eligible point counts as losing its whole poisoned accuracy. "
        "Difference = MMCL+SSL minus MMCL pre-training, mean [95 % Welch interval]; "
        "'harder' needs the interval above 0.",
        "",
    ]
    cleanings = [c for c in ("mmcl_ssl", "mmcl", "ssl") if c in set(heldout["clean_objective"])]
    rows, verdicts = [], {}
    for cleaning in [*cleanings, None]:
        drops = _drops(kept, heldout, cap, cleaning)
        diff, lo, hi = welch_interval(drops["mmcl_ssl"], drops["mmcl"])
        if np.isfinite(lo) and lo > 0:
            verdict = "harder after MMCL+SSL"
        elif np.isfinite(hi) and hi < 0:
            verdict = "easier after MMCL+SSL"
        elif np.isfinite(lo):
            verdict = "no clear difference (interval includes 0)"
        else:
            verdict = ("harder" if diff > 0 else "not harder") + " (one seed: no interval)"
        name = {"mmcl_ssl": "MMCL+SSL (CleanCLIP)", None: "best of any"}.get(
            cleaning, str(cleaning).upper()
        )
        verdicts[name] = verdict
        rows.append(
            {
                "cleaning": name,
                "cost after MMCL (points)": _seed_ci(drops["mmcl"]),
                "cost after MMCL+SSL (points)": _seed_ci(drops["mmcl_ssl"]),
                "difference (points)": _with_ci(diff, lo, hi),
                "seeds not cleaned (MMCL / MMCL+SSL)": (
                    f"{_not_cleaned(heldout, 'mmcl', cap, cleaning)} / "
                    f"{_not_cleaned(heldout, 'mmcl_ssl', cap, cleaning)}"
                ),
                "reading": verdict,
            }
        )
    out += [_table(pd.DataFrame(rows)), ""]
    out += [
        "Resistance = the lowest selection-split ASR@1 any (lr, epoch) point of the grid reached, "
        "per seed, whatever the accuracy; difference = MMCL+SSL minus MMCL pre-training.",
        "",
    ]
    rows = []
    for cleaning in [*cleanings, None]:
        lows = _lowest_asr(kept, heldout, cleaning)
        diff, lo, hi = welch_interval(lows["mmcl_ssl"], lows["mmcl"])
        if np.isfinite(lo) and lo > 0:
            reading = "higher after MMCL+SSL"
        elif np.isfinite(hi) and hi < 0:
            reading = "lower after MMCL+SSL"
        else:
            reading = "no clear difference" if np.isfinite(lo) else "one seed: no interval"
        rows.append(
            {
                "cleaning": {"mmcl_ssl": "MMCL+SSL (CleanCLIP)", None: "best of any"}.get(
                    cleaning, str(cleaning).upper()
                ),
                "lowest ASR after MMCL (%)": _seed_ci(lows["mmcl"]),
                "lowest ASR after MMCL+SSL (%)": _seed_ci(lows["mmcl_ssl"]),
                "difference (points)": _with_ci(diff, lo, hi),
                "reading": reading,
            }
        )
    out += [_table(pd.DataFrame(rows)), ""]
    headline = verdicts["MMCL+SSL (CleanCLIP)"] if "MMCL+SSL (CleanCLIP)" in verdicts else None
    if headline:
        out.append(
            f"With CleanCLIP (MMCL+SSL cleaning), the paper's headline, cleaning at ASR ≤ "
            f"{100 * cap:g} % is **{headline}** at this scale."
        )
    if min(len(v) for v in _drops(kept, heldout, cap, None).values()) < 3:
        out.append("Seeds are few (< 3): read the intervals before drawing a conclusion.")
    return out


def _lowest_asr(
    kept: pd.DataFrame, heldout: pd.DataFrame, cleaning: str | None
) -> dict[str, np.ndarray]:
    """Per pre-training objective, per seed: the lowest selection ASR@1 of the cleaning grid."""
    out = {}
    for obj in ("mmcl", "mmcl_ssl"):
        g = heldout[heldout["pretrain_objective"] == obj]
        if cleaning is not None:
            g = g[g["clean_objective"] == cleaning]
        seeds = sorted(kept.loc[kept["pretrain_objective"] == obj, "pretrain_seed"])
        low = g.groupby("pretrain_seed")["min_asr"].min()
        out[obj] = np.array([low.get(seed, np.nan) for seed in seeds], dtype=float)
    return out


def _not_cleaned(heldout: pd.DataFrame, obj: str, cap: float, cleaning: str | None) -> str:
    g = heldout[(heldout["pretrain_objective"] == obj) & (heldout["asr_cap"] == cap)]
    if cleaning is not None:
        g = g[g["clean_objective"] == cleaning]
    per_seed = g.groupby("pretrain_seed")["selected"].any()
    return f"{int((~per_seed).sum())}/{len(per_seed)}"
