"""Where the pair images live: the one place the ``data.streaming`` switch is read.

:func:`pair_source` returns :class:`.eager.EagerPairs` (every image decoded once into memory; the
miniature world) or :class:`.streaming.StreamingPairs` (tables keep paths or bytes, images are
decoded and triggered per batch; paper scale). Both answer the same questions, so nodes and step
modules never ask which mode they are in:

- ``attach_images(table, image_root)``: give an ``image``-path table its images (bytes or paths)
- ``build_pairs(raw, concepts, image_root)``: the validated pair table and its rejects
- ``with_triggers(pairs, rows)``: the poisoned rows' images triggered (``train`` purpose)
- ``reject_columns()``: pairs dropped while decoding so far, as metric columns
- ``train_data(rows, tokens, tokens_aug, augment)``: batches for ``train.train``
- ``eval_set(rows, labels)``: clean and triggered scores for ``evaluate.evaluate``

A source holds the node's ``data`` and ``attack`` parameters (and, streaming, its reject log):
make one per node.
"""

from __future__ import annotations

from .eager import EagerPairs
from .params import AttackParams, DataParams
from .streaming import StreamingPairs

PairSource = EagerPairs | StreamingPairs


def pair_source(data: DataParams, attack: AttackParams) -> PairSource:
    """Eager or streaming pairs, as ``data.streaming`` says."""
    return StreamingPairs(data, attack) if data.streaming else EagerPairs(data, attack)
