"""A read-only dataset that loads ``None`` when its file does not exist.

For inputs a node uses when they are there and does without otherwise: the thresholds report
compares with the miniature world's known truth (``rpt_world_report``) only when the world has
been built. The project's missing-inputs check leaves datasets marked ``optional`` alone.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.io import AbstractDataset

logger = logging.getLogger(__name__)


class OptionalDataset(AbstractDataset[None, Any]):
    """Wraps ``dataset`` (a catalog config; ``versioned: true`` inside loads the latest version).

    Example::

        raw_optional_table:
          type: imitation_kedro.datasets.optional.OptionalDataset
          dataset: {type: pandas.CSVDataset, filepath: data/table.csv}
    """

    optional = True

    def __init__(self, dataset: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self._config = dict(dataset)
        self._inner = AbstractDataset.from_config("optional", self._config)
        self.metadata = metadata

    def load(self) -> Any:
        if not self._inner.exists():
            logger.info(
                "%s: %s is not there yet (loaded as None)", type(self).__name__, self._config
            )
            return None
        return self._inner.load()

    def save(self, data: None) -> None:
        raise NotImplementedError(f"{type(self).__name__} is read-only")

    def _exists(self) -> bool:
        return True  # loading never fails: a missing file loads as None

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._config, "optional": True}
