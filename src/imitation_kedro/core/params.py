"""Typed, strict parameter models (pydantic v2).

Every parameter block is a :class:`Params` model: an unknown key is an error
(``extra="forbid"``), values are not coerced (``strict``: ``"3"`` is no integer, ``true`` no
number) and instances are frozen. Kedro 1.7 validates a ``params:`` node argument annotated with
a model before any node runs; the project's start-up hook first validates every whole block with
:func:`parse_params`, whose message names the dotted path and, for an unknown key, the accepted
keys.

Kedro cannot type a block and one of its sub-blocks in the same run (its validator cannot write
the sub-model into the block it already built). A node that reads one sub-block of a block Kedro
types whole declares it ``FromBlock[SubModel]``: it receives the sub-model instance Kedro takes
from the typed block, and type checkers see ``SubModel``.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

_T = TypeVar("_T")
_MAX_LINES = 12

if TYPE_CHECKING:
    FromBlock = Annotated[_T, "a sub-block of a block Kedro types whole"]
else:

    class FromBlock:
        """``FromBlock[M]`` is ``Any`` at run time, so Kedro leaves the argument to the block."""

        def __class_getitem__(cls, item: Any) -> Any:
            return Any


class ParameterError(ValueError):
    """A parameter file holds a key or value the pipeline cannot use."""


class Params(BaseModel):
    """Base of every parameter block: strict keys and types, frozen.

    Built in Python (``Block(**raw)``), a bad value raises pydantic's ``ValidationError``; built
    from configuration with :func:`parse_params`, a :class:`ParameterError` naming the path.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def to_dict(self) -> dict[str, Any]:
        """The block as plain nested dicts and lists, keyed as in the parameter files."""
        return self.model_dump(by_alias=True)


_P = TypeVar("_P", bound="Params")


def parse_params(cls: type[_P], raw: Any, where: str) -> _P:
    """Build ``cls`` from a raw mapping; errors name ``where`` (e.g. ``"frequency"``) first."""
    if isinstance(raw, cls):
        return raw
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        raise ParameterError(explain(exc, cls, where)) from None


def _strip_optional(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, Any, type | None]:
    """Follow an error location: its dotted path (union tags dropped), the type found there and
    the model holding the last key."""
    path, tp, owner = "", model, None
    for item in loc:
        tp = _strip_optional(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            owner, path = tp, f"{path}.{item}"
            field = next((f for n, f in tp.model_fields.items() if item in (n, f.alias)), None)
            tp = field.annotation if field else None
        elif origin in (Union, types.UnionType):
            # pydantic tags each member it tried ("float", "literal['a','b']"): not a key
            tp = next((a for a in get_args(tp) if getattr(a, "__name__", None) == item), None)
        elif origin in (list, tuple) and isinstance(item, int):
            path, tp = f"{path}[{item}]", (get_args(tp) or (Any,))[0]
        elif origin is dict:
            path, tp = f"{path}.{item}", (get_args(tp) or (Any, Any))[1]
        else:
            path, tp = path + (f"[{item}]" if isinstance(item, int) else f".{item}"), None
    return path, tp, owner


_BOUNDS = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}
_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_NOUNS = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
}


def _keys(model: type[BaseModel]) -> list[str]:
    """The keys a block accepts in the parameter files (field aliases where set)."""
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(error: dict[str, Any], tp: Any) -> str | None:
    """What a type error expected (``"an integer"``), or ``None`` for other errors."""
    if error["type"] == "literal_error":
        if get_origin(tp) is Literal:
            return f"one of {list(get_args(tp))}"
        return f"one of {error['ctx']['expected']}"
    if error["type"] in _NOUNS:
        return _NOUNS[error["type"]]
    return None


def _rule(error: dict[str, Any], where: str, path: str) -> str:
    """One line for an error that is not about a key or a type: a bound or a rule of the block."""
    key, got = _BOUNDS.get(error["type"]), _short(error.get("input"))
    if key:
        return f"{where}{path} must be {_OPS[key]} {error['ctx'][key]}, got {got}"
    if error["type"] == "too_short":
        return f"{where}{path} needs at least {error['ctx']['min_length']} item(s), got {got}"
    text = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if error["type"] != "value_error":
        text = f"{text[:1].lower()}{text[1:]}, got {got}"
    return f"{where}{path}: {text}"


def explain(exc: ValidationError, model: type[BaseModel], where: str) -> str:
    """A few lines naming each bad key by its dotted path (``where`` first).

    Unknown keys are grouped per block with the keys that block accepts, missing keys per block,
    the types a value failed per key (a union's members together); bounds and rules of a block
    are one line each.
    """
    unknown: dict[str, tuple[type | None, list[str]]] = {}
    missing: dict[str, list[str]] = {}
    expected: dict[str, tuple[Any, list[str]]] = {}
    rules: list[str] = []
    for error in exc.errors():
        path, tp, owner = _walk(model, error["loc"])
        parent, _, key = path.rpartition(".")
        if error["type"] == "extra_forbidden":
            unknown.setdefault(parent, (owner, []))[1].append(key)
        elif error["type"] == "missing":
            missing.setdefault(parent, []).append(key)
        elif (noun := _expected(error, tp)) is not None:
            expected.setdefault(path, (error.get("input"), []))[1].append(noun)
        elif (line := _rule(error, where, path)) not in rules:
            rules.append(line)
    lines = [
        f"{where}{parent}: unknown key(s) {sorted(keys)}"
        + (f"; {owner.__name__} accepts {_keys(owner)}" if owner else "")
        for parent, (owner, keys) in unknown.items()
    ]
    lines += [f"{where}{parent}: missing required key(s) {sorted(keys)}" for parent, keys in missing.items()]
    for path, (got, nouns) in expected.items():
        if len(nouns) == 1 and nouns[0].startswith("one of "):
            lines.append(f"{where}{path}: {_short(got)} is not {nouns[0]}")
        else:
            lines.append(f"{where}{path}: expected {' or '.join(nouns)}, got {_short(got)}")
    lines += rules
    if len(lines) > _MAX_LINES:
        lines = [*lines[:_MAX_LINES], f"... and {len(lines) - _MAX_LINES} more"]
    return "\n".join(lines)
