"""Per-concept figures: each prompt's selected references beside its generations, with scores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.slugs import slugify

from .decoding import decode_image
from .params import GridParams


def pick_concepts(concept_scores: pd.DataFrame, max_concepts: int) -> list[str]:
    """All concepts, or ``max_concepts`` spread evenly over the score ranking (low to high)."""
    ranked = (
        concept_scores.groupby("concept")["score"].mean().sort_values(kind="stable").index.tolist()
    )
    if max_concepts == 0 or len(ranked) <= max_concepts:
        return ranked
    picks = np.linspace(0, len(ranked) - 1, max_concepts).round().astype(int)
    return [ranked[i] for i in dict.fromkeys(picks.tolist())]


def _show(ax: Any, source: Any, title: str) -> None:
    image, reason, _ = decode_image(source, convert=True) if source is not None else (None, "missing", "")
    if image is None:
        ax.text(0.5, 0.5, reason[:30] or "missing", ha="center", va="center", fontsize=5, wrap=True)
    else:
        ax.imshow(np.asarray(image), interpolation="nearest")
    ax.set_title(title, fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])


def concept_figure(
    concept: str,
    scores: pd.DataFrame,
    image_scores: pd.DataFrame,
    selected: pd.DataFrame,
    lookup: Callable[[str], Any],
    grid: GridParams,
) -> Any:
    """One figure: a row per (model, prompt): references (rank, mean cosine) | generations (score)."""
    from matplotlib.figure import Figure

    rows = scores.sort_values(["model", "prompt_id"]).reset_index(drop=True)
    ncols = grid.refs_per_prompt + grid.images_per_prompt
    fig = Figure(figsize=(ncols * grid.cell_inches, len(rows) * grid.cell_inches + 0.6))
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for r, row in rows.iterrows():
        key = (row["model"], row["prompt_id"])
        refs = selected[(selected["model"] == key[0]) & (selected["prompt_id"] == key[1])].sort_values("rank")
        gens = image_scores[(image_scores["model"] == key[0]) & (image_scores["prompt_id"] == key[1])]
        gens = gens.sort_values("image_id")
        for c in range(grid.refs_per_prompt):
            if c < len(refs):
                ref = refs.iloc[c]
                _show(axes[r, c], lookup(ref["image_id"]), f"ref {ref['rank']} {ref['mean_similarity']:.2f}")
            else:
                axes[r, c].axis("off")
        for c in range(grid.images_per_prompt):
            ax = axes[r, grid.refs_per_prompt + c]
            if c < len(gens):
                gen = gens.iloc[c]
                _show(ax, lookup(gen["image_id"]), f"{gen['score']:.2f}")
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(f"{row['model']} p{row['prompt_id']}\n{row['score']:.3f}", fontsize=6)
    fig.suptitle(
        f"{concept}: score {rows['score'].mean():.3f} (refs: {rows['ref_source'].iloc[0]}, "
        f"n_refs {int(rows['n_refs'].max())})",
        fontsize=8,
    )
    return fig


def similarity_grids(
    scores: pd.DataFrame,
    image_scores: pd.DataFrame,
    selected: pd.DataFrame,
    lookup: Callable[[str], Any],
    grid: GridParams,
) -> dict[str, Any]:
    """``{"<slug>.png": Figure}`` for the picked concepts."""
    out: dict[str, Any] = {}
    for concept in pick_concepts(scores, grid.max_concepts):
        out[f"{slugify(concept)}.png"] = concept_figure(
            concept,
            scores[scores["concept"] == concept],
            image_scores[image_scores["concept"] == concept],
            selected[selected["concept"] == concept],
            lookup,
            grid,
        )
    return out
