"""Concept sets (FIT: celebrities, politicians, classical, modern): each gets its own threshold.

A concept table may carry a ``concept_set`` column; without one (the miniature world) every
concept's set is its domain, so one threshold per domain, as before.
"""

from __future__ import annotations

import pandas as pd

CONCEPT_SET = "concept_set"


def concept_sets(concepts: pd.DataFrame, table: str = "raw_concepts") -> pd.Series:
    """``concept_set`` per row: the column when present (no empty cells), else the domain."""
    if CONCEPT_SET not in concepts.columns:
        return concepts["domain"].astype(str).rename(CONCEPT_SET)
    sets = concepts[CONCEPT_SET]
    empty = sets.isna() | (sets.astype(str).str.strip() == "")
    if empty.any():
        names = concepts.loc[empty, "concept"].head(5).tolist()
        raise ValueError(
            f"{table}: empty concept_set for concept(s) {names}; give every concept a set "
            "(e.g. celebrities, politicians, classical, modern) or drop the column"
        )
    domains = concepts.groupby(sets.astype(str))["domain"].nunique()
    mixed = domains[domains > 1].index.tolist()
    if mixed:
        raise ValueError(
            f"{table}: concept_set(s) {mixed} span several domains; a set is verified and "
            "scored one way, so each set must lie in one domain"
        )
    return sets.astype(str).rename(CONCEPT_SET)


def set_map(concepts: pd.DataFrame, table: str = "raw_concepts") -> dict[str, str]:
    """concept -> concept_set."""
    return dict(zip(concepts["concept"], concept_sets(concepts, table), strict=True))
