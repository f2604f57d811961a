"""Zero-shot accuracy and attack success rate (reference section 5; rule B1).

ASR@k = share of triggered images whose TRUE class is not the target that have the target among
their top-k predictions. Images of the target class are left out of the denominator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imitation_kedro.models.open_clip_bundle import OpenClipBundle

from .train import normalise


@dataclass
class EvalSet:
    """One evaluation split: clean images, the same images triggered, true class indices."""

    clean: Any  # uint8 N x 3 x H x W tensor
    triggered: Any
    labels: np.ndarray

    def scores(
        self, bundle: OpenClipBundle, class_emb: Any, batch_size: int
    ) -> tuple[Any, Any, Any]:
        """Cosine scores of clean and triggered images, and their labels (``streaming.StreamEvalSet``
        has the same method, decoding per batch)."""
        clean = image_scores(bundle, self.clean, class_emb, batch_size)
        trig = image_scores(bundle, self.triggered, class_emb, batch_size)
        return clean, trig, self.labels


def topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Boolean per row: ``labels[i]`` is among the ``k`` highest ``scores[i]``."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return (top == labels[:, None]).any(axis=1)


def accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Top-k zero-shot accuracy."""
    if len(labels) == 0:
        raise ValueError("accuracy of an empty evaluation set")
    return float(topk_hits(scores, labels, k).mean())


def attack_success_rate(scores: np.ndarray, labels: np.ndarray, target: int, k: int) -> float:
    """Share of non-target images (by true class) whose top-k contains ``target``."""
    keep = labels != target
    if not keep.any():
        raise ValueError("ASR needs triggered images whose true class is not the target")
    targets = np.full(int(keep.sum()), target)
    return float(topk_hits(scores[keep], targets, k).mean())


def class_embeddings(bundle: OpenClipBundle, classes: list[str], templates: list[str]) -> Any:
    """Per class: every template encoded and normalised, averaged, re-normalised (C x D)."""
    import torch

    model = bundle.model
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        texts = [t.format(c) for c in classes for t in templates]
        emb = model.encode_text(bundle.tokenizer(texts).to(device), normalize=True)
        emb = emb.view(len(classes), len(templates), -1).mean(dim=1)
        return torch.nn.functional.normalize(emb, dim=-1)


def image_scores(
    bundle: OpenClipBundle, images: Any, class_emb: Any, batch_size: int
) -> np.ndarray:
    """Cosine scores (N x C) of images against class embeddings."""
    import torch

    model = bundle.model
    device = class_emb.device
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = normalise(images[i : i + batch_size].to(device), bundle)
            out.append((model.encode_image(x, normalize=True) @ class_emb.T).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, class_emb.shape[0]))


def evaluate(
    bundle: OpenClipBundle,
    sets: dict[str, Any],
    classes: list[str],
    templates: list[str],
    target: str,
    topk: list[int],
    batch_size: int,
) -> dict[str, float]:
    """``{split}_acc{k}`` and ``{split}_asr{k}`` for every split and k."""
    target_idx = classes.index(target)
    emb = class_embeddings(bundle, classes, templates)
    out: dict[str, float] = {}
    for split, data in sets.items():
        clean, trig, labels = data.scores(bundle, emb, batch_size)
        for k in topk:
            out[f"{split}_acc{k}"] = accuracy(clean, labels, k)
            out[f"{split}_asr{k}"] = attack_success_rate(trig, labels, target_idx, k)
    return out
