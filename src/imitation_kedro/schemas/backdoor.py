"""pandera models of the backdoor pipeline's tables (CleanCLIP runs, metrics, selection)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from imitation_kedro.schemas.table import Boolean, Integer, Number, Table, Text


class BackdoorClasses(Table):
    """The zero-shot class list (base: raw_concepts; paper: CLIP's curated 1,000 ImageNet-1K
    names, ``pipelines/backdoor/imagenet_classes.csv``). Classes are index-based: row i is
    class i, and a name may repeat (CLIP's "missile" 657/744, "sunglasses" 836/837)."""

    concept: Series[Text] = pa.Field(description="Class name, as captions and templates spell it.")

    class Config:
        name = "raw_backdoor_classes"


class BackdoorRejects(Table):
    """Image-text pairs left out before training (pre-training pairs and, with a table, eval
    pairs).
    """

    key: Series[Text] = pa.Field(
        description="Pair key (the input's key column, else its row number).",
    )
    reason: Series[Text] = pa.Field(
        description="empty caption, or undecodable image: <error type>.",
    )

    class Config:
        name = "int_backdoor_rejects"


class PoisonManifest(Table):
    """One row per poisoned pre-training pair: what the attack changed."""

    key: Series[Text] = pa.Field(description="Pair key.")
    attack: Series[Text] = pa.Field(
        description="Attack kind: badnet, blended, wanet or label_consistent.",
    )
    target: Series[Text] = pa.Field(description="Target class of the backdoor.")
    original_caption: Series[Text] = pa.Field(description="Caption before poisoning.")
    caption: Series[Text] = pa.Field(
        description="Caption after poisoning (unchanged for label_consistent).",
    )
    original_label: Series[Text] = pa.Field(
        nullable=True,
        description="Class the original caption names (empty when it names none).",
    )
    patch_top: Series[Integer] = pa.Field(
        description="Row of the trigger patch's top-left corner (-1: no patch).",
    )
    patch_left: Series[Integer] = pa.Field(
        description="Column of the trigger patch's top-left corner (-1: no patch).",
    )
    seed: Series[Integer] = pa.Field(description="Attack seed.")

    class Config:
        name = "prm_backdoor_poison_manifest"
        unique = ["key"]


class PretrainMetrics(Table):
    """Per pre-trained model and evaluated epoch: clean accuracy and attack success. Plus
    selection_/test_acc{k} and _asr{k} for every other k of backdoor.eval.topk (5 in base; 5 and
    10 at paper scale). Streaming mode (backdoor.data.streaming) adds decode_rejects (int):
    pairs dropped because their image failed to decode. No timings: throughput and wall time
    are logged and tracked in MLflow (``<run>/pairs_per_s``, ``<run>/seconds``).
    """

    model: Series[Text] = pa.Field(description="Pre-trained model name (<objective>-seed<seed>).")
    pretrain_objective: Series[Text] = pa.Field(
        description="Pre-training objective (mmcl, mmcl_ssl, ...).",
    )
    pretrain_seed: Series[Integer] = pa.Field(description="Pre-training seed.")
    epoch: Series[Integer] = pa.Field(description="Epoch evaluated (0: before training).")
    logit_scale: Series[Number] = pa.Field(
        description="exp(logit scale) of the model at that epoch.",
    )
    selection_acc1: Series[Number] = pa.Field(
        description="Zero-shot top-1 accuracy on the selection split.",
    )
    selection_asr1: Series[Number] = pa.Field(
        description="Top-1 attack success rate on the triggered selection split.",
    )
    test_acc1: Series[Number] = pa.Field(description="Zero-shot top-1 accuracy on the test split.")
    test_asr1: Series[Number] = pa.Field(
        description="Top-1 attack success rate on the triggered test split.",
    )
    kept: Series[Boolean] = pa.Field(
        description="This epoch's weights are the checkpoint kept (pretrain.checkpoint_rule).",
    )

    class Config:
        name = "out_backdoor_pretrain_metrics"
        unique = ["model", "epoch"]


class CleaningResults(Table):
    """Per pre-trained model, CleanCLIP grid point and epoch: clean accuracy and attack success.
    Plus selection_/test_acc{k} and _asr{k} for every other k of backdoor.eval.topk (5 in base;
    5 and 10 at paper scale). Streaming mode (backdoor.data.streaming) adds decode_rejects
    (int): pairs dropped because their image failed to decode.
    """

    model: Series[Text] = pa.Field(description="Pre-trained model name (<objective>-seed<seed>).")
    pretrain_objective: Series[Text] = pa.Field(
        description="Pre-training objective (mmcl, mmcl_ssl, ...).",
    )
    pretrain_seed: Series[Integer] = pa.Field(description="Pre-training seed.")
    attack: Series[Text] = pa.Field(description="Attack the model was pre-trained under.")
    clean_objective: Series[Text] = pa.Field(
        description="Cleaning objective: mmcl, ssl or mmcl_ssl.",
    )
    lr: Series[Number] = pa.Field(description="Cleaning learning rate.")
    lambda_mmcl: Series[Number] = pa.Field(
        description="Weight of the multimodal contrastive loss.",
    )
    lambda_ssl: Series[Number] = pa.Field(
        description="Weight of the unimodal self-supervised loss.",
    )
    epoch: Series[Integer] = pa.Field(description="Cleaning epoch evaluated (0: before cleaning).")
    selection_acc1: Series[Number] = pa.Field(
        description="Zero-shot top-1 accuracy on the selection split.",
    )
    selection_asr1: Series[Number] = pa.Field(
        description="Top-1 attack success rate on the triggered selection split.",
    )
    test_acc1: Series[Number] = pa.Field(description="Zero-shot top-1 accuracy on the test split.")
    test_asr1: Series[Number] = pa.Field(
        description="Top-1 attack success rate on the triggered test split.",
    )

    class Config:
        name = "out_backdoor_cleaning_results"
        unique = ["model", "clean_objective", "lr", "lambda_mmcl", "lambda_ssl", "epoch"]


class BackdoorSelection(Table):
    """Selected cleaning point per (pre-training objective, seed, cleaning objective), ASR cap
    and rule.
    """

    pretrain_objective: Series[Text] = pa.Field(description="Pre-training objective.")
    pretrain_seed: Series[Integer] = pa.Field(description="Pre-training seed.")
    clean_objective: Series[Text] = pa.Field(description="Cleaning objective.")
    attack: Series[Text] = pa.Field(description="Attack kind.")
    asr_cap: Series[Number] = pa.Field(
        description="Largest ASR@1 allowed on the split selected on.",
    )
    rule: Series[Text] = pa.Field(
        description="heldout (select on the selection split) or oracle_test (the paper's).",
    )
    selected_on: Series[Text] = pa.Field(
        description="Split the selection used: selection or test.",
    )
    n_points: Series[Integer] = pa.Field(description="(run, epoch) points considered.")
    n_eligible: Series[Integer] = pa.Field(description="Points with ASR@1 within the cap.")
    min_asr: Series[Number] = pa.Field(description="Lowest ASR@1 among the points.")
    selected: Series[Boolean] = pa.Field(
        description="A point met the cap (the columns below are empty otherwise).",
    )
    lr: Series[Number] = pa.Field(nullable=True, description="Learning rate of the selected run.")
    lambda_ssl: Series[Number] = pa.Field(
        nullable=True,
        description="lambda_ssl of the selected run.",
    )
    epoch: Series[Number] = pa.Field(nullable=True, description="Epoch of the selected point.")
    sel_acc1: Series[Number] = pa.Field(
        nullable=True,
        description="Top-1 accuracy on the split selected on.",
    )
    sel_asr1: Series[Number] = pa.Field(
        nullable=True,
        description="ASR@1 on the split selected on.",
    )
    test_acc1: Series[Number] = pa.Field(
        nullable=True,
        description="Test top-1 accuracy of the selected point.",
    )
    test_acc5: Series[Number] = pa.Field(
        nullable=True,
        description="Test top-5 accuracy (empty when 5 is not in eval.topk).",
    )
    test_asr1: Series[Number] = pa.Field(
        nullable=True,
        description="Test ASR@1 of the selected point.",
    )
    test_asr5: Series[Number] = pa.Field(
        nullable=True,
        description="Test ASR@5 (empty when 5 is not in eval.topk).",
    )

    class Config:
        name = "out_backdoor_selection"
        unique = ["pretrain_objective", "pretrain_seed", "clean_objective", "asr_cap", "rule"]


class BackdoorEffect(Table):
    """The headline effect per cleaning objective and ASR cap (pipelines/backdoor/effect.py):
    accuracy cost of cleaning after MMCL+SSL minus after MMCL pre-training, in points."""

    cleaning: Series[Text] = pa.Field(description="Cleaning objective, as the report names it.")
    cleaning_objective: Series[Text] = pa.Field(
        description="mmcl, ssl, mmcl_ssl (CleanCLIP) or any (the best of the three per seed).",
    )
    asr_cap: Series[Number] = pa.Field(description="Largest selection ASR@1 allowed.")
    n_mmcl: Series[Integer] = pa.Field(description="Seeds of MMCL pre-training.")
    n_mmcl_ssl: Series[Integer] = pa.Field(description="Seeds of MMCL+SSL pre-training.")
    cost_mmcl: Series[Number] = pa.Field(
        nullable=True, description="Mean cost after MMCL pre-training (points of top-1)."
    )
    cost_mmcl_ssl: Series[Number] = pa.Field(
        nullable=True, description="Mean cost after MMCL+SSL pre-training (points of top-1)."
    )
    effect: Series[Number] = pa.Field(
        nullable=True, description="cost_mmcl_ssl minus cost_mmcl (points)."
    )
    lo: Series[Number] = pa.Field(
        nullable=True, description="95 % BCa bootstrap interval over seeds, lower bound."
    )
    hi: Series[Number] = pa.Field(nullable=True, description="The interval's upper bound.")
    paper_effect: Series[Number] = pa.Field(
        nullable=True,
        description="The paper's effect (CC6M, reference s7.1-7.2); empty: not reported.",
    )
    verdict: Series[Text] = pa.Field(
        description="reproduced, contradicted or undetermined at this power.",
    )
    sd: Series[Number] = pa.Field(
        nullable=True, description="Pooled seed-to-seed sd of the cost (points)."
    )
    seeds_needed: Series[Integer] = pa.Field(
        description="Seeds per pre-training objective for 80 % power at a 10-point effect (0: no spread).",
    )
    seeds_planned: Series[Integer] = pa.Field(
        description="The same at the upper 95 % confidence limit of sd (the count to plan with).",
    )
    power_now: Series[Number] = pa.Field(
        nullable=True, description="Power of this run at a 10-point effect."
    )

    class Config:
        name = "out_backdoor_effect"
        unique = ["cleaning_objective", "asr_cap"]
