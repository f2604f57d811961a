"""The registry and the lineage view: every listed pipeline runs, a typo gets a suggestion."""

from __future__ import annotations

import graphlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from kedro.pipeline import Pipeline

from tests.fixtures.project import copy_project

ENV = {
    **os.environ,
    "KEDRO_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "IMITATION_KEDRO_PROGRESS": "0",
    "MPLBACKEND": "Agg",
}
REGISTERED = {
    "__default__", "fit", "world", "frequency", "generation", "similarity", "threshold",
    "threshold_user_table", "backdoor", "counterfactual",
}


def _kedro(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args], cwd=cwd, env={**ENV, **env},
        capture_output=True, text=True, timeout=600,
    )


@pytest.fixture
def project_copy(tmp_path) -> Path:
    return copy_project(tmp_path)


def test_registry_lists_the_packages_and_the_composites(project_root):
    out = _kedro(["registry", "list"], project_root)
    assert out.returncode == 0, out.stderr[-3000:]
    listed = {line.removeprefix("- ").strip() for line in out.stdout.splitlines() if line.startswith("- ")}
    assert listed == REGISTERED


def test_a_mistyped_pipeline_gets_kedros_suggestion_in_a_few_lines(project_root):
    out = _kedro(["run", "--pipelines", "thresold"], project_root, COLUMNS="80")
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "Failed to find the pipeline named 'thresold'" in text
    assert "Did you mean one of these instead?\n    threshold" in text
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) < 15, text


def test_the_fit_composite_runs(project_copy):
    """`kedro run --pipelines fit` resolves the composite (here up to its first node)."""
    out = _kedro(
        ["run", "--env", "test", "--pipelines", "fit", "--to-nodes", "world.plan_concepts"], project_copy
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert (project_copy / "data/01_raw/world/concepts.parquet").is_file()


def test_every_pipeline_dataset_resolves_to_an_entry_or_a_factory(project_root):
    """`kedro catalog resolve-patterns` gives a catalog entry for each dataset the pipelines use."""
    from imitation_kedro.pipeline_registry import register_pipelines

    out = _kedro(["catalog", "resolve-patterns"], project_root)
    assert out.returncode == 0, out.stderr[-3000:]
    # The YAML's top-level keys (column 0); log records are indented or start with "[".
    resolved = set(re.findall(r"^([A-Za-z_][\w.]*):$", out.stdout, flags=re.MULTILINE))
    used = {
        ds
        for pipe in register_pipelines().values()
        for ds in pipe.datasets()
        if not ds.startswith("params:") and ds != "parameters"
    }
    assert not used - resolved, sorted(used - resolved)
    # A dataset with neither entry nor pattern resolves to Kedro's default, spelled in full.
    assert "type: kedro.io.MemoryDataset" not in out.stdout


def _layer_cycle(pipe, layer_of: dict[str, str]) -> tuple[str, ...] | None:
    """A cycle among the layers of ``pipe``'s datasets (kedro-viz then shows no layers), or None.

    As kedro-viz orders layers: a layer precedes every layer found downstream of its datasets,
    also through each namespace's collapsed node (its free inputs -> its free outputs).
    """
    children: dict[str, set[str]] = {}
    for node in pipe.nodes:
        for inp in node.inputs:
            children.setdefault(inp, set()).update(node.outputs)
    namespaces = {
        ".".join(n.namespace.split(".")[: i + 1])
        for n in pipe.nodes if n.namespace
        for i in range(n.namespace.count(".") + 1)
    }
    for ns in namespaces:
        inner = Pipeline([n for n in pipe.nodes if f"{n.namespace}.".startswith(f"{ns}.")])
        rest = Pipeline([n for n in pipe.nodes if not f"{n.namespace}.".startswith(f"{ns}.")])
        outputs = inner.outputs() | (rest.inputs() & inner.all_outputs())
        for inp in inner.inputs():
            children.setdefault(inp, set()).add(f"<namespace {ns}>")
        children[f"<namespace {ns}>"] = outputs
    downstream: dict[str, set[str]] = {}

    def below(ds: str) -> set[str]:
        if ds not in downstream:
            downstream[ds] = set()
            for child in children.get(ds, ()):
                downstream[ds] |= {child} | below(child)
        return downstream[ds]

    after: dict[str, set[str]] = {layer: set() for layer in layer_of.values()}
    for ds, layer in layer_of.items():
        for child in below(ds):
            if layer_of.get(child, layer) != layer:
                after.setdefault(layer_of[child], set()).add(layer)
    try:
        graphlib.TopologicalSorter(after).prepare()
    except graphlib.CycleError as exc:
        return tuple(exc.args[1])
    return None


@pytest.mark.parametrize("env", ["test", "paper"])
def test_every_pipeline_has_an_order_of_layers(project_root, env, monkeypatch):
    """Layers that match prefixes and follow the data: no pipeline's view loses its layers."""
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    from imitation_kedro.core import config_loader
    from imitation_kedro.pipeline_registry import register_pipelines


    monkeypatch.setattr(config_loader, "_SESSION_ENV", [env])  # paper: the per-model layout

    conf = OmegaConfigLoader(str(project_root / "conf"), base_env="base", default_run_env=env)
    catalog_conf = conf["catalog"]
    resolver = DataCatalog.from_config(catalog_conf).config_resolver
    cycles = {}
    for name, pipe in register_pipelines().items():
        if env == "paper" and name == "__default__":
            # Both papers together: FIT reads pretrained weights into intermediate data
            # (mdl_t2i -> int_generated_images) while backdoor trains weights from intermediate
            # data, so no single layer order fits both; `fit` and `backdoor` are checked apart.
            continue
        layer_of = {}
        for ds in pipe.datasets():
            entry = catalog_conf.get(ds) or resolver.resolve_pattern(ds)
            layer = ((entry.get("metadata") or {}).get("kedro-viz") or {}).get("layer")
            if layer:
                layer_of[ds] = layer
        if cycle := _layer_cycle(pipe, layer_of):
            cycles[name] = cycle
    assert not cycles, cycles


def test_every_registered_node_is_in_its_package_readme(project_root):
    """Also the entries `find_pipelines` does not see (`threshold_user_table`)."""
    from imitation_kedro.pipeline_registry import PIPELINES, register_pipelines

    pipelines = register_pipelines()
    missing = []
    for name, (target, namespace) in PIPELINES.items():
        package = target.split(".")[0]
        readme = (project_root / "src/imitation_kedro/pipelines" / package / "README.md").read_text()
        for node in pipelines[name].nodes:
            assert node.namespace == namespace, (name, node.name)
            if f"`{node.name.removeprefix(namespace + '.')}`" not in readme:
                missing.append(f"{name}: {node.name}")
    assert not missing, missing


def test_the_paper_lineage_shows_each_paper_and_each_model(tmp_path):
    """`kedro viz build` in the paper env: a namespace per paper (fit, backdoor) and one generation
    and one similarity namespace per paper model, side by side; the miniature env keeps one."""
    import json

    from imitation_kedro.pipeline_registry import PAPER_MODELS
    from tests.rehearsal.project_copy import paper_project_copy

    project_copy = paper_project_copy(tmp_path / "project")
    out = _kedro(["viz", "build"], project_copy, KEDRO_ENV="paper")
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    api = project_copy / "build" / "api"
    main = json.loads((api / "main").read_text())
    namespaces = set(main["modular_pipelines"])
    assert {"fit", "fit.frequency", "fit.threshold"} <= namespaces
    for model in PAPER_MODELS:
        assert {f"fit.generation.{model}", f"fit.similarity.{model}"} <= namespaces, model
    assert "backdoor" in namespaces  # the paper env's default run is both papers
    assert main["modular_pipelines"]["backdoor"]["children"]
    backdoor = json.loads((api / "pipelines" / "backdoor").read_text())
    assert "backdoor" in backdoor["modular_pipelines"]
    assert not any(ns.startswith("world") for ns in namespaces)  # the paper run writes no raw data
    by_id = {n["id"]: n["name"] for n in main["nodes"]}
    sd21 = main["modular_pipelines"]["fit.similarity.sd21"]
    assert "fit.generation.sd21.int_generation_manifest" in {by_id[i] for i in sd21["inputs"]}
