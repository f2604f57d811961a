"""Two runs of the same configuration write byte-identical handoff tables (issue 20: timings go to
the log and MLflow, never into the tables)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from imitation_kedro.models.clip_checkpoints import EpochCheckpoints
from imitation_kedro.pipelines.backdoor import nodes
from imitation_kedro.pipelines.backdoor.params import BackdoorParams

from .conftest import concepts_table, tiny_params_dict

TIMING_WORDS = ("_s", "seconds", "per_s", "time")


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf)  # the catalog's pandas.ParquetDataset writer
    return buf.getvalue()


def _tables(raw: pd.DataFrame) -> dict[str, bytes]:
    p = BackdoorParams(
        **tiny_params_dict(
            pretrain={"optim": {"epochs": 1, "batch_size": 32, "lr": 2e-3, "warmup_steps": 2}}
        )
    )
    pairs, rejects, classes = nodes.prepare_pairs(
        {"part-0": raw}, concepts_table(), pd.DataFrame(), p.data, p.attack, p.eval
    )
    poisoned, manifest, cleaning = nodes.poison_corpus(pairs, classes, p.attack, p.data)
    views = nodes.augment_texts(poisoned, p.augment)
    models, pre = nodes.pretrain_models(poisoned, views, classes, EpochCheckpoints(), p)
    results, _ = nodes.clean_models(models, cleaning, poisoned, views, classes, p)
    selection = nodes.select_models(results, p.select)
    return {
        "pretrain_metrics": _parquet(pre),
        "cleaning_results": _parquet(results),
        "selection": _parquet(selection),
        "poison_manifest": _parquet(manifest),
        "rejects": _parquet(rejects),
    }


@pytest.mark.slow
def test_two_runs_write_byte_identical_tables_without_timings(tiny_pairs):
    pytest.importorskip("torch").set_num_threads(1)
    from imitation_kedro.pipelines.backdoor import runs

    first = _tables(tiny_pairs)
    runs._METRICS.clear()  # the second run evaluates afresh, not from the metrics cache
    second = _tables(tiny_pairs)
    for name in first:
        assert first[name] == second[name], f"{name} differs between two identical runs"
    for name in ("pretrain_metrics", "cleaning_results"):
        cols = pd.read_parquet(io.BytesIO(first[name])).columns
        timing = [c for c in cols if c.endswith(TIMING_WORDS)]
        assert not timing, f"{name} carries wall-time columns {timing}"
