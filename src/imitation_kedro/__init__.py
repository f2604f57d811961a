"""imitation_kedro: FIT imitation thresholds and CleanCLIP backdoor studies as Kedro pipelines."""

import logging

__version__ = "0.1.0"


class _NoPyfuncTypeHintAdvice(logging.Filter):
    """Drop mlflow's "Add type hints to the `predict` method" warning.

    kedro-mlflow defines an mlflow PythonModel without type hints when Kedro loads its CLI
    plugin, and mlflow warns about it on every `kedro` command (inside its own
    ``catch_warnings``, so a ``warnings`` filter cannot reach it; Kedro routes warnings through
    the ``py.warnings`` logger). The project logs no pyfunc models, so the advice never applies.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Add type hints to the `predict` method" not in record.getMessage()


logging.getLogger("py.warnings").addFilter(_NoPyfuncTypeHintAdvice())
