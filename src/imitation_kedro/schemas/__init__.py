"""Table schemas as pandera models, one module per pipeline, and the data-dictionary generator.

Catalog entries validate with Kedro's pandera adapter::

    prm_concept_frequencies:
      type: pandas.ParquetDataset
      validator: {class: imitation_kedro.schemas.frequency.ConceptFrequencies, on: [save]}

Importing this package is light: pandera (which pulls in pyspark when installed) loads with the
model modules, so code that only needs a table's columns calls :func:`column_names` inside a
function.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

__all__ = ["MODULES", "column_names", "tables"]

MODULES = ("world", "frequency", "similarity", "threshold", "backdoor", "counterfactual")


@functools.cache
def tables() -> dict[str, Any]:
    """Every table model, keyed by the dataset it describes (``Config.name``)."""
    from imitation_kedro.schemas.table import Table

    found: dict[str, Any] = {}
    for name in MODULES:
        module = importlib.import_module(f"imitation_kedro.schemas.{name}")
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, Table)
                and obj.__module__ == module.__name__
            ):
                found[obj.to_schema().name] = obj
    return found


def column_names(table: str) -> list[str]:
    """The published columns of dataset ``table``, in schema order."""
    models = tables()
    if table not in models:
        raise KeyError(f"no table schema named {table!r}; known: {sorted(models)}")
    return list(models[table].to_schema().columns)
