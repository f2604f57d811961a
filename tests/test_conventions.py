"""Project conventions: named nodes, declared datasets, used and typed parameters, layers, versioning."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.project import pipelines as registered_pipelines
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog

from imitation_kedro.core.params import ParameterError
from imitation_kedro.pipeline_registry import PARAM_SCHEMAS, validate_parameters

LAYER_PREFIX = {
    "raw": "raw_",
    "intermediate": "int_",
    "primary": "prm_",
    "feature": "feat_",
    "model_input": "mdl_in_",
    "models": "mdl_",
    "model_output": "out_",
    "reporting": "rpt_",
}
HASHED_NAME = re.compile(r"__[0-9a-f]{8}$")
EXPECTED_PIPELINES = {"world", "frequency", "generation", "similarity", "threshold", "backdoor"}


@pytest.fixture(scope="module")
def project(project_root):
    bootstrap_project(project_root)
    return project_root


def _config(project_root, env: str) -> tuple[dict[str, Any], dict[str, Any]]:
    loader = OmegaConfigLoader(
        conf_source=str(project_root / "conf"), base_env="base", default_run_env=env
    )
    return loader["catalog"], loader["parameters"]


@pytest.fixture(scope="module")
def base_config(project):
    return _config(project, "test")


@pytest.fixture(scope="module")
def all_pipelines(project):
    return dict(registered_pipelines)


def test_every_expected_pipeline_is_registered(all_pipelines):
    missing = EXPECTED_PIPELINES - set(all_pipelines)
    assert not missing, f"pipelines not registered: {sorted(missing)}"
    assert all_pipelines["__default__"].nodes, "__default__ must be a real, runnable pipeline"


def test_every_node_is_named(all_pipelines):
    unnamed = [n.name for p in all_pipelines.values() for n in p.nodes if HASHED_NAME.search(n.name)]
    assert not unnamed, f"nodes without name=: {unnamed}"


def test_no_output_falls_back_to_memory_dataset(all_pipelines, base_config):
    catalog_conf, _ = base_config
    catalog = DataCatalog.from_config(catalog_conf)
    undeclared = sorted(
        {
            ds
            for p in all_pipelines.values()
            for n in p.nodes
            for ds in [*n.outputs, *n.inputs]
            if not ds.startswith("params:") and ds != "parameters" and ds not in catalog
        }
    )
    assert not undeclared, f"datasets neither declared nor matched by a factory: {undeclared}"


@pytest.mark.parametrize("env", ["test", "paper", "spark"])
def test_catalog_entries_have_the_layer_their_prefix_names(project, env):
    """Prefix and ``metadata.kedro-viz.layer`` agree both ways (``int_`` <-> intermediate, ...)."""
    catalog_conf, _ = _config(project, env)
    problems = []
    for name, entry in catalog_conf.items():
        if name.startswith("_") or not isinstance(entry, dict):
            continue
        layer = (entry.get("metadata") or {}).get("kedro-viz", {}).get("layer")
        if layer not in LAYER_PREFIX:
            problems.append(f"{name}: layer {layer!r}")
            continue
        bare = name.split(".")[-1].lstrip("{")
        # Longest match: `mdl_in_` (model_input) before `mdl_` (models).
        prefix = max((p for p in LAYER_PREFIX.values() if bare.startswith(p)), key=len, default=None)
        if prefix != LAYER_PREFIX[layer]:
            problems.append(f"{name}: layer {layer!r} wants prefix {LAYER_PREFIX[layer]!r}")
    assert not problems, problems


def test_handoff_outputs_are_versioned(base_config):
    catalog_conf, _ = base_config
    unversioned = [
        name
        for name, entry in catalog_conf.items()
        if isinstance(entry, dict)
        and name.startswith(("prm_", "rpt_"))
        and entry.get("type")
        not in {
            "MemoryDataset",
            "partitions.PartitionedDataset",
            "imitation_kedro.datasets.previews.ImageFolderDataset",  # a PartitionedDataset
        }
        and not entry.get("versioned")
    ]
    assert not unversioned, f"handoff outputs must be versioned: {unversioned}"


def _leaf_keys(tree: Any, prefix: str = "") -> list[str]:
    if isinstance(tree, dict) and tree:
        return [k for key, v in tree.items() for k in _leaf_keys(v, f"{prefix}.{key}" if prefix else key)]
    return [prefix]


def test_every_parameter_is_used(all_pipelines, base_config):
    _, params = base_config
    used = {
        ds.removeprefix("params:")
        for p in all_pipelines.values()
        for n in p.nodes
        for ds in n.inputs
        if ds.startswith("params:")
    }
    unused = [
        leaf
        for leaf in _leaf_keys(params)
        if not any(leaf == u or leaf.startswith(u + ".") for u in used)
    ]
    assert not unused, f"parameters no node reads: {unused}"


@pytest.mark.parametrize("env", ["test", "paper"])
def test_parameters_validate_in_every_env(project, env):
    _, params = _config(project, env)
    validated = validate_parameters(params)
    assert set(validated) <= set(PARAM_SCHEMAS)


def test_a_mistyped_key_fails_naming_it(base_config):
    _, params = base_config
    for top, block in params.items():
        broken = copy.deepcopy(params)
        broken[top] = {**block, "definitely_not_a_key": 1}
        with pytest.raises(ParameterError, match=rf"{top}: unknown key\(s\) \['definitely_not_a_key'\]"):
            validate_parameters(broken)
    with pytest.raises(ParameterError, match="unknown top-level parameter key"):
        validate_parameters({**params, "frequncy": {}})


def test_paper_catalog_instantiates(project):
    catalog_conf, _ = _config(project, "paper")
    catalog = DataCatalog.from_config(catalog_conf)
    assert "prm_concept_frequencies" in catalog
