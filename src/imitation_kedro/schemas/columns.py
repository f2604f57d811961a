"""Column declarations: the building blocks of every table schema (validated on save by :mod:`imitation_kedro.schemas.validator`).

One ``TableSchema`` per catalog entry, named like the entry. ``nullable`` says whether a
column may hold nulls (NaN / None / <NA>); ``key`` lists the columns that identify a row.
Validation allows extra columns, so optional ones are left out of ``columns``.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "bytes": "binary",
    "list": "list",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # one of KINDS
    description: str
    nullable: bool = False


@dataclass(frozen=True)
class TableSchema:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def cols(*rows: tuple) -> tuple[Column, ...]:
    return tuple(Column(*row) for row in rows)



# Columns that several tables share.
CONCEPT = ("concept", "str", "Concept display name, as in raw_concepts.")
DOMAIN = ("domain", "str", "Concept domain (miniature: style/motif; paper: faces/art).")
MODEL = ("model", "str", "Text-to-image model key (as in generation parameters).")

