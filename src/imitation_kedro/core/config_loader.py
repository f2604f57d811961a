"""Config environments that layer on another env: ``base -> parent -> env``.

``kedro run --env rehearsal`` must run conf/paper's configuration, changed only where the rehearsal
says so (stand-in weights, sizes, its own data folder). Kedro layers one run env on ``base``; this
loader lets an env name a parent (``ENV_PARENTS`` in settings.py) and loads ``base -> parent`` as
Kedro would, then the env's own files on top: parameters (and mlflow, spark) merge key by key,
catalog entries replace the parent's entry of the same name.
"""

from __future__ import annotations

from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

# Keys whose env files override nested keys; every other key replaces top-level entries whole.
DEEP_MERGED = frozenset({"parameters", "mlflow", "spark"})


class LayeredConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` whose run env may be an override layer of a parent env."""

    def __init__(self, *args: Any, env_parents: dict[str, str] | None = None, **kwargs: Any):
        self.env_parents = dict(env_parents or {})  # before super(): it loads globals
        super().__init__(*args, **kwargs)

    def __getitem__(self, key: str) -> dict[str, Any]:
        own_env = self.env or self.default_run_env
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
