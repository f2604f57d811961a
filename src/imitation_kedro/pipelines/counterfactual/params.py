"""Typed parameters of the ``counterfactual`` pipeline (conf/<env>/parameters_counterfactual.yml).

Nodes take one sub-block each (``params:counterfactual.probes`` ...). The retraining recipe is the
world's (``params:world.t2i``), generation and scoring settings are the FIT chain's
(``params:generation``, ``params:similarity``) and the change-point detector is the threshold
pipeline's (``params:threshold.paper``), so nothing here can drift from the chain it checks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from imitation_kedro.core.params import Params


class ProbeParams(Params):
    """Which concepts are probed: per domain, spread over the count range, seeded."""

    per_domain: int = Field(8, ge=2)
    # probes need this many own training images (rows showing them, captions naming them)
    min_source_images: int = Field(1, ge=1)
    seed: int = 0


class LadderParams(Params):
    """The dose ladder: training-image counts every probe is resampled to, one retrain per level."""

    levels: list[int] = Field(default_factory=lambda: [1, 3, 10, 30, 100, 300, 1000, 3000])
    train_seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=2)

    @field_validator("levels")
    @classmethod
    def _ascending(cls, levels: list[int]) -> list[int]:
        if len(levels) < 3 or any(v < 1 for v in levels) or sorted(set(levels)) != levels:
            raise ValueError(
                f"levels must be >= 3 distinct ascending counts >= 1 (e.g. [1, 10, 100]), got {levels}"
            )
        return levels

    @field_validator("train_seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"train_seeds must be distinct, got {seeds}")
        return seeds


class ReadoutParams(Params):
    """How each probe's threshold is read, and how the domain's is aggregated."""

    # PELT-free definition: the smallest level from which the score stays above the FIT fit's
    # after-change level minus reach_noise_k x the after-change spread
    reach_noise_k: float = Field(1.0, ge=0)
    fit_method: Literal["paper", "segmented"] = "paper"  # FIT's headline estimate to test
    n_resamples: int = Field(1000, ge=0)  # bootstrap over probes and seeds; 0 disables
    level: float = Field(0.95, gt=0, lt=1)
    seed: int = 0


class SubsampleParams(Params):
    """FIT's detector re-run on seeded subsamples of the concepts (how the answer moves with n)."""

    fractions: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0], min_length=1)
    draws: int = Field(20, ge=1)
    seed: int = 0

    @field_validator("fractions")
    @classmethod
    def _in_unit(cls, fractions: list[float]) -> list[float]:
        if any(not 0 < f <= 1 for f in fractions):
            raise ValueError(f"fractions must lie in (0, 1], got {fractions}")
        return fractions


class CounterfactualParams(Params):
    """All ``counterfactual`` parameters."""

    probes: ProbeParams = Field(default_factory=ProbeParams)
    ladder: LadderParams = Field(default_factory=LadderParams)
    readout: ReadoutParams = Field(default_factory=ReadoutParams)
    subsample: SubsampleParams = Field(default_factory=SubsampleParams)
