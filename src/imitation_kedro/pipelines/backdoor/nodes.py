"""Nodes of the ``backdoor`` pipeline: pure functions of tables, models and parameters.

Every node the pipeline wires, and nothing else; the steps live in their modules (``source``,
``poison``, ``augment``, ``runs``, ``select``, ``figures``, ``report``). Nodes take the parameter
sub-blocks they use; the two training nodes use nearly all of them and take the whole block,
typed ``BackdoorParams`` (Kedro validates it before any node runs), so the sub-blocks arrive as
its typed fields (``FromBlock``).
torch / open_clip are imported only inside the functions that train or evaluate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from imitation_kedro.core.params import FromBlock
from imitation_kedro.models.clip_checkpoints import EpochCheckpoints

from . import data as D
from . import report as R
from .augment import augment_captions
from .effect import EFFECT_COLUMNS, effect_section, effect_table
from .figures import accuracy_vs_asr_figure
from .finding import finding
from .paper_tables import cleaned_table, poisoned_table
from .params import (
    AttackParams,
    AugmentParams,
    BackdoorParams,
    CleanParams,
    DataParams,
    EvalParams,
    PretrainParams,
    RegimeParams,
    SelectParams,
)
from .poison import cleaning_split, poison_pairs
from .regime import regime_world
from .runs import clean_grid, clean_run, pretrain_run, run_context
from .select import SelectedStates, select_points
from .source import pair_source

logger = logging.getLogger(__name__)


def regime_pairs(
    raw_pairs: Mapping[str, Any] | pd.DataFrame,
    concepts: pd.DataFrame,
    regime: FromBlock[RegimeParams],
    data: FromBlock[DataParams],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pairs and classes the study uses: the backdoor's own paper-regime world
    (``regime.enabled``, :mod:`.regime`) or the FIT world's, unchanged."""
    if not regime.enabled:
        return D.concat_partitions(raw_pairs), concepts
    pairs, classes = regime_world(regime, data.image_size)
    logger.info("backdoor: regime world, %d pairs, %d classes", len(pairs), len(classes))
    return pairs, classes


def prepare_pairs(
    raw_pairs: Mapping[str, Any] | pd.DataFrame,
    concepts: pd.DataFrame,
    raw_eval: Mapping[str, Any] | pd.DataFrame,
    data: FromBlock[DataParams],
    attack: FromBlock[AttackParams],
    evaluation: FromBlock[EvalParams],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Decode and label image-text pairs, choose the zero-shot classes, split test/selection/pretrain.

    ``raw_eval`` (a labelled image table) is used only with ``data.eval_source: table``.
    """
    source = pair_source(data, attack)
    pairs, rejects = source.build_pairs(D.concat_partitions(raw_pairs), concepts, data.image_root)
    eval_pairs, eval_index = None, None
    if data.eval_source == "table":
        attached = source.attach_images(D.concat_partitions(raw_eval), data.eval_image_root)
        eval_table = D.eval_table_pairs(attached, concepts)
        eval_index = dict(zip(eval_table["key"], eval_table["label_index"], strict=True))
        # eval paths are already resolved: no image_root
        eval_pairs, eval_rejects = source.build_pairs(eval_table, concepts, None)
        rejects = pd.concat([rejects, eval_rejects], ignore_index=True)
    classes, target = D.choose_classes(
        eval_pairs if eval_pairs is not None else pairs,
        attack.target,
        data,
        attack.target_rank,
        concepts,
    )
    split = D.split_pairs(pairs, classes, data, eval_pairs)
    split["label_index"] = D.label_indices(split, classes, eval_index)
    target_index = classes.index(target)  # the first class of that name (banana = 954)
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
        "target_index": target_index,
        "templates": list(evaluation.templates),
        "rejects": int(len(rejects)),
        # denominators of accuracy (all images) and ASR (non-target images), for the report's CIs
        "n_eval": {
            name: {
                "acc": int((split["split"] == name).sum()),
                "asr": int(
                    ((split["split"] == name) & (split["label_index"] != target_index)).sum()
                ),
            }
            for name in ("selection", "test")
        },
    }
    return split, rejects, info


def poison_corpus(
    pairs: pd.DataFrame,
    classes: dict[str, Any],
    attack: FromBlock[AttackParams],
    data: FromBlock[DataParams],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Poison pre-training pairs (seeded); the manifest lists them; the cleaning split avoids them."""
    poisoned, manifest = poison_pairs(
        pairs,
        classes["classes"],
        classes["templates"],
        attack,
        data.image_size,
        classes["target"],
        source=pair_source(data, attack),
    )
    cleaning = cleaning_split(poisoned, data.n_clean, data.seed)
    return poisoned, manifest, cleaning


def augment_texts(pairs: pd.DataFrame, augment: FromBlock[AugmentParams]) -> pd.DataFrame:
    """Static EDA captions for every pre-training pair (the cleaning pairs are among them)."""
    pre = pairs[pairs["split"] == "pretrain"]
    aug = augment_captions(pre["key"].tolist(), pre["caption"].tolist(), augment)
    if aug["fallback"].any():
        logger.warning(
            "backdoor: %d captions kept unaugmented (EDA found no words)",
            int(aug["fallback"].sum()),
        )
    return aug


def pretrain_models(
    pairs: pd.DataFrame,
    caption_aug: pd.DataFrame,
    classes: dict[str, Any],
    checkpoints: EpochCheckpoints,
    params: BackdoorParams,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Pre-train one poisoned CLIP per (objective, seed); keep the checkpoint the declared rule picks.

    ``checkpoints``: the per-epoch resume store (``int_backdoor_pretrain_epochs``), one run each.
    """
    ctx = run_context(pairs, caption_aug, classes, params)
    pre = pairs[pairs["split"] == "pretrain"]
    models, rows = {}, []
    for objective in params.pretrain.objectives:
        for seed in params.pretrain.seeds:
            name = f"{objective}-seed{seed}"
            models[name], metrics = pretrain_run(ctx, objective, seed, pre, checkpoints.run(name))
            rows += metrics
    return models, pd.DataFrame(rows)


def clean_models(
    models: dict[str, Any],
    cleaning: pd.DataFrame,
    pairs: pd.DataFrame,
    caption_aug: pd.DataFrame,
    classes: dict[str, Any],
    params: BackdoorParams,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """CleanCLIP grid on every pre-trained model, fresh optimiser per run; metrics per epoch,
    and the weights of the point ``select_models`` picks per (model, cleaning objective, cap)."""
    ctx = run_context(pairs, caption_aug, classes, params)
    keep = SelectedStates(list(params.select.asr_caps), params.select.selection_split)
    rows = []
    for name, ckpt in sorted(models.items()):
        for point in clean_grid(params.clean):
            rows += clean_run(ctx, name, ckpt, point, cleaning, keep)
    selected = keep.checkpoints()
    logger.info("backdoor: %d selected cleaned checkpoints", len(selected))
    return pd.DataFrame(rows), selected


def select_models(results: pd.DataFrame, select: FromBlock[SelectParams]) -> pd.DataFrame:
    """Per objective pair and ASR cap: best selection-split accuracy under the cap, test numbers."""
    return select_points(results, list(select.asr_caps), select.selection_split)


def estimate_effect(
    pretrain_metrics: pd.DataFrame, selection: pd.DataFrame, select: FromBlock[SelectParams]
) -> pd.DataFrame:
    """The headline effect (cost gap of cleaning, MMCL+SSL minus MMCL pre-training) per cleaning
    objective and ASR cap, with its bootstrap interval, the paper's, a verdict and the seeds
    needed for 80 % power (:mod:`.effect`)."""
    kept = R.kept_models(pretrain_metrics)
    heldout = selection[selection["rule"] == "heldout"]
    if heldout.empty or not {"mmcl", "mmcl_ssl"} <= set(kept["pretrain_objective"]):
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    return effect_table(kept, heldout, list(select.asr_caps))[EFFECT_COLUMNS]


def plot_accuracy_vs_asr(
    results: pd.DataFrame, select: FromBlock[SelectParams], attack: FromBlock[AttackParams]
) -> Any:
    """Test accuracy against test ASR for every (run, epoch) point, one panel per objective."""
    return accuracy_vs_asr_figure(results, list(select.asr_caps), attack.kind)


def write_report(  # noqa: PLR0913
    classes: dict[str, Any],
    manifest: pd.DataFrame,
    pretrain_metrics: pd.DataFrame,
    results: pd.DataFrame,
    selection: pd.DataFrame,
    effect: pd.DataFrame,
    attack: FromBlock[AttackParams],
    pretrain: FromBlock[PretrainParams],
    clean: FromBlock[CleanParams],
    select: FromBlock[SelectParams],
    data: FromBlock[DataParams],
) -> str:
    """Markdown: data, attack, poisoned models, selected cleaned models, the paper's question
    (intervals and their meaning: :mod:`.report`)."""
    n_cls = len(classes["classes"])
    n_acc, n_asr = R.n_eval(classes, "test", "acc"), R.n_eval(classes, "test", "asr")
    kept = R.kept_models(pretrain_metrics)
    heldout = selection[selection["rule"] == "heldout"]
    lines = [
        f"# Backdoor cleaning vs pre-training objective ({attack.kind} attack)",
        "",
        f"- classes: {n_cls} (chance top-1 = {100 / n_cls:.1f} %), target {classes['target']!r}",
        f"- poisoned pre-training pairs: {len(manifest)} ({R.trigger_text(attack)}); rejected "
        f"input pairs: {classes['rejects']}",
        *R.streaming_rejects(pretrain_metrics, results),
        f"- test split: {n_acc or '?'} images for accuracy, {n_asr or '?'} non-target images for "
        "ASR (Wilson intervals below are over these)",
        f"- pre-training objectives {list(pretrain.objectives)}, seeds "
        f"{list(pretrain.seeds)}, {pretrain.optim.epochs} epochs, batch "
        f"{pretrain.optim.batch_size} pairs for every objective",
        f"- cleaning grid: objectives {list(clean.objectives)}, lr {list(clean.lrs)},"
        f" λ2 {list(clean.lambda_ssl)}, {clean.optim.epochs} epochs, fresh optimiser:"
        f" {not clean.load_optimizer_state}",
        f"- selection on the `{select.selection_split}` split; test numbers reported",
        "- intervals: [95 % Wilson] per model on test images; [95 % Student-t] across seeds",
        "",
        *R.poisoned_section(kept, n_acc, n_asr),
        *R.cleaned_summary(kept, heldout, n_asr),
        *effect_section(effect),
        "## Is cleaning harder after MMCL+SSL pre-training?",
        "",
        *finding(kept, heldout, select),
        "",
        "The oracle rule (selection on test, as in the paper) is in the selection table "
        "(`rule == oracle_test`).",
        "",
        "## Tables in the paper's layout",
        "",
        *poisoned_table(kept, f"{data.corpus} ({len(manifest)} poisons)"),
        *cleaned_table(results, selection, list(select.asr_caps), data.corpus),
    ]
    return "\n".join(lines) + "\n"
