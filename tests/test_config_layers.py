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


def test_reroot_moves_only_data_paths() -> None:
    from imitation_kedro.core.config_loader import reroot_paths

    conf = {
        "a": {"filepath": "data/01_raw/x.csv"},
        "b": {"path": "data/rehearsal/y"},
        "c": {"dataset": {"filepath": "data/02_intermediate/z"}},
        "d": {"model_id": "data/m"},
        "e": {"filepath": "elsewhere/data/x.csv"},
    }
    out = reroot_paths(conf, "data/rehearsal/")
    assert out["a"]["filepath"] == "data/rehearsal/01_raw/x.csv"
    assert out["b"]["path"] == "data/rehearsal/y"
    assert out["c"]["dataset"]["filepath"] == "data/rehearsal/02_intermediate/z"
    assert out["d"] == {"model_id": "data/m"} and out["e"] == conf["e"]


def test_an_env_data_root_moves_its_catalog_for_every_reader(conf: Path) -> None:
    _write(conf / "rehearsal/catalog.yml", {"d2": {"type": "x", "filepath": "data/01_raw/r.csv"}})
    _write(conf / "paper/catalog.yml", {"d1": {"type": "x", "filepath": "data/01_raw/p.csv"}})
    roots = {"env_data_roots": {"rehearsal": "data/rehearsal"}}
    catalog = _loader(conf, "rehearsal", **roots)["catalog"]
    assert catalog["d1"]["filepath"] == "data/rehearsal/01_raw/p.csv"  # the parent's entries too
    assert catalog["d2"]["filepath"] == "data/rehearsal/01_raw/r.csv"
    assert _loader(conf, "paper", **roots)["catalog"]["d1"]["filepath"] == "data/01_raw/p.csv"
    assert _loader(conf, "rehearsal", **roots).data_root() == "data/rehearsal"
    assert _loader(conf, "paper", **roots).data_root() == "data"


def test_the_project_rehearsal_catalog_lives_under_its_data_root(project_root: Path) -> None:
    """What `kedro run --env rehearsal`, the rehearsal builder and kedro-viz read: no hook needed."""
    from imitation_kedro import settings

    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(project_root / "conf"), env="rehearsal",
        **{**settings.CONFIG_LOADER_ARGS, "announce_env": False},
    )
    paths = [
        v for entry in loader["catalog"].values() if isinstance(entry, dict)
        for k, v in entry.items() if k in {"path", "filepath"} and isinstance(v, str)
    ]
    assert len(paths) > 20
    stray = [p for p in paths if p.startswith("data/") and not p.startswith("data/rehearsal/")]
    assert not stray, stray


def test_the_session_loader_tells_the_registry_its_env(conf: Path, monkeypatch) -> None:
    """The registry's env comes from the session's loader (also under kedro viz: no hooks), and
    a change of env makes Kedro rebuild the project's pipelines on their next access."""
    from kedro.framework.project import pipelines

    from imitation_kedro import pipeline_registry
    from imitation_kedro.core import config_loader

    monkeypatch.setattr(config_loader, "_SESSION_ENV", [None])
    monkeypatch.setattr(pipelines, "_pipelines_module", "imitation_kedro.pipeline_registry")
    monkeypatch.setattr(pipelines, "_is_data_loaded", True)
    _loader(conf, "paper")  # a loader of one's own (tests, tools) changes nothing
    assert pipeline_registry.current_env() is None and pipelines._is_data_loaded
    _loader(conf, "paper", announce_env=True)
    assert pipeline_registry.current_env() == "paper" and not pipelines._is_data_loaded
    monkeypatch.setattr(pipelines, "_is_data_loaded", True)
    _loader(conf, "paper", announce_env=True)  # same env: the pipelines stay
    assert pipelines._is_data_loaded
    _loader(conf, None, announce_env=True)
    assert pipeline_registry.current_env() == "local" and not pipelines._is_data_loaded


def test_the_project_loader_announces_its_env() -> None:
    from imitation_kedro import settings

    assert settings.CONFIG_LOADER_ARGS["announce_env"] is True
    assert settings.CONFIG_LOADER_ARGS["env_data_roots"] == {"rehearsal": "data/rehearsal"}
