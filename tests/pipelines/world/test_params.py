"""World parameters: strict, and bad worlds fail before any work, naming the parameter."""

from __future__ import annotations

import copy

import pytest

from imitation_kedro.core.params import ParameterError, parse_params
from imitation_kedro.pipelines.world.params import WorldParams
from tests.fixtures.world import world_config


@pytest.fixture(scope="module")
def base_raw():
    return world_config("base")[1]


def test_base_world_meets_the_issue_bounds(base_raw):
    params = WorldParams(**copy.deepcopy(base_raw))
    assert params.concepts.n_concepts >= 100 and len(params.concepts.domains) >= 2
    freqs = params.concepts.frequencies()
    assert min(freqs) == 1 and max(freqs) >= 10_000
    assert params.corpus.n_rows >= 100_000 and sum(freqs) < params.corpus.n_rows
    assert params.concepts.n_references >= 10


def test_test_world_validates():
    WorldParams(**copy.deepcopy(world_config("test")[1]))


def test_frequencies_are_log_spaced():
    freqs = WorldParams(concepts={"n_concepts": 5, "special_names": ["Ray"], "min_frequency": 1, "max_frequency": 10_000}, corpus={"n_rows": 20_000, "background_image_rows": 10}).concepts.frequencies()
    assert freqs == [1, 10, 100, 1000, 10_000]


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"concepts": {"n_references": 5}}, "world.concepts: n_references=5"),
        ({"concepts": {"max_frequency": 500_000}}, "world: concepts.max_frequency"),
        ({"corpus": {"n_rows": 50_000}}, "world: concepts.max_frequency"),
        ({"concepts": {"special_names": ["Ray Moss", "ray  MOSS!"]}}, "world.concepts.special_names"),
        ({"corpus": {"mismatch_rate": 1.5}}, "world.corpus.mismatch_rate must be <= 1"),
        ({"report": {"prompt_template": "an image"}}, "world.report.prompt_template"),
        ({"concepts": {"n_concept": 3}}, "world.concepts: unknown key(s) ['n_concept']"),
    ],
)
def test_bad_parameters_fail_naming_the_parameter(base_raw, override, named):
    raw = copy.deepcopy(base_raw)
    for block, values in override.items():
        raw[block].update(values)
    with pytest.raises(ParameterError) as info:
        parse_params(WorldParams, raw, "world")
    assert named in str(info.value)
