"""Let ``--params threshold.source=user_table`` run without the upstream pipelines' outputs.

Kedro loads every input of a node, so the threshold entry node would fail on a fresh checkout
(no ``prm_concept_frequencies`` / ``prm_imitation_scores`` yet) even though the user-table mode
ignores them. When ``threshold.source`` is ``user_table``, this hook replaces those two inputs,
only if they are missing or have no saved data, by an empty in-memory placeholder. Registered in
``settings.py`` (``HOOKS = (..., ThresholdSourceHook())``), the one module outside this package
that imports the ``threshold`` pipeline.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

PIPELINE_INPUTS = ("prm_concept_frequencies", "prm_imitation_scores")


def _has_data(catalog: Any, name: str) -> bool:
    if name not in catalog:
        return False
    try:
        return bool(catalog.exists(name))
    except Exception:  # noqa: BLE001 - an unreadable entry counts as missing here
        return False


def fill_missing_pipeline_inputs(catalog: Any, parameters: dict[str, Any]) -> list[str]:
    """Put placeholders for absent pipeline inputs in user-table mode; return their names."""
    # Kedro passes {"parameters": {...}, "params:threshold": {...}, ...}; accept a plain mapping too.
    block = parameters.get("params:threshold") or parameters.get("threshold")
    if block is None:
        block = (parameters.get("parameters") or {}).get("threshold") or {}
    source = block.get("source") if isinstance(block, dict) else getattr(block, "source", None)
    if source != "user_table":
        return []
    import pandas as pd
    from kedro.io import MemoryDataset

    filled = []
    for name in PIPELINE_INPUTS:
        if not _has_data(catalog, name):
            catalog[name] = MemoryDataset(data=pd.DataFrame(), copy_mode="assign")
            filled.append(name)
    if filled:
        logger.info(
            "threshold.source=user_table: %s not available, using empty placeholders", filled
        )
    return filled


class ThresholdSourceHook:
    """Kedro hook wrapper of :func:`fill_missing_pipeline_inputs`."""

    @hook_impl
    def after_catalog_created(self, catalog: Any, parameters: dict[str, Any]) -> None:
        fill_missing_pipeline_inputs(catalog, parameters)
