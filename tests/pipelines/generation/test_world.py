"""Generation on the test-size miniature world (the `tiny_world` session fixture), with the
parameters of conf/test: every concept gets its images, bytes independent of batch size."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from imitation_kedro.core.generation_params import GenerationParams
from tests.pipelines.generation.conftest import png_bytes
from tests.pipelines.generation.test_catalog import _entries

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]
CONF = Path(__file__).resolve().parents[3] / "conf"
IMAGES = "data/07_model_output/generated"


def _run(root: Path, world: dict, params: GenerationParams):
    from kedro.io import DataCatalog
    from kedro.io.core import Version
    from kedro.runner import SequentialRunner

    from imitation_kedro.datasets import DiffusersPipelineDataset
    from imitation_kedro.pipelines.generation import create_pipeline

    entries = copy.deepcopy(_entries("base"))
    for entry in entries.values():
        for key in ("path", "filepath"):
            if key in entry:
                entry[key] = str(root / entry[key])
    catalog = DataCatalog.from_config(entries)
    catalog["raw_concepts"] = world["raw_concepts"]
    # A fresh load per run, as `kedro run` does (preparing the pipeline mutates it).
    # mdl_t2i is versioned (conf/base/catalog_world.yml): load its latest version.
    catalog["mdl_t2i"] = DiffusersPipelineDataset(
        path=str(world["paths"]["mdl_t2i"]), pipeline_class="MiniatureTextToImagePipeline",
        version=Version(None, None),
    ).load()
    catalog["params:generation"] = params
    catalog["params:generation.model"] = params.model
    catalog["params:generation.grid"] = params.grid
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


def test_generation_on_the_miniature_world(tmp_path, request):
    world = request.getfixturevalue("tiny_world")
    raw = yaml.safe_load((CONF / "test" / "parameters_generation.yml").read_text())["generation"]
    params = GenerationParams(**raw)
    catalog = _run(tmp_path / "a", world, params)
    manifest = catalog.load("int_generation_manifest")
    concepts = world["raw_concepts"]
    per_concept = {d: len(t) * params.images_per_prompt for d, t in params.templates.items()}
    assert len(manifest) == sum(per_concept[d] for d in concepts["domain"])
    assert set(manifest["concept"]) == set(concepts["concept"])
    assert manifest["width"].iloc[0] == manifest["height"].iloc[0] == 32
    first = png_bytes(tmp_path / "a", IMAGES)
    assert len(first) == len(manifest)
    other = GenerationParams(**{**raw, "batch_size": 3})
    _run(tmp_path / "b", world, other)
    assert png_bytes(tmp_path / "b", IMAGES) == first
