"""Nodes of the ``backdoor`` pipeline: pure functions of tables, models and parameters.

torch / open_clip are imported only inside the functions that train or evaluate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from . import data as D
from .augment import augment_captions
from .params import BackdoorParams
from .poison import apply_trigger, cleaning_split, poison_pairs
from .select import select_points

logger = logging.getLogger(__name__)


def prepare_pairs(
    raw_pairs: Mapping[str, Any] | pd.DataFrame,
    concepts: pd.DataFrame,
    raw_eval: Mapping[str, Any] | pd.DataFrame,
    params: BackdoorParams,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Decode and label image-text pairs, choose the zero-shot classes, split test/selection/pretrain.

    ``raw_eval`` (a labelled image table) is used only with ``data.eval_source: table``.
    """
    pairs, rejects = D.build_pairs(D.concat_partitions(raw_pairs), concepts, params.data)
    eval_pairs = None
    if params.data.eval_source == "table":
        eval_table = D.eval_table_pairs(
            D.concat_partitions(raw_eval),
            concepts,
            params.data.eval_image_root,
            params.data.streaming,
        )
        eval_data = replace(params.data, image_root=None)  # eval paths are already resolved
        eval_pairs, eval_rejects = D.build_pairs(eval_table, concepts, eval_data)
        rejects = pd.concat([rejects, eval_rejects], ignore_index=True)
    classes, target = D.choose_classes(
        eval_pairs if eval_pairs is not None else pairs,
        params.attack.target,
        params.data,
        params.attack.target_rank,
    )
    split = D.split_pairs(pairs, classes, params.data, eval_pairs)
    logger.info(
        "backdoor: %d pairs (%s), %d classes, %d rejects",
        len(split),
        split["split"].value_counts().to_dict(),
        len(classes),
        len(rejects),
    )
    info = {
        "classes": classes,
        "target": target,
        "templates": list(params.eval.templates),
        "rejects": int(len(rejects)),
        # denominators of accuracy (all images) and ASR (non-target images), for the report's CIs
        "n_eval": {
            name: {
                "acc": int((split["split"] == name).sum()),
                "asr": int(((split["split"] == name) & (split["label"] != target)).sum()),
            }
            for name in ("selection", "test")
        },
    }
    return split, rejects, info


def poison_corpus(
    pairs: pd.DataFrame, classes: dict[str, Any], params: BackdoorParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Poison pre-training pairs (seeded); the manifest lists them; the cleaning split avoids them."""
    poisoned, manifest = poison_pairs(
        pairs,
        classes["classes"],
        classes["templates"],
        params.attack,
        params.data.image_size,
        classes["target"],
        streaming=params.data.streaming,
    )
    cleaning = cleaning_split(poisoned, params.data.n_clean, params.data.seed)
    return poisoned, manifest, cleaning


def augment_texts(pairs: pd.DataFrame, params: BackdoorParams) -> pd.DataFrame:
    """Static EDA captions for every pre-training pair (the cleaning pairs are among them)."""
    pre = pairs[pairs["split"] == "pretrain"]
    aug = augment_captions(pre["key"].tolist(), pre["caption"].tolist(), params.augment)
    if aug["fallback"].any():
        logger.warning(
            "backdoor: %d captions kept unaugmented (EDA found no words)",
            int(aug["fallback"].sum()),
        )
    return aug


def _set_threads(params: BackdoorParams) -> None:
    import torch

    if params.num_threads:
        torch.set_num_threads(params.num_threads)


def _train_data(
    bundle: Any,
    pairs: pd.DataFrame,
    caption_aug: pd.DataFrame,
    params: BackdoorParams,
    rejects: Any = None,
) -> Any:
    from .train import TrainData, images_to_tensor

    cols = [c for c in ("key", "png", "image", "poisoned", "caption") if c in pairs.columns]
    merged = pairs[cols].merge(
        caption_aug[["key", "caption_aug"]], on="key", how="left", validate="1:1"
    )
    if merged["caption_aug"].isna().any():
        key = merged.loc[merged["caption_aug"].isna(), "key"].iloc[0]
        raise ValueError(f"pair {key!r} has no augmented caption: re-run augment_texts")
    tokens = bundle.tokenize(merged["caption"].tolist())
    tokens_aug = bundle.tokenize(merged["caption_aug"].tolist())
    d = params.data
    if d.streaming:  # decoded (and triggered, for poisoned rows) per batch
        from .streaming import PairImages, StreamData

        images = PairImages(merged, d.image_size, params.attack, "train", params.augment.image)
        return StreamData(
            images, tokens, tokens_aug, d.loader_workers, d.prefetch, d.augment_in_workers, rejects
        )
    return TrainData(
        images_to_tensor(D.decode_images(merged["png"], d.image_size)), tokens, tokens_aug
    )


def _eval_sets(
    pairs: pd.DataFrame, classes: list[str], params: BackdoorParams, rejects: Any = None
) -> dict[str, Any]:
    from .evaluate import EvalSet
    from .train import images_to_tensor

    sets = {}
    for split in ("selection", "test"):
        rows = pairs[pairs["split"] == split]
        if params.data.streaming:
            from .streaming import PairImages, StreamEvalSet

            images = PairImages(rows, params.data.image_size, params.attack, "eval")
            labels = np.array([classes.index(c) for c in rows["label"]])
            d = params.data
            sets[split] = StreamEvalSet(images, labels, d.loader_workers, d.prefetch, rejects)
            continue
        clean = D.decode_images(rows["png"], params.data.image_size)
        trig, _ = apply_trigger(clean, rows["key"].tolist(), params.attack, "test")
        labels = np.array([classes.index(c) for c in rows["label"]])
        sets[split] = EvalSet(images_to_tensor(clean), images_to_tensor(trig), labels)
    return sets


def _evaluate_all(
    bundle: Any,
    sets: dict[str, Any],
    names: list[str],
    classes: Mapping[str, Any],
    params: BackdoorParams,
) -> dict[str, float]:
    """Zero-shot accuracy and ASR on every evaluation split, with the run's templates and target."""
    from .evaluate import evaluate

    return evaluate(
        bundle,
        sets,
        names,
        classes["templates"],
        classes["target"],
        params.eval.topk,
        params.eval.batch_size,
    )


def _reject_log(params: BackdoorParams) -> Any:
    """Streaming: one log of pairs dropped at decode time (training and evaluation) per node."""
    if not params.data.streaming:
        return None
    from .streaming import RejectLog

    return RejectLog()


def _reject_columns(rejects: Any) -> dict[str, int]:
    """Streaming only (eager tables keep their columns): pairs dropped so far, by reason."""
    if rejects is None:
        return {}
    if len(rejects):
        logger.warning(
            "backdoor: %d pairs dropped while streaming: %s", len(rejects), rejects.by_reason()
        )
    return {"decode_rejects": len(rejects)}


def _mlflow_run(params: BackdoorParams, name: str) -> Any:
    if not params.mlflow_experiment:
        return nullcontext(None)
    try:
        import mlflow
    except ImportError as exc:  # optional extra
        raise ImportError("backdoor.mlflow_experiment is set but mlflow is not installed") from exc
    mlflow.set_experiment(params.mlflow_experiment)
    return mlflow.start_run(run_name=name)


def _log_mlflow(run: Any, row: dict[str, Any]) -> None:
    if run is None:
        return
    import mlflow

    mlflow.log_metrics(
        {k: float(v) for k, v in row.items() if k.startswith(("selection_", "test_"))},
        step=int(row["epoch"]),
    )


def pretrain_models(
    pairs: pd.DataFrame, caption_aug: pd.DataFrame, classes: dict[str, Any], params: BackdoorParams
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Pre-train one poisoned CLIP per (objective, seed); keep the checkpoint the declared rule picks."""
    from .train import build_model, train

    _set_threads(params)
    p, names = params.pretrain, classes["classes"]
    rejects = _reject_log(params)
    sets = _eval_sets(pairs, names, params, rejects)
    pre = pairs[pairs["split"] == "pretrain"]
    models, rows = {}, []
    for objective in p.objectives:
        for seed in p.seeds:
            name = f"{objective}-seed{seed}"
            bundle = build_model(params.model, p.logit_scale_init, seed, params.device)
            data = _train_data(bundle, pre, caption_aug, params, rejects)
            kept: dict[str, Any] = {}

            def on_epoch(
                model: Any,
                epoch: int,
                bundle=bundle,
                kept=kept,
                name=name,
                objective=objective,
                seed=seed,
                run=None,
            ) -> list[dict[str, Any]]:
                m = _evaluate_all(bundle, sets, names, classes, params)
                row = {
                    "model": name,
                    "pretrain_objective": objective,
                    "pretrain_seed": seed,
                    "epoch": epoch,
                    "logit_scale": float(model.logit_scale.detach().exp()),
                } | m
                better = m["selection_acc1"] > kept.get("score", -1.0)
                if (
                    p.checkpoint_rule == "last"
                    or (p.checkpoint_rule == "fixed_epoch" and epoch == p.fixed_epoch)
                    or (p.checkpoint_rule == "best_clean_acc" and better and epoch > 0)
                ):
                    kept.update(
                        score=m["selection_acc1"],
                        epoch=epoch,
                        state={k: v.detach().clone() for k, v in model.state_dict().items()},
                    )
                _log_mlflow(run, row)
                return [row]

            with _mlflow_run(params, f"pretrain-{name}") as run:
                result = train(
                    bundle,
                    data,
                    objective,
                    p.optim,
                    p.optim.lr,
                    p.lambda_mmcl,
                    p.lambda_ssl,
                    p.logit_scale_max,
                    seed,
                    params.augment.image,
                    p.siglip_weight,
                    params.augment.image_group,
                    eval_fn=lambda m, e, f=on_epoch, r=run: f(m, e, run=r),
                    checkpoint_dir=f"{p.checkpoint_dir}/{name}" if p.checkpoint_dir else None,
                    desc=f"pretrain {name}",
                    eval_every=p.eval_every,
                )
            if "state" not in kept:
                raise ValueError(
                    f"pretrain.checkpoint_rule={p.checkpoint_rule!r} kept no epoch "
                    f"(fixed_epoch={p.fixed_epoch}, epochs={p.optim.epochs})"
                )
            for row in result.metrics:
                row |= {
                    "pairs_per_s": result.pairs_per_s,
                    "train_s": result.seconds,
                    "kept": row["epoch"] == kept["epoch"],
                } | _reject_columns(rejects)
            rows += result.metrics
            models[name] = {
                "state_dict": kept["state"],
                "optimizer_state": result.optimizer_state,
                "meta": {
                    "objective": objective,
                    "seed": seed,
                    "epoch": kept["epoch"],
                    "attack": params.attack.kind,
                    "target": classes["target"],
                    "model": params.model.to_dict(),
                },
            }
            logger.info(
                "pretrained %s: %.0f pairs/s, %s",
                name,
                result.pairs_per_s,
                {k: round(v, 3) for k, v in rows[-1].items() if "_acc1" in k or "_asr1" in k},
            )
    return models, pd.DataFrame(rows)


def _clean_grid(params: BackdoorParams) -> list[tuple[str, float, float, float]]:
    """(objective, lr, lambda_mmcl, lambda_ssl) points: MMCL-only, SSL-only, and lr x lambda2."""
    grid = []
    for objective in params.clean.objectives:
        for lr in params.clean.lrs:
            if objective == "mmcl":
                grid.append((objective, lr, 1.0, 0.0))
            elif objective == "ssl":
                grid.append((objective, lr, 0.0, 1.0))
            else:
                grid += [(objective, lr, 1.0, lam) for lam in params.clean.lambda_ssl]
    return grid


def clean_models(
    models: dict[str, Any],
    cleaning: pd.DataFrame,
    pairs: pd.DataFrame,
    caption_aug: pd.DataFrame,
    classes: dict[str, Any],
    params: BackdoorParams,
) -> pd.DataFrame:
    """CleanCLIP grid on every pre-trained model, fresh optimiser per run; metrics per epoch."""
    from .train import build_model, load_state, train

    _set_threads(params)
    c, names = params.clean, classes["classes"]
    rejects = _reject_log(params)
    sets = _eval_sets(pairs, names, params, rejects)
    rows = []
    for name, ckpt in sorted(models.items()):
        meta = ckpt["meta"]
        for objective, lr, l1, l2 in _clean_grid(params):
            t0 = time.perf_counter()
            bundle = build_model(
                params.model, params.pretrain.logit_scale_init, meta["seed"], params.device
            )
            load_state(bundle.model, ckpt["state_dict"], name)
            data = _train_data(bundle, cleaning, caption_aug, params, rejects)
            ident = {
                "model": name,
                "pretrain_objective": meta["objective"],
                "pretrain_seed": meta["seed"],
                "attack": meta["attack"],
                "clean_objective": objective,
                "lr": lr,
                "lambda_mmcl": l1,
                "lambda_ssl": l2,
            }

            def on_epoch(model: Any, epoch: int, bundle=bundle, ident=ident, run=None):
                m = _evaluate_all(bundle, sets, names, classes, params)
                row = ident | {"epoch": epoch} | m
                _log_mlflow(run, row)
                return [row]

            run_name = f"clean-{name}-{objective}-lr{lr:g}-l{l2:g}"
            with _mlflow_run(params, run_name) as run:
                result = train(
                    bundle,
                    data,
                    objective,
                    c.optim,
                    lr,
                    l1,
                    l2,
                    params.pretrain.logit_scale_max,
                    meta["seed"],
                    params.augment.image,
                    aug_group=params.augment.image_group,
                    eval_fn=lambda m, e, f=on_epoch, r=run: f(m, e, run=r),
                    optimizer_state=ckpt.get("optimizer_state") if c.load_optimizer_state else None,
                    desc=run_name,
                )
            for row in result.metrics:
                row |= {
                    "pairs_per_s": result.pairs_per_s,
                    "run_s": time.perf_counter() - t0,
                } | _reject_columns(rejects)
            rows += result.metrics
    return pd.DataFrame(rows)


def select_models(results: pd.DataFrame, params: BackdoorParams) -> pd.DataFrame:
    """Per objective pair and ASR cap: best selection-split accuracy under the cap, test numbers."""
    return select_points(results, list(params.select.asr_caps), params.select.selection_split)
