"""FIT's imitation score of one prompt (reference section 5): the mean cosine similarity of each
generated image to the ``k`` references closest to the prompt's generated set.

Shared by the similarity pipeline (FIT's y-axis) and the counterfactual pipeline (each probe's
dose-response), so both score with the same code. Inputs are L2-normalised embedding rows.
"""

from __future__ import annotations

import numpy as np


def select_references(sim: np.ndarray, ref_ids: list[str], k: int) -> np.ndarray:
    """Indices of the ``k`` references with the highest mean similarity (rows of ``sim``)."""
    means = sim.mean(axis=1)
    order = sorted(range(len(ref_ids)), key=lambda i: (-float(means[i]), ref_ids[i]))
    return np.asarray(order[:k], dtype=np.int64)


def prompt_score(refs: np.ndarray, gens: np.ndarray, ref_ids: list[str], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(selected ref indices, their mean similarity, per-image scores)`` for one prompt."""
    sim = refs @ gens.T
    if not np.isfinite(sim).all():
        raise ValueError("non-finite similarity: an embedding holds NaN/inf")
    chosen = select_references(sim, ref_ids, k)
    return chosen, sim[chosen].mean(axis=1), sim[chosen].mean(axis=0)
