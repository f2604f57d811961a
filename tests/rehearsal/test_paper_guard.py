"""The paper env never writes raw data, checks its inputs before any node, runs each paper model."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from kedro.pipeline import Node, Pipeline

from imitation_kedro import paper_guard, pipeline_registry
from imitation_kedro.core import config_loader
from tests.rehearsal.project_copy import paper_project_copy

GUARDED_KEDRO = Path(__file__).with_name("kedro_with_guards.py")
ENV = {
    **os.environ,
    "KEDRO_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "IMITATION_KEDRO_PROGRESS": "0",
    "MPLBACKEND": "Agg",
    "COLUMNS": "200",
}


def _kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(GUARDED_KEDRO), *args],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def paper_env(monkeypatch):
    monkeypatch.setattr(config_loader, "_SESSION_ENV", ["paper"])


def test_paper_fit_has_no_world_and_one_namespace_per_model(paper_env):
    pipes = pipeline_registry.register_pipelines()
    fit = pipes["fit"]
    # the paper env's default run is both papers; `--pipelines fit|backdoor` runs one
    assert set(pipes["__default__"].nodes) == set(fit.nodes) | set(pipes["backdoor"].nodes)
    assert {n.namespace.split(".")[0] for n in pipes["__default__"].nodes} == {"fit", "backdoor"}
    namespaces = {n.namespace for n in fit.nodes}
    assert not any(ns.startswith("world") for ns in namespaces)
    for model in pipeline_registry.PAPER_MODELS:
        assert f"fit.generation.{model}" in namespaces and f"fit.similarity.{model}" in namespaces
        assert f"params:generation_{model}" in fit.inputs()
    # Each model's similarity reads its own generations; one table reaches threshold.
    plan = next(n for n in fit.nodes if n.name == "fit.similarity.sd21.plan_similarity_items")
    assert "fit.generation.sd21.int_generation_manifest" in plan.inputs
    writers = [n.name for n in fit.nodes if "prm_imitation_scores" in n.outputs]
    assert writers == ["fit.similarity.collect_model_scores"]
    assert not {d for d in fit.all_outputs() if d.split(".")[-1].startswith("raw_")}


def test_the_miniature_env_keeps_one_model(monkeypatch):
    monkeypatch.setattr(config_loader, "_SESSION_ENV", ["test"])
    pipes = pipeline_registry.register_pipelines()
    fit = pipes["fit"]
    assert pipes["__default__"] is fit  # `make run`: FIT on the miniature world only
    assert {n.namespace for n in fit.nodes if ".generation" in n.namespace} == {"fit.generation"}
    assert any(n.namespace == "world" for n in fit.nodes)


def test_per_model_params_set_only_the_model():
    params = {"generation": {"model": "sd15", "batch_size": 16}, "similarity": {}}
    blocks = pipeline_registry.per_model_params(params)
    assert blocks["generation_sd21"] == {"model": "sd21", "batch_size": 16}
    assert set(blocks) == {"generation_sd11", "generation_sd15", "generation_sd21"}
    assert pipeline_registry.schema_for("generation_sd21") is pipeline_registry.schema_for(
        "generation"
    )
    assert pipeline_registry.schema_for("generation_sd99") is None


def test_collect_model_scores_refuses_another_models_rows():
    from imitation_kedro.pipelines.model_scores.nodes import collect_model_scores

    row = {"concept": "a", "prompt_id": 0, "score": 0.5}
    sd11 = pd.DataFrame([{**row, "model": "sd11"}])
    sd21 = pd.DataFrame([{**row, "model": "sd21"}])
    both = collect_model_scores(sd21=sd21, sd11=sd11)
    assert list(both["model"]) == ["sd11", "sd21"]
    with pytest.raises(ValueError, match="model 'sd11' holds rows of model\\(s\\) \\['sd21'\\]"):
        collect_model_scores(sd11=sd21)


class _Node:
    name = "world.plan_concepts"


def test_a_raw_save_is_refused_in_paper_only():
    guard = paper_guard.RawDataGuardHook()
    guard._env = "paper"
    with pytest.raises(paper_guard.RawDataWriteError, match="refusing to save 'raw_concepts'"):
        guard.before_dataset_saved("raw_concepts", _Node())
    guard.before_dataset_saved("int_caption_hits", _Node())
    guard._env = "test"
    guard.before_dataset_saved("raw_concepts", _Node())


def test_preflight_lists_every_missing_input_at_once(tmp_path):
    from kedro.io import DataCatalog, MemoryDataset
    from kedro_datasets.pandas import ParquetDataset

    def step(concepts, shards, settings):  # pragma: no cover - never run
        return concepts

    pipe = Pipeline(
        [
            Node(
                step,
                ["raw_concepts", "raw_laion_captions", "params:similarity"],
                "int_x",
                name="step",
            )
        ]
    )
    pd.DataFrame({"concept": ["a"], "domain": ["style"]}).to_parquet(tmp_path / "c.parquet")
    catalog = DataCatalog(
        {
            "raw_concepts": ParquetDataset(filepath=str(tmp_path / "c.parquet")),
            "raw_laion_captions": ParquetDataset(filepath=str(tmp_path / "laion/missing.parquet")),
            "params:similarity": MemoryDataset(
                {"embedder": {"checkpoint": "data/06_models/x.onnx", "device": "cuda"}}
            ),
        }
    )
    problems = paper_guard.preflight_problems(pipe, catalog, tmp_path, cuda=False)
    text = "\n".join(problems)
    assert len(problems) == 4, text
    assert "raw_concepts: holds the miniature world's concepts" in text
    assert "raw_laion_captions: nothing at laion/missing.parquet" in text
    assert "similarity.embedder.checkpoint: data/06_models/x.onnx not found" in text
    assert "CUDA: similarity.embedder.device" in text
    assert paper_guard.preflight_problems(pipe, catalog, tmp_path, cuda=True)[-1].startswith(
        "weights"
    )


def test_the_paper_env_never_touches_user_inputs(tmp_path):
    """`world` under --env paper stops before its first node; the default paper run (both papers)
    stops in the preflight listing what is missing, `--pipelines fit` only what FIT needs; every
    byte under data/ is unchanged after each."""
    project = paper_project_copy(tmp_path / "project")
    user = project / "data/01_raw/laion2b-en"
    user.mkdir(parents=True)
    pd.DataFrame({"SAMPLE_ID": [1], "URL": ["u"], "TEXT": ["a photo"]}).to_parquet(
        user / "part-0.parquet"
    )
    before = _tree(project / "data")

    world = _kedro(project, "run", "--env", "paper", "--pipelines", "world")
    text = world.stdout + world.stderr
    assert world.returncode != 0
    assert "--env paper never writes raw data" in text, text[-3000:]
    assert "Running node" not in text and "Completed 1 out of" not in text
    for selected in ((), ("--pipelines", "fit")):
        run = _kedro(project, "run", "--env", "paper", *selected)
        text = run.stdout + run.stderr
        # the preflight checks the inputs of the selected pipelines only
        assert ("raw_backdoor_pairs" in text) is (not selected), text[-3000:]
        assert run.returncode != 0
        assert "input(s) missing before the first node" in text, text[-3000:]
        assert "docs/reproduce_fit.md" in text
        for missing in (
            "raw_reference_images",
            "fit.generation.sd21.mdl_t2i",
            "frequency.verification",
        ):
            assert missing in text, missing
        assert "Completed 1 out of" not in text
        assert _tree(project / "data") == before
