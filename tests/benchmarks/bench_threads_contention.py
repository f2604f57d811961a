"""How much a run slows down when one other CPU-bound job shares the machine (issue 21 item 8).

Run by hand (not part of the test command):
    .venv/bin/python tests/benchmarks/bench_threads_contention.py [--steps 60] [--repeat 2]
    .venv/bin/python tests/benchmarks/bench_threads_contention.py --kedro [--pipelines generation]

Each setting is timed quiet and with one competing CPU-bound process (``python -c "while True:
pass"``) started first, in the same run. Prints each time and the contended/quiet ratio (goal
<= 2.5; a fair share of the cores is 2x on a 2-core machine), and ``uptime`` before and after: on a
machine shared with other jobs the numbers are noisy, compare the ratios of one run only.

Micro workload (default): a small MLP trained for ``--steps`` steps (matmul-bound, like the
miniature models' training), in two settings:
- ``default``: torch's own choice (one thread per core, OpenMP's default waiting);
- ``project``: ``imitation_kedro.core.threads.configure_threads()`` first, as ``kedro run`` does
  (one thread per core whatever the load, ``OMP_WAIT_POLICY=PASSIVE``).

``--kedro``: the real thing. A project copy (tests/fixtures/project.py) runs ``--prepare``
(default ``world``: what generation reads) once, untimed; then each timed ``kedro run --pipelines
<pipelines>`` (default ``generation``; ``__default__`` for the whole default run, with
``--prepare ""``) runs in a fresh copy of that prepared project. Also checks that the quiet and
the contended runs wrote byte-identical files (the thread count does not follow the load).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


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
    env = clean_env()
    cmd = [sys.executable, __file__, "--child", "--steps", str(steps)]
    if configured:
        cmd.append("--configured")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    seconds, threads = out.split()
    return float(seconds), int(threads)


BUSY_LOOP = "while True: pass"


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_"))}
    env.pop("IMITATION_KEDRO_THREADS", None)
    env.update(HF_HUB_OFFLINE="1", KEDRO_DISABLE_TELEMETRY="1", IMITATION_KEDRO_PROGRESS="0",
               MPLBACKEND="Agg", SPARK_LOCAL_IP="127.0.0.1")
    return env


def kedro(project: Path, pipelines: str) -> tuple[float, str]:
    """Seconds of ``kedro run --pipelines <pipelines>`` in ``project``, and its threads log line."""
    kedro_bin = Path(sys.executable).with_name("kedro")
    start = time.perf_counter()
    out = subprocess.run([str(kedro_bin), "run", "--pipelines", pipelines], cwd=project,
                         env={**clean_env(), "COLUMNS": "200"}, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"kedro run --pipelines {pipelines} failed:\n{(out.stdout + out.stderr)[-3000:]}")
    found = re.search(r"CPU threads: \d+ of \d+ core\(s\)", out.stdout + out.stderr)
    return seconds, found.group(0) if found else "threads not logged"


def data_digest(project: Path) -> dict[str, str]:
    """sha256 of every data file a run wrote, keyed by path without its version folder."""
    out = {}
    for path in sorted((project / "data").rglob("*")):
        if path.is_file() and path.suffix in {".png", ".parquet", ".npy", ".safetensors"}:
            rel = path.relative_to(project / "data").parts
            key = "/".join(p for p in rel if not p[:4].isdigit())  # versions: 2026-...
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def kedro_bench(pipelines: str, prepare: str, repeat: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.fixtures.project import copy_project

    root = Path(tempfile.mkdtemp(prefix="bench_threads_"))
    base = copy_project(root / "prepared")
    if prepare:
        seconds, _ = kedro(base, prepare)
        print(f"prepared ({prepare}) in {seconds:.0f} s")

    def trial(label: str, i: int) -> tuple[float, str, dict[str, str]]:
        project = root / f"{label}-{i}"
        shutil.copytree(base, project, symlinks=True)
        seconds, threads = kedro(project, pipelines)
        digest = data_digest(project)
        shutil.rmtree(project)
        print(f"  {label} {i}: {seconds:.1f} s ({threads})", flush=True)
        return seconds, threads, digest

    print(f"uptime before: {uptime()}")
    quiet = [trial("quiet", i) for i in range(repeat)]
    competitor = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        time.sleep(1.0)  # the competitor is running before the run starts
        busy = [trial("contended", i) for i in range(repeat)]
    finally:
        competitor.kill()
        competitor.wait()
    print(f"uptime after: {uptime()}")
    q = statistics.median(t for t, _, _ in quiet)
    c = statistics.median(t for t, _, _ in busy)
    reference = quiet[0][2]
    differ = sorted({k for _, _, d in quiet + busy for k in set(d) | set(reference)
                     if d.get(k) != reference.get(k)})
    same = not differ
    print(f"kedro run --pipelines {pipelines}: quiet {q:.1f} s, with one competing job {c:.1f} s, "
          f"ratio {c / q:.2f} (goal <= 2.5); outputs identical quiet vs contended: {same} "
          f"({len(reference)} files)" + (f"; differing: {differ[:8]}" if differ else ""))
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--configured", action="store_true")
    parser.add_argument("--kedro", action="store_true", help="time a real kedro run")
    parser.add_argument("--pipelines", default="generation")
    parser.add_argument("--prepare", default="world")
    args = parser.parse_args()
    if args.child:
        child(args.steps, args.configured)
        return
    print(f"cores: {len(os.sched_getaffinity(0))}; load average at start: {os.getloadavg()}")
    if args.kedro:
        kedro_bench(args.pipelines, args.prepare, args.repeat)
        return
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
