"""Every target x every quantization mode: export, run in the real runtime, parity holds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel

from edge_time.exporters import ParityThresholds, export_model
from edge_time.runtime import load_bundle

MODES = ("none", "fp16", "int8-dynamic", "int8-static")
# Texts the parity check never saw, so the runtime is exercised on new shapes.
NEW_TEXTS = ["a man is playing guitar", "die katze",
             "praha je hlavní město české republiky le modèle tourne sur téléphone"]
MIN_COSINE = {"none": 0.99999, "fp16": 0.999, "int8-dynamic": 0.98, "int8-static": 0.95}


def reference_hidden(model_dir, input_ids, attention_mask) -> np.ndarray:
    model = AutoModel.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        return model(input_ids=torch.from_numpy(input_ids.astype(np.int64)),
                     attention_mask=torch.from_numpy(attention_mask.astype(np.int64))).last_hidden_state.numpy()


def masked_cosine(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    a, b = a[mask.astype(bool)].ravel(), b[mask.astype(bool)].ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("quantize", MODES)
@pytest.mark.parametrize("target", ["onnx", "tflite", "executorch"])
def test_export_parity_in_real_runtime(tiny_bert, calibration_file, tmp_path, target, quantize):
    result = export_model(tiny_bert, target, tmp_path / "bundle", quantize=quantize,
                          calibration=calibration_file if quantize == "int8-static" else None,
                          seq_buckets=(16, 48))
    assert result.parity["passed"], result.parity["failures"]
    assert result.manifest.quantization == quantize

    bundle = load_bundle(result.bundle_dir, threads=1)
    outputs = bundle(NEW_TEXTS)  # batch 3, varied lengths
    enc = bundle.encode(NEW_TEXTS)
    hidden = outputs["last_hidden_state"]
    if target == "tflite":
        assert hidden.shape[1] == 16, "tflite picks the smallest bucket that fits"
    else:
        assert hidden.shape[1] == int(enc.attention_mask.sum(1).max()), "dynamic sequence length"
    ref = reference_hidden(tiny_bert, enc.input_ids, enc.attention_mask)
    assert masked_cosine(ref, hidden, enc.attention_mask) >= MIN_COSINE[quantize]

    single = bundle(["the quick brown fox jumps over the lazy dog " * 3])  # batch 1, the larger bucket
    assert single["last_hidden_state"].shape[0] == 1
    if target == "tflite":
        assert single["last_hidden_state"].shape[1] == 48


@pytest.mark.parametrize("target", ["onnx", "tflite", "executorch"])
def test_xlmr_export_keeps_roberta_positions(tiny_xlmr, tmp_path, target):
    result = export_model(tiny_xlmr, target, tmp_path / "bundle", seq_buckets=(24,))
    assert result.parity["passed"], result.parity["failures"]
    assert result.manifest.tokenizer.position_style == "roberta"
    assert result.manifest.tokenizer.pad_id == 1
    bundle = load_bundle(result.bundle_dir)
    enc = bundle.encode(NEW_TEXTS)
    if target == "tflite":
        assert result.manifest.max_length == 24 and enc.input_ids.shape[1] == 24, "truncated to the largest bucket"
    ref = reference_hidden(tiny_xlmr, enc.input_ids, enc.attention_mask)
    assert masked_cosine(ref, bundle.run(enc.arrays())["last_hidden_state"], enc.attention_mask) > 0.99999


def test_parity_threshold_failure_leaves_nothing(tiny_bert, tmp_path):
    from edge_time.exporters import ExportError

    out = tmp_path / "bundle"
    with pytest.raises(ExportError, match="parity check failed"):
        export_model(tiny_bert, "onnx", out, quantize="int8-dynamic",
                     thresholds=ParityThresholds(min_cosine=1.000001))
    assert list(tmp_path.iterdir()) == [], "no bundle and no staging folder left behind"


def test_executorch_batch_one_graph_runs_larger_batches_row_by_row(tiny_bert, tmp_path):
    result = export_model(tiny_bert, "executorch", tmp_path / "bundle", quantize="int8-dynamic", graph_batch=1)
    assert result.parity["passed"], result.parity["failures"]
    assert [(g.batch, g.seq_len) for g in result.manifest.graphs] == [(1, None)]
    bundle = load_bundle(result.bundle_dir)
    enc = bundle.encode(NEW_TEXTS)
    hidden = bundle.run(enc.arrays())["last_hidden_state"]
    assert hidden.shape[:2] == enc.input_ids.shape, "batch 3 at the dynamic sequence length"
    ref = reference_hidden(tiny_bert, enc.input_ids, enc.attention_mask)
    assert masked_cosine(ref, hidden, enc.attention_mask) >= MIN_COSINE["int8-dynamic"]


@pytest.mark.parametrize("quantize", ["none", "int8-dynamic"])
def test_executorch_default_program_runs_single_rows_in_its_batch_one_method(tiny_bert, tmp_path, quantize):
    """The default .pte holds a dynamic-batch ``forward`` and a batch-1 ``forward_batch1``; a single row,
    and a batch of long enough rows (row by row), run in the latter and give the dynamic method's
    numbers (fp32: to rounding); a batch of short rows runs in ``forward``."""
    from edge_time.runtime.backends import BATCH_ONE_METHOD, ROW_TOKENS_PER_THREAD

    result = export_model(tiny_bert, "executorch", tmp_path / "bundle", quantize=quantize)
    assert [(g.batch, g.seq_len) for g in result.manifest.graphs] == [(None, None)]
    bundle = load_bundle(result.bundle_dir, threads=1)
    row = bundle.encode(["the quick brown fox jumps over the lazy dog"]).arrays()
    runner, _ = bundle._runner(row["input_ids"].shape[1])
    assert runner._program.method_names == {"forward", BATCH_ONE_METHOD}
    single = bundle.run(row)["last_hidden_state"]
    inputs = [torch.from_numpy(row[spec.name]) for spec in bundle.manifest.inputs]
    dynamic = runner.method.execute(inputs)[0].numpy()
    if quantize == "none":
        np.testing.assert_allclose(single, dynamic, rtol=1e-4, atol=1e-4)
    else:
        assert masked_cosine(single, dynamic, row["attention_mask"]) >= MIN_COSINE[quantize]
    batch = bundle.encode(NEW_TEXTS)  # several short rows: the dynamic method
    assert batch.input_ids.shape[1] < ROW_TOKENS_PER_THREAD
    ref = reference_hidden(tiny_bert, batch.input_ids, batch.attention_mask)
    hidden = bundle.run(batch.arrays())["last_hidden_state"]
    assert masked_cosine(ref, hidden, batch.attention_mask) >= MIN_COSINE[quantize]
    # rows of >= ROW_TOKENS_PER_THREAD tokens (1 thread): row by row in the batch-1 method, same numbers
    long = bundle.encode(NEW_TEXTS, seq_len=ROW_TOKENS_PER_THREAD + 8)
    rows, method = [], runner.batch_one

    class Recording:
        def execute(self, tensors):
            rows.append(tuple(tensors[0].shape))
            return method.execute(tensors)

    runner.batch_one = Recording()
    by_rows = bundle.run(long.arrays())["last_hidden_state"]
    assert rows == [(1, ROW_TOKENS_PER_THREAD + 8)] * len(NEW_TEXTS)
    inputs = [torch.from_numpy(long.arrays()[spec.name]) for spec in bundle.manifest.inputs]
    dynamic = runner.method.execute(inputs)[0].numpy()
    if quantize == "none":
        np.testing.assert_allclose(by_rows, dynamic, rtol=1e-4, atol=1e-4)
    else:
        assert masked_cosine(by_rows, dynamic, long.attention_mask) >= MIN_COSINE[quantize]


def test_executorch_runner_copies_outputs_on_one_torch_thread(tiny_bert, tmp_path):
    """The pybindings clone outputs with ATen; on torch's multi-threaded pool that copy left spinning
    workers that slowed XNNPACK's next call, so the runner holds torch at one thread during execute,
    puts the caller's count back, and its arrays are its own (a later call does not change them)."""
    result = export_model(tiny_bert, "executorch", tmp_path / "bundle", graph_batch=1)
    bundle = load_bundle(result.bundle_dir, threads=2)
    rows = [bundle.encode([text]).arrays() for text in NEW_TEXTS[:2]]
    runner, _ = bundle._runner(rows[0]["input_ids"].shape[1])
    seen, method = [], runner.method

    class Recording:
        def execute(self, tensors):
            seen.append(torch.get_num_threads())
            return method.execute(tensors)

    runner.method = Recording()
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        first = bundle.run(rows[0])["last_hidden_state"]
        kept = first.copy()
        bundle.run(rows[1])
        assert seen == [1, 1] and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(first, kept)
