"""Typed, strict parameter classes.

Kedro 1.7 builds a dataclass-typed ``params:`` argument with ``Cls(**raw)`` before any node
runs. That alone neither converts nested dicts nor checks types, so every parameter class
derives from :class:`Params`, whose ``__post_init__`` does both and names the offending key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, ClassVar, Union, get_args, get_origin, get_type_hints


class ParameterError(ValueError):
    """A parameter file holds a key or value the pipeline cannot use."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` converted to ``tp`` or raise :class:`ParameterError` naming ``where``."""
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ParameterError as exc:
                errors.append(str(exc))
        raise ParameterError(f"{where}: {value!r} matches none of {_type_name(tp)}")
    if origin is typing.Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ParameterError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        (inner, *_) = get_args(tp) or (Any,)
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ParameterError(f"{where}: expected a mapping, got {type(value).__name__}")
        key_tp, val_tp = get_args(tp) or (Any, Any)
        return {
            _coerce(k, key_tp, where): _coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()
        }
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ParameterError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return tp._from_mapping(value, where) if issubclass(tp, Params) else tp(**value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ParameterError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ParameterError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ParameterError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


class Params:
    """Base for parameter dataclasses: strict keys, nested conversion, type checks.

    Subclasses are ``@dataclass(frozen=True)`` and may define ``validate(self)`` for
    cross-field rules (raise :class:`ParameterError`).
    """

    _where: ClassVar[str] = ""

    @classmethod
    def _from_mapping(cls, raw: dict[str, Any], where: str) -> Params:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ParameterError(
                f"{where}: unknown key(s) {unknown}; {cls.__name__} accepts {sorted(known)}"
            )
        missing = [
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.name not in raw
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ParameterError(f"{where}: missing required key(s) {missing}")
        hints = get_type_hints(cls)
        values = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in raw.items()}
        obj = cls.__new__(cls)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in values:
                val = values[f.name]
            elif f.default is not dataclasses.MISSING:
                val = f.default
            else:
                val = f.default_factory()  # type: ignore[misc]
            object.__setattr__(obj, f.name, val)
        obj._check(where)
        return obj

    def __post_init__(self) -> None:
        # Reached when Kedro (or a test) calls Cls(**raw): convert and check in place.
        where = type(self)._where or type(self).__name__
        hints = get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = _coerce(getattr(self, f.name), hints[f.name], f"{where}.{f.name}")
            object.__setattr__(self, f.name, value)
        self._check(where)

    def _check(self, where: str) -> None:
        try:
            self.validate()
        except ParameterError as exc:
            raise ParameterError(f"{where}: {exc}") from None

    def validate(self) -> None:
        """Cross-field checks; override in subclasses."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def parse_params(cls: type[Params], raw: Any, where: str) -> Params:
    """Build ``cls`` from a raw mapping, naming ``where`` (e.g. ``"frequency"``) in errors."""
    if isinstance(raw, cls):
        return raw
    if not isinstance(raw, dict):
        raise ParameterError(f"{where}: expected a mapping, got {type(raw).__name__}")
    return cls._from_mapping(raw, where)
