"""Handoff tables are pandera models checked by the catalog; the data dictionary is generated and current."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.validation import DataValidationError

from imitation_kedro.schemas import column_names, tables
from imitation_kedro.schemas.frequency import ConceptFrequencies

MODEL_PATH = "imitation_kedro.schemas.frequency.ConceptFrequencies"


def _frequencies() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "concept": ["Ray", "Ray Moss"],
            "concept_set": ["motif", "style"],
            "domain": ["motif", "style"],
            "corpus": ["laion2b_en", "laion2b_en"],
            "captions": [10, 200],
            "sampled": [10, 100],
            "downloaded": [9, 95],
            "verified": [5, 90],
            "verified_units": [5, 90],
            "estimate": [5.6, 189.5],
            "ci_low": [2.0, 170.0],
            "ci_high": [8.0, 199.0],
            "status": ["ok", "ok"],
            "captions_5b": pd.array([None, None], dtype="Int64"),
        }
    )


@pytest.fixture
def catalog(tmp_path) -> DataCatalog:
    return DataCatalog.from_config(
        {
            "prm_concept_frequencies": {
                "type": "pandas.ParquetDataset",
                "filepath": str(tmp_path / "f.parquet"),
                "validator": {"class": MODEL_PATH, "on": ["save"]},
            }
        }
    )


def _save_error(catalog: DataCatalog, df: pd.DataFrame) -> str:
    with pytest.raises(DataValidationError) as info:
        catalog.save("prm_concept_frequencies", df)
    message = str(info.value)
    assert message.startswith("Validation failed for dataset 'prm_concept_frequencies' on save")
    assert len(message.splitlines()) <= 8, message
    return message


def test_valid_table_is_saved_unchanged(catalog):
    df = _frequencies()
    pd.testing.assert_frame_equal(ConceptFrequencies.validate(df), df)
    catalog.save("prm_concept_frequencies", df)
    assert catalog.load("prm_concept_frequencies")["estimate"].tolist() == [5.6, 189.5]


def test_renamed_column_fails_naming_it(catalog):
    df = _frequencies().rename(columns={"estimate": "estimated_count"})
    message = _save_error(catalog, df)
    assert "prm_concept_frequencies: column_in_dataframe" in message
    assert "(e.g. estimate)" in message


def test_wrong_type_null_and_duplicate_key_fail_naming_the_column(catalog):
    message = _save_error(catalog, _frequencies().assign(captions=["ten", "many"]))
    assert "captions: dtype('integer') — 1 case (e.g. str)" in message
    message = _save_error(catalog, _frequencies().assign(domain=["motif", None]))
    assert "domain: not_nullable" in message
    message = _save_error(catalog, pd.concat([_frequencies(), _frequencies().head(1)]))
    assert "concept: multiple_fields_uniqueness" in message and "e.g. Ray, Ray" in message


def test_kinds_accept_what_pandas_stores_for_them():
    """Empty or concatenated frames hold object columns; ints are numbers; Int64 is an integer."""
    empty = pd.DataFrame(columns=column_names("prm_concept_frequencies"))
    assert ConceptFrequencies.validate(empty).empty
    loose = _frequencies().astype({"concept": object, "captions": object}).assign(estimate=[5, 189])
    ConceptFrequencies.validate(loose)
    extra = _frequencies().assign(note=["a", "b"])  # extra columns are allowed
    ConceptFrequencies.validate(extra)
    with pytest.raises(Exception, match="'sampled' to have type integer, got bool"):
        ConceptFrequencies.validate(_frequencies().assign(sampled=[True, False]))
    with pytest.raises(Exception, match="'sampled' to have type integer"):
        ConceptFrequencies.validate(
            _frequencies().assign(sampled=np.array([1.5, 2.0], dtype=object))
        )


def test_user_input_is_checked_on_load(tmp_path):
    path = tmp_path / "scores.csv"
    pd.DataFrame({"concept": ["a", "b"], "count": [1, 2], "scores": [0.1, 0.2]}).to_csv(
        path, index=False
    )
    catalog = DataCatalog.from_config(
        {
            "raw_user_scores": {
                "type": "pandas.CSVDataset",
                "filepath": str(path),
                "validator": {
                    "class": "imitation_kedro.schemas.world.UserScores",
                    "on": ["load", "save"],
                },
            }
        }
    )
    with pytest.raises(DataValidationError, match="raw_user_scores' on load") as info:
        catalog.load("raw_user_scores")
    assert "(e.g. score)" in str(info.value)


def test_every_table_model_validates_its_catalog_entries(project_root):
    """Each model is the validator of its dataset (base, or paper for paper-only inputs)."""
    from kedro.config import OmegaConfigLoader

    def catalog(env: str) -> dict:
        loader = OmegaConfigLoader(str(project_root / "conf"), base_env="base", default_run_env=env)
        return loader["catalog"]

    base, paper = catalog("test"), catalog("paper")
    for name, model in tables().items():
        entries = [c[name] for c in (base, paper) if name in c]
        assert entries, f"{name}: no catalog entry"
        for entry in entries:
            validator = entry.get("validator") or {}
            assert validator.get("class") == f"{model.__module__}.{model.__qualname__}", name
        assert model.to_schema().description, f"{name} has no description"
        for col_name, col in model.to_schema().columns.items():
            assert col.description, f"{name}.{col_name} has no description"


def test_importing_the_package_leaves_pandera_out():
    code = (
        "import sys, imitation_kedro.schemas as s; print('pandera' in sys.modules); "
        "print(s.column_names('out_thresholds')[:3])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split("\n")[:2] == ["False", "['concept_set', 'domain', 'model']"], out.stderr[
        -2000:
    ]


def test_validation_runs_under_python_c(tmp_path):
    """pyspark without Spark Connect extras must not end a `python -c` run at the first check."""
    code = (
        "import pandas as pd; from kedro.io import DataCatalog\n"
        f"c = DataCatalog.from_config({{'t': {{'type': 'pandas.ParquetDataset', "
        f"'filepath': {str(tmp_path / 't.parquet')!r}, "
        "'validator': {'class': 'imitation_kedro.schemas.threshold.ThresholdRejects'}}})\n"
        "c.save('t', pd.DataFrame({'concept_set': ['a'], 'domain': ['a'], 'model': ['m'], 'concept': ['c'], 'reason': ['r']}))\n"
        "print('DONE', len(c.load('t')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "DONE 1" in out.stdout, out.stderr[-2000:]


def test_data_dictionary_is_current(project_root):
    out = subprocess.run(
        [sys.executable, "-m", "imitation_kedro.schemas.dictionary", "--check"],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = (project_root / "docs" / "data_dictionary.md").read_text()
    for name in tables():
        assert f"## `{name}`" in text
        for col in column_names(name):
            assert f"| `{col}` |" in text
