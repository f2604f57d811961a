"""Diffusers schedulers by name: the one lookup for the catalog and the generation settings."""

from __future__ import annotations

from typing import Any


class SchedulerSpecError(ValueError):
    """A scheduler spec names no diffusers scheduler class, or has the wrong shape."""


def make_scheduler(spec: str | dict[str, Any], base_config: Any, where: str = "scheduler") -> Any:
    """A diffusers scheduler from ``"ClassName"`` or ``{"class": ..., "config": {...}}``, started
    from the pipeline's scheduler config (timesteps, betas) with the overrides applied.

    ``where`` names the parameter or catalog key in errors.
    """
    import diffusers

    if isinstance(spec, str):
        name, overrides = spec, {}
    elif isinstance(spec, dict) and "class" in spec and set(spec) <= {"class", "config"}:
        name, overrides = spec["class"], dict(spec.get("config") or {})
    else:
        raise SchedulerSpecError(
            f"{where} {spec!r}: give a class name or {{class: Name, config: {{...}}}}"
        )
    cls = getattr(diffusers, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        raise SchedulerSpecError(f"{where}: {name!r} is not a diffusers scheduler class")
    return cls.from_config(base_config, **overrides)
