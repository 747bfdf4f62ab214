"""ONNX graph form: the graph edge-time's ONNX target writes vs onnxruntime's own fused transformer form.

The ONNX target exports the plain export-friendly encoder (``EdgeEncoder``: LayerNorm as mean/var
arithmetic, 4-D matmul attention) and quantizes the unfused graph. onnxruntime has fused CPU kernels
for transformer blocks (``Attention``, ``SkipLayerNormalization``, ``EmbedLayerNormalization``,
``BiasGelu``) that its transformer optimizer only finds in the patterns it knows. This script
builds both forms of one encoder and measures them alike:

* **edge-time**: ``export_model(target="onnx")`` bundles (fp32 ``none`` and ``int8-dynamic``), each
  passing its own parity check;
* **ort-fused**: the same encoder with native LayerNorm, exported by ``torch.onnx`` (both the
  dynamo and the TorchScript exporter are tried; the one with more fusions is kept), run through
  ``onnxruntime.transformers.optimizer.optimize_model(model_type="bert")``, then quantized with
  the ONNX target's own int8-dynamic settings (per-channel 7-bit weights, FFN-output MatMuls fp32).

It reports the fused-operator counts, the cosine of each graph to PyTorch fp32 on the real tokens
of real sentences, and the median ms per call at batch 1 and 32 x 128 tokens for each thread
count. Every timing runs in a fresh process (a runtime whose thread pool spins after a call slows
whatever runs next).

    python benchmarks/onnx_fused_form.py --corpus /work/shared/data/corpora/cs.txt \\
        --work-dir /tmp/fused --threads 1 2 --out /work/runs/i12_onnx_form.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SEQ = 128


def _time_graph(path: str, threads: int, batch: int, runs: int, vocab: int) -> float:
    """Median ms per call of one graph at ``batch`` x SEQ tokens (all real), in this process."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"input_ids": rng.integers(5, min(vocab, 5000), size=(batch, SEQ), dtype=np.int64),
             "attention_mask": np.ones((batch, SEQ), dtype=np.int64)}
    feeds = {i.name: feeds[i.name] for i in session.get_inputs()}
    for _ in range(3):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - began) * 1000.0)
    return statistics.median(times)


def _export_fused(model_dir: Path, work: Path) -> tuple[Path, dict[str, int]]:
    """The encoder with native LayerNorm, exported and fused by onnxruntime's transformer optimizer."""
    import torch
    from onnxruntime.transformers.optimizer import optimize_model

    from edge_time.exporters.base import dynamic_shapes_for, trace_example
    from edge_time.modeling.encoder import EdgeEncoder
    from edge_time.modeling.spec import EncoderOutput, encoder_spec, load_hf_encoder

    spec = encoder_spec(model_dir, work / "spec", max_length=SEQ)
    hf = load_hf_encoder(model_dir)
    candidates = {"edge-native-ln": EncoderOutput(EdgeEncoder(hf, decompose_norm=False), True).eval(),
                  "hf": EncoderOutput(hf, False).eval()}
    example = trace_example(spec)
    best = None
    for (form, module), exporter in [(c, e) for c in candidates.items() for e in ("dynamo", "torchscript")]:
        raw = work / f"fused.{form}.{exporter}.raw.onnx"
        try:
            if exporter == "dynamo":
                torch.onnx.export(module, example, dynamo=True, input_names=spec.input_names,
                                  output_names=spec.output_names,
                                  dynamic_shapes=dynamic_shapes_for(spec)).save(str(raw))
            else:
                axes = {n: {0: "batch", 1: "seq"} for n in spec.input_names}
                torch.onnx.export(module, example, str(raw), dynamo=False, input_names=spec.input_names,
                                  output_names=spec.output_names, dynamic_axes=axes, opset_version=17)
        except Exception as exc:  # one exporter failing on one form is a result, not the end
            print(f"  {form} {exporter}: export failed: {str(exc).splitlines()[0]}", flush=True)
            continue
        optimized = optimize_model(str(raw), model_type="bert", num_heads=hf.config.num_attention_heads,
                                   hidden_size=hf.config.hidden_size)
        fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        print(f"  {form} {exporter}: {fused}", flush=True)
        # Attention first: it is the fusion the plain graph cannot get from the extended level
        rank = (fused.get("Attention", 0), sum(fused.values()))
        if best is None or rank > best[3]:
            path = work / "fused.fp32.onnx"
            optimized.save_model_to_file(str(path))
            best = (path, fused, f"{form} {exporter}", rank)
    return best[0], {**best[1], "exporter": best[2]}


def _quantize_like_the_target(fp32: Path, out: Path) -> Path:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from edge_time.exporters.onnx import _matmuls_kept_float

    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                     nodes_to_exclude=_matmuls_kept_float(fp32, ffn_outputs=True),
                     # shape inference cannot type the outputs of onnxruntime's fused (contrib) ops
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return out


def _cosines(model_dir: Path, graphs: dict[str, Path], texts: list[str], work: Path) -> dict[str, float]:
    """Minimum over sentences of the cosine to PyTorch fp32 on real tokens (padded batch of ``texts``)."""
    import onnxruntime as ort
    import torch

    from edge_time.modeling.spec import encoder_spec

    spec = encoder_spec(model_dir, work / "spec", max_length=SEQ)
    inputs = spec.make_inputs(texts, SEQ)
    with torch.no_grad():
        want = spec.module(*[inputs[n] for n in spec.input_names])[0].numpy()
    mask = inputs["attention_mask"].numpy().astype(bool)
    result = {}
    for name, path in graphs.items():
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {i.name: inputs[i.name].numpy() for i in session.get_inputs()})[0]
        cos = [float(np.dot(a[m].ravel(), b[m].ravel()) / (np.linalg.norm(a[m]) * np.linalg.norm(b[m])))
               for a, b, m in zip(got, want, mask)]
        result[name] = min(cos)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="encoder folder (default: the built-in all-MiniLM-L6-v2)")
    parser.add_argument("--corpus", type=Path, required=True, help="text file; its first 32 lines are the parity batch")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True, help="JSON results")
    parser.add_argument("--time", nargs=5, metavar=("GRAPH", "THREADS", "BATCH", "RUNS", "VOCAB"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time:  # child process: one timing
        print(json.dumps(_time_graph(args.time[0], *map(int, args.time[1:]))))
        return

    from edge_time.exporters import export_model
    from edge_time.modeling.builtin import default_model_dir

    model_dir = Path(args.model) if args.model else default_model_dir()
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    graphs = {}
    for quantize in ("none", "int8-dynamic"):
        out = work / f"edge-{quantize}"
        if not (out / "manifest.json").is_file():
            print(f"exporting the ONNX target, {quantize}", flush=True)
            export_model(str(model_dir), target="onnx", out=out, quantize=quantize, max_length=SEQ)
        graphs[f"edge-time {quantize}"] = out / "model.onnx"
    record = work / "fused.json"
    if record.is_file():  # built by an earlier run: measure again without exporting
        fused, fusions = work / "fused.fp32.onnx", json.loads(record.read_text())
    else:
        print("onnxruntime transformer optimizer", flush=True)
        fused, fusions = _export_fused(model_dir, work)
        record.write_text(json.dumps(fusions))
    graphs["ort-fused none"] = fused
    graphs["ort-fused int8-dynamic"] = _quantize_like_the_target(fused, work / "fused.int8.onnx")

    vocab = json.loads((model_dir / "config.json").read_text())["vocab_size"]
    texts = [line.strip() for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()][:32]
    cosines = _cosines(model_dir, graphs, texts, work)
    timings = {}
    for threads in args.threads:
        for batch in args.batches:
            for name, path in graphs.items():
                child = subprocess.run([sys.executable, __file__, "--corpus", str(args.corpus), "--work-dir", str(work),
                                        "--out", str(args.out), "--time", str(path), str(threads), str(batch),
                                        str(args.runs), str(vocab)], check=True, capture_output=True, text=True)
                key = f"{name} | {threads} | {batch}"
                timings[key] = json.loads(child.stdout.strip().splitlines()[-1])
                print(f"{name:24s} threads {threads} batch {batch:2d}: {timings[key]:8.2f} ms  "
                      f"cosine {cosines[name]:.5f}", flush=True)
    args.out.write_text(json.dumps({"model": str(model_dir), "fusions": fusions, "cosine_min": cosines,
                                    "ms_median": timings, "seq": SEQ, "runs": args.runs}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
