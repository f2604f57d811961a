"""A read-only partitioned folder that may not exist yet.

Kedro loads every node input before the node runs. ``raw_laion5b_captions`` is read only when
``frequency.estimate.pretraining`` is ``laion5b``; in the miniature world it points at the
world's caption shards, which a fresh ``kedro run`` writes later in the same run. A plain
``PartitionedDataset`` fails on the missing folder; this one loads as ``{}`` (logged) and leaves
the decision to the node, which names the dataset if it really needs the shards.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro_datasets.partitions import PartitionedDataset

logger = logging.getLogger(__name__)


class OptionalPartitionedDataset(PartitionedDataset):
    """``PartitionedDataset`` whose load gives ``{}`` when the folder has no partitions."""

    def load(self) -> dict[str, Any]:
        if not self._list_partitions():
            logger.info(
                "%s: no partitions under %s (loaded as empty)", type(self).__name__, self._path
            )
            return {}
        return super().load()
