"""Handoff tables are validated on save; the data dictionary is generated and current."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from kedro.io import DataCatalog

from imitation_kedro.schemas import SCHEMAS, SchemaError, validate_table


def _frequencies() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "concept": ["Ray", "Ray Moss"],
            "domain": ["motif", "style"],
            "captions": [10, 200],
            "sampled": [10, 100],
            "downloaded": [9, 95],
            "verified": [5, 90],
            "estimate": [5.6, 189.5],
            "ci_low": [2.0, 170.0],
            "ci_high": [8.0, 199.0],
            "status": ["ok", "ok"],
            "pretraining": ["laion2b_en", "laion2b_en"],
            "captions_5b": pd.array([None, None], dtype="Int64"),
        }
    )


def test_valid_table_passes():
    df = _frequencies()
    assert validate_table(df, SCHEMAS["prm_concept_frequencies"]) is df


def test_renamed_column_fails_naming_it():
    df = _frequencies().rename(columns={"estimate": "estimated_count"})
    with pytest.raises(SchemaError, match=r"prm_concept_frequencies: missing column\(s\) \['estimate'\]"):
        validate_table(df, SCHEMAS["prm_concept_frequencies"])


def test_wrong_type_and_duplicates_fail():
    df = _frequencies().assign(captions=["ten", "many"])
    with pytest.raises(SchemaError, match=r"prm_concept_frequencies\.captions: expected integer"):
        validate_table(df, SCHEMAS["prm_concept_frequencies"])
    dup = pd.concat([_frequencies(), _frequencies().head(1)])
    with pytest.raises(SchemaError, match="duplicate key"):
        validate_table(dup, SCHEMAS["prm_concept_frequencies"])


def test_catalog_validator_blocks_a_bad_save(tmp_path):
    catalog = DataCatalog.from_config(
        {
            "prm_concept_frequencies": {
                "type": "pandas.ParquetDataset",
                "filepath": str(tmp_path / "f.parquet"),
                "validator": {
                    "class": "imitation_kedro.schemas.TableValidator",
                    "options": {"table": "prm_concept_frequencies"},
                },
            }
        }
    )
    catalog.save("prm_concept_frequencies", _frequencies())
    with pytest.raises(Exception, match="missing column"):
        catalog.save("prm_concept_frequencies", _frequencies().drop(columns=["verified"]))


def test_every_handoff_table_in_the_base_catalog_is_schema_checked(project_root):
    from kedro.config import OmegaConfigLoader

    conf = OmegaConfigLoader(str(project_root / "conf"), base_env="base", default_run_env="test")
    catalog = conf["catalog"]
    for name in SCHEMAS:
        assert name in catalog, name
        assert catalog[name].get("validator"), f"{name} has no validator in the catalog"


def test_data_dictionary_is_current(project_root):
    out = subprocess.run(
        [sys.executable, "-m", "imitation_kedro.schemas.dictionary", "--check"],
        cwd=project_root, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = (project_root / "docs" / "data_dictionary.md").read_text()
    for name in SCHEMAS:
        assert f"## `{name}`" in text
        for col in SCHEMAS[name].columns:
            assert f"| `{col.name}` |" in text
