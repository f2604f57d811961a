"""pandera models of the threshold pipeline's tables (thresholds, bootstrap, rejects, sweeps)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from imitation_kedro.schemas.frequency import CONCEPT_SET
from imitation_kedro.schemas.table import Integer, Number, Table, Text


class Thresholds(Table):
    """Imitation thresholds per (concept_set, model, method), with uncertainty and the
    parameters used.
    """

    concept_set: Series[Text] = pa.Field(description=CONCEPT_SET)
    domain: Series[Text] = pa.Field(description="Concept domain.")
    model: Series[Text] = pa.Field(description="Text-to-image model key.")
    method: Series[Text] = pa.Field(
        description="paper (PELT as in FIT) or segmented (OLS break, permutation p-value).",
    )
    status: Series[Text] = pa.Field(
        description="threshold (found), or no_threshold with a reason.",
    )
    reason: Series[Text] = pa.Field(
        nullable=True,
        description="Why no threshold was reported (empty when found).",
    )
    change_index: Series[Number] = pa.Field(
        nullable=True,
        description="0-based rank (ascending count) of the first concept after the change (-1: none).",
    )
    threshold: Series[Number] = pa.Field(
        nullable=True,
        description="Image count of the concept at the change point: the imitation threshold.",
    )
    threshold_concept: Series[Text] = pa.Field(
        nullable=True,
        description="The concept at the change point.",
    )
    ci_low: Series[Number] = pa.Field(
        nullable=True,
        description="Bootstrap percentile CI of the threshold, lower.",
    )
    ci_high: Series[Number] = pa.Field(
        nullable=True,
        description="Bootstrap percentile CI of the threshold, upper.",
    )
    ci_level: Series[Number] = pa.Field(nullable=True, description="Confidence level of the CI.")
    cp_ci_low: Series[Number] = pa.Field(
        nullable=True,
        description="Bootstrap CI of the change index, lower.",
    )
    cp_ci_high: Series[Number] = pa.Field(
        nullable=True,
        description="Bootstrap CI of the change index, upper.",
    )
    boot_found_rate: Series[Number] = pa.Field(
        nullable=True,
        description="Share of bootstrap resamples that found a change.",
    )
    n_resamples: Series[Number] = pa.Field(nullable=True, description="Bootstrap resamples drawn.")
    p_value: Series[Number] = pa.Field(
        nullable=True,
        description="p-value of 'no break' (segmented).",
    )
    statistic: Series[Number] = pa.Field(nullable=True, description="sup-F statistic (segmented).")
    mean_before: Series[Number] = pa.Field(
        nullable=True,
        description="Mean score before the change.",
    )
    mean_after: Series[Number] = pa.Field(
        nullable=True,
        description="Mean score after the change.",
    )
    second_change_index: Series[Number] = pa.Field(
        nullable=True,
        description="Rank of the second change point (paper; -1: none).",
    )
    second_threshold: Series[Number] = pa.Field(
        nullable=True,
        description="Image count at the second change point.",
    )
    n_change_points: Series[Number] = pa.Field(
        nullable=True,
        description="Change points PELT found.",
    )
    penalty: Series[Number] = pa.Field(nullable=True, description="PELT penalty used.")
    n_concepts: Series[Integer] = pa.Field(description="Concepts in the sorted sequence.")
    n_tied: Series[Number] = pa.Field(
        nullable=True,
        description="Concepts sharing their count with another (ties broken by name).",
    )
    outliers: Series[Text] = pa.Field(
        nullable=True,
        description="Concepts before the change scoring > 4x the pre-change mean.",
    )
    logistic_midpoint: Series[Number] = pa.Field(
        nullable=True,
        description="Count at the midpoint of the logistic fit of score vs log count.",
    )
    logistic_note: Series[Text] = pa.Field(nullable=True, description="Notes on the logistic fit.")
    engine_check: Series[Text] = pa.Field(
        nullable=True,
        description="Agreement of the fast PELT with ruptures.",
    )
    parameters: Series[Text] = pa.Field(nullable=True, description="JSON of the parameters used.")

    class Config:
        name = "out_thresholds"
        unique = ["concept_set", "model", "method"]


class ThresholdBootstrap(Table):
    """Every bootstrap draw behind the threshold CIs (groups and methods that found a threshold)."""

    concept_set: Series[Text] = pa.Field(description=CONCEPT_SET)
    domain: Series[Text] = pa.Field(description="Concept domain.")
    model: Series[Text] = pa.Field(description="Text-to-image model key.")
    method: Series[Text] = pa.Field(description="Detection method: paper or segmented.")
    draw: Series[Integer] = pa.Field(description="0-based index of the resample.")
    cp: Series[Integer] = pa.Field(description="Change index found in the resample (-1: none).")
    threshold: Series[Number] = pa.Field(
        nullable=True,
        description="Image count at that change (empty when none was found).",
    )

    class Config:
        name = "out_threshold_bootstrap"
        unique = ["concept_set", "model", "method", "draw"]


class ThresholdRejects(Table):
    """Concept rows the threshold pipeline could not use (listed in the report, never dropped
    silently).
    """

    concept_set: Series[Text] = pa.Field(description=CONCEPT_SET)
    domain: Series[Text] = pa.Field(description="Concept domain.")
    model: Series[Text] = pa.Field(description="Text-to-image model key.")
    concept: Series[Text] = pa.Field(description="Concept display name.")
    reason: Series[Text] = pa.Field(
        description="Why: no matching row in the other table, a NaN/inf/negative value, or excluded.",
    )

    class Config:
        name = "out_threshold_rejects"


class ThresholdSensitivity(Table):
    """The paper method's threshold and change-point count as the PELT penalty varies."""

    concept_set: Series[Text] = pa.Field(description=CONCEPT_SET)
    domain: Series[Text] = pa.Field(description="Concept domain.")
    model: Series[Text] = pa.Field(description="Text-to-image model key.")
    kind: Series[Text] = pa.Field(
        description="Penalty source: grid (log grid), paper (the configured penalty) or bic.",
    )
    penalty: Series[Number] = pa.Field(description="PELT penalty.")
    n_change_points: Series[Integer] = pa.Field(
        description="Change points PELT found at this penalty.",
    )
    change_index: Series[Integer] = pa.Field(
        description="Rank of the first change point (-1: none).",
    )
    threshold: Series[Number] = pa.Field(
        nullable=True,
        description="Image count at the first change point (empty when none).",
    )

    class Config:
        name = "out_threshold_sensitivity"
        unique = ["concept_set", "model", "kind", "penalty"]
