"""imitation_kedro: FIT imitation thresholds and CleanCLIP backdoor studies as Kedro pipelines."""

import logging

__version__ = "0.1.0"

# Third-party warnings that every `kedro` command would print and no user can act on. Kedro
# routes warnings through the ``py.warnings`` logger; a logging filter also reaches warnings
# that a library raises inside its own ``catch_warnings`` (mlflow does), which a ``warnings``
# filter cannot.
_SILENCED = (
    # kedro-mlflow defines an mlflow PythonModel without type hints when its CLI plugin loads;
    # the project logs no pyfunc models.
    "Add type hints to the `predict` method",
    # Kedro 1.7 and kedro-mlflow register their resolvers with OmegaConf's old name.
    "register_new_resolver() is deprecated",
    # diffusers warns on every `.to(dtype)` of a model even when the list of such modules is empty.
    "should be kept in float32: []",
    # pandera imports pyspark.pandas when pyspark is installed (the spark extra); the project's
    # Spark engine never uses pyspark.pandas, so pandas 3 is fine.
    "PySpark does not yet fully support pandas >= 3",
)


class _SilenceKnownWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in _SILENCED)


for _logger in ("py.warnings", "diffusers.models.modeling_utils"):
    logging.getLogger(_logger).addFilter(_SilenceKnownWarnings())
