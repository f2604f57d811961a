"""`--env rehearsal` = conf/base, then conf/paper, then the rehearsal's own overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imitation_kedro.core.config_loader import LayeredConfigLoader


def _write(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content))


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    root = tmp_path / "conf"
    _write(root / "base/parameters_x.yml", {"x": {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]}, "y": 1})
    _write(root / "paper/parameters_x.yml", {"x": {"a": 10, "b": {"c": 20}, "l": [5]}})
    _write(root / "rehearsal/parameters_x.yml", {"x": {"b": {"c": 99}}})
    _write(root / "base/catalog.yml", {"d1": {"type": "MemoryDataset"}, "d2": {"type": "MemoryDataset"}})
    _write(root / "paper/catalog.yml", {"d1": {"type": "pandas.CSVDataset", "filepath": "paper.csv"}})
    _write(root / "rehearsal/catalog.yml", {"d2": {"type": "pandas.CSVDataset", "filepath": "r.csv"}})
    return root


def _loader(conf: Path, env: str, **kwargs) -> LayeredConfigLoader:
    return LayeredConfigLoader(
        str(conf), env=env, base_env="base", default_run_env="local",
        env_parents={"rehearsal": "paper"}, **kwargs,
    )


def test_paper_replaces_base_blocks_whole(conf: Path) -> None:
    params = _loader(conf, "paper")["parameters"]
    assert params == {"x": {"a": 10, "b": {"c": 20}, "l": [5]}, "y": 1}


def test_rehearsal_overrides_only_its_own_keys_of_paper(conf: Path) -> None:
    loader = _loader(conf, "rehearsal")
    assert loader["parameters"] == {"x": {"a": 10, "b": {"c": 99}, "l": [5]}, "y": 1}
    catalog = loader["catalog"]
    assert catalog["d1"]["filepath"] == "paper.csv"
    assert catalog["d2"]["filepath"] == "r.csv"


def test_runtime_params_win_over_every_layer(conf: Path) -> None:
    loader = _loader(conf, "rehearsal", runtime_params={"x": {"b": {"c": 5}}})
    assert loader["parameters"]["x"]["b"] == {"c": 5}


def test_the_project_declares_rehearsal_on_paper() -> None:
    from imitation_kedro import settings

    assert settings.CONFIG_LOADER_CLASS is LayeredConfigLoader
    assert settings.CONFIG_LOADER_ARGS["env_parents"] == {"rehearsal": "paper"}
