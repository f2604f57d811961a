"""The building blocks of every table schema: column kinds and the ``Table`` base model.

A table is a pandera ``DataFrameModel``; the catalog validates it with Kedro's pandera adapter
(``validator: {class: imitation_kedro.schemas.<module>.<Model>, on: [save]}``). Each model names
its dataset (``Config.name``), describes itself (``Config.description``) and its columns
(``Field(description=...)``), lists its key (``Config.unique``) and allows extra columns.

Columns are typed by *kind* (string, integer, number, boolean, binary, list) rather than by one
numpy dtype, as pandas stores the same kind several ways: an empty frame or a ``concat`` with an
empty part gives object columns, a nullable integer may be ``Int64``, a number column may hold
ints. A typed column passes when its dtype is of the kind; an object column, when its non-null
values are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandas.api import types as pt
from pandera import dtypes
from pandera.engines import pandas_engine

__all__ = [
    "CONCEPT",
    "DOMAIN",
    "MODEL",
    "Binary",
    "Boolean",
    "Integer",
    "List",
    "Number",
    "Table",
    "Text",
]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@dtypes.immutable
class _Kind(pandas_engine.DataType):
    """A logical column type: a dtype check, else a value check on object columns."""

    type = np.dtype(object)
    label = "?"
    # plain class attributes (not dataclass fields): what each kind accepts
    dtype_ok = staticmethod(lambda dtype: False)
    value_ok = staticmethod(lambda value: False)

    def check(self, pandera_dtype: Any, data_container: pd.Series | None = None) -> Any:
        native = (
            data_container.dtype
            if data_container is not None
            else getattr(pandera_dtype, "type", None)
        )
        if native is not None and self.dtype_ok(native):
            return True
        if native is None or not pt.is_object_dtype(native):
            return False
        if data_container is None:
            return True  # an object column is judged by its values
        return data_container.isna() | data_container.map(self.value_ok).astype(bool)

    def __str__(self) -> str:
        return self.label


@dtypes.immutable
class Text(_Kind):
    label = "string"
    dtype_ok = staticmethod(lambda d: pt.is_string_dtype(d) and not pt.is_object_dtype(d))
    value_ok = staticmethod(lambda v: isinstance(v, str))


@dtypes.immutable
class Integer(_Kind):
    label = "integer"
    dtype_ok = staticmethod(pt.is_integer_dtype)
    value_ok = staticmethod(_is_integer)


@dtypes.immutable
class Number(_Kind):
    label = "number"
    dtype_ok = staticmethod(lambda d: pt.is_float_dtype(d) or pt.is_integer_dtype(d))
    value_ok = staticmethod(_is_number)


@dtypes.immutable
class Boolean(_Kind):
    label = "boolean"
    dtype_ok = staticmethod(lambda d: pt.is_bool_dtype(d) and not pt.is_object_dtype(d))
    value_ok = staticmethod(lambda v: isinstance(v, (bool, np.bool_)))


@dtypes.immutable
class Binary(_Kind):
    label = "binary"
    value_ok = staticmethod(lambda v: isinstance(v, (bytes, bytearray, memoryview)))


@dtypes.immutable
class List(_Kind):
    label = "list"
    value_ok = staticmethod(lambda v: isinstance(v, (list, tuple, np.ndarray)))


class Table(pa.DataFrameModel):
    """Base of every table: extra columns allowed, no coercion (a table is saved as built)."""

    class Config:
        strict = False
        coerce = False

    @classmethod
    def validate(cls, check_obj: Any, *args: Any, **kwargs: Any) -> Any:
        """pandera's validation; a frame with a repeated index is checked renumbered.

        pandera's duplicate-key report fails on a repeated index (as after ``pd.concat``);
        the frame itself is returned as given.
        """
        if isinstance(check_obj, pd.DataFrame) and not check_obj.index.is_unique:
            super().validate(check_obj.reset_index(drop=True), *args, **kwargs)
            return check_obj
        return super().validate(check_obj, *args, **kwargs)


# Descriptions of columns that several tables share.
CONCEPT = "Concept display name, as in raw_concepts."
DOMAIN = "Concept domain (miniature: style/motif; paper: faces/art)."
MODEL = "Text-to-image model key (as in generation parameters)."
