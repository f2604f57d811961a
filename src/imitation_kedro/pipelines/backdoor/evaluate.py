"""Zero-shot accuracy and attack success rate (reference section 5; rule B1).

ASR@k = share of triggered images whose TRUE class is not the target that have the target among
their top-k predictions. Images of the target class are left out of the denominator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imitation_kedro.models.open_clip_bundle import OpenClipBundle

from .distributed import all_reduce_sum, gather_in_order, my_shard
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


def prompt_tokens(bundle: OpenClipBundle, texts: list[str], length: int = 0) -> Any:
    """Tokenised prompts, cut after the last end-of-text token of the batch (at least ``length``
    positions, so every batch of a classifier has one shape).

    open_clip's CLIP text tower is causal and pools at the end-of-text token, so positions after
    it never reach the embedding: dropping them changes nothing but the cost (prompts are ~15
    tokens of a 77-token context).
    """
    tokens = bundle.tokenizer(texts)
    model = bundle.model
    if getattr(model, "text_pool_type", None) != "argmax" or not hasattr(model, "attn_mask"):
        return tokens
    cut = max(length, int(tokens.argmax(dim=-1).max()) + 1)
    return tokens[:, :cut] if cut < tokens.shape[1] else tokens


def prompt_length(bundle: OpenClipBundle, classes: list[str], templates: list[str]) -> int:
    """An upper bound of the prompts' token length: the longest template plus the longest class
    name (the tokenizer splits words and punctuation apart), without tokenising every prompt."""
    tok = bundle.tokenizer
    longest_template = int(tok([t.format("") for t in templates]).argmax(dim=-1).max())
    longest_class = int(tok(list(dict.fromkeys(classes))).argmax(dim=-1).max()) - 1
    return longest_template + longest_class + 1


def encode_prompts(bundle: OpenClipBundle, tokens: Any) -> Any:
    """Normalised text embeddings of (possibly cut) prompt tokens: open_clip's ``encode_text``
    with the positional embedding and causal mask cut to the token length."""
    import torch

    model = bundle.model
    n = tokens.shape[1]
    if not hasattr(model, "attn_mask") or n == model.positional_embedding.shape[0]:
        return model.encode_text(tokens, normalize=True)
    from open_clip.transformer import text_global_pool

    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:n].to(cast)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:n, :n]))
    x = text_global_pool(x, tokens, model.text_pool_type)
    x = (
        x @ model.text_projection
        if not isinstance(model.text_projection, torch.nn.Linear)
        else (model.text_projection(x))
    )
    return torch.nn.functional.normalize(x, dim=-1)


def class_embeddings(
    bundle: OpenClipBundle, classes: list[str], templates: list[str], prompt_batch: int = 1024
) -> Any:
    """Per class: every template encoded and normalised, averaged, re-normalised (C x D).

    Prompts (class-major: class ``c``, template ``t`` is prompt ``c * T + t``) go through the
    text tower ``prompt_batch`` at a time and are summed per class in float64, so memory is one
    batch of activations plus the C x D sums, whatever C and T are, and the result does not
    depend on ``prompt_batch`` beyond float rounding of the encoder (tested at 1e-6).
    """
    import torch

    model = bundle.model
    device = next(model.parameters()).device
    model.eval()
    n_t = len(templates)
    total = len(classes) * n_t
    with torch.no_grad():
        length = prompt_length(bundle, classes, templates)
        dim = encode_prompts(bundle, prompt_tokens(bundle, [templates[0].format("x")]).to(device))
        sums = torch.zeros(len(classes), dim.shape[1], dtype=torch.float64, device=device)
        # data-parallel: each rank encodes its share of the prompt batches, the sums are reduced
        for _, start in my_shard(list(range(0, total, prompt_batch))):
            idx = range(start, min(start + prompt_batch, total))
            texts = [templates[j % n_t].format(classes[j // n_t]) for j in idx]
            emb = encode_prompts(bundle, prompt_tokens(bundle, texts, length).to(device)).double()
            owner = torch.tensor([j // n_t for j in idx], device=device)
            sums.index_add_(0, owner, emb)
        all_reduce_sum(sums)
        return torch.nn.functional.normalize((sums / n_t).float(), dim=-1)


def class_embeddings_one_batch(
    bundle: OpenClipBundle, classes: list[str], templates: list[str]
) -> Any:
    """The unbatched reference (all C x T prompts in one forward): tests and benchmark only."""
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
    starts = list(range(0, len(images), batch_size))
    mine = []
    with torch.no_grad():  # data-parallel: whole batches per rank, gathered in order
        for pos, i in my_shard(starts):
            x = normalise(images[i : i + batch_size].to(device), bundle)
            mine.append((pos, (model.encode_image(x, normalize=True) @ class_emb.T).cpu().numpy()))
    out = gather_in_order(mine, len(starts))
    return np.concatenate(out) if out else np.zeros((0, class_emb.shape[0]))


def evaluate(
    bundle: OpenClipBundle,
    sets: dict[str, Any],
    classes: list[str],
    templates: list[str],
    target: str | int,
    topk: list[int],
    batch_size: int,
    prompt_batch: int = 1024,
) -> dict[str, float]:
    """``{split}_acc{k}`` and ``{split}_asr{k}`` for every split and k.

    ``target``: the target's class index (classes are index-based: a name may repeat, as
    "missile" and "sunglasses" do in CLIP's ImageNet list) or its name (first match).
    """
    target_idx = target if isinstance(target, int) else classes.index(target)
    emb = class_embeddings(bundle, classes, templates, prompt_batch)
    out: dict[str, float] = {}
    for split, data in sets.items():
        clean, trig, labels = data.scores(bundle, emb, batch_size)
        for k in topk:
            out[f"{split}_acc{k}"] = accuracy(clean, labels, k)
            out[f"{split}_asr{k}"] = attack_success_rate(trig, labels, target_idx, k)
    return out
