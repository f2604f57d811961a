"""The ``standard`` analyser against Lucene 8's StandardAnalyzer itself (Elasticsearch's analyser).

Real names (tests/lucene/real_names.txt, from ../shared/data) are written 20 ways captions write
names; Lucene (Debian ``liblucene8-java``, driven by tests/lucene/LuceneReference.java, compiled
here with javac) gives the token streams and, from a real index and ``match_phrase``-style phrase
queries, the per-name caption counts. Token streams and counts must agree exactly, for the
frequency matcher (on both Hyperscan backends) and for the world's phrase rule.

Skips (with the reason) when Java or Lucene is missing locally; fails instead when ``CI=true``.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from imitation_kedro.core.phrase_rule import PhraseMatcher
from imitation_kedro.core.standard_analyzer import standard_tokens
from imitation_kedro.pipelines.frequency.matching import (
    CaptionMatcher,
    build_patterns,
    normalise_phrase,
)

HERE = Path(__file__).resolve().parents[2] / "lucene"
N_FORMS = 20


def _lucene_classpath() -> str | None:
    jars = os.environ.get("LUCENE_JARS")
    if jars:
        return jars
    core = sorted(glob.glob("/usr/share/java/lucene-core-8*.jar"))
    return core[-1] if core else None


@pytest.fixture(scope="module")
def lucene(tmp_path_factory) -> list[str]:
    """The java command line running the compiled helper."""
    cp, java, javac = _lucene_classpath(), shutil.which("java"), shutil.which("javac")
    if not (cp and java and javac):
        why = (
            "Lucene reference unavailable (need java, javac and /usr/share/java/lucene-core-8*.jar "
            "or LUCENE_JARS): apt-get install -y default-jdk-headless liblucene8-java"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(why + " -- CI must run this comparison, not skip it")
        pytest.skip(why)
    out = tmp_path_factory.mktemp("lucene")
    subprocess.run(
        [javac, "-cp", cp, "-d", str(out), str(HERE / "LuceneReference.java")], check=True
    )
    return [java, "-cp", f"{cp}{os.pathsep}{out}", "LuceneReference"]


def real_names() -> list[str]:
    lines = (HERE / "real_names.txt").read_text(encoding="utf-8").splitlines()
    return [n for n in lines if n and not n.startswith("#")]


def caption_forms(name: str, other: str, rnd: random.Random) -> list[str]:
    """20 ways web alt-text writes a name (files, URLs, tags, scripts, Unicode forms...)."""
    words = name.split()
    under, dotted = "_".join(words), ".".join(words)
    forms = [
        f"painting by {name.upper()}, oil on canvas",
        f"{under.lower()}_1890.jpg",
        f"{dotted}.png and {'-'.join(words)}.jpeg",
        f"art:{name.lower()} | style:{under}",
        f"{name}'s garden, {name}\u2019s house",
        f"{name}. Portrait (1885\u20131890); {name}!",
        f"\u201c{name}\u201d \u2014 {other}, {name.title()}",
        f"\U0001f3a8{name}\U0001f3a8 {name} \U0001f44d\U0001f3fd\u2764\ufe0f #art",
        f"{name}\u306e\u7d75 \u65e5\u672c\u8a9e{words[-1]} {words[0]}\u5c55",
        f"{unicodedata.normalize('NFD', name)} / {unicodedata.normalize('NFC', name)}",
        f"{chr(0xA0).join(words)} \u00b7 {chr(0x202F).join(words)} \u00b7 {chr(0x2009).join(words)}",
        f"https://example.com/{'-'.join(words).lower()}/{under}.jpg?q={'+'.join(words)}",
        f"#{''.join(words)} #{name} @{under} {name}#1",
        f"{name} 1,890.50 3.5mm {words[-1]}2 2{words[0]} 12:30",
        f"{words[0]}\u200b{' '.join(words[1:])} {name}\u200d x {name}\u00ad",
        f"{name.swapcase()} \u0130{name[1:]} {name.replace('i', 'I').replace('I', chr(0x130))}",
        f"{'x' * rnd.randint(250, 270)}{name} {name}{'y' * 300}",
        f"{other} and {name}; {name}/{other} ({words[-1]}, {words[0]})",
        f"\t{name}\u2028{name}\u3000{name}\uff0c{name}\u3002",
        f"{words[-1]} {name.lower()}'{words[0]} l'{name} {name}'",
    ]
    assert len(forms) == N_FORMS
    return forms


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[str]]:
    rnd = random.Random(2024)
    names = real_names()
    captions = []
    for i, name in enumerate(names):
        captions += caption_forms(name, names[(i * 7 + 3) % len(names)], rnd)
    return names, captions


def _run(cmd: list[str], stdin: str | None = None) -> list[str]:
    res = subprocess.run(
        cmd, input=stdin, capture_output=True, text=True, encoding="utf-8", check=True
    )
    return res.stdout.split("\n")[:-1]


def test_corpus_is_large_enough(corpus):
    names, captions = corpus
    assert len(names) >= 300 and len(captions) == N_FORMS * len(names)
    assert all("\n" not in c and "\r" not in c for c in captions)


def test_token_streams_equal_lucene(lucene, corpus):
    _, captions = corpus
    ref = _run([*lucene, "tokens"], "\n".join(captions) + "\n")
    assert len(ref) == len(captions)
    bad = [
        (cap, tuple(r.split("\t")) if r else (), standard_tokens(cap))
        for cap, r in zip(captions, ref, strict=True)
        if (tuple(r.split("\t")) if r else ()) != standard_tokens(cap)
    ]
    assert bad == [], f"{len(bad)} of {len(captions)} captions disagree, e.g. {bad[:3]}"


def test_phrase_counts_equal_lucene(lucene, corpus, tmp_path, hyperscan_backend):
    names, captions = corpus
    names = list({normalise_phrase(n): n for n in reversed(names)}.values())[::-1]
    (tmp_path / "captions.txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
    (tmp_path / "phrases.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    ref = [
        int(x)
        for x in _run(
            [*lucene, "count", str(tmp_path / "captions.txt"), str(tmp_path / "phrases.txt")]
        )
    ]
    table = pd.DataFrame({"concept": names, "domain": "style"})
    matcher = CaptionMatcher(build_patterns(table, False), hyperscan=hyperscan_backend)
    rows, conc = matcher.match(captions)
    ours = pd.Series(conc).value_counts().reindex(range(len(names)), fill_value=0).tolist()
    world = PhraseMatcher({n: [n] for n in names}).count(captions)
    bad = [(n, r, o) for n, r, o in zip(names, ref, ours, strict=True) if r != o]
    assert bad == [], f"{len(bad)} of {len(names)} names counted differently: {bad[:5]}"
    assert [world[n] for n in names] == ref
    assert sum(ref) > 5 * len(names)  # the forms do produce matches (and non-matches)
    assert sum(ref) < N_FORMS * len(names)
