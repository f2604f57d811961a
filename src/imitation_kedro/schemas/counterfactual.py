"""pandera models of the counterfactual pipeline's tables (probes, retrains, curves, thresholds)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from imitation_kedro.schemas.table import CONCEPT, DOMAIN, Boolean, Integer, Number, Table, Text

LEVEL = "Ladder level: the probe's training-image count in the retrained model's corpus."
THRESHOLD = "Training-image count of the threshold (NaN: none found; inf: above the ladder)."
DEFINITION = (
    "How the counterfactual threshold is read: pelt (FIT's detector per probe), reach (no PELT), "
    "pelt_pooled (FIT's detector on all probes' points of a domain)."
)


class Probes(Table):
    """The probe concepts: per domain, one per rank bin of the count range."""

    domain: Series[Text] = pa.Field(description=DOMAIN)
    concept: Series[Text] = pa.Field(description=CONCEPT)
    true_image_count: Series[Integer] = pa.Field(ge=0, description="Its image count in the world.")
    n_source_images: Series[Integer] = pa.Field(ge=1, description="Own captioned images resampled.")
    bin: Series[Integer] = pa.Field(ge=0, description="Rank bin of the count range it was drawn from.")

    class Config:
        name = "int_counterfactual_probes"
        description = "Probe concepts of the counterfactual validation."
        unique = ["concept"]


class Retrains(Table):
    """One retrained model per (level, seed), with its content key in the model store."""

    level: Series[Integer] = pa.Field(ge=1, description=LEVEL)
    train_seed: Series[Integer] = pa.Field(description="Training seed (data draw and model).")
    model_key: Series[Text] = pa.Field(description="Content key of the model in mdl_counterfactual_t2i.")
    trained_this_run: Series[Boolean] = pa.Field(description="False: found in the store.")
    n_train_images: Series[Integer] = pa.Field(ge=1, description="Images in its training set.")
    min_distinct_probe_images: Series[Integer] = pa.Field(ge=1, description="Fewest distinct images of a probe.")
    seconds: Series[Number] = pa.Field(ge=0, description="Training time in this run (0: cached).")

    class Config:
        name = "int_counterfactual_retrains"
        description = "The retrained models of the dose ladder."
        unique = ["level", "train_seed"]


class DoseResponse(Table):
    """FIT's imitation score of every probe under every retrained model, per prompt."""

    domain: Series[Text] = pa.Field(description=DOMAIN)
    concept: Series[Text] = pa.Field(description=CONCEPT)
    level: Series[Integer] = pa.Field(ge=1, description=LEVEL)
    train_seed: Series[Integer] = pa.Field(description="Training seed of the model.")
    prompt_id: Series[Integer] = pa.Field(ge=0, description="Template index (generation.templates).")
    score: Series[Number] = pa.Field(description="Mean similarity to the top-k references (FIT).")
    n_images: Series[Integer] = pa.Field(ge=1, description="Images generated for the prompt.")
    n_refs: Series[Integer] = pa.Field(ge=1, description="References the score uses.")
    model_key: Series[Text] = pa.Field(description="The model's content key.")

    class Config:
        name = "out_counterfactual_dose_response"
        description = "Dose-response of every probe: score vs training-image count."
        unique = ["concept", "level", "train_seed", "prompt_id"]


class FitReference(Table):
    """FIT's estimate from the ordinary run, per (domain, method)."""

    domain: Series[Text] = pa.Field(description=DOMAIN)
    fit_method: Series[Text] = pa.Field(description="FIT detection method (paper, segmented).")
    fit_status: Series[Text] = pa.Field(description="threshold or no_threshold.")
    fit_threshold: Series[Number] = pa.Field(nullable=True, description="FIT's threshold.")
    fit_ci_low: Series[Number] = pa.Field(nullable=True, description="Its interval, low end.")
    fit_ci_high: Series[Number] = pa.Field(nullable=True, description="Its interval, high end.")
    mean_after: Series[Number] = pa.Field(nullable=True, description="Mean score of concepts at/after it.")
    sd_after: Series[Number] = pa.Field(nullable=True, description="Their standard deviation.")
    n_concepts: Series[Integer] = pa.Field(ge=0, description="Concepts FIT saw in the domain.")

    class Config:
        name = "out_counterfactual_fit_reference"
        description = "FIT's thresholds and after-change levels the counterfactual is compared with."
        unique = ["domain", "fit_method"]


class ProbeThresholds(Table):
    """Each probe's own threshold, read off its dose-response curve two ways."""

    domain: Series[Text] = pa.Field(description=DOMAIN)
    concept: Series[Text] = pa.Field(description=CONCEPT)
    true_image_count: Series[Integer] = pa.Field(ge=0, description="Its image count in the world.")
    definition: Series[Text] = pa.Field(isin=["pelt", "reach"], description=DEFINITION)
    status: Series[Text] = pa.Field(description="threshold, no_change (pelt) or not_reached (reach).")
    threshold: Series[Number] = pa.Field(nullable=True, description=THRESHOLD)
    target: Series[Number] = pa.Field(nullable=True, description="Score the reach definition needs.")
    reach_reference: Series[Text] = pa.Field(description="Where the reach target comes from.")
    n_points: Series[Integer] = pa.Field(ge=1, description="(level, seed) points on the curve.")

    class Config:
        name = "out_counterfactual_probe_thresholds"
        description = "Per-probe counterfactual thresholds."
        unique = ["concept", "definition"]


class DomainThresholds(Table):
    """The counterfactual threshold per domain: geometric median over probes, bootstrap interval."""

    domain: Series[Text] = pa.Field(description=DOMAIN)
    definition: Series[Text] = pa.Field(isin=["pelt", "reach", "pelt_pooled"], description=DEFINITION)
    threshold: Series[Number] = pa.Field(nullable=True, description=THRESHOLD)
    ci_low: Series[Number] = pa.Field(nullable=True, description="Bootstrap interval, low end.")
    ci_high: Series[Number] = pa.Field(nullable=True, description="Bootstrap interval, high end.")
    ci_level: Series[Number] = pa.Field(description="Interval level.")
    found_rate: Series[Number] = pa.Field(ge=0, le=1, description="Share of probes with a finite threshold.")
    n_probes: Series[Integer] = pa.Field(ge=0, description="Probes in the domain.")
    n_seeds: Series[Integer] = pa.Field(ge=0, description="Training seeds per level.")
    n_resamples: Series[Integer] = pa.Field(ge=0, description="Bootstrap resamples.")

    class Config:
        name = "out_counterfactual_domain_thresholds"
        description = "Counterfactual imitation threshold per domain."
        unique = ["domain", "definition"]


class Comparison(Table):
    """FIT's estimate against the counterfactual threshold."""

    domain: Series[Text] = pa.Field(description=DOMAIN)
    fit_method: Series[Text] = pa.Field(description="FIT detection method.")
    definition: Series[Text] = pa.Field(description=DEFINITION)
    fit_threshold: Series[Number] = pa.Field(nullable=True, description="FIT's threshold.")
    cf_threshold: Series[Number] = pa.Field(nullable=True, description="Counterfactual threshold.")
    difference: Series[Number] = pa.Field(nullable=True, description="FIT minus counterfactual.")
    ratio: Series[Number] = pa.Field(nullable=True, description="FIT over counterfactual.")
    fit_in_cf_interval: Series[Boolean] = pa.Field(description="FIT's value in the counterfactual interval.")
    cf_in_fit_interval: Series[Boolean] = pa.Field(description="Counterfactual value in FIT's interval.")
    verdict: Series[Text] = pa.Field(description="Whether FIT's assumption held, in words.")

    class Config:
        name = "out_counterfactual_comparison"
        description = "FIT vs counterfactual threshold per domain."
        unique = ["domain", "fit_method", "definition"]


class Subsample(Table):
    """FIT's paper reading on seeded subsamples of its concepts."""

    domain: Series[Text] = pa.Field(description=DOMAIN)
    fraction: Series[Number] = pa.Field(gt=0, le=1, description="Share of the domain's concepts.")
    n_concepts: Series[Integer] = pa.Field(ge=1, description="Concepts in the subsample.")
    draw: Series[Integer] = pa.Field(ge=0, description="Draw index.")
    status: Series[Text] = pa.Field(description="threshold or no_change.")
    threshold: Series[Number] = pa.Field(nullable=True, description="FIT's threshold on the subsample.")

    class Config:
        name = "out_counterfactual_subsample"
        description = "How FIT's threshold moves with the number of concepts."
        unique = ["domain", "fraction", "draw"]
