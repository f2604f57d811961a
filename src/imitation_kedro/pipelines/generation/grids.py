"""Image grids of generations, for people: one overview figure and one mosaic per concept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from PIL import Image


def pick_concepts(manifest: pd.DataFrame, max_concepts: int) -> list[str]:
    """Up to ``max_concepts`` concepts spread evenly over the sorted concept list."""
    concepts = sorted(manifest["concept"].unique())
    if len(concepts) <= max_concepts:
        return concepts
    step = (len(concepts) - 1) / (max_concepts - 1) if max_concepts > 1 else 0
    return [concepts[round(i * step)] for i in range(max_concepts)]


def grid_paths(rows: pd.DataFrame, images_per_prompt: int) -> list[list[str]]:
    """Per prompt id (rows of the grid), the paths of its first ``images_per_prompt`` images."""
    out = []
    for _, group in rows.sort_values(["prompt_id", "index"]).groupby("prompt_id", sort=True):
        out.append(group["path"].head(images_per_prompt).tolist())
    return out


def concept_mosaic(
    paths: list[list[str]], images: dict[str, Callable[[], Any]], pad: int = 2
) -> Image.Image:
    """One PNG: a row per prompt, a column per image, white gaps of ``pad`` pixels."""
    loaded = [[images[p]().convert("RGB") for p in row] for row in paths]
    w = max(im.width for row in loaded for im in row)
    h = max(im.height for row in loaded for im in row)
    cols = max(len(row) for row in loaded)
    canvas = Image.new("RGB", (cols * (w + pad) + pad, len(loaded) * (h + pad) + pad), "white")
    for r, row in enumerate(loaded):
        for c, im in enumerate(row):
            canvas.paste(im, (pad + c * (w + pad), pad + r * (h + pad)))
    return canvas


def overview_figure(
    manifest: pd.DataFrame,
    images: dict[str, Callable[[], Any]],
    concepts: list[str],
    images_per_prompt: int,
    title: str,
) -> Any:
    """A matplotlib figure: one row per concept, its prompts' first images side by side."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows, headers = [], []
    for concept in concepts:
        sub = manifest[manifest["concept"] == concept]
        groups = grid_paths(sub, images_per_prompt)
        ids = sorted(sub["prompt_id"].unique())
        heads = [f"prompt {pid}\nimage {k + 1}" for pid, g in zip(ids, groups, strict=True)
                 for k in range(len(g))]
        headers = heads if len(heads) > len(headers) else headers
        rows.append((concept, [p for group in groups for p in group]))
    cols = max(len(paths) for _, paths in rows)
    height = 1.1 * len(rows) + 1.0
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.1 * cols + 1.5, height), squeeze=False)
    for r, (concept, paths) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(paths):
                ax.imshow(images[paths[c]]())
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(concept, rotation=0, ha="right", va="center", fontsize=7)
    for c, head in enumerate(headers):  # column headers above the first row
        axes[0][c].set_title(head, fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / height))  # keep the title clear of the headers
    return fig
