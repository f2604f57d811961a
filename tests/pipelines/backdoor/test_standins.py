"""The rehearsal's self-building stand-ins: CC3M and ImageNet-val schemas, seeded, never
overwritten by a build with other parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io.core import DatasetError
from PIL import Image

from imitation_kedro.rehearsal.backdoor_standins import (
    StandInCorpusDataset,
    StandInImageNetValDataset,
)

CLASSES = str(
    Path(__file__).resolve().parents[3]
    / "src/imitation_kedro/pipelines/backdoor/imagenet_classes.csv"
)


def test_standins_build_once_in_the_paper_layout(tmp_path):
    corpus = StandInCorpusDataset(str(tmp_path / "cc3m"), CLASSES, 30, 10, ["banana"])
    pairs = corpus.load()
    assert list(pairs.columns) == ["image", "caption"] and len(pairs) == 30
    sizes = {Image.open(tmp_path / "cc3m" / p).size for p in pairs["image"]}
    assert len({w / h for w, h in sizes}) > 1  # varied aspect ratios: crop and squash differ
    val = StandInImageNetValDataset(str(tmp_path / "val"), CLASSES, 40, 10, ["banana"])
    labels = val.load()
    assert list(labels.columns) == ["image", "label"] and 954 in set(labels["label"])
    assert (tmp_path / "val" / labels["image"].iloc[0]).is_file()
    again = StandInCorpusDataset(str(tmp_path / "cc3m"), CLASSES, 30, 10, ["banana"]).load()
    assert again.equals(pairs)
    with pytest.raises(DatasetError, match="other parameters"):
        StandInCorpusDataset(str(tmp_path / "cc3m"), CLASSES, 31, 10, ["banana"]).load()
