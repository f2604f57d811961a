"""The two Hyperscan backends: same matches, content-keyed caches, clear errors, GIL-free threads."""

from __future__ import annotations

import logging
import pickle
import random
import threading

import numpy as np
import pyarrow as pa
import pytest

from imitation_kedro.pipelines.frequency import hyperscan_backends as hb
from imitation_kedro.pipelines.frequency.matching import CaptionMatcher, build_patterns
from imitation_kedro.pipelines.frequency.scanner import PhraseScanner, marked_buffer
from tests.pipelines.frequency.conftest import require_system_backend
from tests.pipelines.frequency.test_lucene_reference import caption_forms, real_names


@pytest.fixture(scope="module")
def lucene_corpus() -> tuple[list[str], list[str]]:
    rnd = random.Random(7)
    names = real_names()[:120]
    captions = []
    for i, name in enumerate(names):
        captions += caption_forms(name, names[(i * 7 + 3) % len(names)], rnd)
    return names, captions


def _table(names):
    import pandas as pd

    from imitation_kedro.pipelines.frequency.matching import normalise_phrase

    names = list({normalise_phrase(n): n for n in names}.values())
    return pd.DataFrame({"concept": names, "domain": "style"})


def test_system_and_bundled_report_the_same_candidates_and_matches(lucene_corpus):
    require_system_backend()
    names, captions = lucene_corpus
    patterns = build_patterns(_table(names), False)
    tokens = [tuple(p.split(" ")) for p in patterns.phrases]
    arr = pa.array(captions)
    system = PhraseScanner(tokens, hyperscan="system")
    bundled = PhraseScanner(tokens, hyperscan="bundled")
    assert (system.backend, bundled.backend) == ("system", "bundled")
    data, _ = marked_buffer(arr)
    raw_s, raw_b = system._db.scan(data), bundled._db.scan(data)
    assert raw_s.size > len(names)  # the corpus does produce matches
    np.testing.assert_array_equal(np.sort(raw_s), np.sort(raw_b))
    for got, want in zip(system.scan(arr), bundled.scan(arr), strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(
        CaptionMatcher(patterns, hyperscan="system").match(arr),
        CaptionMatcher(patterns, hyperscan="bundled").match(arr),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)


def test_system_scans_from_several_threads_at_once(lucene_corpus):
    """Each thread gets its own scratch; results do not depend on which thread scanned."""
    require_system_backend()
    names, captions = lucene_corpus
    matcher = CaptionMatcher(build_patterns(_table(names), False), hyperscan="system")
    chunks = [pa.array(captions[k::4]) for k in range(4)]
    want = [matcher.match(c) for c in chunks]
    got: dict[int, tuple] = {}

    def work(k: int) -> None:
        for _ in range(3):
            got[k] = matcher.match(chunks[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        for a, b in zip(got[k], want[k], strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_system_database_travels_by_pickle_and_scans_the_same():
    require_system_backend()
    db = hb.open_database([rb"claude\x20monet", rb"ray"], [0, 0], "system")
    assert isinstance(db, hb.SystemDatabase)
    copy = pickle.loads(pickle.dumps(db))
    data = memoryview(b"\xffclaude monet\xffray ray\xff")
    np.testing.assert_array_equal(copy.scan(data), db.scan(data))
    assert sorted((db.scan(data) & 0xFFFFFFFF).tolist()) == [0, 1, 1]
    assert sorted((db.scan(data) >> 32).tolist()) == [13, 17, 21]  # end offsets


def test_forcing_system_where_it_cannot_run_names_the_fix(monkeypatch, caplog):
    monkeypatch.setattr(hb, "_system", lambda: "the system Hyperscan library (libhs) is missing")
    with pytest.raises(hb.HyperscanBackendError, match="libhs.*hyperscan: bundled"):
        hb.open_database([b"ray"], [0], "system")
    hb._log_fallback.cache_clear()
    with caplog.at_level(logging.INFO, logger=hb.__name__):
        db = hb.open_database([b"ray"], [0], "auto")
    assert db.name == "bundled" and "libhs" in caplog.text
    with pytest.raises(ValueError, match="auto, system or bundled"):
        hb.open_database([b"ray"], [0], "fast")


def test_a_bad_pattern_names_its_index():
    require_system_backend()
    with pytest.raises(hb.HyperscanBackendError, match="pattern 1 does not compile"):
        hb.open_database([b"ray", b"(unclosed"], [0, 0], "system")


def test_database_cache_is_keyed_on_content_and_survives_a_corrupt_file(tmp_path, monkeypatch):
    require_system_backend()
    monkeypatch.setenv("IMITATION_KEDRO_CACHE", str(tmp_path))
    hb.open_database([b"ray"], [0], "system")
    hb.open_database([b"ray"], [0], "bundled")
    hb.open_database([b"moss"], [0], "system")
    files = sorted((tmp_path / "hyperscan").glob("*.hsdb"))
    assert len(files) == 3  # one per (patterns, library)
    for f in files:
        f.write_bytes(b"not a database")
    data = memoryview(b"\xffray\xff")
    for backend in ("system", "bundled"):
        db = hb.open_database([b"ray"], [0], backend)
        assert (db.scan(data) & 0xFFFFFFFF).tolist() == [0]
    assert not list((tmp_path / "hyperscan").glob("*.tmp"))


def test_collector_is_built_once_and_a_failing_compiler_is_reported(tmp_path, monkeypatch):
    require_system_backend()
    monkeypatch.setenv("IMITATION_KEDRO_CACHE", str(tmp_path))
    built = hb._collector()
    assert built.exists() and built.parent == tmp_path / "hyperscan"
    stamp = built.stat().st_mtime_ns
    monkeypatch.setenv("CC", "/bin/false")  # cached: the compiler is not run again
    assert hb._collector() == built and built.stat().st_mtime_ns == stamp
    built.unlink()
    with pytest.raises(hb.HyperscanBackendError, match="/bin/false failed"):
        hb._collector()
    assert not list((tmp_path / "hyperscan").glob("collect-*"))
