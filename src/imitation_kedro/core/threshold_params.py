"""Typed parameters of the ``threshold`` block (``conf/<env>/parameters_threshold.yml``): read by
the threshold pipeline and by the counterfactual pipeline (same detector, same defaults)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from imitation_kedro.core.changepoint import PaperParams  # noqa: F401 (moved: shared detector settings)
from imitation_kedro.core.params import Params


class SegmentedParams(Params):
    """Single-break OLS search with a sup-F test of 'no break'."""

    form: Literal["constant", "linear_log"] = "constant"
    min_segment: int = Field(2, ge=1)  # concepts on each side of an admissible break
    # null draws for the p-value (permutation / residual bootstrap); >= 19 for p-values below 0.05
    n_permutations: int = Field(499, ge=19)
    alpha: float = Field(0.05, gt=0, lt=1)  # p >= alpha -> documented "no threshold"


class BootstrapParams(Params):
    """Percentile bootstrap over concepts (and, nested, over prompts) for every method."""

    n_resamples: int = Field(200, ge=0)  # 0 disables the CI
    level: float = Field(0.95, gt=0, lt=1)
    nested_prompts: bool = True


class SensitivityParams(Params):
    """Threshold vs PELT penalty on a log grid, plus a BIC-like sigma^2 log T penalty."""

    penalty_min: float = 0.01
    penalty_max: float = 10.0
    n_penalties: int = Field(25, ge=2)
    include_bic: bool = True

    @model_validator(mode="after")
    def _penalty_range(self) -> SensitivityParams:
        if not 0 < self.penalty_min < self.penalty_max:
            raise ValueError("sensitivity needs 0 < penalty_min < penalty_max")
        return self


class ThresholdParams(Params):
    """Everything the threshold pipeline reads; see conf/base/parameters_threshold.yml."""

    count_column: str = "estimate"  # column of prm_concept_frequencies used as the count
    # Pre-training corpus of each model key (FIT section 3.6: sd11, sd15 laion2b_en; sd21
    # laion5b): its scores join that corpus's estimates. A model not named: laion2b_en.
    model_corpus: dict[str, Literal["laion2b_en", "laion5b"]] = Field(default_factory=dict)
    methods: list[Literal["paper", "segmented"]] = Field(
        default_factory=lambda: ["paper", "segmented"], min_length=1
    )
    exclude: list[str] = Field(default_factory=list)
    on_bad_rows: Literal["error", "reject"] = "reject"
    min_concepts: int = Field(10, ge=3)
    seed: int = 0
    paper: PaperParams = Field(default_factory=PaperParams)
    segmented: SegmentedParams = Field(default_factory=SegmentedParams)
    bootstrap: BootstrapParams = Field(default_factory=BootstrapParams)
    sensitivity: SensitivityParams = Field(default_factory=SensitivityParams)
    logistic: bool = True
    embed_figures: bool = True  # inline the PNGs in the HTML report (the markdown links them)

    @field_validator("methods")
    @classmethod
    def _distinct_methods(cls, methods: list[str]) -> list[str]:
        if len(set(methods)) != len(methods):
            raise ValueError(f"duplicates in {methods}")
        return methods

    @model_validator(mode="after")
    def _room_for_segments(self) -> ThresholdParams:
        if self.min_concepts < 2 * self.segmented.min_segment:
            raise ValueError(
                f"min_concepts ({self.min_concepts}) must be >= 2 x segmented.min_segment "
                f"({self.segmented.min_segment})"
            )
        return self
