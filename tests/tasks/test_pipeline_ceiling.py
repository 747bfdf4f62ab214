"""benchmarks/pipeline_ceiling.py counts a UD bundle's multiply-adds from onnxruntime's trace: the count must
equal torch's own FLOP counter on the module the graph was exported from, fed the same batches (int8 or
fp32: quantization changes the arithmetic's precision, not how much of it there is)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from edge_time.exporters import export_model
from edge_time.exporters.api import load_export_spec
from edge_time.tasks.formats import read_conllu

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from pipeline_ceiling import node_macs, profiled_macs, record_pass  # noqa: E402


def test_node_macs_reduces_over_the_dimension_the_output_lacks():
    assert node_macs([[2, 5, 8], [8, 3]], [2, 5, 3]) == 2 * 5 * 3 * 8
    assert node_macs([[2, 8, 5], [8, 3]], [2, 5, 3]) == 2 * 5 * 3 * 8  # A transposed
    assert node_macs([[4, 4], [4, 6]], [4, 6]) == 4 * 6 * 4


@pytest.mark.parametrize("quantize", ["none", "int8-dynamic"])
def test_profiled_macs_equal_torch_flop_count(trained, task_data, tmp_path, quantize):
    bundle = export_model(model=trained["ud"].out, target="onnx", out=tmp_path / "ud", quantize=quantize).bundle_dir
    examples = read_conllu(task_data["ud"][1])
    calls = record_pass(bundle, examples, batch_size=4, batch_tokens=None, threads=1)
    assert len(calls) == 3  # 10 dev sentences in batches of 4
    macs = profiled_macs(bundle, calls, threads=1)
    assert (macs["int8"] > 0) == (quantize != "none") and macs["fp32"] > 0

    module = load_export_spec(trained["ud"].out, tmp_path / "work").module
    names = ["input_ids", "attention_mask", "word_pool", "word_mask"]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        for call in calls:
            module(*(torch.from_numpy(call[name]) for name in names))
    assert macs["int8"] + macs["fp32"] == counter.get_total_flops() // 2
