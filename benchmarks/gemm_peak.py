"""GEMM peak of this CPU, and how much of it bundles of any target reach at batch 32 x 128 tokens.

Why: "x times eager" says nothing about headroom. This measures the best ops/s of large square
GEMMs in onnxruntime's MLAS (``MatMulInteger`` u8 x s8 -> s32 with 7-bit weights as in the int8
bundles, ``MatMul`` fp32; on x86 MLAS uses AMX/VNNI where the CPU has them, so this is the host's
int8 peak, not one runtime's), then the ops/s each bundle (ONNX, TFLite, ExecuTorch, through
``edge_time.runtime``) achieves on a full 32 x 128 batch, with the encoder's multiply-accumulates
counted from its config.json (per token and layer: Q, K, V, output and two FFN projections, plus
the two attention matmuls; embeddings, LayerNorm, softmax and task heads not counted, so the
figure is a lower bound). Every bundle's share of both peaks is printed.

    python benchmarks/gemm_peak.py --bundles bundles/xs-onnx-int8 bundles/xs-tflite-int8 bundles/xs-onnx \\
        --threads 1 --out gemm_peak.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

BATCH, SEQ = 32, 128
INT8_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "amx_tile", "asimddp",
              "i8mm", "sve")


def cpu() -> dict:
    """CPU model and the flags that pick onnxruntime's GEMM kernels (lscpu, else /proc/cpuinfo)."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout if Path("/usr/bin/lscpu").exists() else ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    if not flags and Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = line.split(":", 1)[1].split()
                break
    return {"model": fields.get("Model name", platform.processor()).strip(), "machine": platform.machine(),
            "cores": fields.get("CPU(s)", "").strip(), "gemm_flags": [f for f in INT8_FLAGS if f in flags]}


def _session(model, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _median_seconds(run, runs: int) -> float:
    for _ in range(2):
        run()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def gemm_peak(kind: str, size: int, threads: int, runs: int) -> float:
    """Ops/s (2 per multiply-accumulate) of one size x size x size GEMM with constant weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if kind == "int8":
        a = rng.integers(0, 256, size=(size, size), dtype=np.uint8)
        b = rng.integers(-64, 65, size=(size, size), dtype=np.int8)  # 7-bit, as in the bundles
        node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
        types = (TensorProto.UINT8, TensorProto.INT32)
    else:
        a = rng.standard_normal((size, size), dtype=np.float32)
        b = rng.standard_normal((size, size), dtype=np.float32)
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
        types = (TensorProto.FLOAT, TensorProto.FLOAT)
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("a", types[0], [size, size])],
                              [helper.make_tensor_value_info("y", types[1], [size, size])],
                              initializer=[numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    session = _session(model, threads)
    seconds = _median_seconds(lambda: session.run(None, {"a": a}), runs)
    return 2.0 * size ** 3 / seconds


def encoder_macs(config: dict, batch: int, seq: int) -> int:
    """Multiply-accumulates of the encoder's matmuls for one batch (see the module docstring)."""
    hidden, inner, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    per_token = 4 * hidden * hidden + 2 * hidden * inner + 2 * seq * hidden
    return batch * seq * layers * per_token


def bundle_rate(path: Path, threads: int, runs: int) -> tuple[float, dict, object]:
    """(ops/s, config, manifest) of a bundle on one full batch, through edge_time.runtime."""
    from edge_time.runtime import load_bundle
    from edge_time.runtime.predict import word_inputs

    bundle = load_bundle(path, threads=threads)
    manifest = bundle.manifest
    config_path = Path(str(manifest.source.get("model", ""))) / "config.json"
    if not config_path.is_file():
        raise SystemExit(f"{path}: its source model {config_path.parent} is not here; "
                         f"the MACs come from its config.json")
    config = json.loads(config_path.read_text())
    rng = np.random.default_rng(0)
    arrays = {"input_ids": rng.integers(1000, min(config["vocab_size"], 5000), size=(BATCH, SEQ), dtype=np.int64),
              "attention_mask": np.ones((BATCH, SEQ), dtype=np.int64),
              "position_ids": np.broadcast_to(np.arange(SEQ) + bundle.text_encoder.position_offset, (BATCH, SEQ))}
    if "word_pool" in bundle.input_names:  # task bundles: every second token starts a word
        words = [[None] + [t // 2 for t in range(SEQ - 2)] + [None]] * BATCH
        arrays.update(word_inputs(words, [(SEQ - 2) // 2] * BATCH, manifest.task_config.get("pooling", "first"),
                                  bool(manifest.task_config.get("root_row"))))
    feeds = {name: np.ascontiguousarray(arrays[name]) for name in bundle.input_names}
    seconds = _median_seconds(lambda: bundle.run(feeds), runs)
    return 2.0 * encoder_macs(config, BATCH, SEQ) / seconds, config, manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=Path, nargs="+", default=[],
                        help="bundles to time (any target and quantization; the source model's config.json must be here)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, help="JSON results")
    args = parser.parse_args()

    result = {"cpu": cpu(), "threads": args.threads, "batch": BATCH, "seq": SEQ, "peak_gops": {}, "bundles": {}}
    print(f"{result['cpu']['model']} ({result['cpu']['machine']}), flags {' '.join(result['cpu']['gemm_flags'])}, "
          f"{args.threads} thread(s)")
    for kind in ("int8", "fp32"):
        rates = {size: gemm_peak(kind, size, args.threads, args.runs) for size in args.sizes}
        result["peak_gops"][kind] = max(rates.values()) / 1e9
        print(f"{kind} GEMM: " + ", ".join(f"{s}^3 {r / 1e9:.1f}" for s, r in rates.items())
              + f" GOPS; peak {result['peak_gops'][kind]:.1f}")
    for path in args.bundles:
        rate, config, manifest = bundle_rate(path, args.threads, args.runs)
        gops = rate / 1e9
        shares = {peak: 100.0 * gops / result["peak_gops"][peak] for peak in ("int8", "fp32")}
        result["bundles"][str(path)] = {"target": manifest.target, "quantization": manifest.quantization, "gops": gops,
                                        "percent_of_int8_peak": shares["int8"], "percent_of_fp32_peak": shares["fp32"],
                                        "macs_per_batch": encoder_macs(config, BATCH, SEQ)}
        print(f"{path.name} ({manifest.target} {manifest.quantization}): {gops:.1f} GOPS at {BATCH} x {SEQ} = "
              f"{shares['int8']:.0f}% of the int8 peak, {shares['fp32']:.0f}% of the fp32 peak", flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
