"""Parameters through Kedro: typed node arguments get their models, bad keys stop `kedro run` early."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.project import pipelines as registered_pipelines
from kedro.framework.startup import bootstrap_project
from kedro.validation.parameter_validator import ParameterValidator
from kedro.validation.utils import get_typed_fields
from pydantic import BaseModel

from imitation_kedro.core.params import ParameterError
from imitation_kedro.hooks import InvalidParametersError
from imitation_kedro.pipeline_registry import schema_for, validate_parameters


@pytest.fixture(scope="module")
def project(project_root):
    bootstrap_project(project_root)
    return project_root


def _raw_params(project_root, env: str) -> dict[str, Any]:
    loader = OmegaConfigLoader(
        conf_source=str(project_root / "conf"), base_env="base", default_run_env=env
    )
    return loader["parameters"]


def _catalog_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params:`` entries as Kedro's context registers them: nested dicts and typed fields."""
    out: dict[str, Any] = {}

    def add(name: str, value: Any) -> None:
        out[f"params:{name}"] = value
        fields = value if isinstance(value, dict) else get_typed_fields(value)
        for key, sub in (fields or {}).items():
            add(f"{name}.{key}", sub)

    for name, value in params.items():
        add(name, value)
    return out


def _model_at(path: str) -> type[BaseModel] | None:
    """The model a parameter path holds per the block schemas (``threshold.paper``)."""
    top, *rest = path.split(".")
    tp: Any = schema_for(top)
    for key in rest:
        field = tp.model_fields.get(key) if isinstance(tp, type) and issubclass(tp, BaseModel) else None
        tp = field.annotation if field else None
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


@pytest.mark.parametrize("env", ["base", "test", "paper"])
def test_every_pipeline_gets_its_models_from_kedro(project, env):
    """Kedro's own validator, scoped to each registered pipeline as ``kedro run --pipelines``
    scopes it, accepts the env's parameters and hands every parameter input that is a block or
    sub-block in the schemas to its node as that model."""
    raw = _raw_params(project, env)
    for name, pipeline in dict(registered_pipelines).items():
        validated = ParameterValidator({name: pipeline}).validate_raw_params(raw)
        catalog = _catalog_params(validated)
        for node in pipeline.nodes:
            for ds in node.inputs:
                model = _model_at(ds.removeprefix("params:")) if ds.startswith("params:") else None
                if model is not None:
                    assert isinstance(catalog[ds], model), (name, node.name, ds, type(catalog[ds]))


def test_validate_parameters_lists_every_problem(project):
    raw = _raw_params(project, "test")
    broken = {
        **raw,
        "frequency": {**raw["frequency"], "matching": {**raw["frequency"]["matching"], "batchsize": 3}},
        "threshold": {**raw["threshold"], "paper": {"penalty": 0}},
        "frequncy": {},
    }
    with pytest.raises(ParameterError) as info:
        validate_parameters(broken)
    lines = str(info.value).splitlines()
    assert any(
        line.startswith("frequency.matching: unknown key(s) ['batchsize']; MatchingParams accepts")
        for line in lines
    ), lines
    assert "threshold.paper.penalty must be > 0.0, got 0" in lines
    assert any("unknown top-level parameter key 'frequncy' (did you mean 'frequency'?)" in ln for ln in lines)
    assert len(lines) == 3


def test_invalid_parameters_error_is_a_short_cli_error():
    error = InvalidParametersError("invalid parameters")
    assert isinstance(error, ParameterError) and error.format_message() == "invalid parameters"


def test_kedro_run_with_a_mistyped_key_stops_before_any_node_in_a_few_lines(project_root):
    out = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env", "test", "--pipelines", "threshold",
         "--params", "frequency.matching.batchsize=3"],
        cwd=project_root, capture_output=True, text=True, timeout=300, check=False,
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0
    error = text[text.index("Error: invalid parameters"):].strip().splitlines()
    assert error[1].strip().startswith(
        "frequency.matching: unknown key(s) ['batchsize']; MatchingParams accepts"
    ), error
    assert len(error) <= 4, error
    assert "Traceback" not in text and "Running node" not in text
