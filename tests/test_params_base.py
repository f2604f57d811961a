"""Strict pydantic parameter models: unknown keys, wrong types and nested blocks are named."""

from __future__ import annotations

import typing
from typing import Literal

import pytest
from pydantic import Field, ValidationError, model_validator

from imitation_kedro.core.params import FromBlock, ParameterError, Params, parse_params


class Inner(Params):
    steps: int = Field(10, ge=1)
    guidance: float = 7.5


class Outer(Params):
    name: str
    mode: Literal["a", "b"] = "a"
    inner: Inner = Field(default_factory=Inner)
    seeds: list[int] = Field(default_factory=list)
    by_model: dict[str, Inner] = Field(default_factory=dict)
    threshold: Literal["lower", "higher"] | float = "lower"

    @model_validator(mode="after")
    def _room(self) -> Outer:
        if self.inner.steps > 100 and self.mode == "a":
            raise ValueError("mode 'a' allows at most 100 inner.steps")
        return self


def test_nested_dicts_become_models():
    p = parse_params(Outer, {"name": "x", "inner": {"steps": 3}, "by_model": {"m": {}}}, "top")
    assert isinstance(p.inner, Inner) and p.inner.steps == 3 and p.inner.guidance == 7.5
    assert isinstance(p.by_model["m"], Inner)
    assert parse_params(Outer, p, "top") is p
    assert Outer(**p.to_dict()) == p


def test_models_are_frozen_and_strict():
    p = Outer(name="x", inner={"guidance": 2})
    assert p.inner.guidance == 2.0  # an integer is a number
    with pytest.raises(ValidationError):
        p.name = "y"
    for bad in ({"steps": True}, {"steps": "3"}, {"steps": 3.0}):
        with pytest.raises(ParameterError, match=r"inner\.steps: expected an integer"):
            parse_params(Inner, bad, "inner")


def test_unknown_keys_are_named_with_the_accepted_keys():
    with pytest.raises(
        ParameterError,
        match=r"^top\.inner: unknown key\(s\) \['stepz'\]; Inner accepts \['guidance', 'steps'\]$",
    ):
        parse_params(Outer, {"name": "x", "inner": {"stepz": 3}}, "top")
    with pytest.raises(ParameterError, match=r"top\.by_model\.m: unknown key\(s\) \['q'\]"):
        parse_params(Outer, {"name": "x", "by_model": {"m": {"q": 1}}}, "top")


def test_every_problem_is_one_short_line():
    raw = {"nme": "x", "inner": {"steps": 0}, "seeds": [1, "2"], "mode": "c", "threshold": "mid"}
    with pytest.raises(ParameterError) as info:
        parse_params(Outer, raw, "top")
    assert str(info.value).splitlines() == [
        "top: unknown key(s) ['nme']; Outer accepts ['by_model', 'inner', 'mode', 'name', 'seeds', 'threshold']",
        "top: missing required key(s) ['name']",
        "top.mode: 'c' is not one of ['a', 'b']",
        "top.seeds[1]: expected an integer, got '2'",
        "top.threshold: expected one of 'lower' or 'higher' or a number, got 'mid'",
        "top.inner.steps must be >= 1, got 0",
    ]


def test_block_rules_name_their_block():
    with pytest.raises(ParameterError, match=r"^top: mode 'a' allows at most 100 inner\.steps$"):
        parse_params(Outer, {"name": "x", "inner": {"steps": 101}}, "top")
    with pytest.raises(ParameterError, match=r"^top: expected a mapping, got \[1\]$"):
        parse_params(Outer, [1], "top")


def test_from_block_is_any_for_kedro_and_the_model_for_type_checkers():
    def node(grid: FromBlock[Inner]) -> None: ...

    assert typing.get_type_hints(node) == {"grid": typing.Any, "return": type(None)}
