"""How much a torch CPU workload slows down when one other CPU-bound job shares the machine.

Run by hand (not part of the test command):
    .venv/bin/python tests/benchmarks/bench_threads_contention.py [--steps 60] [--repeat 2]

Two settings, each timed quiet and with one competing CPU-bound process (a Python busy loop)
started first, in the same run:
- ``default``: torch's own choice (one thread per core, OpenMP's default waiting);
- ``project``: ``imitation_kedro.core.threads.configure_threads()`` first, as ``kedro run`` does
  (threads = free cores at start-up, ``OMP_WAIT_POLICY=PASSIVE``).
Prints each time and the contended/quiet ratio (goal <= 2.5; a fair share of the cores is 2x on
a 2-core machine). The workload is a small MLP trained for ``--steps`` steps (matmul-bound, like
the miniature models' training). On a machine shared with other jobs the numbers are noisy:
compare the ratios of one run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def child(steps: int, configured: bool) -> None:
    if configured:
        from imitation_kedro.core.threads import configure_threads

        configure_threads()
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(512, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 512)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(512, 512)
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss = (model(x) - x).pow(2).mean()
        loss.backward()
        opt.step()
    print(f"{time.perf_counter() - start:.3f} {torch.get_num_threads()}")


def timed(steps: int, configured: bool) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_"))}
    env.pop("IMITATION_KEDRO_THREADS", None)
    cmd = [sys.executable, __file__, "--child", "--steps", str(steps)]
    if configured:
        cmd.append("--configured")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    seconds, threads = out.split()
    return float(seconds), int(threads)


BUSY_LOOP = "import time\nwhile True:\n    sum(range(10000))\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--configured", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.steps, args.configured)
        return
    print(f"cores: {len(os.sched_getaffinity(0))}; load average at start: {os.getloadavg()}")
    for configured in (False, True):
        label = "project" if configured else "default"
        quiet = [timed(args.steps, configured) for _ in range(args.repeat)]
        competitor = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
        try:
            time.sleep(1.0)  # the competitor is running before the workload starts
            busy = [timed(args.steps, configured) for _ in range(args.repeat)]
        finally:
            competitor.kill()
            competitor.wait()
        q = statistics.median(t for t, _ in quiet)
        c = statistics.median(t for t, _ in busy)
        print(
            f"{label:8s} quiet {q:7.2f} s ({quiet[0][1]} threads)  with one competing job "
            f"{c:7.2f} s ({busy[0][1]} threads)  ratio {c / q:.2f} (goal <= 2.5)"
        )


if __name__ == "__main__":
    main()
