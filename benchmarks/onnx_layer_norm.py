"""Residual add + LayerNorm in onnxruntime, three ways, on this CPU: what the ONNX target emits and why.

Why: the ONNX target writes native LayerNorms and each residual add before one as a ``Sum``
(``edge_time/exporters/onnx.py``, ``_unfused_residuals``), because onnxruntime fuses ``Add`` +
``LayerNormalization`` into its ``SkipLayerNormalization`` kernel, which measured slower than the
two ops it replaces. This times, per shape (batch, seq, hidden), one session per form, same inputs:

* ``decomposed``: the mean/var arithmetic the XNNPACK and tflite-runtime forms use (ten ops);
* ``sum+layernorm``: what the ONNX target emits (``Sum`` keeps the fusion off);
* ``add+layernorm`` as a session optimizes it: fused into ``SkipLayerNormalization``.

    python benchmarks/onnx_layer_norm.py --threads 1 --out layer_norm.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gemm_peak import cpu  # noqa: E402  (the same CPU record as the other ONNX benchmarks)

SHAPES = [(1, 24, 256), (8, 40, 256), (32, 128, 384), (8, 64, 768)]


def graph(form: str, hidden: int):
    from onnx import TensorProto, helper, numpy_helper

    def c(name, value):
        return numpy_helper.from_array(np.asarray(value, np.float32), name)

    constants = [c("gamma", np.ones(hidden)), c("beta", np.zeros(hidden))]
    if form == "decomposed":
        constants += [c("eps", 1e-12), numpy_helper.from_array(np.array([-1], np.int64), "axes")]
        nodes = [("Add", ["x", "r"], "s"), ("ReduceMean", ["s", "axes"], "mean"), ("Sub", ["s", "mean"], "d"),
                 ("Mul", ["d", "d"], "d2"), ("ReduceMean", ["d2", "axes"], "var"), ("Add", ["var", "eps"], "ve"),
                 ("Sqrt", ["ve"], "std"), ("Reciprocal", ["std"], "inv"), ("Mul", ["d", "inv"], "n"),
                 ("Mul", ["n", "gamma"], "ng"), ("Add", ["ng", "beta"], "y")]
        nodes = [helper.make_node(op, inputs, [out]) for op, inputs, out in nodes]
    else:
        add = "Sum" if form == "sum+layernorm" else "Add"
        nodes = [helper.make_node(add, ["x", "r"], ["s"]),
                 helper.make_node("LayerNormalization", ["s", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-12)]
    value = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", "s", hidden]) for n in ("x", "r", "y")]
    model = helper.make_model(helper.make_graph(nodes, form, value[:2], value[2:], constants),
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


def optimized_ops(model) -> list[str]:
    """The op types of ``model`` after onnxruntime's default (all-level) graph optimization."""
    import tempfile

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return sorted({node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--runs", type=int, default=200, help="calls per timing round (default 200; 5 rounds)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()

    import onnx
    import onnxruntime as ort

    from edge_time.runtime.backends import onnx_session

    rows = []
    for batch, seq, hidden in SHAPES:
        rng = np.random.default_rng(0)
        feed = {n: rng.standard_normal((batch, seq, hidden)).astype(np.float32) for n in ("x", "r")}
        row = {"shape": [batch, seq, hidden], "onnxruntime": ort.__version__}
        for form in ("decomposed", "sum+layernorm", "add+layernorm"):
            model = graph(form, hidden)
            onnx.checker.check_model(model)
            session = onnx_session(model.SerializeToString(), args.threads)
            row[f"{form} ops"] = optimized_ops(model)  # what the session runs: fused or not
            times = []
            for _ in range(6):  # the first round warms up
                began = time.perf_counter()
                for _ in range(args.runs):
                    session.run(None, feed)
                times.append((time.perf_counter() - began) / args.runs * 1e6)
            row[form] = round(statistics.median(times[1:]), 1)
        rows.append(row)
        print(f"{batch} x {seq} x {hidden}: " + ", ".join(f"{f} {row[f]} us" for f in
                                                         ("decomposed", "sum+layernorm", "add+layernorm"))
              + f"  (fused / sum {row['add+layernorm'] / row['sum+layernorm']:.2f}x; "
              f"add+layernorm runs as {'+'.join(row['add+layernorm ops'])}, sum+layernorm as "
              f"{'+'.join(row['sum+layernorm ops'])})")
    result = {"cpu": cpu(), "threads": args.threads, "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
