"""Schemas of the threshold pipeline's tables (thresholds, curves, sweeps)."""

from __future__ import annotations

from imitation_kedro.schemas.columns import TableSchema, cols

_GROUP = (
    ("domain", "str", "Concept domain."),
    ("model", "str", "Text-to-image model key."),
)

THRESHOLD = [
    TableSchema(
        "out_thresholds",
        "Imitation thresholds per (domain, model, method), with uncertainty and the parameters used.",
        cols(
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
        cols(
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
        cols(
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
        cols(
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
