"""The paper's change-point reading and PELT twin, now in :mod:`imitation_kedro.core.changepoint`
(shared with the counterfactual pipeline, which reads each probe's dose-response the same way)."""

from imitation_kedro.core.changepoint import (  # noqa: F401
    PaperReading,
    noise_sd,
    pelt_l2,
    read_paper,
    ruptures_breakpoints,
)
