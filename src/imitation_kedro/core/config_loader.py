"""Config environments that layer on another env (``base -> parent -> env``), each env's data root,
and the run's env for the pipeline registry.

``kedro run --env rehearsal`` must run conf/paper's configuration, changed only where the rehearsal
says so (stand-in weights, sizes, its own data folder). Kedro layers one run env on ``base``; this
loader lets an env name a parent (``env_parents`` in settings.py) and loads ``base -> parent`` as
Kedro would, then the env's own files on top: parameters (and mlflow, spark) merge key by key,
catalog entries replace the parent's entry of the same name.

``env_data_roots`` moves an env's catalog under its own data folder: every ``path``/``filepath``
under ``data/`` goes under the root (``data/01_raw/x`` -> ``data/rehearsal/01_raw/x``), so a run,
the rehearsal builder, the data dictionary and kedro-viz all read the same paths.

A loader built with ``announce_env=True`` (the session's, from settings.py) records its env as
the run's env (:func:`session_env`) and, when the env changes, has Kedro rebuild the project's
pipelines on their next access: the registry registers other pipelines in the paper envs, also
for ``kedro viz``, which runs no hooks.
"""

from __future__ import annotations

from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

# Keys whose env files override nested keys; every other key replaces top-level entries whole.
DEEP_MERGED = frozenset({"parameters", "mlflow", "spark"})
_SESSION_ENV: list[str | None] = [None]


def session_env() -> str | None:
    """The env of the last session loader (``None`` before any session loaded its config)."""
    return _SESSION_ENV[0]


def record_session_env(env: str | None) -> None:
    """Record ``env`` as the run's env; a change resets Kedro's lazily built project pipelines."""
    if env == _SESSION_ENV[0]:
        return
    _SESSION_ENV[0] = env
    from kedro.framework.project import pipelines

    if pipelines._pipelines_module is not None:  # configured by bootstrap_project
        pipelines.configure(pipelines._pipelines_module)


def reroot_paths(conf: Any, root: str) -> Any:
    """``conf`` with every ``path``/``filepath`` under ``data/`` moved under ``root``."""
    root = root.rstrip("/")
    if isinstance(conf, dict):
        out = {}
        for key, value in conf.items():
            if (
                key in {"path", "filepath"}
                and isinstance(value, str)
                and value.startswith("data/")
                and not value.startswith(root + "/")
            ):
                value = f"{root}/{value.removeprefix('data/')}"
            out[key] = reroot_paths(value, root)
        return out
    if isinstance(conf, list):
        return [reroot_paths(v, root) for v in conf]
    return conf


class LayeredConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` whose run env may be an override layer of a parent env, with its own
    data root."""

    def __init__(
        self,
        *args: Any,
        env_parents: dict[str, str] | None = None,
        env_data_roots: dict[str, str] | None = None,
        announce_env: bool = False,
        **kwargs: Any,
    ):
        self.env_parents = dict(env_parents or {})  # before super(): it loads globals
        self.env_data_roots = dict(env_data_roots or {})
        super().__init__(*args, **kwargs)
        if announce_env:
            record_session_env(self.run_env)

    @property
    def run_env(self) -> str:
        return self.env or self.default_run_env

    def data_root(self) -> str:
        """Where this env's data lives (``data`` unless ``env_data_roots`` names a folder)."""
        return self.env_data_roots.get(self.run_env, "data").rstrip("/")

    def __getitem__(self, key: str) -> dict[str, Any]:
        config = self._layered(key)
        root = self.env_data_roots.get(self.run_env)
        if key == "catalog" and root and key not in self:  # not a catalog set by hand
            return reroot_paths(config, root)
        return config

    def _layered(self, key: str) -> dict[str, Any]:
        own_env = self.run_env
        parent = self.env_parents.get(own_env)
        if parent is None or key in self or key not in self.config_patterns:
            return super().__getitem__(key)
        self.env = parent
        try:
            lower = super().__getitem__(key)
        finally:
            self.env = own_env
        own = self._own_env_config(key, own_env)
        if key in DEEP_MERGED:
            return OmegaConf.to_container(OmegaConf.unsafe_merge(lower, own))  # type: ignore[return-value]
        return {**lower, **own}

    def _own_env_config(self, key: str, env: str) -> dict[str, Any]:
        """The env's own files for ``key``, resolved, without base or parent."""
        env_path = self._get_conf_env_path(env)
        if not self._fs.isdir(env_path):
            return {}
        configs = self._read_dir_configs(
            env_path, [*self.config_patterns[key]], key, set(), key == "credentials"
        )
        return self._merge_and_resolve(key, configs) or {}

