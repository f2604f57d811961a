"""The paper-shape rehearsal end to end: `python -m imitation_kedro.rehearsal build`, then
`kedro run --env rehearsal --pipelines fit` (conf/paper + conf/rehearsal, tiny stand-ins), in a
project copy.

~10 minutes on 2 busy cores: skipped unless IMITATION_KEDRO_REHEARSAL=1 (`.ci/rehearsal_fit.sh`).
"""

from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.rehearsal.project_copy import paper_project_copy

pytestmark = [
    pytest.mark.rehearsal,
    pytest.mark.skipif(
        os.environ.get("IMITATION_KEDRO_REHEARSAL") != "1",
        reason="the FIT rehearsal runs in its own CI step (.ci/rehearsal_fit.sh)",
    ),
]
GUARDED_KEDRO = Path(__file__).with_name("kedro_with_guards.py")
SETS = {"celebrities", "politicians", "classical", "modern"}
MODELS = {"sd11", "sd15", "sd21"}
ROOT = "data/rehearsal"
# Run bookkeeping of plugins, not data: kedro-viz's run events, kedro-mlflow's store (until
# conf/rehearsal/mlflow.yml moves it under data/rehearsal).
TOOLING = (".viz/", "mlruns/", "src/")  # src/: a link to the package (read only)


def _tree(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under ``root`` (links not followed), minus ``skip`` prefixes."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            rel = str((Path(folder) / name).relative_to(root))
            if not rel.startswith(skip):
                out[rel] = hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def _latest(project: Path, pattern: str) -> pd.DataFrame:
    paths = sorted(glob.glob(str(project / ROOT / pattern)))
    assert paths, f"nothing matches {ROOT}/{pattern}"
    return pd.read_parquet(paths[-1])


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    project = paper_project_copy(tmp_path_factory.mktemp("rehearsal") / "project")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "KEDRO_DISABLE_TELEMETRY": "1",
        "IMITATION_KEDRO_PROGRESS": "0",
        "MPLBACKEND": "Agg",
        "HF_HUB_CACHE": str(project / ROOT / "hf_cache"),
    }
    build = subprocess.run(
        [sys.executable, "-m", "imitation_kedro.rehearsal", "build", "--project", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, (build.stdout + build.stderr)[-3000:]
    outside = _tree(project, skip=(ROOT + "/", *TOOLING))
    inputs = {
        k: v
        for k, v in _tree(project / ROOT).items()
        if k.startswith(("01_raw/", "06_models/", "hf_cache/", "laion_files/"))
    }
    run = subprocess.run(
        [sys.executable, str(GUARDED_KEDRO), "run", "--env", "rehearsal", "--pipelines", "fit"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    return project, outside, inputs


def test_four_sets_times_three_models_of_thresholds(rehearsal):
    project, _, _ = rehearsal
    thresholds = _latest(project, "07_model_output/thresholds.parquet/*/thresholds.parquet")
    pairs = set(zip(thresholds["concept_set"], thresholds["model"], strict=True))
    assert pairs == {(s, m) for s in SETS for m in MODELS}
    assert thresholds.groupby(["concept_set", "model", "method"]).size().eq(1).all()


def test_sd21_reads_the_laion5b_estimates(rehearsal):
    from imitation_kedro.pipeline_registry import validate_parameters
    from imitation_kedro.pipelines.threshold.nodes import prepare_threshold_inputs
    from imitation_kedro.rehearsal.__main__ import load_config

    project, _, _ = rehearsal
    freq = _latest(project, "03_primary/concept_frequencies.parquet/*/*.parquet")
    scores = _latest(project, "03_primary/imitation_scores.parquet/*/*.parquet")
    params = validate_parameters({"threshold": load_config(project)[1]["threshold"]})["threshold"]
    concepts = prepare_threshold_inputs(freq, scores, params)[0]
    by_corpus = freq.set_index(["corpus", "concept"])["estimate"]
    for model, corpus in (("sd11", "laion2b_en"), ("sd15", "laion2b_en"), ("sd21", "laion5b")):
        rows = concepts[concepts["model"] == model]
        assert len(rows), model
        expected = by_corpus.loc[corpus].reindex(rows["concept"]).to_numpy()
        assert (rows["count"].to_numpy() == expected).all(), (model, corpus)
    sd11 = concepts[concepts["model"] == "sd11"].set_index("concept")["count"]
    sd21 = concepts[concepts["model"] == "sd21"].set_index("concept")["count"]
    assert (sd21.reindex(sd11.index) != sd11).any(), "5B and 2B-en estimates should differ"


def test_modern_concepts_are_verified_with_modern_constants(rehearsal):
    project, _, _ = rehearsal
    folder = project / ROOT / "02_intermediate/frequency/verification_scores.parquet"
    # the latest version's table (each version folder also holds its provenance record)
    scores = pd.read_parquet(sorted(folder.glob("*/verification_scores.parquet"))[-1])
    for concept_set, (threshold, gate) in {
        "modern": (0.2883, 0.1768798828125),
        "classical": (0.2783, 0.1815185546875),
    }.items():
        rows = scores[scores["concept_set"] == concept_set]
        assert len(rows), concept_set
        rule = (rows["score"] >= threshold) & (rows["gate_score"] >= gate)
        assert (rows["verified"].astype(bool) == rule).all(), concept_set


def test_inputs_are_byte_identical_after_the_run(rehearsal):
    project, _, inputs = rehearsal
    after = {k: v for k, v in _tree(project / ROOT).items() if k in inputs}
    assert after == inputs


def test_nothing_is_written_outside_the_rehearsal_folder(rehearsal):
    project, outside, _ = rehearsal
    now = _tree(project, skip=(ROOT + "/", *TOOLING))
    assert now == outside, sorted(set(now) ^ set(outside))
