"""Benchmark: where the caption scanner's Hyperscan time goes (CPU seconds, one thread).

Scans one 250,000-caption chunk of ``bench_caption_count.py``'s synthetic corpus with the
scanner's exact phrase patterns and with variants that are *not* exact, only to show the cost
of each ingredient, all measured in the same run (best of ``--repeat``):

* ``exact`` -- the patterns :class:`PhraseScanner` compiles (``standard`` analyser), on the
  ``hyperscan`` wheel with its per-match Python callback;
* ``exact, no callback`` -- the same scan without the callback;
* ``exact, system libhs`` -- the same patterns on the system libhs with matches collected in C
  (``frequency.matching.hyperscan: system``; skipped when it cannot run here);
* ``+ K/İ alternatives`` -- the patterns before the rare case forms got their own flag pattern;
* ``single-char gaps`` -- multi-token names with a fixed one-byte gap (the variable-length gap
  between tokens is what costs Hyperscan most);
* ``literals`` -- each name as one ASCII-caseless literal, with and without the callback.

    .venv/bin/python tests/benchmarks/bench_scanner_patterns.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from array import array
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from bench_caption_count import prepare_data  # noqa: E402


def _system_cpu(exprs: list[bytes], flags: list[int], view: memoryview, repeat: int):
    from imitation_kedro.pipelines.frequency.hyperscan_backends import SystemDatabase

    db = SystemDatabase(exprs, flags)
    best, n = float("inf"), 0
    for _ in range(repeat):
        start = time.thread_time()
        n = db.scan(view).size
        best = min(best, time.thread_time() - start)
    return best, n


def _scan_cpu(exprs: list[bytes], flags, view: memoryview, callback: bool, repeat: int):
    import hyperscan

    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=exprs, ids=list(range(len(exprs))), flags=flags)
    scratch = hyperscan.Scratch(db)
    best, n = float("inf"), 0
    for _ in range(repeat):
        found = array("q")

        def on_match(pid: int, _s: int, end: int, _f: int, _c: object, push=found.extend) -> None:
            push((pid, end))

        start = time.thread_time()
        db.scan(view, match_event_handler=on_match if callback else None, scratch=scratch)
        best, n = min(best, time.thread_time() - start), len(found) // 2
    return best, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=250_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from imitation_kedro.pipelines.frequency import scanner as sc
    from imitation_kedro.pipelines.frequency.matching import build_patterns

    with tempfile.TemporaryDirectory(prefix="bench_scanner_") as tmp:
        concepts, paths = prepare_data(Path(tmp), args.rows, 1000)
        texts = pq.read_table(paths[0], columns=["TEXT"]).column(0).combine_chunks()
    phrases = build_patterns(concepts, True).phrases
    toks = [tuple(p.split(" ")) for p in phrases]
    view, _marks = sc.marked_buffer(texts)  # the engine's own scan buffer
    exact, exact_flags, _ = sc.scanner_patterns(toks)
    gap = r"[^A-Za-z0-9_\xff.:']"
    single = [
        (
            sc._edge_re(t[0][0], True)
            + gap.join("".join(sc._char_re(ch) for ch in tok) for tok in t)
            + sc._edge_re(t[-1][-1], False)
        ).encode()
        for t in toks
    ]
    literal = [sc._bytes_re(" ".join(t)).encode() for t in toks]

    def with_rare(ch: str) -> str:  # the character class before the rare-form flag pattern
        options = (ch, *sc._preimages().get(ch, ()))
        if all(len(o.encode("utf-8")) == 1 for o in options):
            return "[" + "".join(sc._bytes_re(o) for o in options) + "]"
        return "(?:" + "|".join(sc._bytes_re(o) for o in options) + ")"

    original = sc._char_re
    sc._char_re = with_rare
    try:
        old = [sc.phrase_pattern(t)[0].encode() for t in toks]
    finally:
        sc._char_re = original
    import hyperscan

    runs = [
        ("exact", exact, exact_flags, True),
        ("exact, no callback", exact, exact_flags, False),
        ("exact + K/İ alternatives", old, 0, True),
        ("single-char gaps (not exact)", single, 0, True),
        ("literals (not exact)", literal, hyperscan.HS_FLAG_CASELESS, True),
        ("literals, no callback", literal, hyperscan.HS_FLAG_CASELESS, False),
    ]
    print(f"{len(texts):,} captions, {len(view) / 1e6:.1f} MB, {len(toks)} phrases")
    base = None
    from imitation_kedro.pipelines.frequency.hyperscan_backends import system_unavailable

    why_not = system_unavailable()
    if why_not:
        print(f"exact, system libhs: skipped ({why_not})")
    else:
        runs.insert(2, ("exact, system libhs", exact, exact_flags, None))
    for name, exprs, flags, callback in runs:
        if callback is None:
            cpu, n = _system_cpu(exprs, flags, view, args.repeat)
        else:
            cpu, n = _scan_cpu(exprs, flags, view, callback, args.repeat)
        base = base or cpu
        print(
            f"{name:32s} {cpu:.4f} s CPU  {len(view) / cpu / 1e6:6.0f} MB/s  "
            f"{cpu / base:.2f}x exact  matches {n:,}"
        )


if __name__ == "__main__":
    main()
