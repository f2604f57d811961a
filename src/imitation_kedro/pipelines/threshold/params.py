"""Typed parameters of the ``threshold`` pipeline (``conf/<env>/parameters_threshold.yml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from imitation_kedro.core.params import ParameterError, Params

METHODS = ("paper", "segmented")


@dataclass(frozen=True)
class PaperParams(Params):
    """The paper's PELT run (FIT reference section 6): ruptures, L2 cost, penalty 0.9."""

    penalty: float = 0.9
    min_size: int = 1
    jump: int = 1
    outlier_factor: float = (
        4.0  # outliers: before-cp scores > factor x pre-change mean (reported only)
    )

    def validate(self) -> None:
        if self.penalty <= 0:
            raise ParameterError(f"paper.penalty must be > 0, got {self.penalty}")
        if self.min_size < 1 or self.jump < 1:
            raise ParameterError("paper.min_size and paper.jump must be >= 1")


@dataclass(frozen=True)
class SegmentedParams(Params):
    """Single-break OLS search with a sup-F test of 'no break'."""

    form: Literal["constant", "linear_log"] = "constant"
    min_segment: int = 2  # concepts on each side of an admissible break
    n_permutations: int = 499  # null draws for the p-value (permutation / residual bootstrap)
    alpha: float = 0.05  # p >= alpha -> documented "no threshold"

    def validate(self) -> None:
        if self.min_segment < 1:
            raise ParameterError(f"segmented.min_segment must be >= 1, got {self.min_segment}")
        if self.n_permutations < 19:
            raise ParameterError("segmented.n_permutations must be >= 19 (p-values below 0.05)")
        if not 0 < self.alpha < 1:
            raise ParameterError(f"segmented.alpha must be in (0, 1), got {self.alpha}")


@dataclass(frozen=True)
class BootstrapParams(Params):
    """Percentile bootstrap over concepts (and, nested, over prompts) for every method."""

    n_resamples: int = 200  # 0 disables the CI
    level: float = 0.95
    nested_prompts: bool = True

    def validate(self) -> None:
        if self.n_resamples < 0:
            raise ParameterError("bootstrap.n_resamples must be >= 0")
        if not 0 < self.level < 1:
            raise ParameterError(f"bootstrap.level must be in (0, 1), got {self.level}")


@dataclass(frozen=True)
class SensitivityParams(Params):
    """Threshold vs PELT penalty on a log grid, plus a BIC-like sigma^2 log T penalty."""

    penalty_min: float = 0.01
    penalty_max: float = 10.0
    n_penalties: int = 25
    include_bic: bool = True

    def validate(self) -> None:
        if not 0 < self.penalty_min < self.penalty_max:
            raise ParameterError("sensitivity needs 0 < penalty_min < penalty_max")
        if self.n_penalties < 2:
            raise ParameterError("sensitivity.n_penalties must be >= 2")


@dataclass(frozen=True)
class ThresholdParams(Params):
    """Everything the threshold pipeline reads; see conf/base/parameters_threshold.yml."""

    source: Literal["pipeline", "user_table"] = "pipeline"
    count_column: str = "estimate"  # column of prm_concept_frequencies used as the count
    methods: list[str] = field(default_factory=lambda: ["paper", "segmented"])
    exclude: list[str] = field(default_factory=list)
    on_bad_rows: Literal["error", "reject"] = "reject"
    min_concepts: int = 10
    seed: int = 0
    paper: PaperParams = field(default_factory=PaperParams)
    segmented: SegmentedParams = field(default_factory=SegmentedParams)
    bootstrap: BootstrapParams = field(default_factory=BootstrapParams)
    sensitivity: SensitivityParams = field(default_factory=SensitivityParams)
    logistic: bool = True
    embed_figures: bool = True  # inline the PNGs in the markdown report

    def validate(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ParameterError(
                f"methods: {unknown or '[]'} not allowed; choose from {list(METHODS)}"
            )
        if len(set(self.methods)) != len(self.methods):
            raise ParameterError(f"methods: duplicates in {self.methods}")
        if self.min_concepts < 3:
            raise ParameterError(f"min_concepts must be >= 3, got {self.min_concepts}")
        if self.min_concepts < 2 * self.segmented.min_segment:
            raise ParameterError(
                f"min_concepts ({self.min_concepts}) must be >= 2 x segmented.min_segment "
                f"({self.segmented.min_segment})"
            )
