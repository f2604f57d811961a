"""The content-keyed model store: save once, load back, never overwrite, refuse path tricks."""

from __future__ import annotations

import pytest
from kedro.io.core import DatasetError

from imitation_kedro.datasets.t2i_store import T2IStoreDataset


def test_store_keys_are_plain_names(tmp_path):
    store = T2IStoreDataset(path=str(tmp_path)).load()
    assert not store.has("l1-s0-abc")
    for bad in ("../x", "a/b", "", "UPPER"):
        with pytest.raises(DatasetError, match="plain lower-case name"):
            store.has(bad)
    with pytest.raises(DatasetError, match="no model saved under key"):
        store.load("l1-s0-abc")
    with pytest.raises(DatasetError, match="written through the store"):
        T2IStoreDataset(path=str(tmp_path)).save({"model": 1})
