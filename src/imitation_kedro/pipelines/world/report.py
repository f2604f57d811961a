"""Evidence that the world teaches something: imitation vs planted frequency, measured and drawn."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.seeding import stable_seed
from imitation_kedro.pipelines.world.params import ReportParams
from imitation_kedro.pipelines.world.render import from_png

logger = logging.getLogger(__name__)

REPORT_COLUMNS = [
    "concept", "domain", "planted_frequency", "true_caption_count", "true_image_count",
    "imitation_score", "imitation_margin", "retrieval_rate", "zero_shot_accuracy", "imitated",
]


def clip_model_of(loaded: Any) -> Any:
    """The open_clip model inside what the open_clip model dataset loads (bundle, dict or model)."""
    if hasattr(loaded, "model") and hasattr(loaded, "tokenizer"):
        return loaded.model
    if isinstance(loaded, dict):
        return loaded["model"]
    if isinstance(loaded, tuple | list):
        return loaded[0]
    return loaded


def embed_generations(
    mdl_t2i: Any, clip: Any, concepts: list[str], seed: int, rp: ReportParams
) -> np.ndarray:
    """``report.images_per_concept`` generations per concept (seeded per image), CLIP-embedded.

    Rows: concept by concept in ``concepts`` order, ``images_per_concept`` rows each.
    """
    import torch

    from imitation_kedro.models.miniature_clip import encode_images

    k = rp.images_per_concept
    prompts = [rp.prompt_template.format(name=c) for c in concepts for _ in range(k)]
    generators = [
        torch.Generator().manual_seed(stable_seed(seed, "world", "report", c, i))
        for c in concepts for i in range(k)
    ]
    pipe = mdl_t2i
    pipe.set_progress_bar_config(disable=True)
    images = pipe(
        prompt=prompts, generator=generators, num_inference_steps=rp.num_inference_steps,
        guidance_scale=rp.guidance_scale, output_type="np",
    ).images
    return encode_images(clip, (np.asarray(images) * 255.0).round().astype(np.uint8))


def imitation_table(
    gen_emb: np.ndarray,
    clip: Any,
    raw_concepts: pd.DataFrame,
    raw_reference_images: pd.DataFrame,
    raw_ground_truth: pd.DataFrame,
    rp: ReportParams,
) -> pd.DataFrame:
    """Per concept: how well the miniature model imitates it, measured with the miniature CLIP.

    ``imitation_score``: mean cosine similarity of the concept's generations (``gen_emb``, from
    :func:`embed_generations`) to its held-out references; ``imitation_margin``: that minus their
    mean similarity to the other concepts' references; ``retrieval_rate``: fraction of its
    generations whose nearest reference centroid (cosine) is its own (chance: 1 / number of
    concepts); ``imitated``: retrieval_rate >= ``report.min_retrieval_rate``;
    ``zero_shot_accuracy``: fraction of its references the CLIP names correctly.
    """
    from imitation_kedro.models.miniature_clip import encode_images, encode_texts

    concepts = list(raw_concepts["concept"])
    k = rp.images_per_concept
    refs = raw_reference_images.sort_values(["concept", "ref_index"], kind="stable")
    ref_emb = encode_images(clip, np.stack([from_png(b) for b in refs["png"]]))
    ref_concept = refs["concept"].to_numpy()
    text_emb = encode_texts(clip, [rp.prompt_template.format(name=c) for c in concepts])
    predicted = np.asarray(concepts, dtype=object)[(ref_emb @ text_emb.T).argmax(1)]
    truth = raw_ground_truth.set_index("concept")
    centroids = np.stack([ref_emb[ref_concept == c].mean(0) for c in concepts])
    nearest = (gen_emb @ centroids.T).argmax(1).reshape(len(concepts), k)
    rows = []
    for i, concept in enumerate(concepts):
        gens = gen_emb[i * k : (i + 1) * k]
        own = ref_concept == concept
        if not own.any():
            raise ValueError(f"raw_reference_images has no reference for concept {concept!r}")
        sims = gens @ ref_emb.T
        score = float(sims[:, own].mean())
        other = float(sims[:, ~own].mean()) if (~own).any() else 0.0
        rows.append(
            {
                "concept": concept,
                "domain": raw_concepts["domain"].iloc[i],
                "planted_frequency": int(truth.loc[concept, "planted_frequency"]),
                "true_caption_count": int(truth.loc[concept, "true_caption_count"]),
                "true_image_count": int(truth.loc[concept, "true_image_count"]),
                "imitation_score": score,
                "imitation_margin": score - other,
                "retrieval_rate": float(np.mean(nearest[i] == i)),
                "zero_shot_accuracy": float(np.mean(predicted[own] == concept)),
                "imitated": bool(np.mean(nearest[i] == i) >= rp.min_retrieval_rate),
            }
        )
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def summarise_imitation(rpt_world_report: pd.DataFrame, rp: ReportParams) -> dict[str, Any]:
    """Spearman rho (planted frequency vs imitation), zero-shot accuracy, rare/frequent imitation."""
    from scipy.stats import spearmanr

    rep = rpt_world_report.sort_values("planted_frequency", kind="stable")
    rho, p_value = spearmanr(rep["planted_frequency"], rep["imitation_score"])
    rho_margin, _ = spearmanr(rep["planted_frequency"], rep["imitation_margin"])
    tenth = max(1, len(rep) // 10)
    rare, frequent = rep.head(tenth), rep.tail(tenth)
    summary = {
        "n_concepts": int(len(rep)),
        "spearman_rho": float(rho),
        "spearman_p_value": float(p_value),
        "spearman_rho_margin": float(rho_margin),
        "min_rho": rp.min_rho,
        "rho_ok": bool(rho >= rp.min_rho),
        "zero_shot_accuracy": float(rep["zero_shot_accuracy"].mean()),
        "rarest_decile_max_frequency": int(rare["planted_frequency"].max()),
        "rarest_decile_imitated_rate": float(rare["imitated"].mean()),
        "top_decile_min_frequency": int(frequent["planted_frequency"].min()),
        "top_decile_imitated_rate": float(frequent["imitated"].mean()),
        "min_retrieval_rate": rp.min_retrieval_rate,
    }
    log = logger.info if summary["rho_ok"] else logger.warning
    log(
        "world report: Spearman rho %.3f (bound %.2f), zero-shot accuracy %.3f, imitated: rarest "
        "decile %.0f%%, top decile %.0f%%", rho, rp.min_rho,
        summary["zero_shot_accuracy"], 100 * summary["rarest_decile_imitated_rate"],
        100 * summary["top_decile_imitated_rate"],
    )
    return summary


def imitation_figure(rpt_world_report: pd.DataFrame, rpt_world_summary: dict[str, Any]) -> Any:
    """Scatter: planted frequency (log) vs imitation score, one colour per domain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for domain, part in rpt_world_report.groupby("domain", sort=True):
        axes[0].scatter(part["planted_frequency"], part["imitation_score"], s=16, label=domain, alpha=0.8)
        axes[1].scatter(part["planted_frequency"], part["retrieval_rate"], s=16, label=domain, alpha=0.8)
    axes[0].set_ylabel("imitation score (CLIP cos to references)")
    axes[1].set_ylabel("generations retrieving their own concept")
    axes[1].axhline(rpt_world_summary["min_retrieval_rate"], color="grey", ls="--", lw=1)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("planted image frequency")
        ax.legend(loc="best")
    fig.suptitle(
        f"Miniature world: Spearman rho = {rpt_world_summary['spearman_rho']:.2f}, "
        f"CLIP zero-shot accuracy = {rpt_world_summary['zero_shot_accuracy']:.2f}"
    )
    fig.tight_layout()
    return fig
