"""The runtime's tokenizer (tokenizers only, no transformers) equals the HF tokenizer."""

from __future__ import annotations

import os

import pytest
from transformers import AutoTokenizer

from builders import build_bert, build_xlmr
from edge_time.modeling.spec import load_tokenizer_files
from edge_time.runtime.tokenize import TextEncoder

TEXTS = ["A man is playing a guitar.", "Praha je hlavní město České republiky!", "die",
         "ünïcödé   spaces\tand\nnewlines", ""]


@pytest.fixture(scope="module", params=["bert", "xlmr"])
def model_dir(request, tmp_path_factory):
    build = build_bert if request.param == "bert" else build_xlmr
    return build(tmp_path_factory.mktemp(request.param))


def test_ids_equal_hf_tokenizer(model_dir, tmp_path):
    info = load_tokenizer_files(model_dir, tmp_path)
    encoder = TextEncoder(tmp_path / "tokenizer.json", info, max_length=64)
    hf = AutoTokenizer.from_pretrained(model_dir)(TEXTS, padding=True)
    enc = encoder.encode(TEXTS)
    assert enc.input_ids.tolist() == hf["input_ids"]
    assert enc.attention_mask.tolist() == hf["attention_mask"]
    assert info.pad_id == hf.get("pad_token_id", AutoTokenizer.from_pretrained(model_dir).pad_token_id)


def test_truncation_keeps_closing_special_and_positions(model_dir, tmp_path):
    info = load_tokenizer_files(model_dir, tmp_path)
    encoder = TextEncoder(tmp_path / "tokenizer.json", info, max_length=8)
    enc = encoder.encode(["the quick brown fox jumps over the lazy dog " * 4, "die"])
    assert enc.input_ids.shape == (2, 8)
    assert enc.input_ids[0, -1] == info.sep_id and enc.input_ids[0, 0] == info.cls_id
    offset = info.pad_id + 1 if info.position_style == "roberta" else 0
    assert enc.position_ids[0].tolist() == list(range(offset, offset + 8))
    assert enc.input_ids[1, enc.attention_mask[1].sum():].tolist() == [info.pad_id] * (8 - enc.attention_mask[1].sum())


def test_fixed_length_padding_and_word_ids(model_dir, tmp_path):
    info = load_tokenizer_files(model_dir, tmp_path)
    encoder = TextEncoder(tmp_path / "tokenizer.json", info, max_length=64)
    enc = encoder.encode_words([["Praha", "je", "město"]], seq_len=16)
    assert enc.input_ids.shape == (1, 16)
    words = [w for w in enc.word_ids[0] if w is not None]
    assert sorted(set(words)) == [0, 1, 2] and words == sorted(words)
    with pytest.raises(ValueError, match="do not fit"):
        encoder.encode(["the quick brown fox jumps over the lazy dog"], seq_len=3)


def test_one_thread_makes_encode_batch_serial_and_gives_the_same_ids(model_dir, tmp_path, monkeypatch):
    """--threads N reaches tokenizers' Rust pool (environment-configured), without changing a single id."""
    from edge_time.runtime.tokenize import cap_tokenizer_threads

    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)  # restored after the test
    monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)
    info = load_tokenizer_files(model_dir, tmp_path)
    encoder = TextEncoder(tmp_path / "tokenizer.json", info, max_length=64)
    parallel = encoder.encode(TEXTS * 20).input_ids
    cap_tokenizer_threads(1)
    assert os.environ["TOKENIZERS_PARALLELISM"] == "false" and os.environ["RAYON_NUM_THREADS"] == "1"
    assert (encoder.encode(TEXTS * 20).input_ids == parallel).all()
    cap_tokenizer_threads(2)
    assert os.environ["TOKENIZERS_PARALLELISM"] == "true" and os.environ["RAYON_NUM_THREADS"] == "2"
