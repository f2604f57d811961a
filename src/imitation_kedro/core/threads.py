"""CPU threads for torch and the BLAS/OpenMP libraries, sized to the cores that are free.

Torch starts one compute thread per core and, by default, OpenMP threads spin while they wait for
each other. On a machine where another job keeps a core busy, every parallel region then waits for
the thread that shares its core, and a 4-minute run took over 15 (2 cores, one competing job). So,
before the first node runs:

- ``OMP_WAIT_POLICY=PASSIVE``: waiting threads sleep instead of spinning;
- the thread count is the number of cores this process may use minus those other processes kept
  busy during a short sample at start-up (at least 1);
- ``IMITATION_KEDRO_THREADS=<n>`` overrides the count; variables a user already set
  (``OMP_NUM_THREADS``, ``OMP_WAIT_POLICY``, ...) are kept.

Set through the environment before torch is imported (the project imports torch only inside
node functions), and applied to torch and the BLAS pools directly when they are already loaded.
"""

from __future__ import annotations

import logging
import os
import sys
import time

logger = logging.getLogger(__name__)

THREADS_ENV = "IMITATION_KEDRO_THREADS"
POOL_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; the container's share where set)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[float, float] | None:
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [float(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields), idle


def busy_cores(sample_s: float = 0.3) -> float:
    """Cores kept busy by other processes over ``sample_s`` seconds (this one is idle meanwhile):
    from /proc/stat, else the 1-minute load average; 0 where neither exists."""
    before = _cpu_times()
    if before is None:
        try:
            return float(os.getloadavg()[0])
        except (AttributeError, OSError):
            return 0.0
    time.sleep(sample_s)
    after = _cpu_times()
    if after is None:
        return 0.0
    total, idle = after[0] - before[0], after[1] - before[1]
    if total <= 0:
        return 0.0
    return (os.cpu_count() or 1) * (1.0 - idle / total)


def choose_threads(cores: int, busy: float, override: str | None = None) -> int:
    """``override`` (a positive integer) if given, else the cores left free: ``cores`` minus the
    busy ones rounded to the nearest core, at least 1."""
    if override not in (None, ""):
        try:
            value = int(override)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"{THREADS_ENV}={override!r}: expected a whole number of threads >= 1")
        return value
    return max(1, cores - int(round(busy)))


def configure_threads(sample_s: float = 0.3) -> int:
    """Choose the thread count once per process and apply it; returns it."""
    if _CHOSEN:
        return _CHOSEN[0]
    cores = available_cores()
    override = os.environ.get(THREADS_ENV)
    busy = 0.0 if override else busy_cores(sample_s)
    n = choose_threads(cores, busy, override)
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
        "CPU threads: %d of %d core(s) (%.1f busy with other work at start; %s=<n> overrides)",
        n,
        cores,
        busy,
        THREADS_ENV,
    )
    return n


_CHOSEN: list[int] = []
