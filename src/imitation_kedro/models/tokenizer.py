"""The CLIP BPE tokenizer, built offline from open_clip's bundled vocabulary (no model hub).

Stable Diffusion's tokenizer is OpenAI CLIP's byte-level BPE: 49,152 - 256 - 2 merges over a
byte alphabet, plus ``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407). open_clip ships the
same merges as ``open_clip/bpe_simple_vocab_16e6.txt.gz``; :func:`clip_tokenizer` rebuilds the
vocabulary from it exactly as open_clip's ``SimpleTokenizer`` does and hands it to transformers'
``CLIPTokenizer`` (tokenizers-backed), so ids agree with ``open_clip.tokenize`` and the result
``save_pretrained``/``from_pretrained`` round-trips inside a diffusers pipeline.

One documented difference: open_clip first runs ``ftfy.fix_text`` + ``html.unescape`` on the text
(curly quotes become ``'``, ``&amp;`` becomes ``&``); transformers' CLIP tokenizer, like the one
shipped with Stable Diffusion, does not. Pass texts through :func:`clean_text` first when the two
must agree on such input.
"""

from __future__ import annotations

import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
_N_MERGES = 49152 - 256 - 2  # as OpenAI CLIP and open_clip.SimpleTokenizer


def bundled_bpe_path() -> Path:
    """Path of open_clip's bundled ``bpe_simple_vocab_16e6.txt.gz`` (found without importing it)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "open_clip is not installed: `pip install open_clip_torch` provides the CLIP BPE vocabulary"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        raise FileNotFoundError(f"open_clip's BPE vocabulary is missing: {path}")
    return path


def _bytes_to_unicode() -> dict[int, str]:
    """OpenAI CLIP's reversible byte -> printable unicode table (same order as open_clip)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


@lru_cache(maxsize=2)
def clip_vocab_and_merges(
    bpe_path: str | None = None,
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Return (``vocab``: token -> id, ``merges``: ranked pairs) exactly as open_clip builds them."""
    path = Path(bpe_path) if bpe_path else bundled_bpe_path()
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : _N_MERGES + 1]]
    bad = [i for i, m in enumerate(merges) if len(m) != 2]
    if bad or len(merges) != _N_MERGES:
        raise ValueError(f"{path} is not a CLIP BPE merges file (malformed merge lines: {bad[:5]})")
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    return vocab, merges  # type: ignore[return-value]


def clip_tokenizer(model_max_length: int = 77, pad_token: str = EOS_TOKEN, **kwargs: Any) -> Any:
    """A transformers ``CLIPTokenizer`` with OpenAI CLIP's vocabulary, built offline.

    ``pad_token``: ``"<|endoftext|>"`` as Stable Diffusion 1.x (default) or ``"!"`` (id 0) as
    SD 2.x and open_clip. Extra keyword arguments go to ``CLIPTokenizer``.
    """
    from transformers import CLIPTokenizer

    if model_max_length < 2:
        raise ValueError(
            f"model_max_length must be >= 2 (room for BOS and EOS), got {model_max_length}"
        )
    vocab, merges = clip_vocab_and_merges()
    if pad_token not in vocab:
        raise ValueError(f"pad_token {pad_token!r} is not a token of the CLIP vocabulary")
    return CLIPTokenizer(
        vocab=dict(vocab),
        merges=list(merges),
        model_max_length=model_max_length,
        pad_token=pad_token,
        **kwargs,
    )


def clean_text(text: str) -> str:
    """open_clip's text cleaning (``ftfy.fix_text``, double ``html.unescape``, whitespace)."""
    import html

    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split())
