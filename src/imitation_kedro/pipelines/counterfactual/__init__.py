"""Counterfactual validation of FIT: retrain with probe concepts at a dose ladder of counts."""

from imitation_kedro.pipelines.counterfactual.pipeline import create_pipeline

__all__ = ["create_pipeline"]
