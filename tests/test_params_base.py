"""Strict typed parameters: unknown keys, wrong types and nested blocks are named."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from imitation_kedro.core.params import ParameterError, Params, parse_params


@dataclass(frozen=True)
class Inner(Params):
    steps: int = 10
    guidance: float = 7.5


@dataclass(frozen=True)
class Outer(Params):
    name: str
    mode: Literal["a", "b"] = "a"
    inner: Inner = field(default_factory=Inner)
    seeds: list[int] = field(default_factory=list)
    by_model: dict[str, Inner] = field(default_factory=dict)

    def validate(self) -> None:
        if self.inner.steps < 1:
            raise ParameterError(f"inner.steps must be >= 1, got {self.inner.steps}")


def test_nested_dicts_become_dataclasses():
    p = parse_params(Outer, {"name": "x", "inner": {"steps": 3}, "by_model": {"m": {}}}, "top")
    assert isinstance(p.inner, Inner) and p.inner.steps == 3 and p.inner.guidance == 7.5
    assert isinstance(p.by_model["m"], Inner)


def test_kedro_style_construction_converts_too():
    p = Outer(**{"name": "x", "inner": {"guidance": 2}})
    assert isinstance(p.inner, Inner) and p.inner.guidance == 2.0


def test_unknown_nested_key_is_named():
    with pytest.raises(ParameterError, match=r"top\.inner: unknown key\(s\) \['stepz'\]"):
        parse_params(Outer, {"name": "x", "inner": {"stepz": 3}}, "top")


def test_wrong_type_is_named():
    with pytest.raises(ParameterError, match=r"top\.inner\.steps: expected an integer"):
        parse_params(Outer, {"name": "x", "inner": {"steps": "many"}}, "top")
    with pytest.raises(ParameterError, match=r"top\.seeds\[1\]"):
        parse_params(Outer, {"name": "x", "seeds": [1, "2"]}, "top")


def test_literal_and_missing_and_validate():
    with pytest.raises(ParameterError, match="not one of"):
        parse_params(Outer, {"name": "x", "mode": "c"}, "top")
    with pytest.raises(ParameterError, match=r"missing required key\(s\) \['name'\]"):
        parse_params(Outer, {}, "top")
    with pytest.raises(ParameterError, match="inner.steps must be >= 1"):
        parse_params(Outer, {"name": "x", "inner": {"steps": 0}}, "top")


def test_bool_is_not_an_int():
    with pytest.raises(ParameterError):
        parse_params(Inner, {"steps": True}, "inner")
