"""Node-level tests: prompt table, seeds, templates, shards, parameters, merges (no model)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from imitation_kedro.core.generation_params import GenerationParams
from imitation_kedro.core.params import ParameterError, parse_params
from imitation_kedro.core.seeding import stable_seed
from imitation_kedro.pipelines.generation.nodes import (
    build_prompt_table,
    merge_generation_manifests,
    plan_generation,
)
from imitation_kedro.pipelines.generation.prompts import check_template
from imitation_kedro.pipelines.generation.sharding import select_shard
from tests.pipelines.generation.conftest import TINY_PARAMS, make_params

CONF = Path(__file__).resolve().parents[3] / "conf"


def test_prompt_table_has_one_row_per_image_with_paper_seeds(concepts):
    table = build_prompt_table(concepts, make_params())
    assert len(table) == 2 * 2 * 3 + 1 * 1 * 3
    assert not table.duplicated(["model", "concept", "prompt_id", "index"]).any()
    assert table["path"].is_unique and table["path"].is_monotonic_increasing
    row = table[(table["concept"] == "Zoë Alder") & (table["prompt_id"] == 1)].iloc[2]
    assert row["path"] == "tiny/zoe-alder/1/0002"
    assert row["prompt"] == "a sketch in the style of Zoë Alder"
    assert row["seed"] == 2  # FIT: seeds 0..n-1 for every concept and prompt
    assert sorted(table.groupby(["concept", "prompt_id"])["seed"].apply(list).iloc[0]) == [0, 1, 2]


def test_possessive_templates_are_built_correctly(concepts):
    """Rule F1: "X's face portrait", never the original's "'s face portraitX"."""
    table = build_prompt_table(concepts, make_params())
    assert set(table.loc[table["domain"] == "motif", "prompt"]) == {"the red fox's face portrait"}


def test_hashed_seeds_come_from_stable_keys(concepts):
    table = build_prompt_table(concepts, make_params(seed_mode="hashed"))
    row = table.iloc[5]
    assert row["seed"] == stable_seed(
        "tiny", row["concept"], int(row["prompt_id"]), int(row["index"])
    )
    assert table["seed"].is_unique


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a painting of someone", "has no {concept} slot"),
        ("{name} in {concept}'s style", r"unknown slot\(s\) \['name'\]"),
        ("{concept", "malformed"),
    ],
)
def test_bad_templates_fail_naming_the_template(template, message):
    with pytest.raises(ValueError, match=message) as info:
        check_template(template)
    assert template in str(info.value)
    raw = {**TINY_PARAMS, "templates": {"style": ["{concept}", template]}}
    with pytest.raises(ParameterError, match=r"templates\.style\[1\]"):
        parse_params(GenerationParams, raw, "generation")


def test_concepts_slugging_to_the_same_slug_fail(concepts):
    clash = pd.concat(
        [
            concepts,
            pd.DataFrame({"concept": ["ray moss"], "slug": ["ray-moss"], "domain": ["style"]}),
        ]
    )
    with pytest.raises(ValueError, match="'Ray Moss' and 'ray moss' both slug to 'ray-moss'"):
        build_prompt_table(clash, make_params())


def test_slug_column_must_match_slugify(concepts):
    concepts.loc[0, "slug"] = "../ray"
    with pytest.raises(ValueError, match="concept 'Ray Moss' has slug '../ray'"):
        build_prompt_table(concepts, make_params())


def test_domain_without_templates_fails_naming_it(concepts):
    concepts.loc[2, "domain"] = "faces"
    with pytest.raises(
        ValueError, match=r"no prompt templates for domain\(s\) \['faces'\].*the red fox"
    ):
        build_prompt_table(concepts, make_params())


def test_empty_concept_table_fails():
    with pytest.raises(ValueError, match="raw_concepts is empty"):
        build_prompt_table(pd.DataFrame(columns=["concept", "slug", "domain"]), make_params())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"images_per_prompt": 0}, "zero images requested"),
        ({"shard_index": 2, "num_shards": 2}, "shard_index 2 must be in 0..num_shards-1"),
        ({"model": "sd99"}, "model 'sd99' has no settings under models"),
        ({"model": "SD/15"}, "becomes a path component"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"speed": {"compile": True}}, "compile and batch_invariant"),
        ({"speed": {"device": "gpu"}}, "device 'gpu'"),
        (
            {"models": {"tiny": {"height": 30, "width": 32}}},
            "height must be a positive multiple of 8",
        ),
        ({"models": {"tiny": {"stepz": 3}}}, r"unknown key\(s\) \['stepz'\]"),
        ({"seed_mode": "random"}, "'random' is not one of"),
    ],
)
def test_bad_parameters_fail_naming_the_key(overrides, message):
    with pytest.raises(ParameterError, match=message):
        make_params(**overrides)


def test_shards_split_the_table_without_overlap(concepts):
    table = build_prompt_table(concepts, make_params(images_per_prompt=20))
    shards = [set(select_shard(table, i, 3)["path"]) for i in range(3)]
    assert set().union(*shards) == set(table["path"])
    assert sum(len(s) for s in shards) == len(table)
    assert all(len(s) > len(table) / 6 for s in shards)
    # The same split for another model: a GPU renders the same concepts for every model.
    other = build_prompt_table(concepts, make_params(model="tiny2", models={"tiny2": {}}))
    assert {p.split("/", 1)[1] for p in select_shard(other, 1, 3)["path"]} <= {
        p.split("/", 1)[1] for p in set(select_shard(table, 1, 3)["path"])
    }


def test_plan_marks_existing_missing_and_corrupt_images(concepts):
    from PIL import Image

    params = make_params(images_per_prompt=1)
    table = build_prompt_table(concepts, params)
    good = Image.new("RGB", (32, 32))

    def broken():
        raise OSError("image file is truncated")

    existing = {table["path"][0]: lambda: good.copy(), table["path"][1]: broken}
    plan = plan_generation(table, existing, params)
    assert plan["status"].tolist()[:3] == ["existing", "corrupt", "todo"]
    assert "truncated" in plan["status_reason"][1]
    assert plan["status_reason"][2] == "absent"
    assert plan["stored_record"][0] == "" and len(plan["pixels_sha256"][0]) == 64


def _manifest(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(status="generated")


def test_merge_unions_shards_and_other_models(concepts):
    params = make_params(num_shards=2)
    table = build_prompt_table(concepts, params)
    parts = {f"tiny/shard-00{i}-of-002": select_shard(table, i, 2) for i in range(2)}
    other = build_prompt_table(concepts, make_params(model="old", models={"old": {}}))
    parts["old/shard-000-of-001"] = other
    loaders = {k: (lambda df=v: _manifest(df)) for k, v in parts.items()}
    merged = merge_generation_manifests(loaders, table, params)
    assert len(merged) == 2 * len(table)
    assert set(merged["model"]) == {"tiny", "old"}
    # A stale shard set of the current model is ignored (with a warning), not mixed in.
    loaders["tiny/shard-000-of-005"] = lambda: _manifest(table.head(2))
    assert len(merge_generation_manifests(loaders, table, params)) == 2 * len(table)


def test_merge_refuses_gaps_and_duplicates(concepts):
    params = make_params()
    table = build_prompt_table(concepts, params)
    with pytest.raises(ValueError, match="1 missing"):
        merge_generation_manifests({"tiny/shard-000-of-001": lambda: table.iloc[1:]}, table, params)
    doubled = pd.concat([table, table.head(1)])
    with pytest.raises(ValueError, match="appear in two shard manifests"):
        merge_generation_manifests({"tiny/shard-000-of-001": lambda: doubled}, table, params)
    with pytest.raises(ValueError, match="no shard manifest for model 'tiny'"):
        merge_generation_manifests({}, table, params)


@pytest.mark.parametrize("env", ["base", "test", "paper"])
def test_conf_parameters_parse(env):
    raw = yaml.safe_load((CONF / env / "parameters_generation.yml").read_text())
    params = GenerationParams(**raw["generation"])
    if env == "paper":
        assert params.images_per_prompt == 200 and params.seed_mode == "paper"
        assert [len(params.templates[d]) for d in ("faces", "art")] == [5, 5]
        assert params.templates["faces"][4] == "{concept}'s face portrait"
        assert params.models["sd21"].scheduler == "DPMSolverMultistepScheduler"
        assert params.models["sd21"].dtype == "float16" and params.models["sd21"].height == 768
        assert {m.steps for m in params.models.values()} == {50}


def test_pipeline_modules_import_without_torch():
    code = (
        "import sys; import imitation_kedro.pipelines.generation as g; g.create_pipeline();"
        "import imitation_kedro.pipelines.generation.nodes, imitation_kedro.core.generation_params;"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
