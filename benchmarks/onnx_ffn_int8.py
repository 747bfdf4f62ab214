"""ONNX int8-dynamic: what quantizing the FFN-output MatMuls costs in accuracy, with and without SmoothQuant.

The ONNX target keeps the FFN-output projections (the MatMuls fed by a GELU) in fp32 because
onnxruntime's dynamic quantization gives each activation tensor one uint8 scale, and trained
encoders have outlier channels there. They are a quarter of a small encoder's graph time, so this
script measures the alternatives on one encoder and real text:

* **FFN outputs fp32**: what ``export --target onnx --quantize int8-dynamic`` writes;
* **all int8**: every MatMul with a constant weight quantized;
* **SmoothQuant alpha=A**: all int8, after moving the FFN-output activations' outlier channels into the
  weights (channel j of the input divided by ``max|x_j|**A / max|w_j|**(1-A)``, measured on the
  export's parity texts; row j of the weight multiplied by it: an inserted Mul, same product in exact
  arithmetic).

Each is compared with the fp32 graph on the real tokens (padding excluded) of ``--lines`` lines of
``--texts`` (cosine per token: mean and 1st percentile) and timed at batch 8 (median of 15 calls,
``--threads``). Quantization settings are the target's own (per-channel 7-bit weights).

    python benchmarks/onnx_ffn_int8.py --model MINILM_DIR --texts ../shared/data/corpora/cs.txt
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def smooth_ffn_outputs(path: Path, out: Path, batches: list[dict], alpha: float) -> None:
    """Write ``path`` with SmoothQuant scaling in front of every FFN-output MatMul (see the module doc)."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from edge_time.exporters.onnx import _matmuls_kept_float

    model = onnx.load(str(path))
    ffn = set(_matmuls_kept_float(path, ffn_outputs=True)) - set(_matmuls_kept_float(path, ffn_outputs=False))
    weights = {init.name: init for init in model.graph.initializer}
    nodes = [node for node in model.graph.node if node.name in ffn and node.input[1] in weights]
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(node.input[0]) for node in nodes)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    runs = [session.run([node.input[0] for node in nodes], batch) for batch in batches]
    inserted = {}
    for i, node in enumerate(nodes):
        x_max = np.max([np.abs(run[i]).reshape(-1, run[i].shape[-1]).max(axis=0) for run in runs], axis=0)
        weight = numpy_helper.to_array(weights[node.input[1]])
        scale = (np.maximum(x_max, 1e-5) ** alpha / np.maximum(np.abs(weight).max(axis=1), 1e-5) ** (1 - alpha))
        scale = scale.astype(np.float32)
        smoothed = numpy_helper.from_array(weight * scale[:, None], f"{node.name}_smoothed_weight")
        inverse = numpy_helper.from_array(1.0 / scale, f"{node.name}_smooth_inverse")
        model.graph.initializer.extend([smoothed, inverse])
        inserted[node.name] = onnx.helper.make_node("Mul", [node.input[0], inverse.name], [f"{node.name}_smoothed"],
                                                    name=f"{node.name}_smooth")
        node.input[0], node.input[1] = f"{node.name}_smoothed", smoothed.name
    ordered = [n for node in model.graph.node for n in ([inserted[node.name]] if node.name in inserted else []) + [node]]
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    onnx.save(model, str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="encoder folder (Hugging Face)")
    parser.add_argument("--texts", required=True, help="text file, one sentence per line")
    parser.add_argument("--lines", type=int, default=128, help="lines compared (from line 1000 on)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.5, 0.75, 0.9])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edge_time.compute import cpu_description
    from edge_time.exporters.api import load_export_spec
    from edge_time.exporters.base import dynamic_shapes_for, trace_example
    from edge_time.exporters.onnx import _in_dir, _matmuls_kept_float
    from edge_time.exporters.options import SAMPLE_TEXTS

    lines = [line.strip() for line in Path(args.texts).read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = lines[1000:1000 + args.lines]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        spec = load_export_spec(args.model, tmp, max_length=128)
        torch.onnx.export(spec.module, trace_example(spec), dynamo=True, input_names=spec.input_names,
                          output_names=spec.output_names, dynamic_shapes=dynamic_shapes_for(spec)).save(str(tmp / "raw.onnx"))
        with _in_dir(tmp):
            quant_pre_process(str(tmp / "raw.onnx"), str(tmp / "pre.onnx"), skip_symbolic_shape=True)

        def batches(sentences: list[str]) -> list[dict]:
            return [{k: v.numpy() for k, v in spec.make_inputs(sentences[i:i + 8], None).items()}
                    for i in range(0, len(sentences), 8)]

        parity, evaluation = batches(SAMPLE_TEXTS), batches(texts)
        pre = tmp / "pre.onnx"
        variants = {"FFN outputs fp32 (the ONNX target)": (pre, _matmuls_kept_float(pre, ffn_outputs=True)),
                    "all int8": (pre, _matmuls_kept_float(pre, ffn_outputs=False))}
        for alpha in args.alphas:
            smooth_ffn_outputs(pre, tmp / f"smooth{alpha}.onnx", parity, alpha)
            variants[f"all int8, SmoothQuant alpha={alpha}"] = (tmp / f"smooth{alpha}.onnx",
                                                               _matmuls_kept_float(pre, ffn_outputs=False))
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1

        def session(path: Path) -> ort.InferenceSession:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def median_ms(graph: ort.InferenceSession) -> float:
            for _ in range(3):
                graph.run(None, evaluation[0])
            times = []
            for _ in range(15):
                began = time.perf_counter()
                graph.run(None, evaluation[0])
                times.append(1000 * (time.perf_counter() - began))
            return statistics.median(times)

        fp32 = session(pre)
        reference = [fp32.run(None, batch)[0] for batch in evaluation]
        real = [batch["attention_mask"].astype(bool) for batch in evaluation]
        print(f"{args.model}: {len(texts)} lines of {args.texts}, {args.threads} thread(s), {cpu_description()}")
        print("| graph | cosine mean | cosine p1 | ms @ batch 8 |\n|---|---:|---:|---:|")
        print(f"| fp32 | 1 | 1 | {median_ms(fp32):.1f} |")
        for name, (source, keep) in variants.items():
            quantize_dynamic(str(source), str(tmp / "q.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=True, nodes_to_exclude=keep)
            graph = session(tmp / "q.onnx")
            cosines = []
            for batch, ref, mask in zip(evaluation, reference, real):
                a, b = ref[mask].astype(np.float64), graph.run(None, batch)[0][mask].astype(np.float64)
                cosines.append((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12))
            cosine = np.concatenate(cosines)
            print(f"| {name} | {cosine.mean():.4f} | {np.percentile(cosine, 1):.4f} | {median_ms(graph):.1f} |")


if __name__ == "__main__":
    main()
