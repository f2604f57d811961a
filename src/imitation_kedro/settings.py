"""Project settings: https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from imitation_kedro.hooks import (
    DistributedHook,
    MissingInputsHook,
    ParameterValidationHook,
    RunSummaryHook,
    SparkHook,
)

HOOKS = (
    ParameterValidationHook(),
    RunSummaryHook(),
    SparkHook(),
    DistributedHook(),
    MissingInputsHook(),
)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
}
