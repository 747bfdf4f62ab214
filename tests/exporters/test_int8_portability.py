"""int8 ONNX bundles give the same numbers on every x86 CPU, whatever int8 kernels it has.

onnxruntime's u8 x s8 kernels for AVX2 CPUs without VNNI (vpmaddubsw) add pairs of products in
int16 and saturate when full-range 8-bit weights meet large activations; AVX-512 VNNI / AMX / ARM
kernels do not. The exporter quantizes weights to 7 bits (``reduce_range``) so no pair can
overflow. Checked two ways: structurally (every int8 weight within [-64, 64], so 2 x 255 x 64 = 32,640 fits int16; true on any host)
and by running the same graph under ``qemu-x86_64 -cpu EPYC-Rome`` (Zen 2: AVX2, no AVX-512 or
VNNI; Debian's qemu-user-static) beside the host run. A control graph with full-range weights
proves the emulated CPU takes the saturating AVX2 path, so the comparison can fail.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from builders import float_matmuls_fed_by_gelu
from edge_time.exporters import export_model
from edge_time.runtime import load_bundle

QEMU = shutil.which("qemu-x86_64-static") or shutil.which("qemu-x86_64")
AVX2_ONLY_CPU = "EPYC-Rome"
needs_x86_emulator = pytest.mark.skipif(
    platform.machine() != "x86_64" or QEMU is None,
    reason="needs an x86-64 host with qemu-x86_64-static (bash scripts/setup.sh --test-tools installs it)")

RUN_GRAPH = """
import sys, numpy as np, onnxruntime as ort
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
inputs = dict(np.load(sys.argv[2]))
np.savez(sys.argv[3], *session.run(None, inputs))
"""


def run_graph(model: Path, inputs: dict[str, np.ndarray], tmp: Path, emulated_cpu: str | None = None) -> list:
    """The graph's outputs from onnxruntime in a fresh process, on the host CPU or an emulated one."""
    np.savez(tmp / "inputs.npz", **inputs)
    out = tmp / f"outputs-{emulated_cpu or 'host'}.npz"
    command = [sys.executable, "-c", RUN_GRAPH, str(model), str(tmp / "inputs.npz"), str(out)]
    if emulated_cpu:
        command = [QEMU, "-cpu", emulated_cpu] + command
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    with np.load(out) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def int8_weights(model: Path) -> list[np.ndarray]:
    return [numpy_helper.to_array(init) for init in onnx.load(str(model)).graph.initializer
            if init.data_type == TensorProto.INT8 and len(init.dims) >= 2]


@pytest.fixture(scope="module")
def int8_bundles(tiny_bert, calibration_file, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("int8")
    return {mode: export_model(tiny_bert, "onnx", root / mode, quantize=mode,
                               calibration=calibration_file if mode == "int8-static" else None).bundle_dir
            for mode in ("int8-dynamic", "int8-static")}


@pytest.mark.parametrize("mode", ["int8-dynamic", "int8-static"])
def test_int8_weights_are_small_enough_for_int16_pair_sums(int8_bundles, mode):
    weights = int8_weights(int8_bundles[mode] / "model.onnx")
    assert weights, "the graph has no int8 weight matrices"
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= 64


def test_int8_static_quantizes_ffn_outputs(int8_bundles):
    assert float_matmuls_fed_by_gelu(int8_bundles["int8-static"] / "model.onnx") == 0


@pytest.mark.parametrize("bar_met", [True, False])
def test_int8_dynamic_quantizes_ffn_outputs_only_when_the_all_int8_graph_meets_the_bar(
        tiny_bert, tmp_path, monkeypatch, bar_met):
    """FFN outputs (GELU-fed, outlier activations) become int8 only if that graph agrees with
    PyTorch within FFN_INT8_BAR; otherwise they stay fp32 and the export still passes parity."""
    from edge_time.exporters import onnx as onnx_target

    monkeypatch.setattr(onnx_target, "FFN_INT8_BAR", (-1.0, float("inf"), 0.0) if bar_met else (1.1, float("inf"), 1.1))
    said = []
    bundle = export_model(tiny_bert, "onnx", tmp_path / "b", quantize="int8-dynamic", progress=said.append).bundle_dir
    layers = json.loads((tiny_bert / "config.json").read_text())["num_hidden_layers"]
    assert float_matmuls_fed_by_gelu(bundle / "model.onnx") == (0 if bar_met else layers)
    assert any(line.startswith("every MatMul int8" if bar_met else "FFN outputs kept fp32") for line in said)


@pytest.mark.parametrize("form", ["per-tensor", "per-token", "ffn-fp32"])
def test_int8_form_pins_the_form_and_the_manifest_records_it(tiny_bert, tmp_path, monkeypatch, form):
    """``int8_form`` builds the named form even where auto would pick another (here the bar is out of
    reach, so auto ends at ffn-fp32); the graph's metadata and the manifest's runtime record say which."""
    from edge_time.exporters import onnx as onnx_target

    monkeypatch.setattr(onnx_target, "FFN_INT8_BAR", (1.1, float("inf"), 1.1))
    said = []
    result = export_model(tiny_bert, "onnx", tmp_path / "b", quantize="int8-dynamic", int8_form=form,
                          progress=said.append)
    model = result.bundle_dir / "model.onnx"
    layers = json.loads((tiny_bert / "config.json").read_text())["num_hidden_layers"]
    per_token = sum(node.name.endswith("/per_token/matmul") for node in onnx.load(str(model)).graph.node)
    assert (per_token, float_matmuls_fed_by_gelu(model)) == {
        "per-tensor": (0, 0), "per-token": (layers, 0), "ffn-fp32": (0, layers)}[form]
    assert result.manifest.runtime["int8_form"] == form
    assert {p.key: p.value for p in onnx.load(str(model)).metadata_props}[onnx_target.INT8_FORM_KEY] == form
    assert sum("below the bar" in line and line.endswith("kept, as chosen") for line in said) == 1
    assert result.parity["passed"]


def test_auto_int8_form_records_the_form_it_chose(tiny_bert, tmp_path, monkeypatch):
    from edge_time.exporters import onnx as onnx_target

    monkeypatch.setattr(onnx_target, "FFN_INT8_BAR", (-1.0, float("inf"), 0.0))
    result = export_model(tiny_bert, "onnx", tmp_path / "b", quantize="int8-dynamic")
    assert result.manifest.runtime["int8_form"] == "per-tensor"


def gelu(x: np.ndarray) -> np.ndarray:
    import torch

    return torch.nn.functional.gelu(torch.from_numpy(x)).numpy()


def per_token_graph(tmp: Path, weight: np.ndarray, bias: np.ndarray | None, feed: str = "gelu") -> Path:
    """y = h @ weight (+ bias) with h = gelu(x) (an FFN output's input) or gelu(x) * u (a GEGLU
    output's), x and u (batch, seq, k); its MatMul rewritten by the exporter's per-token int8 pass."""
    from edge_time.exporters.onnx import _per_token_int8

    nodes = [helper.make_node("Gelu", ["x"], ["g"], name="gelu")]
    if feed == "geglu":
        nodes.append(helper.make_node("Mul", ["g", "u"], ["h"], name="geglu"))
    nodes.append(helper.make_node("MatMul", ["h" if feed == "geglu" else "g", "w"], ["y" if bias is None else "xw"],
                                  name="out"))
    constants = [numpy_helper.from_array(weight, "w")]
    if bias is not None:
        nodes.append(helper.make_node("Add", ["xw", "b"], ["y"], name="bias"))
        constants.append(numpy_helper.from_array(bias, "b"))
    inputs = ["x", "u"] if feed == "geglu" else ["x"]
    graph = helper.make_graph(
        nodes, "ffn", [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", "seq", weight.shape[0]])
                       for n in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", weight.shape[1]])], constants)
    path = tmp / f"per_token_{feed}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), path)
    _per_token_int8(path, ["out"])
    return path


@pytest.mark.parametrize("feed,with_bias", [("gelu", True), ("gelu", False), ("geglu", True)])
def test_per_token_int8_matmul_stays_within_its_quantization_error(tmp_path, feed, with_bias):
    """Each token gets its own scale: a row of tiny activations beside a row of huge outliers keeps its
    precision. A GELU's output is quantized unsigned over [GELU's floor, its max] and the shift comes
    back out exactly (folded into the bias, or added); a GEGLU output, signed, symmetrically. Tolerance
    from the scales alone (half a step of each operand per product)."""
    from edge_time.exporters.onnx import GELU_FLOOR

    rng = np.random.default_rng(0)
    weight = rng.standard_normal((96, 24)).astype(np.float32)
    bias = rng.standard_normal(24).astype(np.float32) if with_bias else None
    x = rng.standard_normal((2, 5, 96)).astype(np.float32)
    x[0, 0] *= 1e-3
    x[1, 2, :3] = 200.0  # outliers in one token only
    u = rng.standard_normal(x.shape).astype(np.float32)
    inputs = {"x": x, "u": u} if feed == "geglu" else {"x": x}
    got = run_graph(per_token_graph(tmp_path, weight, bias, feed), inputs, tmp_path)[0]
    graph = onnx.load(str(tmp_path / f"per_token_{feed}.onnx")).graph
    quantized = [numpy_helper.to_array(i) for i in graph.initializer
                 if i.data_type == TensorProto.INT8 and len(i.dims) == 2]
    assert len(quantized) == 1 and int(np.abs(quantized[0].astype(np.int32)).max()) <= 63  # 7-bit: AVX2-safe
    assert "w" not in {i.name for i in graph.initializer}  # the fp32 weight is not left in the file
    half_w = np.abs(weight).max(axis=0) / 63 / 2  # per column
    if feed == "gelu":
        assert sum(node.op_type == "Add" for node in graph.node) == 2  # the shift, then the bias or the correction
        h = gelu(x)
        assert h.min() >= -GELU_FLOOR
        half_x = (h + GELU_FLOOR).max(axis=-1, keepdims=True) / 255 / 2  # per token, unsigned
        # the weight error meets |h + floor|, which is at most |h| + floor
        magnitude = np.abs(h) + GELU_FLOOR
    else:
        h = gelu(x) * u
        assert h.min() < -1 < 1 < h.max()  # signed: the symmetric form
        half_x = np.abs(h).max(axis=-1, keepdims=True) / 127 / 2
        magnitude = np.abs(h)
    bound = magnitude @ np.broadcast_to(half_w, weight.shape) + half_x * np.abs(weight).sum(axis=0) \
        + weight.shape[0] * half_x * half_w
    exact = h @ weight + (0 if bias is None else bias)
    error = np.abs(got - exact)
    assert (error <= bound * 1.01 + 1e-5).all()
    assert error[0, 0].max() < 1e-2 * error.max()  # the small token was not quantized on the outliers' scale


@needs_x86_emulator
def test_per_token_int8_matmul_gives_the_host_numbers_on_an_avx2_only_cpu(tmp_path):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((128, 32)).astype(np.float32)
    x = (rng.standard_normal((2, 7, 128)) * 30).astype(np.float32)
    model = per_token_graph(tmp_path, weight, rng.standard_normal(32).astype(np.float32))
    host, emulated = run_graph(model, {"x": x}, tmp_path)[0], run_graph(model, {"x": x}, tmp_path, AVX2_ONLY_CPU)[0]
    np.testing.assert_allclose(emulated, host, rtol=1e-4, atol=1e-4 * float(np.abs(host).max()))


def test_int8_dynamic_falls_back_to_per_token_ffn_outputs(tiny_bert, tmp_path, monkeypatch):
    """When the all-int8 graph misses FFN_INT8_BAR (forced here) and the per-token form meets it,
    the bundle holds per-token FFN outputs and passes its own parity check."""
    from edge_time.exporters import parity

    real, calls = parity.run_parity, []

    def first_check_fails(*args, **kwargs):
        report = real(*args, **kwargs)
        calls.append(report)
        if len(calls) == 1:
            report = {**report, "passed": False, "failures": ["forced by the test"]}
        return report

    monkeypatch.setattr(parity, "run_parity", first_check_fails)
    said = []
    result = export_model(tiny_bert, "onnx", tmp_path / "b", quantize="int8-dynamic", progress=said.append)
    graph = onnx.load(str(result.bundle_dir / "model.onnx")).graph
    layers = json.loads((tiny_bert / "config.json").read_text())["num_hidden_layers"]
    assert sum(node.name.endswith("/per_token/matmul") for node in graph.node) == layers
    assert float_matmuls_fed_by_gelu(result.bundle_dir / "model.onnx") == 0
    assert any(line.startswith("FFN and GEGLU outputs int8, one scale per token") and "missed" not in line
               for line in said)
    assert result.parity["passed"]


@needs_x86_emulator
def test_emulated_avx2_cpu_saturates_full_range_int8(tmp_path):
    """The control: 255 x 127 + 255 x 127 > 32767, so AVX2 u8s8 pairs saturate where VNNI does not."""
    weight = np.full((64, 4), 127, dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w"], ["y"])], "control",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 4])], [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "control.onnx")
    inputs = {"a": np.full((1, 64), 255, dtype=np.uint8)}
    exact = inputs["a"].astype(np.int32) @ weight.astype(np.int32)
    emulated = run_graph(tmp_path / "control.onnx", inputs, tmp_path, AVX2_ONLY_CPU)[0]
    assert (emulated < exact).all(), "the emulated CPU did not take onnxruntime's AVX2 u8s8 path"


@needs_x86_emulator
@pytest.mark.parametrize("mode", ["int8-dynamic", "int8-static"])
def test_int8_bundle_gives_the_host_numbers_on_an_avx2_only_cpu(int8_bundles, tmp_path, mode):
    bundle = load_bundle(int8_bundles[mode])
    encoded = bundle.encode(["praha je hlavní město české republiky", "a man is playing a guitar on the stage"])
    inputs = {name: value for name, value in encoded.arrays().items()
              if name in {spec.name for spec in bundle.manifest.inputs}}
    host = run_graph(int8_bundles[mode] / "model.onnx", inputs, tmp_path)
    emulated = run_graph(int8_bundles[mode] / "model.onnx", inputs, tmp_path, AVX2_ONLY_CPU)
    for a, b in zip(host, emulated):  # integer products are exact on both; only float rounding may differ
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * float(np.abs(a).max()))
