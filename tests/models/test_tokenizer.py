"""The offline CLIP tokenizer agrees with open_clip's SimpleTokenizer and survives save/load."""

from __future__ import annotations

import pytest

from imitation_kedro.models.tokenizer import clean_text, clip_tokenizer

TEXTS = [
    "a photo of a cat",
    "Café crème brûlée à la façon de Gérard",
    "don't it's they're I'll we've you'd I'm",
    "Hello,   world!! 123 4567 -- 3.14",
    "naïve résumé Ærøskøbing 東京 😀",
    "A PAINTING in the style of Claude Monet, oil on canvas",
    "",
]


@pytest.fixture(scope="module")
def tokenizers():
    from open_clip.tokenizer import SimpleTokenizer

    return clip_tokenizer(), SimpleTokenizer()


@pytest.mark.parametrize("text", TEXTS)
def test_ids_agree_with_open_clip(tokenizers, text):
    hf, oc = tokenizers
    expected = [oc.sot_token_id, *oc.encode(text), oc.eot_token_id]
    assert hf(text).input_ids == expected


def test_vocabulary_and_special_tokens(tokenizers):
    hf, oc = tokenizers
    assert hf.vocab_size == len(oc.encoder) == 49408
    assert (hf.bos_token_id, hf.eos_token_id) == (49406, 49407)
    assert hf.model_max_length == 77
    ids = hf("Gérard's café").input_ids
    assert (
        hf.decode(ids, skip_special_tokens=True) == oc.decode(ids[1:-1]).strip() == "gérard 's café"
    )


def test_truncation_and_padding_match_open_clip_tokenize():
    import open_clip

    long = " ".join(["painting"] * 100)
    hf = clip_tokenizer(pad_token="!")  # SD 2.x pads with "!" = id 0, as open_clip does
    ids = hf([long, "a cat"], padding="max_length", max_length=77, truncation=True).input_ids
    assert ids == open_clip.tokenize([long, "a cat"]).tolist()
    assert clip_tokenizer(model_max_length=16)("a cat", padding="max_length").input_ids[-1] == 49407


def test_curly_quotes_and_entities_need_clean_text(tokenizers):
    """open_clip cleans text with ftfy/html first; the HF tokenizer (as SD's) does not."""
    hf, oc = tokenizers
    text = "don’t &amp; “quoted”"
    expected = [oc.sot_token_id, *oc.encode(text), oc.eot_token_id]
    assert hf(text).input_ids != expected
    assert hf(clean_text(text)).input_ids == expected


def test_save_pretrained_round_trip(tokenizers, tmp_path):
    from transformers import AutoTokenizer, CLIPTokenizer

    hf, _ = tokenizers
    hf.save_pretrained(tmp_path)
    for cls in (CLIPTokenizer, AutoTokenizer):
        again = cls.from_pretrained(tmp_path)
        assert again.model_max_length == 77
        assert [again(t).input_ids for t in TEXTS] == [hf(t).input_ids for t in TEXTS]


def test_bad_arguments():
    with pytest.raises(ValueError, match="model_max_length must be >= 2"):
        clip_tokenizer(model_max_length=1)
    with pytest.raises(ValueError, match="pad_token '<pad>' is not a token"):
        clip_tokenizer(pad_token="<pad>")
