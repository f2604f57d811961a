"""CPU threads for torch and the BLAS/OpenMP libraries: a count fixed by the machine, never by its
load, and threads that sleep while they wait.

Float reductions (matmul, sums) may round differently with another thread count, so the count
must not depend on what else runs: the same config on the same machine gives the same bytes,
busy or quiet. It is the number of cores this process may use (its CPU affinity), or
``IMITATION_KEDRO_THREADS=<n>``. Variables a user already set (``OMP_NUM_THREADS``, ...) are kept.

Contention is handled by how threads wait, not by how many there are: by default OpenMP threads
spin while they wait for each other, so on a machine where another job keeps a core busy every
parallel region waited on the spinning thread that shares its core (a 4-minute run took over 15
on 2 cores with one competing job). ``OMP_WAIT_POLICY=PASSIVE`` makes waiting threads sleep, so
a contended run slows down by about the share of the cores it lost
(``tests/benchmarks/bench_threads_contention.py`` measures it).

Set through the environment before torch is imported (the project imports torch only inside
node functions), and applied to torch and the BLAS pools directly when they are already loaded.
Called once per process, by ``ThreadsHook`` (hooks.py) when the Kedro context is created.
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger(__name__)

THREADS_ENV = "IMITATION_KEDRO_THREADS"
POOL_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; the container's share where set)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def choose_threads(cores: int, override: str | None = None) -> int:
    """``override`` (a positive integer) if given, else ``cores``."""
    if override in (None, ""):
        return max(1, cores)
    try:
        value = int(override)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{THREADS_ENV}={override!r}: expected a whole number of threads >= 1")
    return value


def configure_threads() -> int:
    """Choose the thread count once per process and apply it; returns it."""
    if _CHOSEN:
        return _CHOSEN[0]
    cores = available_cores()
    n = choose_threads(cores, os.environ.get(THREADS_ENV))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for name in POOL_VARIABLES:
        os.environ.setdefault(name, str(n))
    n = int(os.environ["OMP_NUM_THREADS"]) if os.environ["OMP_NUM_THREADS"].isdigit() else n
    if "torch" in sys.modules:  # already loaded: its pool read the environment before us
        sys.modules["torch"].set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)  # numpy's BLAS, loaded before this ran
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    _CHOSEN.append(n)
    logger.info(
        "CPU threads: %d of %d core(s), waiting threads sleep (%s=<n> sets the count)",
        n,
        cores,
        THREADS_ENV,
    )
    return n


_CHOSEN: list[int] = []
