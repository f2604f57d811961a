"""The counterfactual pipeline end to end on the test-size world (SequentialRunner, real retrains).

FIT's outputs (``out_thresholds``, ``prm_*``) are stand-ins shaped as the chain writes them, so
the test needs only the world. It checks the outputs a user reads, the content-keyed cache
(a re-run trains nothing, an interrupted ladder resumes where it stopped) and determinism.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fixtures.world import PROJECT_ROOT

pytestmark = pytest.mark.slow
WORLD_INPUTS = ("raw_ground_truth", "raw_world_corpus_plan", "raw_laion_images", "mdl_miniature_clip",
                "raw_reference_images")


def _config():
    from kedro.config import OmegaConfigLoader

    loader = OmegaConfigLoader(conf_source=str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="test")
    catalog = {k: v for k, v in loader["catalog"].items() if "counterfactual" in k}
    return catalog, loader["parameters"]


def fit_stand_ins(truth: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """FIT's handoff tables for the world's concepts: a logistic score, a threshold at 30."""
    score = 0.3 + 0.6 / (1 + np.exp(-(np.log(truth["true_image_count"]) - np.log(30))))
    scores = truth[["concept", "domain"]].assign(model="miniature", score=score.to_numpy())
    freqs = truth[["concept"]].assign(estimate=truth["true_image_count"].astype(float))
    thresholds = pd.DataFrame([
        {"domain": d, "model": "miniature", "method": m, "status": "threshold", "threshold": 30.0,
         "ci_low": 10.0, "ci_high": 100.0} for d in sorted(truth["domain"].unique()) for m in ("paper", "segmented")
    ])
    return {"prm_concept_imitation_scores": scores, "prm_concept_frequencies": freqs, "out_thresholds": thresholds}


def run(tiny_world, root: Path) -> dict[str, object]:
    """Run the pipeline into ``root``; return every output loaded back."""
    import torch
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    from imitation_kedro.pipelines.counterfactual.params import CounterfactualParams
    from imitation_kedro.pipelines.counterfactual.pipeline import create_pipeline

    catalog_conf, params = _config()
    catalog_conf = copy.deepcopy(catalog_conf)
    for entry in catalog_conf.values():
        if "dataset" in entry:  # the MLflow artefact wrapper: its inner versioned file
            entry.update(entry.pop("dataset"))
            entry.pop("artifact_path", None)
        for key in ("filepath", "path"):
            if key in entry:
                entry[key] = str(root / entry[key].removeprefix("data/"))
    catalog = DataCatalog.from_config(catalog_conf)
    for name in WORLD_INPUTS:
        catalog[name] = MemoryDataset(tiny_world["catalog"].load(name), copy_mode="assign")
    for name, frame in fit_stand_ins(tiny_world["raw_ground_truth"]).items():
        catalog[name] = MemoryDataset(frame)
    cf = CounterfactualParams(**params["counterfactual"])
    for key in ("probes", "ladder", "readout", "subsample"):
        catalog[f"params:counterfactual.{key}"] = getattr(cf, key)
    catalog["params:world.seed"] = params["world"]["seed"]
    catalog["params:world.t2i"] = params["world"]["t2i"]
    catalog["params:generation"] = params["generation"]
    catalog["params:generation.model"] = params["generation"]["model"]
    catalog["params:similarity.top_k_refs"] = params["similarity"]["top_k_refs"]
    catalog["params:threshold"] = params["threshold"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        SequentialRunner().run(create_pipeline(), catalog)
    finally:
        torch.set_num_threads(threads)
    skip = {"mdl_counterfactual_t2i", "rpt_counterfactual_figure"}  # a store; a save-only PNG
    out = {name: catalog.load(name) for name in catalog_conf if name not in skip}
    out["figure_files"] = sorted(Path(catalog_conf["rpt_counterfactual_figure"]["filepath"]).glob("*/*.png"))
    return out


@pytest.fixture(scope="module")
def first(tiny_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("counterfactual")
    return root, run(tiny_world, root)


def test_the_outputs_a_user_reads(first):
    _, out = first
    _, params = _config()
    levels, seeds = params["counterfactual"]["ladder"]["levels"], params["counterfactual"]["ladder"]["train_seeds"]
    probes = out["int_counterfactual_probes"]
    assert sorted(probes.groupby("domain").size()) == [3, 3]
    retrains = out["int_counterfactual_retrains"]
    assert len(retrains) == len(levels) * len(seeds) and retrains["trained_this_run"].all()
    dose = out["out_counterfactual_dose_response"]
    n_prompts = 1  # conf/test: one template per domain
    assert len(dose) == len(probes) * len(levels) * len(seeds) * n_prompts
    assert dose["score"].between(-1, 1).all()
    comparison = out["out_counterfactual_comparison"]
    assert set(comparison["domain"]) == {"style", "motif"}
    assert set(comparison["definition"]) == {"pelt", "reach", "pelt_pooled"}
    assert {"cf_ci_low", "cf_ci_high", "fit_ci_low", "fit_ci_high", "ratio", "verdict"} <= set(comparison.columns)
    assert (comparison["fit_threshold"] == 30.0).all()
    domains = out["out_counterfactual_domain_thresholds"]
    assert (domains["n_probes"] == 3).all() and (domains["n_seeds"] == len(seeds)).all()
    assert "## Verdict" in out["rpt_counterfactual_report"]
    assert len(out["figure_files"]) == 1 and out["figure_files"][0].stat().st_size > 10_000


def test_a_rerun_trains_nothing_and_gives_the_same_tables(first, tiny_world):
    root, before = first
    after = run(tiny_world, root)
    assert not after["int_counterfactual_retrains"]["trained_this_run"].any()
    for name in ("out_counterfactual_dose_response", "out_counterfactual_comparison",
                 "out_counterfactual_probe_thresholds", "out_counterfactual_domain_thresholds"):
        pd.testing.assert_frame_equal(before[name], after[name])


def test_an_interrupted_ladder_resumes_with_the_missing_model_only(first, tiny_world):
    root, before = first
    key = before["int_counterfactual_retrains"]["model_key"].iloc[-1]
    shutil.rmtree(root / "06_models" / "counterfactual_t2i" / key)  # as if killed before the last save
    after = run(tiny_world, root)
    trained = after["int_counterfactual_retrains"].set_index("model_key")["trained_this_run"]
    assert trained[key] and trained.sum() == 1
    pd.testing.assert_frame_equal(before["out_counterfactual_dose_response"],
                                  after["out_counterfactual_dose_response"])
