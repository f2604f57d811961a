"""One progress helper for every long loop (tqdm), silenced with IMITATION_KEDRO_PROGRESS=0."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    return os.environ.get("IMITATION_KEDRO_PROGRESS", "1") not in {"0", "false", "False"}


def progress(
    iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it", **kwargs: Any
) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar showing ``desc`` and a rate in ``unit``/s."""
    return iter(
        tqdm(
            iterable,
            desc=desc,
            total=total,
            unit=unit,
            disable=not progress_enabled(),
            dynamic_ncols=True,
            leave=False,
            **kwargs,
        )
    )
