"""Schemas of the backdoor pipeline's tables (CleanCLIP runs, metrics, selection)."""

from __future__ import annotations

from imitation_kedro.schemas.columns import TableSchema, cols

_TOPK = (
    " Plus selection_/test_acc{k} and _asr{k} for every other k of backdoor.eval.topk "
    "(5 in base; 5 and 10 at paper scale)."
)
_STREAMING = (
    " Streaming mode (backdoor.data.streaming) adds decode_rejects (int): pairs dropped because "
    "their image failed to decode."
)
_RUN = (
    ("model", "str", "Pre-trained model name (<objective>-seed<seed>)."),
    ("pretrain_objective", "str", "Pre-training objective (mmcl, mmcl_ssl, ...)."),
    ("pretrain_seed", "int", "Pre-training seed."),
)
_AT1 = (
    ("selection_acc1", "float", "Zero-shot top-1 accuracy on the selection split."),
    ("selection_asr1", "float", "Top-1 attack success rate on the triggered selection split."),
    ("test_acc1", "float", "Zero-shot top-1 accuracy on the test split."),
    ("test_asr1", "float", "Top-1 attack success rate on the triggered test split."),
)

BACKDOOR = [
    TableSchema(
        "raw_backdoor_classes",
        "The zero-shot class list (base: raw_concepts; paper: the ImageNet-1K class names).",
        cols(("concept", "str", "Class name, as captions and templates spell it.")),
        key=("concept",),
    ),
    TableSchema(
        "int_backdoor_rejects",
        "Image-text pairs left out before training (pre-training pairs and, with a table, eval pairs).",
        cols(
            ("key", "str", "Pair key (the input's key column, else its row number)."),
            ("reason", "str", "empty caption, or undecodable image: <error type>."),
        ),
    ),
    TableSchema(
        "prm_backdoor_poison_manifest",
        "One row per poisoned pre-training pair: what the attack changed.",
        cols(
            ("key", "str", "Pair key."),
            ("attack", "str", "Attack kind: badnet, blended, wanet or label_consistent."),
            ("target", "str", "Target class of the backdoor."),
            ("original_caption", "str", "Caption before poisoning."),
            ("caption", "str", "Caption after poisoning (unchanged for label_consistent)."),
            (
                "original_label",
                "str",
                "Class the original caption names (empty when it names none).",
                True,
            ),
            ("patch_top", "int", "Row of the trigger patch's top-left corner (-1: no patch)."),
            ("patch_left", "int", "Column of the trigger patch's top-left corner (-1: no patch)."),
            ("seed", "int", "Attack seed."),
        ),
        key=("key",),
    ),
    TableSchema(
        "out_backdoor_pretrain_metrics",
        "Per pre-trained model and evaluated epoch: clean accuracy and attack success."
        + _TOPK
        + _STREAMING,
        cols(
            *_RUN,
            ("epoch", "int", "Epoch evaluated (0: before training)."),
            ("logit_scale", "float", "exp(logit scale) of the model at that epoch."),
            *_AT1,
            ("pairs_per_s", "float", "Training throughput of the run (pairs per second)."),
            ("train_s", "float", "Wall time of the training run in seconds."),
            (
                "kept",
                "bool",
                "This epoch's weights are the checkpoint kept (pretrain.checkpoint_rule).",
            ),
        ),
        key=("model", "epoch"),
    ),
    TableSchema(
        "out_backdoor_cleaning_results",
        "Per pre-trained model, CleanCLIP grid point and epoch: clean accuracy and attack success."
        + _TOPK
        + _STREAMING,
        cols(
            *_RUN,
            ("attack", "str", "Attack the model was pre-trained under."),
            ("clean_objective", "str", "Cleaning objective: mmcl, ssl or mmcl_ssl."),
            ("lr", "float", "Cleaning learning rate."),
            ("lambda_mmcl", "float", "Weight of the multimodal contrastive loss."),
            ("lambda_ssl", "float", "Weight of the unimodal self-supervised loss."),
            ("epoch", "int", "Cleaning epoch evaluated (0: before cleaning)."),
            *_AT1,
            ("pairs_per_s", "float", "Cleaning throughput (pairs per second)."),
            ("run_s", "float", "Wall time of the cleaning run in seconds."),
        ),
        key=("model", "clean_objective", "lr", "lambda_mmcl", "lambda_ssl", "epoch"),
    ),
    TableSchema(
        "out_backdoor_selection",
        "Selected cleaning point per (pre-training objective, seed, cleaning objective), ASR cap and rule.",
        cols(
            ("pretrain_objective", "str", "Pre-training objective."),
            ("pretrain_seed", "int", "Pre-training seed."),
            ("clean_objective", "str", "Cleaning objective."),
            ("attack", "str", "Attack kind."),
            ("asr_cap", "float", "Largest ASR@1 allowed on the split selected on."),
            (
                "rule",
                "str",
                "heldout (select on the selection split) or oracle_test (the paper's).",
            ),
            ("selected_on", "str", "Split the selection used: selection or test."),
            ("n_points", "int", "(run, epoch) points considered."),
            ("n_eligible", "int", "Points with ASR@1 within the cap."),
            ("min_asr", "float", "Lowest ASR@1 among the points."),
            ("selected", "bool", "A point met the cap (the columns below are empty otherwise)."),
            ("lr", "float", "Learning rate of the selected run.", True),
            ("lambda_ssl", "float", "lambda_ssl of the selected run.", True),
            ("epoch", "float", "Epoch of the selected point.", True),
            ("sel_acc1", "float", "Top-1 accuracy on the split selected on.", True),
            ("sel_asr1", "float", "ASR@1 on the split selected on.", True),
            ("test_acc1", "float", "Test top-1 accuracy of the selected point.", True),
            ("test_acc5", "float", "Test top-5 accuracy (empty when 5 is not in eval.topk).", True),
            ("test_asr1", "float", "Test ASR@1 of the selected point.", True),
            ("test_asr5", "float", "Test ASR@5 (empty when 5 is not in eval.topk).", True),
        ),
        key=("pretrain_objective", "pretrain_seed", "clean_objective", "asr_cap", "rule"),
    ),
]
