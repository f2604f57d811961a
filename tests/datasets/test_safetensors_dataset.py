"""SafetensorsDataset: dict of tensors <-> .safetensors (torch and numpy), versioning, errors."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io import DataCatalog, DatasetError

from imitation_kedro.datasets import SafetensorsDataset


def test_torch_round_trip_with_header_metadata(tmp_path):
    import torch

    data = {
        "emb": torch.randn(5, 16),
        "ids": torch.arange(5, dtype=torch.int64),
        "half": torch.randn(3, dtype=torch.bfloat16),
        "view": torch.randn(4, 6).t(),  # non-contiguous
    }
    ds = SafetensorsDataset(
        str(tmp_path / "sub" / "t.safetensors"), save_args={"metadata": {"model": "tiny"}}
    )
    assert not ds.exists()
    ds.save(data)
    assert ds.exists()
    loaded = ds.load()
    assert sorted(loaded) == sorted(data)
    for key, value in data.items():
        assert loaded[key].dtype == value.dtype
        assert torch.equal(loaded[key], value)
    assert ds.header_metadata() == {"model": "tiny"}


def test_numpy_backend_and_versioned_catalog(tmp_path):
    config = {
        "feat_emb": {
            "type": "imitation_kedro.datasets.SafetensorsDataset",
            "filepath": str(tmp_path / "emb.safetensors"),
            "backend": "numpy",
            "versioned": True,
        }
    }
    catalog = DataCatalog.from_config(config)
    first = {"a": np.ones((2, 3), dtype=np.float32)}
    catalog.save("feat_emb", first)
    DataCatalog.from_config(config).save("feat_emb", {"a": np.zeros((2, 3), dtype=np.float32)})
    assert len(list((tmp_path / "emb.safetensors").iterdir())) == 2
    loaded = DataCatalog.from_config(config).load("feat_emb")
    assert isinstance(loaded["a"], np.ndarray) and loaded["a"].sum() == 0  # latest version


def test_errors_name_the_problem(tmp_path):
    import torch

    with pytest.raises(DatasetError, match="backend 'jax' is not one of"):
        SafetensorsDataset(str(tmp_path / "x.safetensors"), backend="jax")
    with pytest.raises(DatasetError, match=r"save_args \['compress'\] unknown"):
        SafetensorsDataset(str(tmp_path / "x.safetensors"), save_args={"compress": True})
    ds = SafetensorsDataset(str(tmp_path / "x.safetensors"))
    with pytest.raises(DatasetError, match="'b' is a list, not a tensor"):
        ds.save({"a": torch.ones(2), "b": [1, 2]})
    with pytest.raises(DatasetError, match="non-empty dict of tensors"):
        ds.save({})
    shared = torch.ones(4)
    with pytest.raises(DatasetError, match="shared tensors"):
        ds.save({"a": shared, "b": shared})
    (tmp_path / "x.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(DatasetError, match="is not a valid safetensors file"):
        ds.load()
    with pytest.raises(DatasetError, match="'a' is a Tensor, not an ndarray"):
        SafetensorsDataset(str(tmp_path / "n.safetensors"), backend="numpy").save(
            {"a": torch.ones(2)}
        )
