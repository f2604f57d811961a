"""Project settings: https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from imitation_kedro.core.config_loader import LayeredConfigLoader
from imitation_kedro.hooks import (
    DistributedHook,
    MissingInputsHook,
    ParameterValidationHook,
    RunSummaryHook,
    SparkHook,
    ThreadsHook,
)
from imitation_kedro.paper_guard import PaperEnvHook, PaperPreflightHook, RawDataGuardHook
from imitation_kedro.provenance import ProvenanceHooks

HOOKS = (
    ThreadsHook(),
    ParameterValidationHook(),
    RunSummaryHook(),
    SparkHook(),
    DistributedHook(),
    MissingInputsHook(),
    PaperEnvHook(),
    RawDataGuardHook(),
    PaperPreflightHook(),
    ProvenanceHooks(),
)

CONFIG_LOADER_CLASS = LayeredConfigLoader
CONFIG_LOADER_ARGS = {
    # `--env rehearsal` is conf/paper changed only where conf/rehearsal says (core/config_loader.py).
    "env_parents": {"rehearsal": "paper"},
    # ... and everything it reads and writes lives under data/rehearsal/ (catalog paths re-rooted).
    "env_data_roots": {"rehearsal": "data/rehearsal"},
    # The session's env picks the registered pipelines (paper envs: per model, both papers).
    "announce_env": True,
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
}
