"""`edge-time export --for android`: write_android_assets on tiny specs, without exporter timing."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from android_builders import read_json, tiny_spec, torch_runner
from torch import nn

from edge_time.bundle import TensorSpec, read_manifest
from edge_time.exporters.android import (DEFAULT_TEXTS, TEST_VECTORS_FORMAT, AndroidExportError,
                                         check_tokenizer_supported, write_android_assets)
from edge_time.runtime.predict import word_inputs

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _stage(spec, tmp_path: Path) -> Path:
    stage = tmp_path / "stage"
    stage.mkdir()
    shutil.copy(spec.tokenizer_dir / spec.tokenizer_info.file, stage / spec.tokenizer_info.file)
    return stage


class WordTagger(nn.Module):
    """NER-shaped graph: (input_ids, attention_mask, word_pool, word_mask) -> (tags,) per word."""

    def __init__(self, encoder: nn.Module, hidden: int):
        super().__init__()
        self.encoder = encoder
        torch.manual_seed(1)
        self.head = nn.Linear(hidden, len(TAGS))

    def forward(self, input_ids, attention_mask, word_pool, word_mask):
        hidden = self.encoder(input_ids, attention_mask)[0]
        return (self.head(torch.bmm(word_pool, hidden)),)


def _ner_spec(tiny_bert_dir: Path, work: Path):
    spec = tiny_spec(tiny_bert_dir, work)
    hidden = spec.outputs[0].shape[-1]
    return dataclasses.replace(
        spec, module=WordTagger(spec.module, hidden).eval(), task="ner",
        inputs=spec.inputs + [TensorSpec("word_pool", "float32", ["batch", "words", "seq"]),
                              TensorSpec("word_mask", "int64", ["batch", "words"])],
        outputs=[TensorSpec("tags", "float32", ["batch", "words", len(TAGS)])],
        labels={"tags": TAGS}, label_outputs=["tags"], output_masks={"tags": "word_mask"},
        task_config={"pooling": "first", "root_row": False, "task": "ner"})


def test_encoder_vectors_hold_python_ids_and_graph_values(tiny_bert_dir, tmp_path):
    spec = tiny_spec(tiny_bert_dir, tmp_path / "work")
    stage = _stage(spec, tmp_path)
    android = write_android_assets(stage, spec, torch_runner(spec))
    assert android["test_vectors"] == "test_vectors.json" and android["package"] == "dev.edgetime.demo"
    assert android["min_sdk"] >= 24 and android["vector_cases"] == len(DEFAULT_TEXTS)
    doc = read_json(stage / "test_vectors.json")
    assert doc["format"] == TEST_VECTORS_FORMAT and doc["word_inputs"] is None
    encoder = spec.text_encoder()
    for case in doc["cases"]:
        enc = encoder.encode([case["text"]])
        assert case["input_ids"] == enc.input_ids[0].tolist()
        assert case["position_ids"] == list(range(len(case["input_ids"])))
        expected = case["outputs"]["last_hidden_state"]
        with torch.no_grad():
            hidden = spec.module(*[torch.from_numpy(a) for a in (enc.input_ids, enc.attention_mask)])[0]
        np.testing.assert_allclose(expected["values"], hidden[0].reshape(-1)[:16].numpy(), atol=1e-5)
        assert expected["shape"] == list(hidden.shape) and expected["atol"] > 0


def test_word_task_vectors_hold_words_word_mask_and_labels(tiny_bert_dir, tmp_path):
    spec = _ner_spec(tiny_bert_dir, tmp_path / "work")
    stage = _stage(spec, tmp_path)
    android = write_android_assets(stage, spec, torch_runner(spec))
    assert android["label_outputs"] == {"tags": "tags"}
    doc = read_json(stage / "test_vectors.json")
    assert doc["word_inputs"] == {"pooling": "first", "root_row": False}
    encoder = spec.text_encoder()
    for case in doc["cases"]:
        words = case["text"].split() or ["."]
        assert case["words"] == words and sum(case["word_mask"]) == len(words)
        enc = encoder.encode_words([words])
        arrays = {**enc.arrays(), **word_inputs(enc.word_ids, [len(words)], "first", False)}
        with torch.no_grad():
            scores = spec.module(*[torch.from_numpy(arrays[n]) for n in spec.input_names])[0][0].numpy()
        tags = case["outputs"]["tags"]
        assert len(tags["argmax"]) == len(words) and tags["num_labels"] == len(TAGS)
        for i, label in enumerate(tags["argmax"]):
            top2 = np.sort(scores[i])[-2:]
            assert label == (int(scores[i].argmax()) if top2[1] - top2[0] >= 1e-3 else -1)
        assert tags["labels"] == [TAGS[i] if i >= 0 else None for i in tags["argmax"]]


def test_fixed_buckets_pad_to_the_bucket_and_skip_what_does_not_fit(tiny_bert_dir, tmp_path):
    spec = tiny_spec(tiny_bert_dir, tmp_path / "work")
    stage = _stage(spec, tmp_path)
    (stage / "manifest.json").write_text(json.dumps({"quantization": "int8-static", "graphs": [
        {"file": "model_seq16.tflite", "seq_len": 16}, {"file": "model_seq32.tflite", "seq_len": 32}]}))
    write_android_assets(stage, spec, torch_runner(spec))
    cases = read_json(stage / "test_vectors.json")["cases"]
    encoder = spec.text_encoder()
    fitting = [t for t in DEFAULT_TEXTS if encoder.count_tokens(t) <= 32]
    assert [c["text"] for c in cases] == fitting and len(fitting) < len(DEFAULT_TEXTS)
    for case in cases:
        assert case["seq_len"] == (16 if sum(case["attention_mask"]) <= 16 else 32)
        assert case["outputs"]["last_hidden_state"]["atol"] >= 5e-2  # quantized bundles get a looser tolerance


def test_unsupported_bundles_are_refused_with_the_fix(tiny_bert_dir, tmp_path):
    spec = tiny_spec(tiny_bert_dir, tmp_path / "work")
    stage = _stage(spec, tmp_path)
    with pytest.raises(AndroidExportError, match="'qa' bundles.*without --for android"):
        write_android_assets(stage, dataclasses.replace(spec, task="qa"), torch_runner(spec))
    extra = dataclasses.replace(spec, inputs=spec.inputs + [TensorSpec("token_type_ids", "int64", ["batch", "seq"])])
    with pytest.raises(AndroidExportError, match="token_type_ids"):
        write_android_assets(stage, extra, torch_runner(spec))
    with pytest.raises(AndroidExportError, match="'BPE'"):
        check_tokenizer_supported({"model": {"type": "BPE", "vocab": {}, "merges": []}})
    with pytest.raises(AndroidExportError, match="ByteLevel"):
        check_tokenizer_supported({"model": {"type": "WordPiece"}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"}, {"type": "ByteLevel"}]}})
    assert not (stage / "test_vectors.json").exists()


def test_export_for_android_ships_vectors_in_the_manifest(tiny_bert_dir, tmp_path):
    """The lead's exporter calls write_android_assets; the vectors are hashed into the bundle."""
    from edge_time.exporters.api import export_model

    out = tmp_path / "bundle"
    export_model(tiny_bert_dir, "onnx", out, for_android=True, max_length=64)
    manifest = read_manifest(out)  # verifies every sha256, test_vectors.json included
    assert manifest.android["test_vectors"] == "test_vectors.json"
    assert "test_vectors.json" in manifest.files
    doc = read_json(out / "test_vectors.json")
    assert len(doc["cases"]) == manifest.android["vector_cases"] > 0
