"""Benchmark: count 1,000 concepts (with aliases) over N synthetic LAION-schema captions.

Prints, from one run on the same parquet shards:
  * the local engine's time, captions/s and peak RSS (each measured in a fresh subprocess),
  * the time to only read the caption column: counting (which reads only that column) against it
    is the goal (<= 1.5x); counting with the hit sample against reading the three columns it needs
    (SAMPLE_ID,URL,TEXT); counting on the ``hyperscan`` wheel (a Python call per match, worker
    processes) instead of the system libhs, for comparison,
  * CPU seconds of each, the engine's worker processes included (the read is one thread per
    shard; the engine uses every core, so on a machine shared with other work the wall-clock
    ratio depends on the load, printed too),
  * a per-concept regex scan on a subsample, extrapolated (goal: engine >= 30x faster),
  * peak RSS at 1M captions and at N captions (memory must stay bounded as shards grow).

    .venv/bin/python tests/benchmarks/bench_caption_count.py --captions 1000000
    .venv/bin/python tests/benchmarks/bench_caption_count.py            # 10,000,000

The engine is the ``standard`` analyser's (Lucene StandardAnalyzer semantics): one Hyperscan pass
per chunk, on the system libhs when it is installed (``frequency.matching.hyperscan: auto``;
``apt-get install libhyperscan5``), else on the wheel. Neither side's imports are timed (see
:func:`child`). Its pattern database is compiled once per concept set (seconds) and cached on disk
(``$IMITATION_KEDRO_CACHE`` or ~/.cache/imitation_kedro/hyperscan), so the first ``count`` run of
a fresh machine includes the compile and later ones load it; the median hides that first run.
On a shared machine compare the CPU-seconds line as well as the wall-clock ratios.

After one untimed warm-up read (so every mode finds the shards in the page cache), each
measurement runs ``--repeat`` times (interleaved: read, read, count, read, ...) and the median
is reported, because a shared machine makes single timings noisy. ``--data-dir`` keeps the
generated shards for a later run (they are regenerated when the caption count differs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROWS_PER_SHARD = 500_000
FILLER = (
    "a the of and in on with for photo painting print poster canvas art oil style by vintage "
    "portrait landscape sunset red blue green beautiful modern abstract wall decor framed "
    "high quality stock image illustration vector background pattern t-shirt design hd"
).split()


def make_concepts(n: int, rng: np.random.Generator) -> pd.DataFrame:
    syll = [
        "ka",
        "lo",
        "mi",
        "ren",
        "sa",
        "tor",
        "vel",
        "dan",
        "qu",
        "ix",
        "bro",
        "el",
        "fi",
        "mon",
    ]
    names, seen = [], set()
    while len(names) < n:
        words = [
            "".join(rng.choice(syll, rng.integers(2, 4))).capitalize()
            for _ in range(int(rng.integers(1, 4)))
        ]
        name = " ".join(words)
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    aliases = []
    for name in names:
        parts = name.split()
        alias = f"{parts[0][0]}. {' '.join(parts[1:])}" if len(parts) > 1 else f"{name} Studio"
        aliases.append([alias] if rng.random() < 0.5 and alias.lower() not in seen else [])
        seen.update(a.lower() for a in aliases[-1])
    return pd.DataFrame({"concept": names, "domain": "style", "aliases": aliases})


def write_shards(folder: Path, n: int, concepts: pd.DataFrame, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    phrases = [
        p for n_, a in zip(concepts["concept"], concepts["aliases"], strict=True) for p in [n_, *a]
    ]
    weights = 1.0 / np.arange(1, len(phrases) + 1)  # Zipf-like concept popularity
    weights /= weights.sum()
    paths = []
    for shard, lo in enumerate(range(0, n, ROWS_PER_SHARD)):
        m = min(ROWS_PER_SHARD, n - lo)
        words = np.asarray(FILLER, dtype=object)[rng.integers(0, len(FILLER), (m, 9))]
        texts = [" ".join(row) for row in words]
        named = np.flatnonzero(rng.random(m) < 0.08)
        picks = rng.choice(len(phrases), size=named.size, p=weights)
        for i, k in zip(named, picks, strict=True):
            texts[i] = f"{texts[i][:20]} {phrases[k]}, {texts[i][20:]}"
        ids = np.arange(lo, lo + m, dtype=np.int64)
        table = pa.table(
            {
                "SAMPLE_ID": ids,
                "URL": [f"https://example.invalid/img/{i}.jpg" for i in ids],
                "TEXT": texts,
            }
        )
        path = folder / f"part-{shard:05d}.parquet"
        pq.write_table(table, path)
        paths.append(path)
    return paths


def child(
    mode: str, folder: Path, n_shards: int, concepts_path: Path, max_images: int
) -> dict[str, float]:
    """Runs in a fresh process so ru_maxrss is this measurement's peak.

    Neither side's imports are timed (the read's pyarrow/pandas are imported with this script, the
    engine's modules and the catalog's dataset class just before the clock starts, with the
    concept phrases, which the node before ``count_captions`` builds; that set-up is reported
    apart as ``import_seconds``). The timed part of a count is the counting node's work: loading
    the compiled database, starting the workers, reading and matching every shard.
    """
    paths = sorted(folder.glob("part-*.parquet"))[:n_shards]
    imported = time.perf_counter()
    if mode.startswith("count"):
        from kedro_datasets.pandas import ParquetDataset

        from imitation_kedro.pipelines.frequency.local_engine import count_local
        from imitation_kedro.pipelines.frequency.matching import build_patterns
        from imitation_kedro.pipelines.frequency.params import FrequencyParams

        params = FrequencyParams(
            matching={
                "batch_rows": 250_000,
                # count_only_wheel: the hyperscan wheel (a Python call per match), in processes
                "hyperscan": "bundled" if mode.endswith("_wheel") else "auto",
            },
            sampling={"max_images": max_images},
        )
        # the previous node's output (build_concept_phrases): not timed
        patterns = build_patterns(pd.read_parquet(concepts_path), True)
        keep_hits = mode == "count"
        columns = ["SAMPLE_ID", "URL", "TEXT"] if keep_hits else ["TEXT"]
        # the catalog's own dataset (conf/*/catalog_frequency.yml), so shards load as in a run
        loaders = {
            p.stem: ParquetDataset(filepath=str(p), load_args={"columns": columns}).load
            for p in paths
        }
    import_seconds = time.perf_counter() - imported
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    rows = 0
    if mode == "read_text":
        for p in paths:
            rows += len(pq.read_table(p, columns=["TEXT"]).to_pandas())
    elif mode == "read_three":
        for p in paths:
            rows += len(pq.read_table(p, columns=["SAMPLE_ID", "URL", "TEXT"]).to_pandas())
    elif mode.startswith("count"):
        counts, hits = count_local(
            loaders, patterns, params.matching, params.sampling if keep_hits else None
        )
        rows = int(counts["corpus_rows"].iloc[0])
        extra = {"matched_pairs": int(counts["captions"].sum()), "hits_kept": len(hits)}
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the engine's worker processes
    cpu = usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime
    out = {
        "seconds": elapsed,
        "cpu_seconds": cpu + kids.ru_utime + kids.ru_stime,
        "rows": rows,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "import_seconds": import_seconds,
        "worker_rss_mb": kids.ru_maxrss / 1024,  # the largest worker's peak
    }
    if mode.startswith("count"):
        out.update(extra)
    return out


def _workers(run: dict[str, float]) -> str:
    """The largest worker process's peak RSS, when the engine ran in processes."""
    return f" + largest worker {run['worker_rss_mb']:.0f} MB" if run["worker_rss_mb"] else ""


def run_child(
    mode: str, folder: Path, n_shards: int, concepts_path: Path, max_images: int
) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--dir",
        str(folder),
        "--shards",
        str(n_shards),
        "--concepts",
        str(concepts_path),
        "--max-images",
        str(max_images),
    ]
    res = subprocess.run(
        cmd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "IMITATION_KEDRO_PROGRESS": "0"},
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def regex_baseline(folder: Path, concepts: pd.DataFrame, sample: int) -> float:
    """Seconds per caption of one compiled regex per concept phrase, on a subsample."""
    texts = pq.read_table(sorted(folder.glob("part-*.parquet"))[0], columns=["TEXT"]).column(0)
    texts = [t or "" for t in texts.slice(0, sample).to_pylist()]
    pats = []
    for name, aliases in zip(concepts["concept"], concepts["aliases"], strict=True):
        alts = "|".join(r"[\W_]+".join(map(re.escape, p.lower().split())) for p in [name, *aliases])
        pats.append(re.compile(rf"(?<![^\W_])(?:{alts})(?![^\W_])", re.IGNORECASE))
    start = time.perf_counter()
    found = 0
    for pat in pats:
        found += sum(1 for t in texts if pat.search(t))
    return (time.perf_counter() - start) / len(texts)


def prepare_data(folder: Path, n: int, n_concepts: int) -> tuple[pd.DataFrame, list[Path]]:
    """Concepts and caption shards in ``folder`` (reused when they match ``n``/``n_concepts``)."""
    stamp = folder / "bench.json"
    want = {"captions": n, "concepts": n_concepts, "rows_per_shard": ROWS_PER_SHARD}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return pd.read_parquet(folder / "concepts.parquet"), sorted(folder.glob("part-*.parquet"))
    for old in folder.glob("part-*.parquet"):
        old.unlink()
    rng = np.random.default_rng(0)
    concepts = make_concepts(n_concepts, rng)
    concepts.to_parquet(folder / "concepts.parquet")
    t0 = time.perf_counter()
    paths = write_shards(folder, n, concepts, seed=1)
    print(f"generated {n:,} captions in {time.perf_counter() - t0:.1f} s")
    stamp.write_text(json.dumps(want))
    return concepts, paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captions", type=int, default=10_000_000)
    ap.add_argument("--concepts-n", type=int, default=1000)
    ap.add_argument("--regex-sample", type=int, default=20_000)
    ap.add_argument(
        "--max-images", type=int, default=100_000, help="hit sample cap per concept (FIT: 100,000)"
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (median shown)")
    ap.add_argument("--data-dir", help="keep/reuse the generated shards here (default: a temp dir)")
    ap.add_argument("--child")
    ap.add_argument("--dir")
    ap.add_argument("--shards", type=int, default=0)
    ap.add_argument("--concepts")
    args = ap.parse_args()
    if args.child:
        print(
            json.dumps(
                child(args.child, Path(args.dir), args.shards, Path(args.concepts), args.max_images)
            )
        )
        return
    with tempfile.TemporaryDirectory(prefix="bench_captions_") as tmp:
        folder = Path(args.data_dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        concepts, paths = prepare_data(folder, args.captions, args.concepts_n)
        concepts_path = folder / "concepts.parquet"
        print(
            f"{args.captions:,} captions in {len(paths)} shards "
            f"({sum(p.stat().st_size for p in paths) / 1e6:.0f} MB) in {folder}"
        )
        print(
            f"hit sample cap per concept: {args.max_images:,} (the kept sample is part of peak RSS)"
        )
        print(f"CPU cores: {os.cpu_count()}, load average at start: {os.getloadavg()}")
        from imitation_kedro.pipelines.frequency.hyperscan_backends import system_unavailable

        why_not = system_unavailable()
        print(
            "engine: hyperscan auto -> "
            + (f"bundled (the wheel; {why_not})" if why_not else "system libhs, threads")
        )
        print(
            f"concepts: {len(concepts)}, phrases incl. aliases: "
            f"{len(concepts) + sum(len(a) for a in concepts['aliases'])}; "
            f"median of {args.repeat} run(s) per measurement, each in a fresh process"
        )
        sizes = sorted({min(len(paths), max(1, 1_000_000 // ROWS_PER_SHARD)), len(paths)})
        for n_shards in sizes:
            modes = ("read_text", "read_three", "count_only", "count", "count_only_wheel")
            runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
            run_child("read_three", folder, n_shards, concepts_path, args.max_images)  # warm-up
            for _ in range(args.repeat):
                for mode, out in runs.items():
                    out.append(run_child(mode, folder, n_shards, concepts_path, args.max_images))
            read, read3, count_only, count, wheel = (
                {k: statistics.median(r[k] for r in runs[mode]) for k in runs[mode][0]}
                for mode in modes
            )
            rows = int(count["rows"])
            print(f"\n== {rows:,} captions ==")
            print(
                f"read TEXT column only:    {read['seconds']:8.2f} s  peak RSS {read['peak_rss_mb']:.0f} MB"
            )
            print(
                f"engine (counts):          {count_only['seconds']:8.2f} s  "
                f"{rows / count_only['seconds']:12,.0f} captions/s  peak RSS "
                f"{count_only['peak_rss_mb']:.0f} MB{_workers(count_only)}"
                f"  -> counts / read TEXT = {count_only['seconds'] / read['seconds']:.2f}x (goal <= 1.5x)"
            )
            print(
                f"set-up (not timed): imports + concept phrases {count_only['import_seconds']:.2f} s"
            )
            print(
                f"engine (counts, wheel):   {wheel['seconds']:8.2f} s  peak RSS "
                f"{wheel['peak_rss_mb']:.0f} MB{_workers(wheel)}"
                f"  -> {wheel['seconds'] / read['seconds']:.2f}x read TEXT"
                " (frequency.matching.hyperscan: bundled, worker processes)"
            )
            print(
                f"engine (count + sample):  {count['seconds']:8.2f} s  {rows / count['seconds']:12,.0f} captions/s"
                f"  peak RSS {count['peak_rss_mb']:.0f} MB{_workers(count)}"
                f"  (matched pairs {int(count['matched_pairs']):,}, hits kept {int(count['hits_kept']):,})"
            )
            print(
                f"read SAMPLE_ID,URL,TEXT:  {read3['seconds']:8.2f} s  (what count + sample reads)"
                f"  -> count + sample / read = {count['seconds'] / read3['seconds']:.2f}x;"
                f" / read TEXT = {count['seconds'] / read['seconds']:.2f}x"
            )
            print(
                f"CPU seconds (user+sys, workers included): read TEXT {read['cpu_seconds']:.2f}, "
                f"counts {count_only['cpu_seconds']:.2f} ({count_only['cpu_seconds'] / read['cpu_seconds']:.2f}x), "
                f"counts on the wheel {wheel['cpu_seconds']:.2f}, read 3 columns "
                f"{read3['cpu_seconds']:.2f}, count + sample {count['cpu_seconds']:.2f} "
                f"({count['cpu_seconds'] / read3['cpu_seconds']:.2f}x)"
            )
            print(
                "  all runs (s): "
                + "; ".join(
                    f"{mode} " + " ".join(f"{r['seconds']:.2f}" for r in out)
                    for mode, out in runs.items()
                )
            )
        per_caption = regex_baseline(folder, concepts, args.regex_sample)
        engine_per_caption = count_only["seconds"] / count_only["rows"]
        print(
            f"\nper-concept regex on {args.regex_sample:,} captions: {per_caption * 1e6:.1f} us/caption "
            f"(extrapolated {per_caption * args.captions:,.0f} s for {args.captions:,}); engine "
            f"{engine_per_caption * 1e6:.2f} us/caption -> {per_caption / engine_per_caption:.0f}x faster"
            " (goal >= 30x)"
        )
        print(f"load average at end: {os.getloadavg()} (other processes share these cores)")


if __name__ == "__main__":
    main()
