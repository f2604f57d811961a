"""The table validator: every handoff table checked against its schema on save.

Catalog entries declare ``validator: {class: imitation_kedro.schemas.TableValidator,
options: {table: <name>}}`` (Kedro 1.7's catalog-native validation), so a renamed or retyped
column fails loudly on save instead of breaking the receiving team.
"""

from __future__ import annotations

from typing import Any

from imitation_kedro.schemas.backdoor import BACKDOOR
from imitation_kedro.schemas.columns import KINDS, TableSchema
from imitation_kedro.schemas.frequency import FREQUENCY
from imitation_kedro.schemas.similarity import SIMILARITY
from imitation_kedro.schemas.threshold import THRESHOLD
from imitation_kedro.schemas.world import WORLD

__all__ = ["SCHEMAS", "SchemaError", "TableValidator", "validate_table"]

SCHEMAS: dict[str, TableSchema] = {
    s.name: s for s in [*WORLD, *FREQUENCY, *SIMILARITY, *THRESHOLD, *BACKDOOR]
}


class SchemaError(ValueError):
    """A table does not match its published schema."""


def _value_ok(kind: str, value: Any) -> bool:
    import numpy as np

    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if kind == "float":
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)
        )
    if kind == "bool":
        return isinstance(value, (bool, np.bool_))
    if kind == "bytes":
        return isinstance(value, (bytes, bytearray, memoryview))
    if kind == "list":
        return isinstance(value, (list, tuple, np.ndarray))
    raise SchemaError(f"unknown column kind {kind!r}; known: {sorted(KINDS)}")


def _kind_ok(kind: str, series: Any) -> bool:
    """A typed column must have a dtype of ``kind``; an object column, values of ``kind``.

    Object columns are judged by their non-null values: pandas gives object dtype to empty
    frames (``DataFrame(columns=...)``) and to ``concat`` with an empty part, so an empty or
    all-null object column passes, and ``[1.5, 2.0]`` stored as objects is still a number.
    """
    from pandas.api import types as pt

    if kind == "str" and pt.is_string_dtype(series) and not pt.is_object_dtype(series):
        return True
    if kind == "int" and pt.is_integer_dtype(series):
        return True
    if kind == "float" and (pt.is_float_dtype(series) or pt.is_integer_dtype(series)):
        return True
    if kind == "bool" and pt.is_bool_dtype(series) and not pt.is_object_dtype(series):
        return True
    if not pt.is_object_dtype(series):
        return False
    return all(_value_ok(kind, v) for v in series.dropna())


def validate_table(data: Any, schema: TableSchema) -> Any:
    """Raise :class:`SchemaError` naming the table and column when ``data`` breaks ``schema``."""
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        raise SchemaError(f"{schema.name}: expected a pandas DataFrame, got {type(data).__name__}")
    expected = schema.column_names()
    missing = [c for c in expected if c not in data.columns]
    if missing:
        raise SchemaError(
            f"{schema.name}: missing column(s) {missing}; found {list(data.columns)}"
        )
    for col in schema.columns:
        series = data[col.name]
        if not col.nullable and series.isna().any():
            rows = list(series[series.isna()].index[:5])
            raise SchemaError(f"{schema.name}.{col.name}: null values at rows {rows}")
        if not _kind_ok(col.kind, series):
            raise SchemaError(
                f"{schema.name}.{col.name}: expected {KINDS[col.kind]}, got dtype {series.dtype}"
            )
    if schema.key and data.duplicated(list(schema.key)).any():
        dup = data[data.duplicated(list(schema.key), keep=False)][list(schema.key)].head(3)
        raise SchemaError(f"{schema.name}: duplicate key {list(schema.key)}: {dup.to_dict('records')}")
    return data


class TableValidator:
    """Kedro catalog validator: ``validator: {class: ..., options: {table: name}}``."""

    def __init__(self, table: str) -> None:
        if table not in SCHEMAS:
            raise SchemaError(f"no schema named {table!r}; known: {sorted(SCHEMAS)}")
        self.schema = SCHEMAS[table]

    def validate(self, data: Any) -> Any:
        return validate_table(data, self.schema)
