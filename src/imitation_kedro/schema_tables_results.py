"""Column declarations of the threshold and backdoor handoff tables (see schema_tables.py)."""

from __future__ import annotations

from imitation_kedro.schema_tables import TableSchema, _cols

_GROUP = (
    ("domain", "str", "Concept domain."),
    ("model", "str", "Text-to-image model key."),
)

# ---------------------------------------------------------------- threshold
THRESHOLD = [
    TableSchema(
        "out_thresholds",
        "Imitation thresholds per (domain, model, method), with uncertainty and the parameters used.",
        _cols(
            *_GROUP,
            (
                "method",
                "str",
                "paper (PELT as in FIT) or segmented (OLS break, permutation p-value).",
            ),
            ("status", "str", "threshold (found), or no_threshold with a reason."),
            ("reason", "str", "Why no threshold was reported (empty when found).", True),
            (
                "change_index",
                "float",
                "0-based rank (ascending count) of the first concept after the change (-1: none).",
                True,
            ),
            (
                "threshold",
                "float",
                "Image count of the concept at the change point: the imitation threshold.",
                True,
            ),
            ("threshold_concept", "str", "The concept at the change point.", True),
            ("ci_low", "float", "Bootstrap percentile CI of the threshold, lower.", True),
            ("ci_high", "float", "Bootstrap percentile CI of the threshold, upper.", True),
            ("ci_level", "float", "Confidence level of the CI.", True),
            ("cp_ci_low", "float", "Bootstrap CI of the change index, lower.", True),
            ("cp_ci_high", "float", "Bootstrap CI of the change index, upper.", True),
            ("boot_found_rate", "float", "Share of bootstrap resamples that found a change.", True),
            ("n_resamples", "float", "Bootstrap resamples drawn.", True),
            ("p_value", "float", "p-value of 'no break' (segmented).", True),
            ("statistic", "float", "sup-F statistic (segmented).", True),
            ("mean_before", "float", "Mean score before the change.", True),
            ("mean_after", "float", "Mean score after the change.", True),
            (
                "second_change_index",
                "float",
                "Rank of the second change point (paper; -1: none).",
                True,
            ),
            ("second_threshold", "float", "Image count at the second change point.", True),
            ("n_change_points", "float", "Change points PELT found.", True),
            ("penalty", "float", "PELT penalty used.", True),
            ("n_concepts", "int", "Concepts in the sorted sequence."),
            (
                "n_tied",
                "float",
                "Concepts sharing their count with another (ties broken by name).",
                True,
            ),
            (
                "outliers",
                "str",
                "Concepts before the change scoring > 4x the pre-change mean.",
                True,
            ),
            (
                "logistic_midpoint",
                "float",
                "Count at the midpoint of the logistic fit of score vs log count.",
                True,
            ),
            ("logistic_note", "str", "Notes on the logistic fit.", True),
            ("engine_check", "str", "Agreement of the fast PELT with ruptures.", True),
            ("parameters", "str", "JSON of the parameters used.", True),
        ),
    ),
    TableSchema(
        "out_threshold_bootstrap",
        "Every bootstrap draw behind the threshold CIs (groups and methods that found a threshold).",
        _cols(
            *_GROUP,
            ("method", "str", "Detection method: paper or segmented."),
            ("draw", "int", "0-based index of the resample."),
            ("cp", "int", "Change index found in the resample (-1: none)."),
            ("threshold", "float", "Image count at that change (empty when none was found).", True),
        ),
        key=("domain", "model", "method", "draw"),
    ),
    TableSchema(
        "out_threshold_rejects",
        "Concept rows the threshold pipeline could not use (listed in the report, never dropped silently).",
        _cols(
            *_GROUP,
            ("concept", "str", "Concept display name."),
            (
                "reason",
                "str",
                "Why: no matching row in the other table, a NaN/inf/negative value, or excluded.",
            ),
        ),
    ),
    TableSchema(
        "out_threshold_sensitivity",
        "The paper method's threshold and change-point count as the PELT penalty varies.",
        _cols(
            *_GROUP,
            (
                "kind",
                "str",
                "Penalty source: grid (log grid), paper (the configured penalty) or bic.",
            ),
            ("penalty", "float", "PELT penalty."),
            ("n_change_points", "int", "Change points PELT found at this penalty."),
            ("change_index", "int", "Rank of the first change point (-1: none)."),
            (
                "threshold",
                "float",
                "Image count at the first change point (empty when none).",
                True,
            ),
        ),
        key=("domain", "model", "kind", "penalty"),
    ),
]

# ---------------------------------------------------------------- backdoor (CleanCLIP)
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
        _cols(("concept", "str", "Class name, as captions and templates spell it.")),
        key=("concept",),
    ),
    TableSchema(
        "int_backdoor_rejects",
        "Image-text pairs left out before training (pre-training pairs and, with a table, eval pairs).",
        _cols(
            ("key", "str", "Pair key (the input's key column, else its row number)."),
            ("reason", "str", "empty caption, or undecodable image: <error type>."),
        ),
    ),
    TableSchema(
        "prm_backdoor_poison_manifest",
        "One row per poisoned pre-training pair: what the attack changed.",
        _cols(
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
        _cols(
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
        _cols(
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
        _cols(
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
